"""K-Means: greedy k-means++ seeding, then Lloyd iterations.

Randomness enters only through the `seed` argument (NumPy's generator draws the
uniform numbers; the kernels consume them), so a seed fixes the codebook.
"""
import math

import numpy as np
from numba import njit, prange

from .errors import OptionsError
from .nearest import distances_to_all, first_minimum, sqdist
from .options import check_seed
from .train import checked_data, checked_k


MAX_ITERATIONS = 300
TOLERANCE = 1e-4  # on the total squared centre shift, relative to the data's mean variance
SEEDING_SAMPLE = 1 << 14  # vectors seen by k-means++; Lloyd then uses them all (4x fewer cost 0.04 dB on 4096x4096)
_MARGIN = 1e-5  # relative and absolute slack on the bounds, so rounding never decides a skip
_CHUNK = 256  # vectors per parallel task


@njit(cache=True, parallel=True)
def _candidate_closest(vectors, weights, closest, candidates, out):
    """out[t, i]: vector i's weighted squared distance to its nearest centre if candidate t
    joined the centres. One parallel pass for all candidates: few parallel launches."""
    for i in prange(vectors.shape[0]):
        for trial in range(candidates.shape[0]):
            out[trial, i] = min(closest[i], weights[i] * np.float64(sqdist(vectors, i, vectors, candidates[trial])))


@njit(cache=True, nogil=True)
def _kmeanspp_kernel(vectors, weights, k, uniforms):
    """Greedy k-means++: each new centre is the best of several D^2-weighted draws.

    Stops early when every vector coincides with a centre (fewer distinct
    vectors than k); returns the chosen row numbers.
    """
    n = vectors.shape[0]
    trials = uniforms.shape[1]
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = min(np.searchsorted(np.cumsum(weights), uniforms[0, 0] * weights.sum(), side="right"), n - 1)
    closest = np.full(n, np.inf)  # weighted squared distance to the nearest centre so far
    first = np.full(1, chosen[0])
    scratch = np.empty((1, n))
    _candidate_closest(vectors, weights, closest, first, scratch)
    closest[:] = scratch[0]
    candidates = np.empty(trials, dtype=np.int64)
    candidate_closest = np.empty((trials, n))
    for c in range(1, k):
        cumulative = np.cumsum(closest)
        total = cumulative[-1]
        if total <= 0.0:
            return chosen[:c]
        for trial in range(trials):
            idx = min(np.searchsorted(cumulative, uniforms[c, trial] * total, side="right"), n - 1)
            while closest[idx] == 0.0:  # only reachable through rounding at the very end
                idx -= 1
            candidates[trial] = idx
        _candidate_closest(vectors, weights, closest, candidates, candidate_closest)
        best_potential = np.inf
        best = 0
        for trial in range(trials):
            potential = 0.0
            for i in range(n):  # sequential sum: the same rounding on any thread count
                potential += candidate_closest[trial, i]
            if potential < best_potential:
                best_potential = potential
                best = trial
        chosen[c] = candidates[best]
        closest[:] = candidate_closest[best]
    return chosen


@njit(cache=True)
def _cluster_sums(vectors, weights, labels, k):
    n, d = vectors.shape
    sums = np.zeros((k, d), dtype=np.float64)
    counts = np.zeros(k, dtype=np.int64)
    for i in range(n):
        j = labels[i]
        w = weights[i]
        counts[j] += w
        for t in range(d):
            sums[j, t] += w * np.float64(vectors[i, t])
    return sums, counts


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
    rows = _kmeanspp_kernel(np.ascontiguousarray(vectors), weights, k, uniforms)
    return vectors[rows].astype(np.float32)


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


@njit(cache=True, parallel=True)
def _scan(vectors, centres_t, rows, labels, upper, lower, group_of):
    """Full scan of the listed rows: nearest centre, the distance to it, and for every
    group of centres the distance to its nearest member other than that one.

    The centres come transposed (D x K); rows go to threads in fixed chunks.
    """
    k = centres_t.shape[1]
    count = rows.shape[0]
    changed = np.zeros(count, dtype=np.int64)
    for chunk in prange((count + _CHUNK - 1) // _CHUNK):
        s = np.empty(k, dtype=np.float32)
        for r in range(chunk * _CHUNK, min(count, (chunk + 1) * _CHUNK)):
            i = rows[r]
            distances_to_all(vectors, i, centres_t, k, s)
            best, j = first_minimum(s, k)
            lower[i, :] = np.inf
            for c in range(k):
                if c != j:
                    g = group_of[c]
                    lower[i, g] = min(lower[i, g], np.float64(s[c]))
            for g in range(lower.shape[1]):
                lower[i, g] = np.sqrt(lower[i, g])
            upper[i] = np.sqrt(np.float64(best))
            changed[r] = labels[i] != j
            labels[i] = j
    return changed.sum()


@njit(cache=True, parallel=True)
def _yinyang(vectors, centres, labels, upper, lower, drift, group_of, members, member_start):
    """Yinyang's filters (Ding et al., 2015) after the centres moved by `drift`.

    Each vector keeps a lower bound per group of centres. Its bounds move by the
    group's largest movement; a vector whose own centre is provably nearest is
    skipped, otherwise only the groups that may hold a nearer centre are
    measured. A decision that rests on a near-tie is left to a full scan
    (returned as needed), so that rounding never decides a label.
    Returns (needed, how many labels changed here).
    """
    n = vectors.shape[0]
    groups = lower.shape[1]
    group_drift = np.zeros(groups)
    for c in range(centres.shape[0]):
        group_drift[group_of[c]] = max(group_drift[group_of[c]], drift[c])
    needed = np.zeros(n, dtype=np.bool_)
    changed = np.zeros(n, dtype=np.int64)
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        first_min = np.empty(groups)
        first_at = np.empty(groups, dtype=np.int64)
        second_min = np.empty(groups)
        measured = np.empty(groups, dtype=np.bool_)
        for i in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
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
                measured[g] = lower[i, g] <= reach
                if not measured[g]:
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
                if measured[g]:
                    lower[i, g] = np.sqrt(second_min[g] if first_at[g] == j else first_min[g])
            if j != p:
                g = group_of[p]
                lower[i, g] = min(lower[i, g], u)  # the old centre is now one of the others
                upper[i] = np.sqrt(np.float64(best))
                labels[i] = j
                changed[i] = 1
    return needed, changed.sum()


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


@njit(cache=True, parallel=True)
def _own_distances(vectors, centres, labels):
    out = np.empty(vectors.shape[0], dtype=np.float32)
    for i in prange(vectors.shape[0]):
        out[i] = sqdist(vectors, i, centres, labels[i])
    return out


def kmeans(vectors, k: int, seed: int = 0, weights=None, use_bounds: bool = True) -> np.ndarray:
    """Train a codebook of at most k codewords (float32 rows) with k-means++ and Lloyd.

    A weight w makes a vector count as w copies of itself.
    """
    vectors, weights = checked_data(vectors, weights)
    check_seed(seed)
    weights = _ones_if_none(vectors, weights)
    centres = _seed_kmeanspp(vectors, checked_k(k), np.random.default_rng(seed), weights)
    return _lloyd(vectors, centres, weights, use_bounds)[0]


@njit(cache=True, nogil=True)
def _lloyd_kernel(vectors, weights, centres, tolerance, use_bounds, max_iterations, group_of, members, member_start):
    """The Lloyd loop, in one kernel so that a run loads one cached function, not five."""
    n = vectors.shape[0]
    k = centres.shape[0]
    labels = np.zeros(n, dtype=np.int64)
    upper = np.zeros(n)
    lower = np.zeros((n, member_start.shape[0] - 1))
    drift = np.zeros(k)
    every_row = np.arange(n)
    iteration = 0
    while iteration < max_iterations:
        if iteration == 0 or not use_bounds:
            changed = _scan(vectors, np.ascontiguousarray(centres.T), every_row, labels, upper, lower, group_of)
        else:
            needed, changed = _yinyang(vectors, centres, labels, upper, lower, drift, group_of, members, member_start)
            changed += _scan(vectors, np.ascontiguousarray(centres.T), np.flatnonzero(needed), labels, upper,
                             lower, group_of)
        if iteration > 0 and changed == 0:
            break
        iteration += 1
        sums, counts = _cluster_sums(vectors, weights, labels, k)
        updated = np.empty((k, vectors.shape[1]))
        n_empty = 0
        for j in range(k):
            updated[j] = sums[j] / max(counts[j], 1)
            n_empty += counts[j] == 0
        if n_empty:  # re-seed on the vectors that fit worst
            worst = np.argsort(-_own_distances(vectors, centres, labels), kind="mergesort")
            q = 0
            for j in range(k):
                if counts[j] == 0:
                    for t in range(vectors.shape[1]):
                        updated[j, t] = vectors[worst[q], t]
                    q += 1
        shift = np.sum((updated - centres) ** 2)
        moved = updated.astype(np.float32)
        for j in range(k):
            drift[j] = np.sqrt(np.sum((moved[j].astype(np.float64) - centres[j]) ** 2)) * (1.0 + _MARGIN)
        centres = moved
        if shift <= tolerance and n_empty == 0:
            break
    return centres, iteration


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
    tolerance = TOLERANCE * _mean_variance(vectors, weights)
    centres = np.ascontiguousarray(centres, dtype=np.float32)
    return _lloyd_kernel(vectors, weights, centres, tolerance, use_bounds, MAX_ITERATIONS, *_group_centres(centres))
