"""Nearest-codeword search shared by both trainers and the final assignment."""
import numpy as np
from numba import njit, prange

_BIG = np.float32(3.0e38)


@njit(cache=True, parallel=True, fastmath={"reassoc", "contract"})
def _nearest_kernel(vectors, codebook, labels, distances):
    # One sample per iteration, so the result does not depend on the thread count.
    n, d = vectors.shape
    k = codebook.shape[0]
    for i in prange(n):
        best = _BIG
        best_j = 0
        for j in range(k):
            s = np.float32(0.0)
            for t in range(d):
                diff = np.float32(vectors[i, t]) - codebook[j, t]
                s += diff * diff
            if s < best:
                best = s
                best_j = j
        labels[i] = best_j
        distances[i] = best


def nearest(vectors: np.ndarray, codebook: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest codeword for every vector, and its squared distance.

    Ties go to the lowest index.
    """
    codebook = np.ascontiguousarray(codebook, dtype=np.float32)
    if vectors.ndim != 2 or codebook.ndim != 2 or vectors.shape[1] != codebook.shape[1]:
        raise ValueError(f"shapes {vectors.shape} and {codebook.shape} do not match")
    if codebook.shape[0] == 0:
        raise ValueError("empty codebook")
    labels = np.empty(vectors.shape[0], dtype=np.int64)
    distances = np.empty(vectors.shape[0], dtype=np.float32)
    _nearest_kernel(np.ascontiguousarray(vectors), codebook, labels, distances)
    return labels, distances
