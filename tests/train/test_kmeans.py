"""K-Means: k-means++ and Lloyd's loop against NumPy references; bounds that change nothing."""
import numpy as np
import pytest
from cases import GOOD, assert_member_means, blobs, random_vectors, repeated_rows, sorted_rows, sq_distances
from naive import naive_kmeanspp, naive_lloyd

import vqcodec
from vqcodec.train.kmeans import _cluster_sums, kmeans, lloyd, seed_kmeanspp
from vqcodec.train.nearest import nearest


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
    """The kernels run on row slices on threads (vqcodec.train.rows); every row is computed on its own."""
    import numba

    from vqcodec.train.rows import MIN_ROWS

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


@pytest.mark.parametrize("centres", [GOOD[:3, :1], np.array([[np.nan, 1.0]]), np.zeros((0, 2))])
def test_lloyd_refuses_centres_that_do_not_fit(centres):
    with pytest.raises(vqcodec.OptionsError):
        lloyd(GOOD, centres)


def test_seed_kmeanspp_needs_a_generator():
    with pytest.raises(vqcodec.OptionsError, match="Generator"):
        seed_kmeanspp(GOOD, 4, 0)
