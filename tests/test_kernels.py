"""The Numba kernels against plain NumPy references, on small data."""
import warnings

import numpy as np
import pytest

import vqcodec
from conftest import CLUSTERING
from vqcodec import blocks, metrics
from vqcodec.centnn import (_FALL, _GAIN, _POWER_ITERATIONS, MAX_EPOCHS_PER_STAGE, SHIFT_FRACTION, SPLIT_FRACTION,
                            _winner, centnn, park, refine, schedule_for)
from vqcodec.kmeans import MAX_ITERATIONS, TOLERANCE, _cluster_sums, kmeans, lloyd, seed_kmeanspp
from vqcodec.nearest import nearest
from vqcodec.scalar import optimal_scalar


def sq_distances(vectors, codebook) -> np.ndarray:
    diff = np.asarray(vectors, np.float64)[:, None, :] - np.asarray(codebook, np.float64)[None, :, :]
    return np.einsum("nkd,nkd->nk", diff, diff)


def random_vectors(kind: str, n: int = 200, d: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uint8":
        return rng.integers(0, 256, (n, d), dtype=np.uint8)
    return (rng.normal(size=(n, d)) * 40).astype(np.float32)


def repeated_rows(distinct: int, n: int = 300, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n rows drawn from `distinct` distinct uint8 rows (all of them used); returns (data, the distinct rows)."""
    rng = np.random.default_rng(seed)
    while True:
        base = rng.integers(0, 256, (distinct, d), dtype=np.uint8)
        if len(np.unique(base, axis=0)) == distinct:
            break
    picks = np.concatenate([np.arange(distinct), rng.integers(0, distinct, n - distinct)])
    return base[rng.permutation(picks)], base


def assert_member_means(vectors, codebook, atol):
    """Every codeword wins at least one vector (by nearest) and equals the mean of those it wins."""
    labels, _ = nearest(vectors, codebook)
    counts = np.bincount(labels, minlength=len(codebook))
    assert counts.min() >= 1, f"empty clusters: {np.flatnonzero(counts == 0)}"
    for j in range(len(codebook)):
        mean = np.asarray(vectors, np.float64)[labels == j].mean(axis=0)
        np.testing.assert_allclose(codebook[j], mean, atol=atol, rtol=0)


def sorted_rows(a) -> list:
    return sorted(map(tuple, np.asarray(a, np.float64).tolist()))


# --- nearest -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["uint8", "float32"])
def test_nearest_matches_brute_force(seed, kind):
    rng = np.random.default_rng(seed + 100)
    d, k = int(rng.integers(1, 20)), int(rng.integers(1, 40))
    vectors = random_vectors(kind, 150, d, seed)
    codebook = (rng.random((k, d)) * 255).astype(np.float32)
    labels, distances = nearest(vectors, codebook)
    assert labels.shape == distances.shape == (150,)
    ref = sq_distances(vectors, codebook)
    best = ref.min(axis=1)
    np.testing.assert_allclose(ref[np.arange(150), labels], best, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(distances, best, rtol=1e-3, atol=1e-3)
    if k > 1:
        two = np.sort(ref, axis=1)[:, :2]
        unique = two[:, 1] - two[:, 0] > 1e-3 * two[:, 1] + 1e-3
        assert unique.sum() > 100
        np.testing.assert_array_equal(labels[unique], ref.argmin(axis=1)[unique])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_nearest_with_a_penalty_matches_brute_force(sign):
    """The least sum is found among the floats' bit patterns when no penalty is negative, as floats otherwise;
    both give the lowest index on ties (few distinct values, so that ties are common)."""
    rng = np.random.default_rng(7)
    vectors = rng.integers(0, 4, (400, 3)).astype(np.uint8)
    codebook = rng.integers(0, 4, (12, 3)).astype(np.float32)
    penalty = sign * rng.integers(0, 3, 12).astype(np.float32)
    labels, distances = nearest(vectors, codebook, penalty)
    total = sq_distances(vectors, codebook) + penalty
    np.testing.assert_array_equal(labels, total.argmin(axis=1))  # argmin: the first of equal values
    np.testing.assert_array_equal(distances, total.min(axis=1))
    assert (total == total.min(axis=1, keepdims=True)).sum(axis=1).max() > 1  # ties were there to break


def test_nearest_ties_go_to_the_lowest_index():
    codebook = np.array([[9], [5], [5], [1]], dtype=np.float32)
    vectors = np.array([[5], [3], [7], [0]], dtype=np.uint8)
    labels, distances = nearest(vectors, codebook)
    # 5 -> rows 1 and 2 tie at 0; 3 -> rows 1, 2, 3 tie at 4; 7 -> rows 0, 1, 2 tie at 4
    assert labels.tolist() == [1, 1, 0, 3]
    assert distances.tolist() == [0, 4, 4, 1]


@pytest.mark.parametrize(
    ("vectors", "codebook"),
    [
        (np.zeros((3, 4), np.uint8), np.zeros((2, 5), np.float32)),
        (np.zeros((3, 4), np.uint8), np.zeros((0, 4), np.float32)),
        (np.zeros(4, np.uint8), np.zeros((2, 4), np.float32)),
    ],
)
def test_nearest_refuses_mismatched_shapes(vectors, codebook):
    with pytest.raises(ValueError):
        nearest(vectors, codebook)


# --- k-means -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uint8", "float32"])
def test_cluster_sums_matches_add_at(kind):
    vectors = random_vectors(kind, 300, 5, seed=3)
    labels = np.random.default_rng(4).integers(0, 9, 300)  # cluster 9 of 10 stays empty
    weights = np.random.default_rng(5).integers(1, 4, 300)
    centres = random_vectors("float32", 10, 5, seed=6)
    sums, counts, own = np.zeros((10, 5)), np.zeros(10, dtype=np.int64), np.empty(300, np.float32)
    _cluster_sums(vectors, weights, labels, centres, sums, counts, own)
    ref_sums = np.zeros((10, 5))
    np.add.at(ref_sums, labels, vectors.astype(np.float64) * weights[:, None])
    np.testing.assert_allclose(sums, ref_sums, rtol=1e-9)
    np.testing.assert_array_equal(counts, np.bincount(labels, weights, minlength=10))
    assert counts[9] == 0
    np.testing.assert_allclose(own, sq_distances(vectors, centres)[np.arange(300), labels], rtol=1e-5)


@pytest.mark.parametrize(("n", "d", "k", "seed"), [(400, 4, 12, 1), (600, 16, 40, 2), (300, 1, 9, 3), (60, 3, 50, 4)])
def test_kmeans_bounds_change_nothing(n, d, k, seed):
    """Yinyang's bounds only skip vectors whose nearest centre cannot have changed."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, (6, d))
    vectors = np.clip(centres[rng.integers(0, 6, n)] + rng.normal(0, 12, (n, d)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(kmeans(vectors, k, seed=0), kmeans(vectors, k, seed=0, use_bounds=False))


@pytest.mark.parametrize("use_bounds", [True, False])
def test_lloyd_reseeds_an_empty_cluster_on_the_vector_that_fits_worst(use_bounds):
    vectors = np.array([[0, 0], [1, 0], [0, 1], [10, 10], [10, 11], [12, 12]], dtype=np.uint8)
    centres, _ = lloyd(vectors, [[0, 0], [200, 200]], use_bounds=use_bounds)  # no vector is nearest to (200, 200)
    np.testing.assert_allclose(centres, [[1 / 3, 1 / 3], [32 / 3, 11]], rtol=1e-6)


def blobs(n, d, seed) -> np.ndarray:
    """float32 vectors around 6 centres: data in clusters, with no exact ties between distances."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 60, (6, d))[rng.integers(0, 6, n)] + rng.normal(0, 12, (n, d))).astype(np.float32)


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


@pytest.mark.parametrize("use_bounds", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("copied", [False, True])
@pytest.mark.parametrize(("n", "d", "k", "seed"), [(300, 1, 6, 0), (300, 3, 12, 1), (200, 16, 20, 2), (400, 3, 30, 3)])
def test_lloyd_matches_a_numpy_reference(n, d, k, seed, copied, weighted, use_bounds):
    """The bounds and the float32 distances must not change an iteration; a copied centre
    wins no vector (ties go to the lowest index), so its cluster is empty and re-seeded."""
    rng = np.random.default_rng(seed)
    vectors = blobs(n, d, seed)
    centres = vectors[rng.choice(n, k, replace=False)] + rng.normal(0, 3, (k, d)).astype(np.float32)
    if copied:
        centres[k // 2] = centres[k - 1]
    weights = rng.integers(1, 9, n) if weighted else None
    got, iterations = lloyd(vectors, centres, weights, use_bounds=use_bounds)
    expected, expected_iterations = naive_lloyd(vectors, centres, weights)
    assert iterations == expected_iterations
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_weighted_kmeans_equals_kmeans_on_copies_in_quality():
    """Weights are copies: training on distinct rows with counts fits the repeated data as well."""
    rng = np.random.default_rng(21)
    distinct = rng.integers(0, 256, (60, 2)).astype(np.uint8)
    counts = rng.integers(1, 30, 60)
    repeated = np.repeat(distinct, counts, axis=0)

    def error(codebook):
        return nearest(repeated, codebook)[1].astype(np.float64).sum()

    weighted = kmeans(distinct, 8, seed=0, weights=counts)
    assert_member_means(repeated, weighted, atol=1e-3)
    assert error(weighted) <= 1.05 * error(kmeans(repeated, 8, seed=0))


@pytest.mark.parametrize("k", [1, 2, 10, 40])
def test_kmeanspp_seeds_are_distinct_input_rows(k):
    vectors = random_vectors("uint8", 300, 4, seed=k)
    seeds = seed_kmeanspp(vectors, k, np.random.default_rng(0))
    assert seeds.shape == (k, 4) and seeds.dtype == np.float32
    assert len(np.unique(seeds, axis=0)) == k
    rows = set(map(tuple, vectors.astype(np.float32).tolist()))
    assert all(tuple(row) in rows for row in seeds.tolist())


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


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("weighted", [False, True])
def test_kmeanspp_matches_a_numpy_reference(seed, weighted):
    """The kernel skips distances the triangle inequality decides; the seeds must be those of measuring all."""
    rng = np.random.default_rng(seed)
    n, d, k = int(rng.integers(20, 300)), int(rng.choice([1, 4, 16])), int(rng.integers(2, 60))
    vectors = rng.integers(0, 256 if seed % 2 else 6, (n, d), dtype=np.uint8)  # few distinct rows when even
    weights = rng.integers(1, 9, n) if weighted else np.ones(n, dtype=np.int64)
    seeds = seed_kmeanspp(vectors, k, np.random.default_rng(seed), weights if weighted else None)
    np.testing.assert_array_equal(seeds, naive_kmeanspp(vectors, k, np.random.default_rng(seed), weights))


@pytest.mark.parametrize(("distinct", "k"), [(1, 5), (5, 10), (5, 5), (7, 64)])
def test_kmeanspp_stops_at_the_distinct_vectors(distinct, k):
    vectors, base = repeated_rows(distinct)
    seeds = seed_kmeanspp(vectors, k, np.random.default_rng(1))
    assert len(seeds) == min(distinct, k)
    assert len(np.unique(seeds, axis=0)) == len(seeds)
    if k >= distinct:
        assert sorted_rows(seeds) == sorted_rows(base)


@pytest.mark.parametrize("kind", ["uint8", "float32"])
def test_kmeans_result_is_a_fixed_point(kind):
    vectors = random_vectors(kind, 200, 4, seed=5)
    centres = kmeans(vectors, 8, seed=0)
    assert centres.shape == (8, 4) and centres.dtype == np.float32
    assert_member_means(vectors, centres, atol=1e-3)


def test_kmeans_is_deterministic_and_depends_on_the_seed():
    vectors = random_vectors("uint8", 200, 4, seed=6)
    first = kmeans(vectors, 8, seed=0)
    np.testing.assert_array_equal(kmeans(vectors, 8, seed=0), first)
    assert any(not np.array_equal(kmeans(vectors, 8, seed=s), first) for s in (1, 2, 3))


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    """The kernels run on row slices on threads (vqcodec.rows); every row is computed on its own."""
    import numba

    from vqcodec.rows import MIN_ROWS

    vectors = random_vectors("uint8", 3 * MIN_ROWS + 5, 4, seed=8)
    runs = []
    for threads in (1, 3):
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", threads)
        codebook = kmeans(vectors, 24, seed=0)
        runs.append((codebook, *nearest(vectors, codebook, np.arange(24))))
    for one, three in zip(*runs):
        np.testing.assert_array_equal(one, three)


def test_kmeans_with_fewer_distinct_vectors():
    vectors, base = repeated_rows(5)
    centres = kmeans(vectors, 16, seed=0)
    assert sorted_rows(centres) == sorted_rows(base)


# --- CentNN --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uint8", "float32"])
@pytest.mark.parametrize("k", [2, 8, 20])
def test_centnn_codewords_are_member_means(kind, k):
    vectors = random_vectors(kind, 200, 4, seed=k)
    codebook, stats = centnn(vectors, k)
    assert codebook.shape == (k, 4) and codebook.dtype == np.float32
    assert stats["capped"] == 0 and stats["epochs"] > 0
    assert_member_means(vectors, codebook, atol=1e-2)


def test_centnn_is_deterministic():
    vectors = random_vectors("uint8", 200, 4, seed=7)
    a, b = centnn(vectors, 8)[0], centnn(vectors, 8)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("distinct", "k"), [(6, 8), (6, 64), (2, 5), (3, 3)])
def test_centnn_with_fewer_or_as_many_distinct_vectors(distinct, k):
    vectors, base = repeated_rows(distinct)
    codebook, stats = centnn(vectors, k)
    assert stats["capped"] == 0
    assert len(codebook) == min(distinct, k) == distinct
    assert sorted_rows(codebook) == sorted_rows(base)


@pytest.mark.parametrize(
    "vectors",
    [
        pytest.param(np.array([[1, 2, 3]], np.uint8), id="single"),
        pytest.param(np.full((50, 3), 7, np.uint8), id="identical-uint8"),
        pytest.param(np.full((20, 6), 0.25, np.float32), id="identical-float"),
    ],
)
@pytest.mark.parametrize("k", [2, 9])
def test_centnn_one_distinct_vector_gives_one_codeword(vectors, k):
    codebook, _ = centnn(vectors, k)
    np.testing.assert_array_equal(codebook, vectors[:1].astype(np.float32))


def test_centnn_two_distinct_vectors_with_k5():
    vectors = np.repeat(np.array([[0, 0], [255, 255]], np.uint8), [13, 29], axis=0)
    codebook, _ = centnn(vectors, 5)
    assert sorted_rows(codebook) == [(0.0, 0.0), (255.0, 255.0)]


def clustered(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, (6, d))
    return np.clip(centres[rng.integers(0, 6, n)] + rng.normal(0, 12, (n, d)), 0, 255).astype(np.uint8)


GROWERS = {
    "centnn": lambda v, k, **kw: centnn(v, k, **kw),
    "centnn, no shifts": lambda v, k, **kw: centnn(v, k, shift_rounds=0, **kw),
    "centnn, one split per stage": lambda v, k, **kw: centnn(v, k, split_fraction=0.0, **kw),
    "park": lambda v, k, **kw: park(v, k, **kw),
    "park, a quarter per stage": lambda v, k, **kw: park(v, k, split_fraction=0.25, **kw),
    "refine": lambda v, k, **kw: refine(v, kmeans(v, k, 0), **kw)[::2],
}


@pytest.mark.parametrize("trainer", GROWERS)
@pytest.mark.parametrize(("n", "d", "k", "seed"), [(300, 4, 12, 1), (500, 16, 40, 2), (400, 1, 9, 3), (50, 3, 50, 4)])
def test_skip_bounds_change_nothing(n, d, k, seed, trainer):
    """The bounds only skip scans that could not change a decision: same codebook, fewer scans."""
    vectors = clustered(n, d, seed)
    fast, fast_stats = GROWERS[trainer](vectors, k)
    plain, plain_stats = GROWERS[trainer](vectors, k, use_bounds=False)
    np.testing.assert_array_equal(fast, plain)
    assert fast_stats["epochs"] == plain_stats["epochs"]
    assert fast_stats["scans"] <= plain_stats["scans"] <= plain_stats["visits"]
    if n > k:
        assert fast_stats["scans"] < plain_stats["scans"]


@pytest.mark.parametrize("seed", range(4))
def test_full_scan_decision_matches_a_plain_loop(seed):
    """`_winner` finds its least cost and distance as integers, on all codewords at once: the same cluster
    as a loop in index order (ties included: the lowest index), and the nearest other codeword."""
    rng = np.random.default_rng(seed)
    for _ in range(300):
        k = int(rng.integers(2, 40))
        dist = np.empty(k + 1, dtype=np.float32)  # few values, so that costs tie often
        dist[:k] = rng.choice(np.array([0.0, 1.0, 2.0, 4.0, 1e-40, 3.0e38, np.inf], np.float32), k,
                              p=[0.1, 0.3, 0.25, 0.25, 0.04, 0.03, 0.03])
        counts = rng.choice(np.array([1, 2, 3, 4, 6]), k).astype(np.int64)
        active = rng.random(k) < 0.9
        p = int(rng.integers(0, k))
        active[p] = True
        w = int(rng.choice([1, 1, 3]))
        counts[p] += w
        costs = np.empty(k + 1)
        factors = counts / (counts + w)
        got = _winner(dist, dist.view(np.int32), costs, costs.view(np.int64), counts, factors, active, k, p, w, True)
        best, at, near = np.inf, -1, np.float32(3.0e38)
        for c in range(k):
            if active[c] and c != p:
                near = min(near, dist[c])
                cost = counts[c] / (counts[c] + w) * np.float64(dist[c])
                if cost < best:
                    best, at = cost, c
        stay = counts[p] / (counts[p] - w) * np.float64(dist[p])
        assert got == (at if best < stay * (1.0 - _GAIN) - _GAIN else p, near)


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


@pytest.mark.parametrize(("n", "d", "k", "seed"), [(200, 2, 6, 0), (300, 4, 12, 1), (150, 3, 20, 2)])
def test_refine_matches_a_numpy_reference(n, d, k, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0, 50, (n, d)).astype(np.float32)
    start = vectors[rng.choice(n, k, replace=False)] + rng.normal(0, 5, (k, d)).astype(np.float32)
    codebook, labels, _ = refine(vectors, start)
    expected, expected_labels = naive_hartigan(vectors, start)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(codebook, expected, atol=1e-3)


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


@pytest.mark.parametrize("options", [{}, {"shift_rounds": 0}, {"split_fraction": 0.0}, {"stage_epochs": 1}],
                         ids=["default", "no shifts", "one split per stage", "one epoch per stage"])
@pytest.mark.parametrize("weighted", [False, True])
# (120, 2, 20, 7) keeps a round of shifts and, weighted, rejects one whose error rose; (200, 3, 40, 13) keeps two, and
# its completing stage still moves vectors when it reaches the schedule's settle_epochs, as does (400, 2, 16, 4)'s with one epoch per
# stage; (200, 3, 40, 32) weighted has a round come back to the same clusters, numbered otherwise, whose error differs
# only by rounding
@pytest.mark.parametrize(("n", "d", "k", "seed"),
                         [(200, 2, 8, 0), (300, 4, 16, 1), (150, 3, 24, 2), (200, 16, 12, 3), (120, 2, 20, 7),
                          (200, 3, 40, 13), (400, 2, 16, 4), (200, 3, 40, 32)])
def test_centnn_matches_a_numpy_reference(n, d, k, seed, weighted, options):
    """The bounds, the integer minima of `_winner` and the float32 distances must not change a move, a
    split or a shift: the same epochs, the same codebook."""
    vectors = blobs(n, d, seed)
    weights = np.random.default_rng(seed).integers(1, 5, n) if weighted else None
    codebook, stats = centnn(vectors, k, weights, **options)
    expected, epochs = naive_centnn(vectors, k, weights, **options)
    assert stats["capped"] == 0
    assert stats["epochs"] == epochs
    np.testing.assert_allclose(codebook, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(("n", "d", "k", "seed"), [(300, 4, 16, 1), (200, 3, 40, 13), (120, 2, 20, 7)])
def test_centnn_lean_schedule_matches_a_numpy_reference(monkeypatch, n, d, k, seed):
    """Large inputs take the lean schedule; here small ones are made to, and the reference follows it too."""
    from vqcodec import centnn as module

    monkeypatch.setattr(module, "LEAN_FROM", n * d * k)
    assert schedule_for(n, d, k) == module.LEAN and schedule_for(n - 1, d, k) == module.THOROUGH
    vectors = blobs(n, d, seed)
    codebook, stats = centnn(vectors, k)
    expected, epochs = naive_centnn(vectors, k)
    assert stats["epochs"] == epochs
    np.testing.assert_allclose(codebook, expected, rtol=1e-5, atol=1e-3)
    monkeypatch.setattr(module, "LEAN_FROM", 1 << 62)  # asked for by name, whatever the size
    chosen, chosen_stats = centnn(vectors, k, schedule=module.LEAN)
    np.testing.assert_array_equal(chosen, codebook)
    assert chosen_stats == stats


def test_centnn_matches_a_numpy_reference_after_a_rejected_round():
    """The round's codebook and labels are restored; what the skip test knows of them must be too (the
    last epochs once skipped vectors on bounds that the rejected round left)."""
    vectors, weights = blobs(250, 2, 33), np.random.default_rng(33).integers(1, 5, 250)
    codebook, _ = centnn(vectors, 48, weights, stage_epochs=1)
    np.testing.assert_allclose(codebook, naive_centnn(vectors, 48, weights, stage_epochs=1)[0], rtol=1e-5, atol=1e-3)


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


@pytest.mark.parametrize("split_fraction", [0.0, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("n", "d", "k", "seed"),  # the last: stages that leave codewords without members
                         [(200, 2, 8, 0), (300, 4, 16, 1), (150, 3, 24, 2), (200, 16, 12, 3), (40, 1, 30, 26)])
def test_park_matches_a_numpy_reference(n, d, k, seed, weighted, split_fraction):
    """The bounds, the float32 codewords and the integer minima must not change a move: the same epochs,
    the same codebook."""
    vectors = blobs(n, d, seed)
    weights = np.random.default_rng(seed).integers(1, 5, n) if weighted else None
    codebook, stats = park(vectors, k, weights, split_fraction=split_fraction)
    expected, epochs = naive_park(vectors, k, weights, split_fraction)
    assert stats["capped"] == 0
    assert stats["epochs"] == epochs
    np.testing.assert_allclose(codebook, expected, rtol=1e-5, atol=1e-3)


def squared_error(vectors, codebook, labels=None) -> float:
    d = sq_distances(vectors.astype(np.float64), codebook.astype(np.float64))
    return float(d.min(axis=1).sum() if labels is None else d[np.arange(len(d)), labels].sum())


@pytest.mark.parametrize("start", ["kmeans", "random rows", "one row repeated"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refine_never_raises_the_error_and_ends_where_no_move_pays(start, seed):
    vectors = random_vectors("uint8", 400, 4, seed=seed)
    rng = np.random.default_rng(seed)
    initial = {"kmeans": lambda: kmeans(vectors, 16, seed),
               "random rows": lambda: vectors[rng.choice(400, 16, replace=False)].astype(np.float32),
               "one row repeated": lambda: np.repeat(vectors[:1].astype(np.float32), 16, axis=0) + np.arange(16)[:, None]}[start]()
    codebook, labels, stats = refine(vectors, initial)
    assert stats["capped"] == 0
    assert squared_error(vectors, codebook, labels) <= squared_error(vectors, initial) * (1 + 1e-9)
    x = vectors.astype(np.float64)
    counts = np.bincount(labels, minlength=len(codebook)).astype(np.float64)
    d = sq_distances(x, codebook.astype(np.float64))
    own = d[np.arange(len(x)), labels]
    leaving = np.where(counts[labels] > 1, counts[labels] / np.maximum(counts[labels] - 1, 1) * own, np.inf)
    joining = counts / (counts + 1) * d
    joining[np.arange(len(x)), labels] = np.inf
    assert np.all(joining.min(axis=1) >= leaving * (1 - 2 * _GAIN) - 2 * _GAIN)  # no single move lowers the error


def test_refine_lowers_the_error_of_kmeans_on_camera(camera_vectors):
    _, vectors = camera_vectors
    start = kmeans(vectors, 64, 0)
    codebook, labels, _ = refine(vectors, start)
    assert squared_error(vectors, codebook, labels) < squared_error(vectors, start)


def test_refine_runs_every_kernel_that_tells_whether_an_encode_compiles():
    """kernels.cold looks only at centnn.ALWAYS_USED, so the refinement after every trainer must use them all."""
    from vqcodec import centnn as module

    vectors = random_vectors("uint8", seed=5)
    refine(vectors, vectors[:8])
    assert all(kernel.signatures for kernel in module.ALWAYS_USED)


def test_centnn_park_and_growth_fill_the_codebook():
    vectors = random_vectors("uint8", 600, 4, seed=11)
    for codebook, stats in (park(vectors, 37), park(vectors, 37, split_fraction=1.0), centnn(vectors, 37),
                            centnn(vectors, 37, split_fraction=0.0), centnn(vectors, 37, split_fraction=1.0)):
        assert len(codebook) == 37 and stats["capped"] == 0
        assert_member_means(vectors, codebook, atol=1e-2)


def test_centnn_weights_count_as_copies():
    """A weight w makes a vector pull its codeword like w copies: codewords are weighted member means."""
    rng = np.random.default_rng(12)
    vectors = rng.integers(0, 256, (150, 2)).astype(np.uint8)
    weights = rng.integers(1, 20, 150)
    for codebook, _ in (centnn(vectors, 10, weights), park(vectors, 10, weights)):
        labels = np.argmin(((vectors[:, None, :].astype(float) - codebook[None]) ** 2).sum(-1), axis=1)
        for j in range(len(codebook)):
            members = labels == j
            assert members.any()
            mean = (vectors[members] * weights[members, None]).sum(0) / weights[members].sum()
            np.testing.assert_allclose(codebook[j], mean, atol=1e-2)


@pytest.mark.parametrize("trainer", [park, centnn])
def test_epoch_cap_warns_and_still_fills_the_codebook(trainer):
    vectors = random_vectors("uint8", 400, 4, seed=13)
    codebook, stats = trainer(vectors, 16, max_epochs=1)
    assert len(codebook) == 16
    assert stats["capped"] > 0


# --- train_codebook ------------------------------------------------------------------------


@pytest.mark.parametrize("algo", CLUSTERING)
@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.int32])
def test_train_codebook_accepts_uint8_and_other_numbers(algo, dtype):
    vectors = random_vectors("uint8", 120, 3, seed=8)
    reference = vqcodec.train_codebook(vectors, k=6, algo=algo, seed=1)
    assert reference.shape == (6, 3) and reference.dtype == np.float32
    assert_member_means(vectors, reference, atol=1e-2 if algo == "centnn" else 1e-3)
    codebook = vqcodec.train_codebook(vectors.astype(dtype), k=6, algo=algo, seed=1)
    assert codebook.dtype == np.float32
    np.testing.assert_allclose(codebook, reference, atol=1e-3)


@pytest.mark.parametrize(
    ("vectors", "options"),
    [
        pytest.param(np.zeros((4, 2), np.uint8), {"k": 1}, id="k=1"),
        pytest.param(np.zeros((4, 2), np.uint8), {"k": 65537}, id="k=65537"),
        pytest.param(np.zeros((4, 2), np.uint8), {"k": 2.5}, id="k=2.5"),
        pytest.param(np.zeros((4, 2), np.uint8), {"algo": "x"}, id="algo=x"),
        pytest.param(np.zeros((4, 2), np.uint8), {"seed": -1}, id="seed=-1"),
        pytest.param(np.zeros(8, np.uint8), {}, id="1-D"),
        pytest.param(np.zeros((2, 2, 2), np.uint8), {}, id="3-D"),
        pytest.param(np.zeros((0, 4), np.uint8), {}, id="empty"),
        pytest.param(np.zeros((4, 0), np.uint8), {}, id="zero-width"),
        pytest.param(np.array([[1.0, np.nan], [2.0, 3.0]]), {}, id="NaN"),
        pytest.param(np.array([[1.0, np.inf], [2.0, 3.0]]), {}, id="inf"),
        pytest.param(np.array([[1 + 1j, 2], [2, 3]]), {}, id="complex"),
        pytest.param(np.array([["a", "b"], ["c", "d"]]), {}, id="strings"),
    ],
)
@pytest.mark.parametrize("algo", CLUSTERING)
def test_train_codebook_option_validation(vectors, options, algo):
    options = {"k": 4, "algo": algo, **options}
    with pytest.raises(vqcodec.OptionsError):
        vqcodec.train_codebook(vectors, **options)


# --- the public kernels refuse what would crash them or give garbage -------------------------

GOOD = np.arange(40, dtype=np.uint8).reshape(20, 2)
BAD_DATA = {
    "NaN": np.array([[1.0, np.nan], [2.0, 3.0]]),
    "inf": np.array([[1.0, np.inf], [2.0, 3.0]]),
    "beyond-float32": np.array([[1e300, 0.0], [2.0, 3.0]]),
    "complex": np.array([[1 + 1j, 2], [2, 3]]),
    "1-D": np.zeros(8, np.uint8),
    "empty": np.zeros((0, 2), np.uint8),
}
BAD_WEIGHTS = {
    "fractional": np.full(20, 1.5), "zero": np.zeros(20, np.int64), "negative": -np.ones(20, np.int64),
    "NaN": np.full(20, np.nan), "short": np.ones(19, np.int64), "2-D": np.ones((20, 1), np.int64),
}
KERNELS = {  # name: call(vectors, k, weights)
    "kmeans": lambda v, k, w: kmeans(v, k, 0, w),
    "seed_kmeanspp": lambda v, k, w: seed_kmeanspp(v, k, np.random.default_rng(0), w),
    "centnn": lambda v, k, w: centnn(v, k, w)[0],
    "park": lambda v, k, w: park(v, k, w)[0],
    # one value per row: the 2-D cases as a column (GOOD's 20 rows become 40), a 1-D array as one row
    "optimal_scalar": lambda v, k, w: optimal_scalar(np.reshape(v, (-1, 1) if np.ndim(v) == 2 else (1, -1)),
                                                     k, None if w is None else np.repeat(w, 2, axis=0)),
}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("k", [0, -1, 65537, 2.5, True, None])
def test_kernels_refuse_a_bad_codebook_size(kernel, k):
    """centnn(v, 0) used to abort the interpreter with a heap error."""
    with pytest.raises(vqcodec.OptionsError, match="codebook size"):
        KERNELS[kernel](GOOD, k, None)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("data", BAD_DATA)
def test_kernels_refuse_bad_vectors(kernel, data):
    with pytest.raises(vqcodec.OptionsError):
        KERNELS[kernel](BAD_DATA[data], 2, None)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("weights", BAD_WEIGHTS)
def test_kernels_refuse_bad_weights(kernel, weights):
    """kmeans used to truncate 1.5 to 1 without a word."""
    with pytest.raises(vqcodec.OptionsError, match="weights"):
        KERNELS[kernel](GOOD, 2, BAD_WEIGHTS[weights])


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernels_take_whole_float_weights_as_counts(kernel):
    np.testing.assert_array_equal(KERNELS[kernel](GOOD, 3, np.full(20, 2.0)), KERNELS[kernel](GOOD, 3, np.full(20, 2)))


@pytest.mark.parametrize(("vectors", "codebook"), [(GOOD, np.array([[np.nan, 0.0]])), (BAD_DATA["inf"], GOOD[:2]),
                                                   (GOOD, np.zeros((0, 2)))])
def test_nearest_refuses_non_finite_or_empty_input(vectors, codebook):
    with pytest.raises(vqcodec.OptionsError):
        nearest(vectors, codebook)


@pytest.mark.parametrize("centres", [GOOD[:3, :1], np.array([[np.nan, 1.0]]), np.zeros((0, 2))])
def test_lloyd_refuses_centres_that_do_not_fit(centres):
    with pytest.raises(vqcodec.OptionsError):
        lloyd(GOOD, centres)


@pytest.mark.parametrize(("option", "value"), [("split_fraction", -0.1), ("split_fraction", 1.5),
                                               ("split_fraction", float("nan")), ("max_epochs", 0),
                                               ("stage_epochs", 0), ("shift_rounds", -1), ("shift_rounds", 1.5),
                                               ("schedule", "lean"), ("schedule", (2, 3, 4))])
def test_centnn_refuses_bad_settings(option, value):
    with pytest.raises(vqcodec.OptionsError, match=option):
        centnn(GOOD, 4, **{option: value})


@pytest.mark.parametrize("codebook", [GOOD[:3, :1], np.array([[np.nan, 1.0]]), np.zeros((0, 2))])
def test_refine_refuses_a_codebook_that_does_not_fit(codebook):
    with pytest.raises(vqcodec.OptionsError):
        refine(GOOD, codebook)


def test_seed_kmeanspp_needs_a_generator():
    with pytest.raises(vqcodec.OptionsError, match="Generator"):
        seed_kmeanspp(GOOD, 4, 0)


# --- quality sanity check on a real image --------------------------------------------------


def rounded_psnr(image, vectors, codebook) -> float:
    codebook = np.clip(np.rint(codebook), 0, 255).astype(np.uint8)
    labels, _ = nearest(vectors, codebook)
    return metrics.psnr(image, blocks.from_vectors(codebook[labels], *image.shape[:2], 4))


@pytest.fixture(scope="module")
def camera_vectors(camera_128):
    image = camera_128[:, :, None]
    return image, blocks.to_vectors(image, 4)


@pytest.mark.parametrize("algo", CLUSTERING)
def test_quality_on_camera(camera_vectors, algo):
    # 128 x 128 grey, 4 x 4 blocks, K = 64. scikit-learn's KMeans reaches 27.0 dB here, and a random
    # choice of 64 of the image's blocks about 22.5-23.2 dB.
    image, vectors = camera_vectors
    with warnings.catch_warnings():
        warnings.simplefilter("error", vqcodec.VQCodecWarning)  # CentNN must not hit its epoch cap
        codebook = vqcodec.train_codebook(vectors, k=64, algo=algo, seed=0)
    assert codebook.shape == (64, 16)
    assert_member_means(vectors, codebook, atol=1e-2)
    trained = rounded_psnr(image, vectors, codebook)
    assert trained > 26.0
    baseline = max(
        rounded_psnr(image, vectors, vectors[np.random.default_rng(s).choice(len(vectors), 64, replace=False)])
        for s in range(3)
    )
    assert trained > baseline + 1.0
