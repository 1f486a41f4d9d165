"""CentNN, the Centroid Neural Network (D.-C. Park, IEEE TNN 11(2), 2000), with its known bugs fixed.

The network starts from two codewords and grows to k. In each epoch every
vector that finds a new nearest codeword moves to it: the winner moves towards
the vector and the loser away, weighted by their counts. Here each codeword is
recomputed as sum / count of its members, which is what those updates amount
to, so a codeword is always exactly the mean of its members. When an epoch
moves nothing, the stage is over and the cluster with the largest squared error
is split: the new codeword is the mean of the members on the far side of the
cluster's principal axis, and the split cluster's codeword stays where it is.
A cluster that loses its last member is re-seeded on the worst-fitted vector
at the end of the stage, so no codeword is ever left empty. A stage that hits
the epoch cap still ends with a split; the caller is told how many did.
"""
import numpy as np
from numba import njit

MAX_EPOCHS_PER_STAGE = 500
_POWER_ITERATIONS = 12


@njit(cache=True)
def _split_point(vectors, labels, cluster):
    """Means of the members of `cluster` on either side of their principal axis' midpoint.

    Returns (far_mean, near_mean, found); found is False when the members are
    identical. Before the first epoch every label is -1, so cluster -1 is all vectors.
    """
    n, d = vectors.shape
    mean = np.zeros(d)
    count = 0
    for i in range(n):
        if labels[i] == cluster:
            count += 1
            for t in range(d):
                mean[t] += vectors[i, t]
    far = np.zeros(d)
    near = np.zeros(d)
    if count == 0:
        return far, near, False
    mean /= count
    # Power iteration for the principal axis, from the coordinate of largest variance.
    var = np.zeros(d)
    for i in range(n):
        if labels[i] == cluster:
            for t in range(d):
                diff = vectors[i, t] - mean[t]
                var[t] += diff * diff
    if var.max() <= 0.0:
        return far, near, False
    axis = np.zeros(d)
    axis[np.argmax(var)] = 1.0
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
                    nxt[t] += proj * centred[t]
        norm = np.sqrt(np.sum(nxt * nxt))
        if norm <= 0.0:
            break
        axis = nxt / norm
    far_count = 0
    for i in range(n):
        if labels[i] == cluster:
            proj = 0.0
            for t in range(d):
                proj += (vectors[i, t] - mean[t]) * axis[t]
            if proj > 0.0:
                far_count += 1
                for t in range(d):
                    far[t] += vectors[i, t]
            else:
                for t in range(d):
                    near[t] += vectors[i, t]
    if far_count == 0 or far_count == count:
        return far, near, False
    return far / far_count, near / (count - far_count), True


@njit(cache=True, fastmath={"reassoc", "contract"})
def _winner(x, codebook, active, k, start, start_dist):
    best = start_dist
    best_j = start
    d = codebook.shape[1]
    for j in range(k):
        if j == start or not active[j]:
            continue
        s = np.float32(0.0)
        for t in range(d):
            diff = x[t] - codebook[j, t]
            s += diff * diff
        if s < best:
            best = s
            best_j = j
    return best_j


@njit(cache=True, fastmath={"reassoc", "contract"})
def _distance(x, codeword):
    s = np.float32(0.0)
    for t in range(x.shape[0]):
        diff = x[t] - codeword[t]
        s += diff * diff
    return s


@njit(cache=True)
def _set_codeword(codebook, sums, counts, j):
    for t in range(codebook.shape[1]):
        codebook[j, t] = sums[j, t] / counts[j]


@njit(cache=True)
def _epoch(vectors, labels, codebook, sums, squares, counts, active, k):
    """One pass over the vectors in order; returns how many changed cluster."""
    n, d = vectors.shape
    x = np.empty(d, dtype=np.float32)
    changes = 0
    for i in range(n):
        for t in range(d):
            x[t] = vectors[i, t]
        p = labels[i]
        if p >= 0:
            j = _winner(x, codebook, active, k, p, _distance(x, codebook[p]))
        else:
            j = _winner(x, codebook, active, k, -1, np.float32(3.0e38))
        if j == p:
            continue
        sq = 0.0
        for t in range(d):
            sq += np.float64(x[t]) * x[t]
        counts[j] += 1
        squares[j] += sq
        for t in range(d):
            sums[j, t] += x[t]
        _set_codeword(codebook, sums, counts, j)
        if p >= 0:
            counts[p] -= 1
            if counts[p] == 0:  # the loser lost its last member: empty, re-seeded at stage end
                active[p] = False
                squares[p] = 0.0
                sums[p, :] = 0.0
            else:
                squares[p] -= sq
                for t in range(d):
                    sums[p, t] -= x[t]
                _set_codeword(codebook, sums, counts, p)
        labels[i] = j
        changes += 1
    return changes


@njit(cache=True)
def _centnn_kernel(vectors, k_max, max_epochs):
    n, d = vectors.shape
    codebook = np.zeros((k_max, d), dtype=np.float32)
    sums = np.zeros((k_max, d))
    squares = np.zeros(k_max)
    counts = np.zeros(k_max, dtype=np.int64)
    active = np.zeros(k_max, dtype=np.bool_)
    labels = np.full(n, -1, dtype=np.int64)
    far, near, found = _split_point(vectors, labels, -1)
    if not found or k_max == 1:  # all vectors identical: one codeword is exact
        mean = np.zeros(d)
        for i in range(n):
            for t in range(d):
                mean[t] += vectors[i, t]
        codebook[0, :] = (mean / n).astype(np.float32)
        return codebook[:1].copy(), 0, 0
    codebook[0, :] = near.astype(np.float32)
    codebook[1, :] = far.astype(np.float32)
    active[0] = True
    active[1] = True
    k = 2
    epochs = 0
    capped = 0
    stage_epochs = 0
    reseeds = 0
    while True:
        changes = _epoch(vectors, labels, codebook, sums, squares, counts, active, k)
        epochs += 1
        stage_epochs += 1
        if changes > 0 and stage_epochs < max_epochs:
            continue
        if changes > 0:
            capped += 1
        stage_epochs = 0
        # The stage is over: fill an empty slot first, else grow.
        slot = -1
        for j in range(k):
            if counts[j] == 0:
                active[j] = False
                if slot < 0:
                    slot = j
        worst = -1
        worst_sse = 0.0
        for j in range(k):
            if counts[j] > 0:
                sse = squares[j] - np.sum(sums[j] * sums[j]) / counts[j]
                if sse > worst_sse and sse > 1e-12 * squares[j]:  # below that it is rounding
                    worst_sse = sse
                    worst = j
        if worst < 0:
            break  # every cluster holds copies of one vector: nothing left to split
        if slot < 0:
            if k == k_max:
                break
            far, near, found = _split_point(vectors, labels, worst)
            if found:
                slot = k
                k += 1
                codebook[slot, :] = far.astype(np.float32)
                active[slot] = True
                continue
            slot = k  # the principal split found nothing (rounding): fall back to re-seeding
            k += 1
        if reseeds > 4 * k_max:
            break
        reseeds += 1
        # Re-seed on the vector that its codeword fits worst; it is guaranteed to move there.
        far_i = 0
        far_d = -1.0
        for i in range(n):
            dist = 0.0
            for t in range(d):
                diff = np.float64(vectors[i, t]) - codebook[labels[i], t]
                dist += diff * diff
            if dist > far_d:
                far_d = dist
                far_i = i
        for t in range(d):
            codebook[slot, t] = vectors[far_i, t]
        active[slot] = True
    out = np.empty((k, d), dtype=np.float32)
    m = 0
    for j in range(k):
        if counts[j] > 0:
            for t in range(d):
                out[m, t] = sums[j, t] / counts[j]
            m += 1
    return out[:m].copy(), epochs, capped


def centnn(vectors: np.ndarray, k: int, max_epochs: int = MAX_EPOCHS_PER_STAGE):
    """Train at most k codewords; returns (codebook float32, epochs run, stages that hit the cap)."""
    codebook, epochs, capped = _centnn_kernel(np.ascontiguousarray(vectors), k, max_epochs)
    return codebook, epochs, capped
