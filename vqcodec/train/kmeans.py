"""K-Means: greedy k-means++ seeding, then Lloyd iterations.

Randomness enters only through the `seed` argument (NumPy's generator draws the
uniform numbers; the kernels consume them), so a seed fixes the codebook.
"""
import math

import numpy as np
from numba import njit

from ..errors import OptionsError
from ..options import check_seed
from .data import checked_data, checked_k
from .nearest import ALL_ROWS, scan_rows, sqdist
from .rows import over_rows


MAX_ITERATIONS = 300
TOLERANCE = 1e-4  # on the total squared centre shift, relative to the data's mean variance
SEEDING_SAMPLE = 1 << 14  # vectors seen by k-means++; Lloyd then uses them all (4x fewer cost 0.04 dB on 4096x4096)
_MARGIN = 1e-5  # relative and absolute slack on the bounds, so rounding never decides a skip


@njit(cache=True, nogil=True)
def _kmeanspp_kernel(vectors, weights, first, uniforms):
    """Greedy k-means++ from the row `first`: each new centre is the best of several D^2-weighted draws.

    Stops early when every vector coincides with a centre (fewer distinct
    vectors than k); returns the chosen row numbers and how many there are.
    Sequential: threads would need a hand-off for every centre, and the
    potentials are summed in row order anyway (the same rounding everywhere).

    A candidate at least twice as far from a vector's nearest centre as the
    vector itself cannot come closer to it (triangle inequality), so that
    distance is not measured: the result is the one every distance would give.
    """
    n = vectors.shape[0]
    k, trials = uniforms.shape
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = first
    closest = np.empty(n)  # weighted squared distance to the nearest centre so far
    own = np.empty(n)  # the same, unweighted
    nearest = np.zeros(n, dtype=np.int64)  # which centre that is (its number in `chosen`)
    for i in range(n):
        own[i] = np.float64(sqdist(vectors, i, vectors, first))
        closest[i] = weights[i] * own[i]
    cumulative = np.empty(n)
    candidates = np.empty(trials, dtype=np.int64)
    candidate_closest = np.empty((trials, n))
    potentials = np.empty(trials)
    apart = np.empty((trials, k))  # squared distance from each candidate to each centre
    for c in range(1, k):
        total = 0.0
        for i in range(n):
            total += closest[i]
            cumulative[i] = total
        if total <= 0.0:
            return chosen, c
        for trial in range(trials):
            target = uniforms[c, trial] * total
            lo, hi = 0, n  # the first row whose cumulative sum exceeds the target
            while lo < hi:
                mid = (lo + hi) // 2
                if cumulative[mid] <= target:
                    lo = mid + 1
                else:
                    hi = mid
            idx = min(lo, n - 1)
            while closest[idx] == 0.0:  # only reachable through rounding at the very end
                idx -= 1
            candidates[trial] = idx
            potentials[trial] = 0.0
            for q in range(c):
                apart[trial, q] = np.float64(sqdist(vectors, idx, vectors, chosen[q]))
        for i in range(n):
            now, weight = closest[i], weights[i]
            reach = 4.0 * own[i] * (1.0 + _MARGIN) + _MARGIN  # (2 x distance)^2, with slack for rounding
            for trial in range(trials):
                d = now
                if apart[trial, nearest[i]] <= reach:
                    d = min(now, weight * np.float64(sqdist(vectors, i, vectors, candidates[trial])))
                candidate_closest[trial, i] = d
                potentials[trial] += d
        best = 0
        for trial in range(1, trials):
            if potentials[trial] < potentials[best]:
                best = trial
        chosen[c] = candidates[best]
        for i in range(n):
            if candidate_closest[best, i] < closest[i]:
                closest[i] = candidate_closest[best, i]
                own[i] = np.float64(sqdist(vectors, i, vectors, chosen[c]))
                nearest[i] = c
    return chosen, k


@njit(cache=True, nogil=True)
def _cluster_sums(vectors, weights, labels, centres, sums, counts, own):
    """Adds each cluster's weighted sum and weight to sums (K x D) and counts; if `own` has a row
    per vector, also puts there each vector's squared distance to its centre (for re-seeding)."""
    for i in range(vectors.shape[0]):
        j = labels[i]
        w = weights[i]
        counts[j] += w
        for t in range(vectors.shape[1]):
            sums[j, t] += w * np.float64(vectors[i, t])
        if own.shape[0]:
            own[i] = sqdist(vectors, i, centres, j)


def seed_kmeanspp(vectors, k: int, rng: np.random.Generator, weights=None) -> np.ndarray:
    """k-means++ seeds (at most k, fewer if there are fewer distinct vectors) as float32 rows."""
    if not isinstance(rng, np.random.Generator):
        raise OptionsError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    vectors, weights = checked_data(vectors, weights)
    return _seed_kmeanspp(vectors, checked_k(k), rng, weights)


def _seed_kmeanspp(vectors: np.ndarray, k: int, rng: np.random.Generator, weights: np.ndarray | None) -> np.ndarray:
    weights = _ones_if_none(vectors, weights)
    if len(vectors) > SEEDING_SAMPLE:
        rows = np.sort(rng.choice(len(vectors), SEEDING_SAMPLE, replace=False))
        vectors, weights = vectors[rows], weights[rows]
    trials = 2 + int(math.log(k))  # as scikit-learn does
    uniforms = rng.random((k, trials))
    first = np.searchsorted(np.cumsum(weights), uniforms[0, 0] * weights.sum(), side="right")  # a weighted draw
    rows, count = _kmeanspp_kernel(np.ascontiguousarray(vectors), weights, min(int(first), len(vectors) - 1), uniforms)
    return vectors[rows[:count]].astype(np.float32)


def _ones_if_none(vectors: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    return np.ones(len(vectors), dtype=np.int64) if weights is None else weights


def _mean_variance(vectors: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean per-coordinate variance, in chunks so no float64 copy of the data is made."""
    total = np.zeros(vectors.shape[1])
    squares = np.zeros(vectors.shape[1])
    for start in range(0, len(vectors), 1 << 16):
        chunk = vectors[start : start + (1 << 16)].astype(np.float64)
        w = weights[start : start + (1 << 16), None]
        total += (w * chunk).sum(axis=0)
        squares += (w * chunk * chunk).sum(axis=0)
    mean = total / weights.sum()
    return float(np.mean(squares / weights.sum() - mean * mean))


@njit(cache=True, nogil=True)
def _yinyang(start, stop, vectors, centres, labels, upper, lower, drift, group_drift, members, member_start, group_of,
             needed):
    """Yinyang's filters (Ding et al., 2015) on rows start..stop-1 after the centres moved by
    `drift` (and each group by `group_drift`, its largest).

    Each vector keeps a lower bound per group of centres. Its bounds move by the
    group's largest movement; a vector whose own centre is provably nearest is
    skipped, otherwise only the groups that may hold a nearer centre are
    measured. A decision that rests on a near-tie is left to a full scan
    (marked in `needed`), so that rounding never decides a label.
    Returns how many labels changed here.
    """
    groups = lower.shape[1]
    first_min = np.empty(groups)
    first_at = np.empty(groups, dtype=np.int64)
    second_min = np.empty(groups)
    changed = 0
    for i in range(start, stop):
        p = labels[i]
        u = upper[i] + drift[p]
        nearest_group = np.inf
        for g in range(groups):
            lower[i, g] -= group_drift[g]
            nearest_group = min(nearest_group, lower[i, g])
        if u * (1.0 + _MARGIN) + _MARGIN < nearest_group:
            upper[i] = u
            continue
        own = sqdist(vectors, i, centres, p)
        u = np.sqrt(np.float64(own))
        upper[i] = u
        reach = u * (1.0 + _MARGIN) + _MARGIN
        if reach < nearest_group:
            continue
        best = own
        second = np.float32(3.0e38)
        j = p
        for g in range(groups):
            if lower[i, g] > reach:
                continue
            first_min[g] = np.inf
            second_min[g] = np.inf
            first_at[g] = -1
            for m in range(member_start[g], member_start[g + 1]):
                c = members[m]
                if c == p:
                    continue
                d = sqdist(vectors, i, centres, c)
                if d < first_min[g]:
                    second_min[g] = first_min[g]
                    first_min[g] = d
                    first_at[g] = c
                elif d < second_min[g]:
                    second_min[g] = d
                if d < best:
                    second = best
                    best = d
                    j = c
                elif d < second:
                    second = d
        if np.sqrt(np.float64(best)) * (1.0 + _MARGIN) + _MARGIN >= np.sqrt(np.float64(second)):
            needed[i] = True  # a near-tie: the full scan decides
            continue
        for g in range(groups):
            if lower[i, g] <= reach:  # measured above
                lower[i, g] = np.sqrt(second_min[g] if first_at[g] == j else first_min[g])
        if j != p:
            g = group_of[p]
            lower[i, g] = min(lower[i, g], u)  # the old centre is now one of the others
            upper[i] = np.sqrt(np.float64(best))
            labels[i] = j
            changed += 1
    return changed


def _group_centres(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the centres into about K/10 groups of nearby centres (a few Lloyd steps on
    the centres themselves); returns (group of each centre, members in group order, group starts)."""
    k = len(centres)
    groups = max(1, k // 10)
    points = centres.astype(np.float64)
    heads = points[np.linspace(0, k - 1, groups).astype(np.int64)]
    for _ in range(5):
        group_of = np.argmin(((points[:, None, :] - heads[None]) ** 2).sum(axis=2), axis=1)
        for g in range(groups):
            if np.any(group_of == g):
                heads[g] = points[group_of == g].mean(axis=0)
    members = np.argsort(group_of, kind="stable")
    member_start = np.searchsorted(group_of[members], np.arange(groups + 1))
    return group_of.astype(np.int64), members.astype(np.int64), member_start.astype(np.int64)


def kmeans(vectors, k: int, seed: int = 0, weights=None, use_bounds: bool = True) -> np.ndarray:
    """Train a codebook of at most k codewords (float32 rows) with k-means++ and Lloyd.

    A weight w makes a vector count as w copies of itself.
    """
    vectors, weights = checked_data(vectors, weights)
    check_seed(seed)
    weights = _ones_if_none(vectors, weights)
    centres = _seed_kmeanspp(vectors, checked_k(k), np.random.default_rng(seed), weights)
    return _lloyd(vectors, centres, weights, use_bounds)[0]


def lloyd(vectors, centres, weights=None, use_bounds: bool = True) -> tuple[np.ndarray, int]:
    """Lloyd iterations from the given centres until no vector changes cluster or the
    centres move less than the tolerance; returns (centres, iterations).

    The assignment step skips vectors whose nearest centre provably stayed the
    same, and measures only the groups of centres that may hold a nearer one
    (Yinyang's bounds); `use_bounds=False` scans them all, with the same
    result, for testing.
    """
    vectors, weights = checked_data(vectors, weights)
    centres, _ = checked_data(centres)
    checked_k(len(centres))
    if centres.shape[1] != vectors.shape[1]:
        raise OptionsError(f"centres of shape {centres.shape} do not match vectors of shape {vectors.shape}")
    return _lloyd(vectors, centres.astype(np.float32), _ones_if_none(vectors, weights), use_bounds)


def _lloyd(vectors: np.ndarray, centres: np.ndarray, weights: np.ndarray, use_bounds: bool) -> tuple[np.ndarray, int]:
    """The Lloyd loop: each step's kernels run on row slices on threads (see rows.py)."""
    tolerance = TOLERANCE * _mean_variance(vectors, weights)
    centres = np.ascontiguousarray(centres, dtype=np.float32)
    group_of, members, member_start = _group_centres(centres)
    n, k = len(vectors), len(centres)
    labels = np.zeros(n, dtype=np.int64)
    upper = np.zeros(n)
    lower = np.zeros((n, len(member_start) - 1))
    drift = np.zeros(k)
    needed = np.zeros(n, dtype=np.bool_)
    iteration = 0
    while iteration < MAX_ITERATIONS:
        if iteration == 0 or not use_bounds:
            changed = _scan(vectors, centres, None, labels, upper, lower, group_of)
        else:
            group_drift = np.zeros(lower.shape[1])
            np.maximum.at(group_drift, group_of, drift)
            needed[:] = False
            changed = sum(over_rows(_yinyang, n, vectors, centres, labels, upper, lower, drift, group_drift, members,
                                    member_start, group_of, needed))
            changed += _scan(vectors, centres, np.flatnonzero(needed), labels, upper, lower, group_of)
        if iteration > 0 and changed == 0:
            break
        iteration += 1
        empty = np.bincount(labels, minlength=k) == 0  # re-seeded below on the vectors that fit worst
        own = np.empty(n if empty.any() else 0, dtype=np.float32)  # each vector's distance to its centre
        sums, counts = np.zeros(centres.shape), np.zeros(k, dtype=np.int64)
        _cluster_sums(vectors, weights, labels, centres, sums, counts, own)
        updated = sums / np.maximum(counts, 1)[:, None]
        if empty.any():
            updated[empty] = vectors[np.argsort(-own, kind="stable")[: np.count_nonzero(empty)]]
        shift = _sum_in_order(((updated - centres) ** 2).ravel())
        moved = updated.astype(np.float32)
        drift = np.sqrt(_sum_in_order((moved.astype(np.float64) - centres) ** 2)) * (1.0 + _MARGIN)
        centres = moved
        if shift <= tolerance and not empty.any():
            break
    return centres, iteration


def _scan(vectors, centres, rows, labels, upper, lower, group_of) -> int:
    """Full scan of the rows (all if None): nearest centre, the distance to it (upper) and for every
    group of centres the distance to its nearest member other than that one (lower).
    Returns how many labels changed."""
    if rows is not None and not len(rows):
        return 0
    at = slice(None) if rows is None else rows
    old = labels[at].copy()
    distances = np.empty(len(vectors), dtype=np.float32)
    over_rows(scan_rows, len(old), vectors, np.ascontiguousarray(centres.T), np.zeros(len(centres), dtype=np.float32),
              ALL_ROWS if rows is None else rows, labels, distances, group_of, lower, False)
    upper[at] = np.sqrt(distances[at].astype(np.float64))
    return int(np.count_nonzero(labels[at] != old))


def _sum_in_order(a: np.ndarray) -> np.ndarray:
    """Sums along the last axis, added left to right (np.sum adds pairwise: other rounding,
    which could end the loop an iteration sooner or later than it always has)."""
    return np.cumsum(a, axis=-1)[..., -1]
