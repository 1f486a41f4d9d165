"""The entropy-constrained rounds (vqcodec.rd.ecvq) against plain NumPy."""
import numpy as np

from vqcodec.rd import ecvq
from vqcodec.train.nearest import nearest


def test_the_sums_are_their_numpy_reference():
    rng = np.random.default_rng(2)
    vectors = rng.integers(0, 256, (5000, 4)).astype(np.uint8)
    labels = rng.integers(0, 9, 5000) * (rng.random(5000) < 0.9)  # codeword 0 most, and some never
    counts, sums = np.zeros(12, dtype=np.int64), np.zeros((12, 4))
    ecvq._sums(vectors, labels, sums, counts)
    np.testing.assert_array_equal(counts, np.bincount(labels, minlength=12))
    np.testing.assert_array_equal(sums, np.stack([np.bincount(labels, weights=vectors[:, t], minlength=12)
                                                  for t in range(4)], axis=1))


def test_a_round_moves_codewords_to_their_means_and_drops_the_unused():
    """One round from a codebook with a codeword no block takes: that one is dropped (but a fixed one is
    kept, used or not), every other moves to the mean of its blocks, and the lengths are -log2 of the
    share of blocks each took."""
    rng = np.random.default_rng(3)
    vectors = np.concatenate([rng.integers(0, 40, (300, 4)), rng.integers(200, 256, (100, 4))]).astype(np.uint8)
    start = np.array([[128] * 4, [20] * 4, [230] * 4, [120, 0, 255, 0]], dtype=np.uint8)  # 0: fixed; 3: unused
    labels, _ = nearest(vectors, start.astype(np.float64))
    assert not np.any(labels == 3) and not np.any(labels == 0)
    book, lengths = ecvq.refine(vectors, start, lam=0.0, iterations=1, fixed=1)
    assert len(book) == 3 and book[0].tolist() == [128] * 4
    for new, old in ((1, 1), (2, 2)):
        np.testing.assert_array_equal(book[new], np.rint(vectors[labels == old].mean(axis=0)))
    shares = np.bincount(labels, minlength=4)[:3] / len(vectors)
    np.testing.assert_allclose(lengths, -np.log2(np.maximum(shares, 0.5 / len(vectors))))
