"""Entropy-constrained VQ (Chou, Lookabaugh & Gray, 1989): codewords chosen by distortion plus
lambda times their code length, and codewords that no block chooses dropped. The rounds run on a
sample of the blocks; every block is then assigned once, with the lengths the sample gave.

A larger lambda trades distortion for rate: common codewords become cheaper,
rare ones vanish, and the index stream shrinks. Code lengths are the
order-0 estimate -log2(share of blocks); the context model codes better than
that, but the estimate ranks codewords the same way.
"""
import numpy as np
from numba import njit

from ..train.nearest import nearest


@njit(cache=True, nogil=True)
def _sums(vectors, labels, sums, counts):
    """Each codeword's blocks counted into `counts` and summed into `sums` (float64: exact, the samples
    being integers), without the float64 copy of each column that np.bincount's weights take."""
    for i in range(vectors.shape[0]):
        j = labels[i]
        counts[j] += 1
        for t in range(vectors.shape[1]):
            sums[j, t] += vectors[i, t]


def refine(vectors: np.ndarray, codebook: np.ndarray, lam: float, iterations: int,
           fixed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(codebook uint8, code length in bits per codeword) after entropy-constrained rounds from a
    starting codebook: what assigning other vectors of the same kind needs, at lambda times its length.

    vectors and codebook are uint8; the first `fixed` codewords stay as they
    are and are never dropped: the zero residual, which flat areas need, or a
    shared codebook's entry that a plane's own codewords extend.
    Deterministic: sums are exact (integers in float64) and the assignment
    does not depend on the thread count.
    """
    n = len(vectors)
    book = codebook.astype(np.float64)
    penalty = np.zeros(len(book))
    for _ in range(iterations):
        labels, _ = nearest(vectors, book, lam * penalty)
        counts, sums = np.zeros(len(book), dtype=np.int64), np.zeros(book.shape)
        _sums(vectors, labels, sums, counts)
        used = counts > 0
        used[:fixed] = True
        book[fixed:] = sums[fixed:] / np.maximum(counts[fixed:], 1)[:, None]
        book, counts = book[used], counts[used]
        penalty = -np.log2(np.maximum(counts, 0.5) / n)
    return np.clip(np.rint(book), 0, 255).astype(np.uint8), penalty
