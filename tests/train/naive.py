"""Plain NumPy references for the trainers' kernels, one vector at a time in float64.

Each follows its kernel's rules exactly (the order of visits, the ties, when to
stop), measuring every distance where the kernel may skip one by its bounds, so
that a test can demand the same codebook and the same count of epochs.
"""
import numpy as np
from cases import sq_distances

from vqcodec.train.centnn import (_FALL, _GAIN, _POWER_ITERATIONS, MAX_EPOCHS_PER_STAGE, SHIFT_FRACTION, SPLIT_FRACTION,
                                   schedule_for)
from vqcodec.train.kmeans import MAX_ITERATIONS, TOLERANCE


def naive_lloyd(vectors, centres, weights=None) -> tuple[np.ndarray, int]:
    """Lloyd's loop measuring every distance, in float64: what `lloyd`'s bounds must not change, stopping
    and re-seeding as it does."""
    x = vectors.astype(np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    variance = np.average((x - np.average(x, axis=0, weights=w)) ** 2, axis=0, weights=w).mean()
    centres, labels = np.asarray(centres, np.float32), None
    for iteration in range(MAX_ITERATIONS):
        nearest_centre = np.argmin(sq_distances(x, centres), axis=1)  # ties: the lowest index
        if labels is not None and np.array_equal(nearest_centre, labels):
            return centres, iteration
        labels = nearest_centre
        counts = np.bincount(labels, w, minlength=len(centres))
        sums = np.zeros(centres.shape)
        np.add.at(sums, labels, w[:, None] * x)
        updated = sums / np.maximum(counts, 1)[:, None]
        empty = counts == 0
        own = ((x - centres[labels]) ** 2).sum(axis=1)  # to the centres before this update
        updated[empty] = x[np.argsort(-own, kind="stable")[: np.count_nonzero(empty)]]  # the worst fitted first
        shift = ((updated - centres) ** 2).sum()
        centres = updated.astype(np.float32)
        if shift <= TOLERANCE * variance and not empty.any():
            return centres, iteration + 1
    return centres, MAX_ITERATIONS


def naive_kmeanspp(vectors, k, rng, weights) -> np.ndarray:
    """Greedy k-means++ as the kernel draws it (the same uniforms), measuring every distance."""
    v = vectors.astype(np.float64)
    trials = 2 + int(np.log(k))
    uniforms = rng.random((k, trials))
    first = min(int(np.searchsorted(np.cumsum(weights), uniforms[0, 0] * weights.sum(), side="right")), len(v) - 1)
    chosen, closest = [first], weights * ((v - v[first]) ** 2).sum(axis=1)
    for c in range(1, k):
        cumulative = np.cumsum(closest)  # in row order, as the kernel adds
        if cumulative[-1] <= 0:
            break
        candidates = []
        for u in uniforms[c]:
            idx = min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), len(v) - 1)
            while closest[idx] == 0:
                idx -= 1
            candidates.append(idx)
        options = [np.minimum(closest, weights * ((v - v[q]) ** 2).sum(axis=1)) for q in candidates]
        best = int(np.argmin([np.cumsum(o)[-1] for o in options]))
        chosen.append(candidates[best])
        closest = options[best]
    return vectors[chosen]


def naive_hartigan(vectors, codebook):
    """Hartigan's refinement one vector at a time in float64 NumPy: nearest codewords, their means, then
    move x from p to j while n_j/(n_j+1)|x-m_j|^2 < n_p/(n_p-1)|x-m_p|^2, by more than rounding (lowest j on ties)."""
    x = vectors.astype(np.float64)
    labels = np.argmin(sq_distances(x, codebook.astype(np.float64)), axis=1)
    kept = np.flatnonzero(np.bincount(labels, minlength=len(codebook)))
    labels = np.searchsorted(kept, labels)
    counts = np.bincount(labels).astype(np.float64)
    sums = np.zeros((len(kept), x.shape[1]))
    np.add.at(sums, labels, x)
    moved = True
    while moved:
        moved = False
        for i in range(len(x)):
            p = labels[i]
            if counts[p] <= 1:
                continue
            d = ((x[i] - sums / counts[:, None]) ** 2).sum(axis=1)
            cost = counts / (counts + 1) * d
            cost[p] = np.inf
            j = int(np.argmin(cost))
            if cost[j] < counts[p] / (counts[p] - 1) * d[p] * (1 - _GAIN) - _GAIN:
                sums[j] += x[i]
                sums[p] -= x[i]
                counts[j] += 1
                counts[p] -= 1
                labels[i] = j
                moved = True
    return sums / counts[:, None], labels


def naive_errors(x, w, labels, k) -> np.ndarray:
    """`_errors`: each cluster's squared error as its sum of squares less |sum|^2 / count, and -1 where
    that is rounding (a cluster of copies of one vector), which is never split."""
    counts = np.bincount(labels, w, k)
    squares = np.bincount(labels, w * (x * x).sum(axis=1), k)
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, labels, w[:, None] * x)
    error = squares - (sums**2).sum(axis=1) / counts
    return np.where(error > 1e-12 * squares, error, -1.0)


def naive_split(x, w):
    """`_split`: (the members beyond the mean along the principal axis, the two sides' squared error), or
    None if a side would be empty. The axis is found as the kernel finds it, by power iteration from the
    widest coordinate, since a converged eigenvector could point elsewhere when two variances are close."""
    centred = x - np.average(x, axis=0, weights=w)
    variance = w @ centred**2
    if variance.max() <= 0:
        return None
    axis = np.eye(x.shape[1])[np.argmax(variance)]
    scatter = (w[:, None] * centred).T @ centred
    for _ in range(_POWER_ITERATIONS):
        nxt = scatter @ axis
        if np.linalg.norm(nxt) <= 0:
            break
        axis = nxt / np.linalg.norm(nxt)
    beyond = centred @ axis > 0
    if not 0 < w[beyond].sum() < w.sum():
        return None
    halves = sum(w[s] @ ((x[s] - np.average(x[s], axis=0, weights=w[s])) ** 2).sum(axis=1) for s in (beyond, ~beyond))
    return beyond, halves


def naive_centnn(vectors, k, weights=None, split_fraction=SPLIT_FRACTION, stage_epochs=None,
                 shift_rounds=None) -> tuple[np.ndarray, int]:
    """vqcodec's growth in float64 NumPy, one vector at a time: stages of splits of the worst clusters and
    a few Hartigan epochs, then rounds of utility shifts, each kept only if it lowered the error, then epochs
    until nothing moves. Returns (codebook, epochs run), to follow `_train`'s stages epoch by epoch."""
    x = vectors.astype(np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    labels = np.zeros(len(x), dtype=np.int64)
    size, epochs = 1, 0

    def sums_and_counts():
        sums = np.zeros((size, x.shape[1]))
        np.add.at(sums, labels, w[:, None] * x)
        return sums, np.bincount(labels, w, size)

    def converge(limit) -> int:  # Hartigan's epochs until one moves nothing; the last one's moves
        nonlocal epochs
        sums, counts = sums_and_counts()
        for _ in range(limit):
            epochs += 1
            moved = 0
            for i in range(len(x)):
                p = labels[i]
                if counts[p] <= w[i]:
                    continue  # alone in its cluster: leaving cannot lower the error
                d = ((x[i] - sums / counts[:, None]) ** 2).sum(axis=1)
                cost = counts / (counts + w[i]) * d
                cost[p] = np.inf
                j = int(np.argmin(cost))
                if cost[j] < counts[p] / (counts[p] - w[i]) * d[p] * (1 - _GAIN) - _GAIN:
                    sums[j] += w[i] * x[i]
                    sums[p] -= w[i] * x[i]
                    counts[j] += w[i]
                    counts[p] -= w[i]
                    labels[i] = j
                    moved += 1
            if not moved:
                break
        return moved

    def split_worst(count) -> int:  # the new codewords are numbered in split order
        sse = naive_errors(x, w, labels, size)
        made = 0
        for j in np.argsort(-sse, kind="stable")[:count]:  # the largest error first (ties: the lowest index)
            members = np.flatnonzero(labels == j)
            split = naive_split(x[members], w[members]) if sse[j] > 0 else None
            if split is not None:
                labels[members[split[0]]] = size + made
                made += 1
        return made

    def shift(sse, pairs) -> int:  # ELBG's estimates: what dissolving l costs, what splitting h saves
        sums, counts = sums_and_counts()
        joining = counts * w[:, None] / (counts + w[:, None]) * sq_distances(x, sums / counts[:, None])
        joining[np.arange(len(x)), labels] = np.inf
        target = np.argmin(joining, axis=1)
        cost = np.bincount(labels, joining.min(axis=1), size) - np.maximum(sse, 0)
        saving, beyond = np.full(size, -np.inf), np.zeros(len(x), dtype=bool)
        for h in np.flatnonzero(sse > 0):
            members = np.flatnonzero(labels == h)
            split = naive_split(x[members], w[members])
            if split is not None:
                beyond[members] = split[0]
                saving[h] = sse[h] - split[1]
        before = labels.copy()  # the members as they were, also of clusters that gained vectors since
        for moved in range(pairs):
            l, h = int(np.argmin(cost)), int(np.argmax(saving))
            if l == h or not cost[l] < saving[h]:
                return moved
            labels[before == l] = target[before == l]
            labels[(before == h) & beyond] = l
            cost[[l, h]], saving[[l, h]] = np.inf, -np.inf
        return pairs

    schedule = schedule_for(*x.shape, k)
    stage_epochs = schedule.stage_epochs if stage_epochs is None else stage_epochs
    shift_rounds = schedule.shift_rounds if shift_rounds is None else shift_rounds
    settle = schedule.settle_epochs if shift_rounds else MAX_EPOCHS_PER_STAGE  # the stage that completes the codebook
    while True:
        limit = settle if size == k else stage_epochs
        moved = converge(limit)
        made = 0 if size == k else split_worst(min(max(1, int(split_fraction * size)), k - size))
        size += made
        if made == 0:
            if moved and limit != settle:  # nothing left to split, but the last stage was cut short
                converge(settle)
            break
    sse = naive_errors(x, w, labels, size)
    for _ in range(shift_rounds):
        kept = labels.copy()
        if shift(sse, max(1, int(SHIFT_FRACTION * size))) == 0:
            break
        converge(stage_epochs)
        shifted = naive_errors(x, w, labels, size)
        if not np.maximum(shifted, 0).sum() < np.maximum(sse, 0).sum() * (1 - _FALL):
            labels[:] = kept
            break
        sse = shifted
    if shift_rounds:
        converge(MAX_EPOCHS_PER_STAGE)
    sums, counts = sums_and_counts()
    return (sums[counts > 0] / counts[counts > 0, None]).astype(np.float32), epochs


def naive_park(vectors, k, weights=None, split_fraction=0.0) -> tuple[np.ndarray, int]:
    """Park's network in float64 NumPy, one vector at a time, to follow `park` epoch by epoch: codewords
    emptied by a stage are re-seeded on the worst-fitted vectors; otherwise the worst clusters gain a
    codeword at their far half's mean, and the split codeword stays put. Returns (codebook, epochs run)."""
    x = vectors.astype(np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    beyond, _ = naive_split(x, w)
    codebook = np.zeros((k, x.shape[1]))
    codebook[:2] = [np.average(x[side], axis=0, weights=w[side]) for side in (~beyond, beyond)]
    sums, counts, active = np.zeros(codebook.shape), np.zeros(k), np.arange(k) < 2
    labels, size, epochs = np.full(len(x), -1), 2, 0
    while True:
        moved = True
        while moved:  # a stage: epochs until one moves nothing
            epochs += 1
            moved = False
            for i in range(len(x)):
                p = labels[i]
                d = np.where(active[:size], ((x[i] - codebook[:size]) ** 2).sum(axis=1), np.inf)
                j = int(np.argmin(d))  # the nearest (ties: stay, else the lowest index)
                if p >= 0 and not d[j] < d[p]:
                    continue
                sums[j] += w[i] * x[i]
                counts[j] += w[i]
                codebook[j] = sums[j] / counts[j]
                if p >= 0:
                    sums[p] -= w[i] * x[i]
                    counts[p] -= w[i]
                    if counts[p] > 0:
                        codebook[p] = sums[p] / counts[p]
                    else:  # the codeword stays where it was, out of the race until re-seeded
                        active[p] = False
                labels[i] = j
                moved = True
        empty = np.flatnonzero(counts[:size] == 0)
        if len(empty):  # another stage, with every codeword in the race
            own = ((x - codebook[labels]) ** 2).sum(axis=1)
            codebook[empty] = x[np.argsort(-own, kind="stable")[: len(empty)]]
            active[empty] = True
            continue
        sse = naive_errors(x, w, labels, size)
        made = 0
        for j in np.argsort(-sse, kind="stable")[: min(max(1, int(split_fraction * size)), k - size)]:
            members = np.flatnonzero(labels == j)
            split = naive_split(x[members], w[members]) if sse[j] > 0 else None
            if split is not None:
                far = members[split[0]]
                codebook[size + made] = np.average(x[far], axis=0, weights=w[far])
                active[size + made] = True
                made += 1
        size += made
        if made == 0:
            return (sums[counts > 0] / counts[counts > 0, None]).astype(np.float32), epochs
