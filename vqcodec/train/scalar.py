"""The optimal scalar quantizer: exact least-squares codebooks for one-dimensional data.

For scalar data an optimal quantizer's cells are intervals of the sorted
values, so dynamic programming over the distinct values finds the K intervals
with the least squared error exactly (Bellman's k-segmentation). With 8-bit
samples there are at most 256 distinct values, which takes milliseconds at
any image size. Plain NumPy: no kernel to compile.
"""
import numpy as np

from ..errors import OptionsError
from .data import checked_data, checked_k

MAX_DISTINCT = 4096  # the table is distinct x distinct floats: 128 MiB at this size


def optimal_scalar(values: np.ndarray, k: int, weights: np.ndarray | None = None) -> np.ndarray:
    """The k (or fewer, if fewer distinct values) codewords, as a float32 column, minimising
    the weighted squared error of `values` (an N x 1 or flat array)."""
    values = np.asarray(values)
    values, weights = checked_data(values.reshape(-1, 1) if values.ndim == 1 else values, weights)
    if values.shape[1] != 1:
        raise OptionsError(f"the optimal scalar quantizer takes one value per row, got {values.shape[1]}")
    k = checked_k(k)
    values = values.astype(np.float64).ravel()
    weights = np.ones(len(values)) if weights is None else weights.astype(np.float64)
    levels, inverse = np.unique(values, return_inverse=True)
    if len(levels) > MAX_DISTINCT:
        raise OptionsError(f"the optimal scalar quantizer takes at most {MAX_DISTINCT} distinct values, got {len(levels)}")
    count = np.bincount(inverse, weights)
    if k >= len(levels):
        return levels.astype(np.float32)[:, None]
    # Prefix sums over the sorted levels; cost[a, b] is the error of one cell holding levels a..b-1.
    w = np.concatenate([[0.0], np.cumsum(count)])
    s = np.concatenate([[0.0], np.cumsum(count * levels)])
    q = np.concatenate([[0.0], np.cumsum(count * levels * levels)])
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (q[None, :] - q[:, None]) - (s[None, :] - s[:, None]) ** 2 / (w[None, :] - w[:, None])
    n = len(levels)
    cost[np.tril_indices(n + 1)] = np.inf  # a cell holds at least one level
    best = cost[0].copy()  # best[b]: least error of levels 0..b-1 in the cells so far
    cut = np.zeros((k, n + 1), dtype=np.int64)
    for cells in range(1, k):
        total = best[:, None] + cost
        cut[cells] = np.argmin(total, axis=0)
        best = total[cut[cells], np.arange(n + 1)]
    bounds = [n]
    for cells in range(k - 1, 0, -1):
        bounds.append(cut[cells, bounds[-1]])
    bounds.append(0)
    bounds = bounds[::-1]
    means = [(s[b] - s[a]) / (w[b] - w[a]) for a, b in zip(bounds[:-1], bounds[1:])]
    return np.array(means, dtype=np.float32)[:, None]
