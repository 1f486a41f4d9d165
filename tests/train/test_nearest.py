"""The nearest-codeword search against brute force."""
import numpy as np
import pytest
from cases import BAD_DATA, GOOD, random_vectors, sq_distances

import vqcodec
from vqcodec.train.nearest import ALL_ROWS, CACHE_BITS, NO_GROUPS, nearest, scan_rows


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



@pytest.mark.parametrize("d", [1, 4, 7])
def test_remembered_answers_are_the_scans(d):
    """Short byte vectors that repeat take a remembered answer: far more distinct vectors than the table
    holds (so that they collide and replace one another), each repeated, give what brute force and the
    float path (never remembered) give, in one slice or in many."""
    rng = np.random.default_rng(d)
    distinct = rng.integers(0, 256, (4 << CACHE_BITS, d)).astype(np.uint8)
    vectors = distinct[np.minimum(rng.geometric(0.002, 20000), len(distinct)) - 1]  # the first ones most often
    codebook = rng.integers(0, 256, (37, d)).astype(np.float32)
    penalty = rng.integers(0, 400, 37).astype(np.float32)
    labels, distances = nearest(vectors, codebook, penalty)
    total = sq_distances(vectors, codebook) + penalty
    np.testing.assert_array_equal(labels, total.argmin(axis=1))
    np.testing.assert_allclose(distances, total.min(axis=1), rtol=1e-6)
    float_labels, float_distances = nearest(vectors.astype(np.float32), codebook, penalty)
    np.testing.assert_array_equal(labels, float_labels)
    np.testing.assert_array_equal(distances, float_distances)
    sliced_labels, sliced_distances = np.empty(len(vectors), np.int64), np.empty(len(vectors), np.float32)
    bounds = [0, 1, 777, 5000, 5001, 20000]
    for start, stop in zip(bounds, bounds[1:]):
        scan_rows(start, stop, vectors, np.ascontiguousarray(codebook.T), penalty, ALL_ROWS, sliced_labels,
                  sliced_distances, *NO_GROUPS, True)
    np.testing.assert_array_equal(sliced_labels, labels)
    np.testing.assert_array_equal(sliced_distances, distances)


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


@pytest.mark.parametrize(("vectors", "codebook"), [(GOOD, np.array([[np.nan, 0.0]])), (BAD_DATA["inf"], GOOD[:2]),
                                                   (GOOD, np.zeros((0, 2)))])
def test_nearest_refuses_non_finite_or_empty_input(vectors, codebook):
    with pytest.raises(vqcodec.OptionsError):
        nearest(vectors, codebook)
