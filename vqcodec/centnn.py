"""CentNN, the Centroid Neural Network (D.-C. Park, IEEE TNN 11(2), 2000), with its known bugs fixed.

The network starts from two codewords and grows to k. In each epoch every
vector that finds a new nearest codeword moves to it: the winner moves towards
the vector and the loser away, weighted by their counts. Here each codeword is
recomputed as sum / count of its members, which is what those updates amount
to, so a codeword is always exactly the mean of its members. When an epoch
moves nothing, the stage is over and the clusters with the largest squared
error are split (Park splits one per stage; splitting a tenth of them at
once is 2-3x faster, with PSNR within 0.04 dB on the samples): a new
codeword goes to the mean of the members on the far side of the cluster's
principal axis, and the split cluster's codeword stays where it is. A cluster that loses its last member is re-seeded on the
worst-fitted vector at the end of the stage, so no codeword is left empty. A
stage that hits the epoch cap still ends with a split; the caller is told how
many did.

Vectors may carry integer weights (a weight w counts as w copies), which lets
the caller train on distinct vectors only.

Speed without changing the result: a vector whose own codeword is provably
still its nearest is not scanned. Each vector keeps a lower bound on its
distance to every other codeword; between visits it is lowered by how far
codewords moved. The few codewords that moved most are measured exactly; for
all others the bound subtracts the largest movement among them.
"""
import numpy as np
from numba import njit

from .errors import OptionsError
from .nearest import distances_to_all, sqdist
from .train import checked_data, checked_k

MAX_EPOCHS_PER_STAGE = 500
SPLIT_FRACTION = 0.1  # measured against one split per stage in the README
_POWER_ITERATIONS = 12
_TRACKED = 8  # codewords whose movement the skip test measures exactly
_MARGIN = 1e-4  # relative and absolute slack, above float32 rounding of a distance, so it never decides a skip


@njit(cache=True)
def _split_point(vectors, weights, labels, cluster):
    """Means of the members of `cluster` on either side of their principal axis' midpoint.

    Returns (far_mean, near_mean, found); found is False when the members are
    identical. Before the first epoch every label is -1, so cluster -1 is all vectors.
    """
    n, d = vectors.shape
    mean = np.zeros(d)
    count = 0.0
    for i in range(n):
        if labels[i] == cluster:
            count += weights[i]
            for t in range(d):
                mean[t] += weights[i] * np.float64(vectors[i, t])
    far = np.zeros(d)
    near = np.zeros(d)
    if count == 0.0:
        return far, near, False
    mean /= count
    var = np.zeros(d)
    for i in range(n):
        if labels[i] == cluster:
            for t in range(d):
                diff = vectors[i, t] - mean[t]
                var[t] += weights[i] * diff * diff
    if var.max() <= 0.0:
        return far, near, False
    axis = np.zeros(d)
    axis[np.argmax(var)] = 1.0  # power iteration for the principal axis starts from the widest coordinate
    centred = np.empty(d)
    for _ in range(_POWER_ITERATIONS):
        nxt = np.zeros(d)
        for i in range(n):
            if labels[i] == cluster:
                proj = 0.0
                for t in range(d):
                    centred[t] = vectors[i, t] - mean[t]
                    proj += centred[t] * axis[t]
                for t in range(d):
                    nxt[t] += weights[i] * proj * centred[t]
        norm = np.sqrt(np.sum(nxt * nxt))
        if norm <= 0.0:
            break
        axis = nxt / norm
    far_count = 0.0
    for i in range(n):
        if labels[i] == cluster:
            proj = 0.0
            for t in range(d):
                proj += (vectors[i, t] - mean[t]) * axis[t]
            side = far if proj > 0.0 else near
            if proj > 0.0:
                far_count += weights[i]
            for t in range(d):
                side[t] += weights[i] * np.float64(vectors[i, t])
    if far_count == 0.0 or far_count == count:
        return far, near, False
    return far / far_count, near / (count - far_count), True


@njit(cache=True)
def _track(top_idx, top_val, j, value):
    """Keep top_idx/top_val the largest movements, in descending order, as movement of j grows to value."""
    m = top_idx.shape[0]
    pos = -1
    for q in range(m):
        if top_idx[q] == j:
            pos = q
            break
    if pos < 0:
        if value <= top_val[m - 1]:
            return
        pos = m - 1
    top_idx[pos] = j
    top_val[pos] = value
    while pos > 0 and top_val[pos] > top_val[pos - 1]:
        top_idx[pos], top_idx[pos - 1] = top_idx[pos - 1], top_idx[pos]
        top_val[pos], top_val[pos - 1] = top_val[pos - 1], top_val[pos]
        pos -= 1


@njit(cache=True)
def _set_mean(codebook, codebook_t, sums, counts, j, drift, window_start, epoch_start, clock, top_idx, top_val):
    """Codeword j := its members' mean; record how far it moved."""
    moved = 0.0
    for t in range(codebook.shape[1]):
        new = np.float32(sums[j, t] / counts[j])
        diff = np.float64(new) - codebook[j, t]
        moved += diff * diff
        codebook[j, t] = new
        codebook_t[t, j] = new
    drift[j] += np.sqrt(moved)
    _track(top_idx, top_val, j, drift[j] - window_start[j])
    clock[2] = max(clock[2], drift[j] - epoch_start[j])


@njit(cache=True)
def _start_window(drift, window_start, epoch_start, clock, active, k, top_idx, top_val):
    """A new epoch: movement is now measured from the start of the previous one.

    clock holds [sum of the largest movement in each finished epoch, that sum
    when the previous epoch started, the largest movement in this epoch so far].
    """
    clock[1] = clock[0]
    clock[0] += clock[2]
    clock[2] = 0.0
    top_idx[:] = -1
    top_val[:] = 0.0
    for j in range(k):
        window_start[j] = epoch_start[j]
        epoch_start[j] = drift[j]
        if active[j]:
            _track(top_idx, top_val, j, drift[j] - window_start[j])


@njit(cache=True)
def _place(codebook, codebook_t, j, point, vectors, lower, drift, window_start, epoch_start, use_bounds):
    """Put codeword j at `point` (a split or a re-seed); every bound must then allow for it."""
    for t in range(codebook.shape[1]):
        codebook[j, t] = np.float32(point[t])
        codebook_t[t, j] = codebook[j, t]
    if use_bounds:
        for i in range(vectors.shape[0]):
            lower[i] = min(lower[i], np.sqrt(np.float64(sqdist(vectors, i, codebook, j))))
    window_start[j] = drift[j]
    epoch_start[j] = drift[j]


@njit(cache=True)
def _keep_two(s, c, best, second, j):
    """Fold codeword c at squared distance s into (best, second best, index of best); ties keep the earlier."""
    if s < best:
        return s, best, c
    return best, min(second, s), j


@njit(cache=True)
def _epoch(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k,
           lower, upper, own_mark, stamp, drift, window_start, epoch_start, clock, top_idx, top_val, use_bounds):
    """One pass over the vectors in order; returns (vectors that changed cluster, vectors scanned).

    The codebook is kept twice: K x D for single distances and D x K for full
    scans, whose innermost loop then runs along the codewords and vectorises.

    Skipping happens at two levels. For free: the stored distance to the own
    codeword plus its movement since, against the stored lower bound minus the
    largest movement of each epoch since it was stored. Then measured: the own
    codeword and the few that moved most, the rest bounded as above (or by
    the largest movement in this and the previous epoch, for a bound stored
    in the previous epoch).
    """
    n, d = vectors.shape
    tracked = top_idx.shape[0] - 1
    changes = 0
    scans = 0
    dist = np.empty(k, dtype=np.float32)
    for i in range(n):
        p = labels[i]
        j = -1
        if use_bounds and p >= 0:
            since = clock[0] + clock[2] - stamp[i]  # no codeword moved further since the bound was stored
            if (upper[i] + drift[p] - own_mark[i]) * (1.0 + _MARGIN) + _MARGIN < lower[i] - since:
                continue
            # The own codeword and the few that moved most are measured; every other
            # codeword is at least `rest` away. Only a clear winner is decided here:
            # near-ties go to the full scan, so rounding never decides a skip.
            rest = lower[i] - (top_val[tracked] if stamp[i] >= clock[1] else since)
            best = sqdist(vectors, i, codebook, p)
            upper[i] = np.sqrt(np.float64(best))
            own_mark[i] = drift[p]
            if np.sqrt(np.float64(best)) * (1.0 + _MARGIN) + _MARGIN < rest:
                second = np.float32(3.0e38)
                j = p
                for q in range(tracked):
                    c = top_idx[q]
                    if c >= 0 and c != p and active[c]:
                        best, second, j = _keep_two(sqdist(vectors, i, codebook, c), c, best, second, j)
                runner_up = min(rest, np.sqrt(np.float64(second)))
                if np.sqrt(np.float64(best)) * (1.0 + _MARGIN) + _MARGIN < runner_up:
                    lower[i] = runner_up
                    stamp[i] = clock[0]
                    if j == p:
                        continue
                    upper[i] = np.sqrt(np.float64(best))
                    own_mark[i] = drift[j]
                else:
                    j = -1
        if j < 0:
            scans += 1
            distances_to_all(vectors, i, codebook_t, k, dist)
            best = np.float32(3.0e38)
            second = np.float32(3.0e38)
            for c in range(k):
                if active[c]:
                    best, second, j = _keep_two(dist[c], c, best, second, j)
            if p >= 0 and j != p and not best < dist[p]:
                second = best  # a tie keeps the current cluster
                j = p
            lower[i] = np.sqrt(np.float64(second))
            upper[i] = np.sqrt(np.float64(best))
            own_mark[i] = drift[j]  # before j moves, so its coming movement counts
            stamp[i] = clock[0]
            if j == p:
                continue
        w = weights[i]
        sq = 0.0
        for t in range(d):
            sq += np.float64(vectors[i, t]) * vectors[i, t]
        counts[j] += w
        squares[j] += w * sq
        for t in range(d):
            sums[j, t] += w * np.float64(vectors[i, t])
        _set_mean(codebook, codebook_t, sums, counts, j, drift, window_start, epoch_start, clock, top_idx, top_val)
        if p >= 0:
            counts[p] -= w
            if counts[p] == 0:  # the loser lost its last member: empty, re-seeded at the stage's end
                active[p] = False
                squares[p] = 0.0
                sums[p, :] = 0.0
            else:
                squares[p] -= w * sq
                for t in range(d):
                    sums[p, t] -= w * np.float64(vectors[i, t])
                _set_mean(codebook, codebook_t, sums, counts, p, drift, window_start, epoch_start, clock, top_idx, top_val)
        labels[i] = j
        changes += 1
    return changes, scans


@njit(cache=True)
def _worst_fitted(vectors, labels, codebook, count):
    """Row numbers of the `count` vectors farthest from their codewords."""
    n = vectors.shape[0]
    dist = np.empty(n)
    for i in range(n):
        dist[i] = sqdist(vectors, i, codebook, labels[i])
    return np.argsort(-dist, kind="mergesort")[:count]


@njit(cache=True, nogil=True)
def _centnn_kernel(vectors, weights, k_max, max_epochs, split_fraction, use_bounds):
    n, d = vectors.shape
    codebook = np.zeros((k_max, d), dtype=np.float32)
    codebook_t = np.zeros((d, k_max), dtype=np.float32)
    sums = np.zeros((k_max, d))
    squares = np.zeros(k_max)
    counts = np.zeros(k_max, dtype=np.int64)
    active = np.zeros(k_max, dtype=np.bool_)
    labels = np.full(n, -1, dtype=np.int64)
    lower = np.zeros(n)  # per vector: bound on its distance to every codeword but its own...
    stamp = np.zeros(n)  # ...valid when clock[0] was this
    upper = np.zeros(n)  # per vector: its distance to its own codeword...
    own_mark = np.zeros(n)  # ...when that codeword's drift was this
    clock = np.zeros(3)
    drift = np.zeros(k_max)  # per codeword: total distance moved so far
    window_start = np.zeros(k_max)
    epoch_start = np.zeros(k_max)
    top_idx = np.full(min(_TRACKED, k_max) + 1, -1, dtype=np.int64)
    top_val = np.zeros(top_idx.shape[0])
    stats = np.zeros(4, dtype=np.int64)  # epochs, stages that hit the cap, scans, visits
    far, near, found = _split_point(vectors, weights, labels, -1)
    if not found or k_max == 1:  # all vectors identical: one codeword is exact
        return near[:0].reshape(0, d).astype(np.float32), stats
    _place(codebook, codebook_t, 0, near, vectors, lower, drift, window_start, epoch_start, False)
    _place(codebook, codebook_t, 1, far, vectors, lower, drift, window_start, epoch_start, False)
    active[0] = True
    active[1] = True
    k = 2
    stage_epochs = 0
    reseeds = 0
    while True:
        _start_window(drift, window_start, epoch_start, clock, active, k, top_idx, top_val)
        changes, scans = _epoch(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k,
                                lower, upper, own_mark, stamp, drift, window_start, epoch_start, clock, top_idx,
                                top_val, use_bounds)
        stats[0] += 1
        stats[2] += scans
        stats[3] += n
        stage_epochs += 1
        if changes > 0 and stage_epochs < max_epochs:
            continue
        if stage_epochs == max_epochs and changes > 0:
            stats[1] += 1
        stage_epochs = 0
        # The stage is over. Empty clusters are re-seeded first; otherwise the worst ones split.
        empty = np.zeros(k, dtype=np.int64)
        n_empty = 0
        sse = np.full(k, -1.0)
        for j in range(k):
            if counts[j] == 0:
                active[j] = False
                empty[n_empty] = j
                n_empty += 1
            else:
                value = squares[j] - np.sum(sums[j] * sums[j]) / counts[j]
                if value > 1e-12 * squares[j]:  # below that it is rounding: the members are identical
                    sse[j] = value
        if sse.max() < 0.0:
            break  # every cluster holds copies of one vector: nothing left to split
        if n_empty == 0:
            if k == k_max:
                break
            order = np.argsort(-sse, kind="mergesort")
            made = 0
            for q in range(min(max(1, int(split_fraction * k)), k_max - k)):
                if sse[order[q]] < 0.0:
                    break
                far, near, found = _split_point(vectors, weights, labels, order[q])
                if found:
                    _place(codebook, codebook_t, k, far, vectors, lower, drift, window_start, epoch_start, use_bounds)
                    active[k] = True
                    k += 1
                    made += 1
            if made > 0:
                continue
            empty[0] = k  # no principal split found (rounding): seed a new codeword as if re-seeding
            n_empty = 1
            k += 1
        if reseeds > 4 * k_max:
            break  # cannot happen with a finite number of vectors; a guard against looping forever
        reseeds += 1
        # Re-seed on the vectors their codewords fit worst: each is guaranteed to win one.
        worst = _worst_fitted(vectors, labels, codebook, n_empty)
        for q in range(n_empty):
            _place(codebook, codebook_t, empty[q], vectors[worst[q]].astype(np.float64), vectors, lower, drift,
                   window_start, epoch_start, use_bounds)
            active[empty[q]] = True
    out = np.empty((k, d), dtype=np.float32)
    m = 0
    for j in range(k):
        if counts[j] > 0:
            for t in range(d):
                out[m, t] = sums[j, t] / counts[j]
            m += 1
    return out[:m].copy(), stats


def centnn(vectors, k: int, weights=None, *, split_fraction: float = SPLIT_FRACTION,
           max_epochs: int = MAX_EPOCHS_PER_STAGE, use_bounds: bool = True):
    """Train at most k codewords.

    Returns (codebook float32, stats) where stats counts epochs run, stages
    that hit the epoch cap, vectors scanned in full and vectors visited. Each
    stage splits the `split_fraction` of the clusters with the largest error
    (at least one); 0 is Park's one split per stage. `use_bounds=False` scans
    every vector in every epoch, with the same result, for testing.
    """
    vectors, weights = checked_data(vectors, weights)
    k = checked_k(k)
    if not (isinstance(split_fraction, (int, float)) and 0 <= split_fraction <= 1):
        raise OptionsError(f"split_fraction must be a number from 0 to 1, got {split_fraction!r}")
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise OptionsError(f"max_epochs must be a positive integer, got {max_epochs!r}")
    if weights is None:
        weights = np.ones(len(vectors), dtype=np.int64)
    codebook, stats = _centnn_kernel(vectors, weights, k, max_epochs, float(split_fraction), bool(use_bounds))
    if len(codebook) == 0:  # all vectors identical
        codebook = vectors[:1].astype(np.float32)
    return codebook, {"epochs": int(stats[0]), "capped": int(stats[1]), "scans": int(stats[2]), "visits": int(stats[3])}
