"""The codebook's last step before coding: drop the codewords no block uses, and order
the rest so that similar codewords get neighbouring indices.

Neither changes a decoded pixel: every block keeps its codeword, only its
number changes. The order helps both coded sections: the codebook is
predicted codeword by codeword, and the index model learns faster when
similar blocks have similar numbers. It is the encoder's choice; decoders
need not know how it was made.
"""
import numpy as np
from numba import njit

WINDOW = 32  # candidates looked at on each side; beyond that the order barely improves


def _chain(book: np.ndarray, window: int) -> np.ndarray:
    """A greedy nearest-neighbour walk through the codewords.

    The codewords are first sorted by the sum of their samples (ties by
    their samples, first to last), so that the order depends on the
    codewords and not on how they were numbered: ordering a codebook again
    leaves it as it is. The walk starts at the first and steps to the
    nearest not yet visited among the `window` nearest in that sort order on
    either side. Exact integer distances, ties to the earlier in sort order:
    the same order everywhere.
    """
    by_key = np.lexsort((*book.T[::-1], book.sum(axis=1, dtype=np.int64)))
    return _walk(book, by_key, window)


@njit(cache=True, nogil=True)
def _walk(book, by_key, window):
    k, d = book.shape
    after = np.empty(k, dtype=np.int64)  # unvisited neighbours in sort order, as a linked list
    before = np.empty(k, dtype=np.int64)
    for at in range(k):
        after[at] = at + 1
        before[at] = at - 1
    walk = np.empty(k, dtype=np.int64)
    at = 0
    for step in range(k):
        here = by_key[at]
        walk[step] = here
        prev, nxt = before[at], after[at]
        if prev >= 0:
            after[prev] = nxt
        if nxt < k:
            before[nxt] = prev
        best, best_distance = -1, np.int64(1) << 62
        for side in range(2):
            q = prev if side == 0 else nxt
            for _ in range(window):
                if q < 0 or q >= k:
                    break
                distance = np.int64(0)
                for t in range(d):
                    diff = np.int64(book[by_key[q], t]) - np.int64(book[here, t])
                    distance += diff * diff
                if distance < best_distance or (distance == best_distance and q < best):
                    best, best_distance = q, distance
                q = before[q] if side == 0 else after[q]
        at = best
    return walk


def prune_and_order(codebook: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codebook, indices) with unused codewords dropped and the rest in chain order; the indices keep
    their shape and integer type."""
    codebook, number = ordered(codebook, np.bincount(indices.ravel(), minlength=len(codebook)))
    return codebook, number.astype(indices.dtype)[indices]


def ordered(codebook: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the codewords used, in chain order; the new number of each old codeword): how prune_and_order
    renumbers, for indices too many to copy at once."""
    kept = np.flatnonzero(counts > 0)
    order = kept[_chain(np.ascontiguousarray(codebook[kept]), WINDOW)]
    number = np.zeros(len(codebook), dtype=np.int64)
    number[order] = np.arange(len(order))
    return np.ascontiguousarray(codebook[order]), number
