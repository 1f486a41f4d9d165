"""CentNN, the Centroid Neural Network (D.-C. Park, IEEE TNN 11(2), 2000), and Hartigan's refinement.

All three are online, count-weighted K-Means run one vector at a time: when a
vector changes cluster, the winner's codeword moves towards it and the
loser's away. Here each codeword is recomputed as sum / count of its members,
which is what those updates amount to, so a codeword is always exactly the
mean of its members.

- `park`: the network as published. Start from two codewords; a vector moves
  to its nearest codeword; when an epoch moves nothing, the cluster with the
  largest squared error is split (the new codeword at the mean of the
  members beyond the cluster's principal-axis midpoint). A cluster that loses
  its last member is re-seeded on the worst-fitted vector.
- `centnn`: vqcodec's growth. A vector moves only when Hartigan's test says
  the move lowers the total squared error: from p (n_p members) to j when
  n_j/(n_j+w)·|x-w_j|² < n_p/(n_p-w)·|x-w_p|² (w: the vector's weight).
  Park's nearest-codeword rule can raise the error when two distances are
  close; this test never does, and its fixed points are Lloyd fixed points
  too. Each stage splits half of the clusters, worst first, and hands the
  members beyond the midpoint to the new codeword at once; intermediate
  stages run at most a few epochs, the one that completes the codebook a
  few more. Then rounds of utility shifts (ELBG's idea): codewords that
  save least move into the clusters whose split saves most, and a round is
  kept only if, after a few epochs, the error fell. Hartigan's moves alone
  cannot make such a jump. Last, epochs until nothing moves.
- `refine`: Hartigan's test from any codebook until no move pays (vqcodec
  runs it after every trainer).

Vectors may carry integer weights (a weight w counts as w copies), which lets
the caller train on distinct vectors only.

Speed without changing the result: a vector whose stay is provably decided is
not scanned. Each vector keeps a lower bound on its distance to every other
codeword; between visits it is lowered by how far codewords moved. The few
codewords that moved most are measured exactly; for all others the bound
subtracts the largest movement among them. Only clear decisions are taken
from bounds; near-ties go to a full scan, so rounding never decides a skip.
"""
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import OptionsError
from .data import checked_data, checked_k
from .nearest import distances_to_all, nearest, sqdist
from .rows import over_rows

MAX_EPOCHS_PER_STAGE = 500
SPLIT_FRACTION = 0.5  # of the clusters split per stage by `centnn` (the worst first); Park splits one
SHIFT_FRACTION = 0.1  # of the codewords moved per round, at most
_POWER_ITERATIONS = 12
_SMALL = 64  # clusters of fewest members, whose count factors the skip test applies one by one
_TRACKED = 8  # codewords whose movement the skip test measures exactly
_GAIN = 1e-5  # relative and absolute (squared levels): a Hartigan move must gain more than float32 rounding,
# or two near-equal choices could swap back and forth for ever
_FALL = 1e-9  # relative: a round of shifts is kept only if it lowers the error by more than the rounding of
# the sums, or a round that comes back to the same clusters (numbered otherwise) could be kept
_MARGIN = 1e-4  # relative and absolute slack, above float32 rounding of a distance, so it never decides a skip
_FAR = int(np.float32(3.0e38).view(np.int32))  # as integers, as `_winner` compares distances and costs
_INF64 = int(np.float64(np.inf).view(np.int64))
LOWER, UPPER, OWN_MARK, STAMP = 0, 1, 2, 3  # per vector: bound on every other codeword's distance, own distance,
# the own codeword's drift when that was measured, and the clock when the lower bound was
DRIFT, WINDOW, EPOCH = 0, 1, 2  # per codeword: total movement, and its value when the previous / this epoch began


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _split(vectors, weights, rows):
    """Split the vectors `rows` (one cluster) across their principal axis, at their mean.

    Returns (far mean, near mean, which rows are on the far side, found, the
    squared error of the two halves); found is False when the members are
    identical. Its sums may be reordered (fastmath) so that they vectorise:
    the power iteration was a sixth of CentNN's time with sums in order.
    """
    d = vectors.shape[1]
    mean = np.zeros(d)
    count = 0.0
    beyond = np.zeros(rows.shape[0], dtype=np.bool_)
    for i in rows:
        count += weights[i]
        for t in range(d):
            mean[t] += weights[i] * np.float64(vectors[i, t])
    far = np.zeros(d)
    near = np.zeros(d)
    if count == 0.0:
        return far, near, beyond, False, 0.0
    for t in range(d):
        mean[t] /= count
    var = np.zeros(d)
    for i in rows:
        for t in range(d):
            diff = vectors[i, t] - mean[t]
            var[t] += weights[i] * diff * diff
    widest = _argmax(var)
    if var[widest] <= 0.0:
        return far, near, beyond, False, 0.0
    axis = np.zeros(d)
    axis[widest] = 1.0  # power iteration for the principal axis starts from the widest coordinate
    centred = np.empty(d)
    nxt = np.empty(d)
    for _ in range(_POWER_ITERATIONS):
        for t in range(d):
            nxt[t] = 0.0
        for i in rows:
            proj = 0.0
            for t in range(d):
                centred[t] = vectors[i, t] - mean[t]
                proj += centred[t] * axis[t]
            for t in range(d):
                nxt[t] += weights[i] * proj * centred[t]
        norm = 0.0
        for t in range(d):
            norm += nxt[t] * nxt[t]
        norm = np.sqrt(norm)
        if norm <= 0.0:
            break
        for t in range(d):
            axis[t] = nxt[t] / norm
    far_count = 0.0
    for r in range(rows.shape[0]):
        i = rows[r]
        proj = 0.0
        for t in range(d):
            proj += (vectors[i, t] - mean[t]) * axis[t]
        beyond[r] = proj > 0.0
        side = far if beyond[r] else near
        if beyond[r]:
            far_count += weights[i]
        for t in range(d):
            side[t] += weights[i] * np.float64(vectors[i, t])
    if far_count == 0.0 or far_count == count:
        return far, near, beyond, False, 0.0
    for t in range(d):
        far[t] /= far_count
        near[t] /= count - far_count
    halves = 0.0
    for r in range(rows.shape[0]):
        i = rows[r]
        centre = far if beyond[r] else near
        for t in range(d):
            diff = np.float64(vectors[i, t]) - centre[t]
            halves += weights[i] * diff * diff
    return far, near, beyond, True, halves


@njit(cache=True)
def _argmax(values):
    """Index of the largest value (ties: the lowest index), as np.argmax for values without NaN."""
    at = 0
    for j in range(1, values.shape[0]):
        if values[j] > values[at]:
            at = j
    return at


@njit(cache=True, nogil=True)
def _recount(vectors, weights, rows, labels, sums, squares, counts):
    """Sums, sums of squares and counts of the clusters of `rows`, from scratch."""
    for i in rows:
        j = labels[i]
        counts[j] = 0
        squares[j] = 0.0
        for t in range(vectors.shape[1]):
            sums[j, t] = 0.0
    for i in rows:
        j = labels[i]
        counts[j] += weights[i]
        for t in range(vectors.shape[1]):
            x = np.float64(vectors[i, t])
            sums[j, t] += weights[i] * x
            squares[j] += weights[i] * x * x


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
def _set_mean(codebook, codebook_t, sums, counts, j, moves, clock, top_idx, top_val):
    """Codeword j := its members' mean; record how far it moved."""
    moved = 0.0
    for t in range(codebook.shape[1]):
        new = np.float32(sums[j, t] / counts[j])
        diff = np.float64(new) - codebook[j, t]
        moved += diff * diff
        codebook[j, t] = new
        codebook_t[t, j] = new
    moves[j, DRIFT] += np.sqrt(moved)
    _track(top_idx, top_val, j, moves[j, DRIFT] - moves[j, WINDOW])
    clock[2] = max(clock[2], moves[j, DRIFT] - moves[j, EPOCH])


@njit(cache=True)
def _start_window(moves, clock, active, k, top_idx, top_val):
    """A new epoch: movement is now measured from the start of the previous one.

    clock holds [sum of the largest movement in each finished epoch, that sum
    when the previous epoch started, the largest movement in this epoch so far].
    """
    clock[1] = clock[0]
    clock[0] += clock[2]
    clock[2] = 0.0
    for q in range(top_idx.shape[0]):
        top_idx[q] = -1
        top_val[q] = 0.0
    for j in range(k):
        moves[j, WINDOW] = moves[j, EPOCH]
        moves[j, EPOCH] = moves[j, DRIFT]
        if active[j]:
            _track(top_idx, top_val, j, moves[j, DRIFT] - moves[j, WINDOW])


@njit(cache=True, nogil=True)
def _place(codebook, codebook_t, j, point, vectors, bounds, moves, use_bounds):
    """Put codeword j at `point` (Park's split or a re-seed); every bound must then allow for it."""
    for t in range(codebook.shape[1]):
        codebook[j, t] = np.float32(point[t])
        codebook_t[t, j] = codebook[j, t]
    if use_bounds:
        for i in range(vectors.shape[0]):
            bounds[i, LOWER] = min(bounds[i, LOWER], np.sqrt(np.float64(sqdist(vectors, i, codebook, j))))
    moves[j, WINDOW] = moves[j, DRIFT]
    moves[j, EPOCH] = moves[j, DRIFT]


@njit(cache=True, error_model="numpy")
def _winner(dist, bits, costs, ranks, counts, factors, active, k, p, w, hartigan):
    """The cluster a vector in p (-1: none yet) belongs to, given its squared distances; and with
    Hartigan's test, for a vector in a cluster, its least distance to an active codeword other than p
    (3e38 if there is none), else -1.

    Nearest codeword (ties: stay, else the lowest index), or with Hartigan's
    test the cluster whose gain of the vector costs least, if that cost is
    below what leaving p saves. factors: counts[c] / (counts[c] + w) for
    every codeword c, kept by the caller (a division per codeword costs as
    much as the distances of a 16-value vector).

    bits, ranks: dist and costs (room for k + 1 float64) seen as integers,
    whose order is that of the distances and costs, never negative: minima
    of integers vectorise where those of floats do not, and numpy's error
    model (no division can be by zero) lets the costs' loop vectorise.
    The index of the least cost is looked for only when the vector moves.
    """
    at = -1
    best = np.inf
    if p < 0 or not hartigan:
        for c in range(k):
            if active[c] and dist[c] < best:
                best = dist[c]
                at = c
        return (p if p >= 0 and not best < dist[p] else at), np.float32(-1.0)
    near = np.int32(_FAR)
    for c in range(k):
        other = active[c] and c != p
        costs[c] = factors[c] * np.float64(dist[c]) if other else np.inf
        near = min(near, bits[c] if other else np.int32(_FAR))
    least = np.int64(_INF64)
    for c in range(k):
        least = min(least, ranks[c])
    ranks[k] = least  # the spare slots, to read both as floats
    bits[k] = near
    stay = counts[p] / (counts[p] - w) * np.float64(dist[p])
    if costs[k] < stay * (1.0 - _GAIN) - _GAIN:
        at = 0
        while ranks[at] != least:
            at += 1
        return at, dist[k]
    return p, dist[k]


@njit(cache=True, nogil=True)
def _epoch(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k, bounds, moves,
           clock, top_idx, top_val, use_bounds, hartigan, dist, bits, costs, ranks, small, is_small, gain, root, aids):
    """One epoch, the work of every trainer here: a pass over the vectors in order, each moved as its rule
    says; returns (vectors that changed cluster, vectors scanned).

    The codebook is kept twice: K x D for single distances and D x K for full
    scans, whose innermost loop then runs along the codewords and vectorises.

    Skipping happens at two levels. For free: the stored distance to the own
    codeword plus its movement since, against the stored lower bound minus the
    largest movement of each epoch since it was stored. Then measured: the own
    codeword and the few that moved most, the rest bounded as above (or by
    the largest movement in this and the previous epoch, for a bound stored
    in the previous epoch). With Hartigan's test the distances are weighed by
    the count factors: for free, the others' by the smallest factor of any
    cluster; measured, by the smallest outside the `_SMALL` clusters of
    fewest members, and those each by its own (one cluster of one member
    would otherwise cut every other distance by 0.29).

    dist, bits, costs, ranks: room for k + 1 float32 and float64 for the full
    scan, each with an int32 / int64 view (`_winner`). Views are made by the
    caller: one inside a kernel costs far more compile time than it is worth.
    small ... aids: what `_skip_aids` gives, made outside for the same reason.
    """
    _start_window(moves, clock, active, k, top_idx, top_val)
    n, d = vectors.shape
    tracked = top_idx.shape[0] - 1
    changes = 0
    scans = 0
    fewest = aids[FEWEST]  # no active cluster has fewer members than this during the epoch
    fewest_big = aids[FEWEST_BIG]  # nor one outside `small` fewer than this
    gain_w = np.empty(k)  # count factors for a vector of another weight than 1
    for i in range(n):
        p = labels[i]
        w = weights[i]
        own = 1.0  # square roots of the factor on the own distance and floors on the others': all, and
        other = 1.0  # those outside `small`, whose factors are measured exactly
        big = 1.0
        if hartigan and p >= 0:
            if counts[p] <= w:
                continue  # its cluster holds only this vector: leaving cannot lower the error
            own = np.sqrt(counts[p] / (counts[p] - w))
            other = np.sqrt(fewest / (fewest + w))
            big = np.sqrt(fewest_big / (fewest_big + w))
        if use_bounds and p >= 0:
            since = clock[0] + clock[2] - bounds[i, STAMP]  # no codeword moved further since the bound was stored
            reach = own * (bounds[i, UPPER] + moves[p, DRIFT] - bounds[i, OWN_MARK])
            if reach * (1.0 + _MARGIN) + _MARGIN < other * (bounds[i, LOWER] - since):
                continue
            rest = bounds[i, LOWER] - (top_val[tracked] if bounds[i, STAMP] >= clock[1] else since)
            mine = np.sqrt(np.float64(sqdist(vectors, i, codebook, p)))
            bounds[i, UPPER] = mine
            bounds[i, OWN_MARK] = moves[p, DRIFT]
            reach = own * mine * (1.0 + _MARGIN) + _MARGIN
            if reach < big * rest:
                nearest_other = rest
                for q in range(_SMALL if hartigan else 0):
                    c = small[q]
                    if c < 0:
                        break
                    if c == p or not active[c]:
                        continue
                    factor = root[c] if w == 1 else np.sqrt(counts[c] / (counts[c] + w))
                    if reach < factor * rest:
                        continue  # (if c is one of the tracked, its distance is measured below)
                    if not reach < factor * np.sqrt(np.float64(sqdist(vectors, i, codebook, c))):
                        nearest_other = -1.0  # not clear: the full scan decides
                        break
                for q in range(tracked):
                    c = top_idx[q]
                    if nearest_other >= 0.0 and c >= 0 and c != p and active[c]:
                        there = np.sqrt(np.float64(sqdist(vectors, i, codebook, c)))
                        nearest_other = min(nearest_other, there)
                        factor = np.sqrt(counts[c] / (counts[c] + w)) if hartigan else 1.0
                        if not reach < factor * there:
                            nearest_other = -1.0  # not clear: the full scan decides
                            break
                if nearest_other >= 0.0:
                    bounds[i, LOWER] = nearest_other
                    bounds[i, STAMP] = clock[0]
                    continue
        scans += 1
        distances_to_all(vectors, i, codebook_t, k, dist)
        factors = gain
        if w != 1 and hartigan and p >= 0:
            factors = gain_w
            for c in range(k):
                factors[c] = counts[c] / (counts[c] + w)
        j, near = _winner(dist, bits, costs, ranks, counts, factors, active, k, p, w, hartigan)
        if j != p or near < 0.0:  # the nearest other than j
            near = np.float32(3.0e38)
            for c in range(k):
                if active[c] and c != j:
                    near = min(near, dist[c])
        bounds[i, LOWER] = np.sqrt(np.float64(near))
        bounds[i, UPPER] = np.sqrt(np.float64(dist[j]))
        bounds[i, OWN_MARK] = moves[j, DRIFT]  # before j moves, so its coming movement counts
        bounds[i, STAMP] = clock[0]
        if j == p:
            continue
        sq = 0.0
        for t in range(d):
            sq += np.float64(vectors[i, t]) * vectors[i, t]
        counts[j] += w
        gain[j] = counts[j] / (counts[j] + 1)
        root[j] = np.sqrt(gain[j])
        squares[j] += w * sq
        for t in range(d):
            sums[j, t] += w * np.float64(vectors[i, t])
        _set_mean(codebook, codebook_t, sums, counts, j, moves, clock, top_idx, top_val)
        if p >= 0:
            counts[p] -= w
            gain[p] = counts[p] / (counts[p] + 1)
            root[p] = np.sqrt(gain[p])
            if counts[p] == 0:  # the loser lost its last member (Park's rule only): re-seeded at the stage's end
                active[p] = False
                squares[p] = 0.0
                for t in range(d):
                    sums[p, t] = 0.0
            else:
                fewest = min(fewest, counts[p])
                if not is_small[p]:
                    fewest_big = min(fewest_big, counts[p])
                squares[p] -= w * sq
                for t in range(d):
                    sums[p, t] -= w * np.float64(vectors[i, t])
                _set_mean(codebook, codebook_t, sums, counts, p, moves, clock, top_idx, top_val)
        labels[i] = j
        changes += 1
    return changes, scans


@njit(cache=True, nogil=True)
def _errors(sums, squares, counts, k):
    """Each cluster's squared error, from its sums; -1 where it is rounding (identical members) or empty."""
    sse = np.empty(k)
    for j in range(k):
        sse[j] = -1.0
        if counts[j] > 0:
            norm = 0.0
            for t in range(sums.shape[1]):
                norm += sums[j, t] * sums[j, t]
            value = squares[j] - norm / counts[j]
            if value > 1e-12 * squares[j]:
                sse[j] = value
    return sse


@njit(cache=True, nogil=True)
def _next_best(start, stop, vectors, weights, labels, codebook_t, counts, active, k, added, target):
    """For vectors start..stop-1: the active cluster other than its own that would gain it at least
    cost (Hartigan's, ties: the lowest index) into `target`, and that cost into `added`."""
    dist = np.empty(k, dtype=np.float32)
    gain = np.empty(k)  # each cluster's count factor for weight 1, kept: a division per codeword is slow
    gain_w = np.empty(k)
    for c in range(k):
        gain[c] = counts[c] / (counts[c] + 1)
    for i in range(start, stop):
        p = labels[i]
        w = weights[i]
        distances_to_all(vectors, i, codebook_t, k, dist)
        factors = gain
        if w != 1:
            factors = gain_w
            for c in range(k):
                factors[c] = counts[c] * w / (counts[c] + w)
        best = np.inf
        target[i] = p
        for c in range(k):
            if active[c] and c != p:
                cost = factors[c] * np.float64(dist[c])
                if cost < best:
                    best = cost
                    target[i] = c
        added[i] = best


def _dissolve(vectors, weights, labels, codebook_t, counts, active, k, sse):
    """What dissolving each cluster costs (Hartigan's cost of its members in their next-best clusters,
    minus its own error `sse`), and each vector's next-best cluster. The scan runs on row slices on
    threads; the costs are summed in row order, as one loop would."""
    added = np.empty(len(vectors))
    target = np.empty(len(vectors), dtype=np.int64)
    over_rows(_next_best, len(vectors), vectors, weights, labels, codebook_t, counts, active, k, added, target)
    cost = -np.maximum(sse[:k], 0.0)
    np.add.at(cost, labels, added)
    return cost, target


def _shift(vectors, weights, labels, codebook_t, counts, active, k, sse, rows, start, pairs, splits) -> int:
    """Move up to `pairs` codewords from where they save least to the clusters whose split saves most
    (the utility shifts of ELBG, Patane & Russo 2001), by labels only; returns how many moved.

    sse: the clusters' errors (`_errors`); rows, start: their members (`_members`); splits: each
    cluster's members and split when they were last split, kept from round to round, since a cluster
    whose members are the same splits the same.

    Dissolving cluster l costs what its members add to their next-best
    clusters minus its own error; splitting h across its principal axis saves
    its error minus that of the two halves. Pairs are taken cheapest against
    most saving (ties: the lowest index) while the saving is larger. Both are
    estimates: the caller converges and keeps the result only if the error fell.
    """
    cost, target = _dissolve(vectors, weights, labels, codebook_t, counts, active, k, sse)
    cost[~active[:k]] = np.inf
    saving = np.full(k, -np.inf)
    far_side = np.zeros(len(vectors), dtype=np.bool_)  # of its cluster's split, for each member of one that splits
    for h in np.flatnonzero(sse > 0.0).tolist():
        members = rows[start[h]:start[h + 1]]
        last = splits.get(h)
        if last is not None and np.array_equal(last[0], members):
            beyond, found, halves = last[1:]
        else:
            _, _, beyond, found, halves = _split(vectors, weights, members)
            splits[h] = members.copy(), beyond, found, halves
        if found:
            far_side[members] = beyond
            saving[h] = sse[h] - halves
    moved = 0
    for _ in range(pairs):
        l, h = int(np.argmin(cost)), int(np.argmax(saving))
        if l == h or not cost[l] < saving[h]:
            break
        dissolved = rows[start[l]:start[l + 1]]
        labels[dissolved] = target[dissolved]
        split = rows[start[h]:start[h + 1]]
        labels[split[far_side[split]]] = l
        cost[l] = cost[h] = np.inf
        saving[l] = saving[h] = -np.inf
        moved += 1
    return moved


@njit(cache=True)
def _worst_fitted(vectors, labels, codebook, count):
    """Row numbers of the `count` vectors farthest from their codewords (ties: the lower row first)."""
    n = vectors.shape[0]
    dist = np.empty(n)
    for i in range(n):
        dist[i] = sqdist(vectors, i, codebook, labels[i])
    out = np.empty(count, dtype=np.int64)
    for q in range(count):
        at = 0
        for i in range(1, n):
            if dist[i] > dist[at]:
                at = i
        out[q] = at
        dist[at] = -1.0
    return out


@njit(cache=True, nogil=True)
def _reseed(vectors, labels, codebook, codebook_t, counts, active, k, bounds, moves, use_bounds):
    """Re-seed the clusters left empty (by Park's rule) on the vectors their codewords fit worst: each is
    guaranteed to win one. Returns how many there were."""
    empty = 0
    for j in range(k):
        if counts[j] == 0:
            empty += 1
    if empty == 0:
        return 0
    worst = _worst_fitted(vectors, labels, codebook, empty)
    point = np.empty(vectors.shape[1])
    q = 0
    for j in range(k):
        if counts[j] == 0:
            for t in range(vectors.shape[1]):
                point[t] = vectors[worst[q], t]
            _place(codebook, codebook_t, j, point, vectors, bounds, moves, use_bounds)
            active[j] = True
            q += 1
    return empty


@njit(cache=True, nogil=True)
def _set_means(codebook, codebook_t, sums, counts, active, k, moves, clock, top_idx, top_val):
    """Each of the first k codewords := its members' mean; one without members is dropped (inactive)."""
    for j in range(k):
        active[j] = counts[j] > 0
        if active[j]:
            _set_mean(codebook, codebook_t, sums, counts, j, moves, clock, top_idx, top_val)


def _split_worst(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k, sse, rows, start,
                 count, bounds, moves, clock, top_idx, top_val, use_bounds, park) -> int:
    """Split up to `count` of the first k clusters, the largest error `sse` first (their members: rows,
    start), into codewords k, k+1, ...; returns how many were split (none: every cluster holds copies
    of one vector). Takes the clusters out of `sse` as it splits them."""
    made = 0
    for _ in range(count):
        j = int(np.argmax(sse))  # the largest error left (ties: the lowest index)
        if sse[j] < 0.0:
            break
        sse[j] = -1.0
        members = rows[start[j]:start[j + 1]]
        far, _, beyond, found, _ = _split(vectors, weights, members)
        if not found:
            continue
        new = k + made
        if park:  # the new codeword at the far side's mean; the split one stays put
            _place(codebook, codebook_t, new, far, vectors, bounds, moves, use_bounds)
        else:  # the far members go to the new codeword: both are their members' means
            labels[members[beyond]] = new
            _recount(vectors, weights, members, labels, sums, squares, counts)
            _set_mean(codebook, codebook_t, sums, counts, j, moves, clock, top_idx, top_val)
            _set_mean(codebook, codebook_t, sums, counts, new, moves, clock, top_idx, top_val)
        active[new] = True
        made += 1
    return made


ALWAYS_USED = (_epoch, _recount, _set_means)  # Hartigan's refinement, which follows every trainer; the
# other kernels compile when CentNN or Park first runs


FEWEST, FEWEST_BIG = 0, 1  # in `_skip_aids`' last array
_NONE = np.int64(1) << 62  # no cluster has that many members


def _skip_aids(counts, active, k):
    """What Hartigan's skip test needs of the clusters as an epoch begins: the `_SMALL` active clusters of
    fewest members (fewest first, -1 where there are fewer), which they are, each cluster's count factor for
    a vector of weight 1 and its square root, and the fewest members of any active cluster and of one
    outside those. Computed here, not in `_epoch`, whose compilation it would lengthen."""
    on = np.flatnonzero(active[:k])
    order = on[np.argsort(counts[on], kind="stable")]
    small = np.full(_SMALL, -1, dtype=np.int64)
    small[:min(_SMALL, len(order))] = order[:_SMALL]
    is_small = np.zeros(k, dtype=np.bool_)
    is_small[order[:_SMALL]] = True
    gain = counts[:k] / (counts[:k] + 1)
    fewest = counts[order[0]] if len(order) else _NONE
    fewest_big = counts[order[_SMALL]] if len(order) > _SMALL else _NONE
    return small, is_small, gain, np.sqrt(gain), np.array([fewest, fewest_big], dtype=np.int64)


def _converge(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k, bounds, moves, clock,
              top_idx, top_val, use_bounds, hartigan, limit, stats):
    """Epochs until one moves nothing or `limit` have run; returns the last epoch's moves."""
    changes = 0
    dist, costs = np.empty(k + 1, dtype=np.float32), np.empty(k + 1)
    for _ in range(limit):
        changes, scans = _epoch(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active,
                                k, bounds, moves, clock, top_idx, top_val, use_bounds, hartigan,
                                dist, dist.view(np.int32), costs, costs.view(np.int64),
                                *_skip_aids(counts, active, k))
        stats[0] += 1
        stats[2] += scans
        stats[3] += len(vectors)
        if changes == 0:
            break
    return changes


def _members(labels, k):
    """Rows grouped by cluster, in row order: members of j are rows[start[j]:start[j + 1]]."""
    start = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(labels, minlength=k), out=start[1:])
    return np.argsort(labels.astype(np.uint16), kind="stable"), start  # k <= MAX_K: 16-bit keys sort by radix


def _total_error(sse) -> float:
    """The clusters' squared errors `sse` (as `_errors` gives them) summed in cluster order, which np.sum
    does not keep."""
    total = 0.0
    for value in sse.tolist():
        total += max(value, 0.0)
    return total


def _train(vectors, weights, initial, k_max, split_fraction, stage_epochs, max_epochs, use_bounds, park, shift_rounds,
           shift_fraction, settle_epochs=MAX_EPOCHS_PER_STAGE):
    """Park's network (park), vqcodec's growth, or with `initial` codewords Hartigan's refinement of them;
    then up to `shift_rounds` rounds of utility shifts of `shift_fraction` of the codewords.

    Returns (codebook, labels, stats). Stages and rounds are steered from
    here, a few kernel calls each: one kernel holding these loops as well
    took far longer to compile, and ran no faster.
    """
    n, d = vectors.shape
    codebook = np.zeros((k_max, d), dtype=np.float32)
    codebook_t = np.zeros((d, k_max), dtype=np.float32)
    sums = np.zeros((k_max, d))
    squares = np.zeros(k_max)
    counts = np.zeros(k_max, dtype=np.int64)
    active = np.zeros(k_max, dtype=np.bool_)
    labels = np.zeros(n, dtype=np.int64)
    bounds = np.zeros((n, 4))
    moves = np.zeros((k_max, 3))
    clock = np.zeros(3)
    top_idx = np.full(min(_TRACKED, k_max) + 1, -1, dtype=np.int64)
    top_val = np.zeros(len(top_idx))
    stats = np.zeros(4, dtype=np.int64)  # epochs, stages that hit the cap, scans, visits
    every_row = np.arange(n)
    hartigan = not park
    if len(initial) > 0:  # refinement: start from the nearest codeword of each vector, then their means
        k = len(initial)
        codebook[:k] = initial
        codebook_t[:, :k] = initial.T
        labels[:] = nearest(vectors, initial)[0]
        _recount(vectors, weights, every_row, labels, sums, squares, counts)
        _set_means(codebook, codebook_t, sums, counts, active, k, moves, clock, top_idx, top_val)
        bounds[:, LOWER] = -np.inf  # no bound yet: the first epoch scans every vector
    elif park:  # two codewords either side of the data's principal axis; the first epoch assigns every vector
        labels[:] = -1
        far, near, _, found, _ = _split(vectors, weights, every_row)
        if not found or k_max == 1:  # all vectors identical: one codeword is exact
            return codebook[:0], labels, stats
        _place(codebook, codebook_t, 0, near, vectors, bounds, moves, False)
        _place(codebook, codebook_t, 1, far, vectors, bounds, moves, False)
        active[:2] = True
        k = 2
    else:  # one cluster of everything; the first stage splits it
        _recount(vectors, weights, every_row, labels, sums, squares, counts)
        k = 1
        _set_means(codebook, codebook_t, sums, counts, active, k, moves, clock, top_idx, top_val)
    grow = len(initial) == 0
    reseeds = 0
    settle = min(settle_epochs, max_epochs) if shift_rounds > 0 else max_epochs  # the complete codebook's stage
    while True:
        limit = stage_epochs if grow and not park and k < k_max else settle
        changes = _converge(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k, bounds,
                            moves, clock, top_idx, top_val, use_bounds, hartigan, limit, stats)
        if changes > 0 and limit == max_epochs and shift_rounds == 0:
            stats[1] += 1
        if not grow:
            break
        # The stage is over. Empty clusters (Park's rule; Hartigan's never empties one) are re-seeded and
        # get another stage; otherwise the worst clusters split.
        if park and _reseed(vectors, labels, codebook, codebook_t, counts, active, k, bounds, moves, use_bounds):
            reseeds += 1
            if reseeds > 4 * k_max:
                break  # cannot happen with a finite number of vectors; a guard against looping forever
            continue
        made = 0
        if k < k_max:
            rows, start = _members(labels, k)
            made = _split_worst(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k,
                                _errors(sums, squares, counts, k), rows, start,
                                min(max(1, int(split_fraction * k)), k_max - k), bounds, moves, clock, top_idx,
                                top_val, use_bounds, park)
            k += made
        if made == 0:  # the codebook is complete
            if changes == 0 or limit == settle:
                break
            grow = False  # the last stage was cut short: run it until nothing moves
        elif not park:
            bounds[:, LOWER] = -np.inf  # many labels changed: the next epoch scans every vector
    if shift_rounds > 0:  # (refinement makes none)
        sse = _errors(sums, squares, counts, k)
        error = _total_error(sse)
    splits = {}
    for _ in range(shift_rounds):  # keep each round of shifts only if, converged, it lowered the error
        state = (codebook, labels, sums, squares, counts, active)
        kept = [array.copy() for array in state]
        rows, start = _members(labels, k)
        if _shift(vectors, weights, labels, codebook_t, counts, active, k, sse, rows, start,
                  max(1, int(shift_fraction * k)), splits) == 0:
            break
        _recount(vectors, weights, every_row, labels, sums, squares, counts)
        _set_means(codebook, codebook_t, sums, counts, active, k, moves, clock, top_idx, top_val)
        bounds[:, LOWER] = -np.inf
        _converge(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active, k, bounds, moves,
                  clock, top_idx, top_val, use_bounds, hartigan, stage_epochs, stats)
        sse = _errors(sums, squares, counts, k)
        shifted = _total_error(sse)
        if not shifted < error * (1.0 - _FALL):
            for array, copy in zip(state, kept):
                array[:] = copy
            codebook_t[:] = codebook.T
            bounds[:, LOWER] = -np.inf  # they describe the round's codewords: the next epoch scans every vector
            break
        error = shifted
    if shift_rounds > 0 and _converge(vectors, weights, labels, codebook, codebook_t, sums, squares, counts, active,
                                      k, bounds, moves, clock, top_idx, top_val, use_bounds, hartigan, max_epochs,
                                      stats) > 0:
        stats[1] += 1
    kept = counts[:k] > 0
    number = np.cumsum(kept) - 1  # of each kept codeword in the output
    return (sums[:k][kept] / counts[:k][kept, None]).astype(np.float32), number[labels], stats


def _stats(stats) -> dict:
    return {"epochs": int(stats[0]), "capped": int(stats[1]), "scans": int(stats[2]), "visits": int(stats[3])}


def _checked_epochs(epochs, name: str = "max_epochs") -> int:
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise OptionsError(f"{name} must be a positive integer, got {epochs!r}")
    return epochs


def _grow(vectors, k, weights, split_fraction, stage_epochs, max_epochs, use_bounds, park, shift_rounds, schedule=None):
    """The trainers that grow a codebook; epochs or rounds given as None come from the schedule (by default
    the one for the data's size)."""
    vectors, weights = checked_data(vectors, weights)
    k = checked_k(k)
    schedule = schedule or schedule_for(*vectors.shape, k)
    stage_epochs = _checked_epochs(schedule.stage_epochs if stage_epochs is None else stage_epochs, "stage_epochs")
    shift_rounds = schedule.shift_rounds if shift_rounds is None else shift_rounds
    if not isinstance(shift_rounds, int) or isinstance(shift_rounds, bool) or shift_rounds < 0:
        raise OptionsError(f"shift_rounds must be a whole number of at least 0, got {shift_rounds!r}")
    if not (isinstance(split_fraction, (int, float)) and 0 <= split_fraction <= 1):
        raise OptionsError(f"split_fraction must be a number from 0 to 1, got {split_fraction!r}")
    if weights is None:
        weights = np.ones(len(vectors), dtype=np.int64)
    no_codebook = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    codebook, _, stats = _train(vectors, weights, no_codebook, k, float(split_fraction), stage_epochs,
                                _checked_epochs(max_epochs), bool(use_bounds), park, shift_rounds, SHIFT_FRACTION,
                                schedule.settle_epochs)
    if len(codebook) == 0:  # all vectors identical
        codebook = vectors[:1].astype(np.float32)
    return codebook, _stats(stats)


@dataclass(frozen=True)
class Schedule:
    """How long `centnn` works at each step."""

    stage_epochs: int  # at most, of an intermediate stage and of each round of utility shifts
    settle_epochs: int  # at most, of the stage that completes the codebook (with no shifts: until nothing moves)
    shift_rounds: int  # at most, each kept only if it lowered the error; then epochs until nothing moves


THOROUGH = Schedule(stage_epochs=3, settle_epochs=10, shift_rounds=8)
LEAN = Schedule(stage_epochs=2, settle_epochs=3, shift_rounds=4)
LEAN_FROM = 150_000_000  # vectors x codewords x values, an epoch's distance terms: from here the lean schedule


def schedule_for(n: int, d: int, k: int) -> Schedule:
    """THOROUGH where epochs cost little (small images, small K, grey blocks): there a third epoch per stage
    and more rounds of shifts still find better codebooks. LEAN from LEAN_FROM on, where epochs are most of
    CentNN's time and the lean schedule's codebooks are as good within the scatter of either (README, The
    trainers)."""
    return LEAN if n * k * d >= LEAN_FROM else THOROUGH


def centnn(vectors, k: int, weights=None, *, split_fraction: float = SPLIT_FRACTION, stage_epochs: int | None = None,
           max_epochs: int = MAX_EPOCHS_PER_STAGE, shift_rounds: int | None = None, schedule: "Schedule | None" = None,
           use_bounds: bool = True):
    """Train at most k codewords by vqcodec's growth with Hartigan's test.

    Returns (codebook float32, stats) where stats counts epochs run, stages
    that hit the epoch cap, vectors scanned in full and vectors visited. Each
    stage splits the `split_fraction` of the clusters with the largest error
    (at least one) and runs at most `stage_epochs` epochs, the one that
    completes the codebook at most the schedule's `settle_epochs`; after
    `shift_rounds` rounds of utility shifts, epochs run until nothing moves or
    `max_epochs` (with no shifts, the completing stage does that). Epochs and
    rounds not given come from `schedule` (THOROUGH or LEAN), by default
    `schedule_for(n, d, k)` for n vectors of d values. `use_bounds=False`
    scans every vector in every epoch, with the same result, for testing.
    """
    if schedule is not None and not isinstance(schedule, Schedule):
        raise OptionsError(f"schedule must be a Schedule (THOROUGH, LEAN), got {schedule!r}")
    return _grow(vectors, k, weights, split_fraction, stage_epochs, max_epochs, use_bounds, False, shift_rounds,
                 schedule)


def park(vectors, k: int, weights=None, *, split_fraction: float = 0.0, max_epochs: int = MAX_EPOCHS_PER_STAGE,
         use_bounds: bool = True):
    """Train at most k codewords by Park's network as published: nearest-codeword moves, one split per
    stage (or the `split_fraction` of the clusters), each stage until nothing moves or `max_epochs`.

    Returns (codebook float32, stats) as `centnn` does.
    """
    return _grow(vectors, k, weights, split_fraction, 1, max_epochs, use_bounds, True, 0)


def refine(vectors, codebook, weights=None, *, max_epochs: int = MAX_EPOCHS_PER_STAGE, use_bounds: bool = True):
    """Hartigan's refinement of a codebook: every vector to its nearest codeword, codewords to their
    members' means, then Hartigan's moves until none lowers the squared error (or `max_epochs`).

    The squared error never rises. Codewords nearest to no vector are dropped.
    Returns (codebook float32, labels, stats) as `centnn` does, with each vector's cluster.
    """
    vectors, weights = checked_data(vectors, weights)
    codebook, _ = checked_data(codebook)
    checked_k(len(codebook))
    if codebook.shape[1] != vectors.shape[1]:
        raise OptionsError(f"codebook of shape {codebook.shape} does not match vectors of shape {vectors.shape}")
    if weights is None:
        weights = np.ones(len(vectors), dtype=np.int64)
    refined, labels, stats = _train(vectors, weights, np.ascontiguousarray(codebook, dtype=np.float32),
                                           len(codebook), 0.0, 1, _checked_epochs(max_epochs), bool(use_bounds), False,
                                           0, 0.0)
    return refined, labels, _stats(stats)
