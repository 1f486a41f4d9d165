"""Each block's codeword, chosen knowing what the index coder makes cheap.

Entropy-constrained coding weighs a codeword's squared error against lambda
times its code length, and the codebook's lengths are order 0: what a
codeword costs on average. The tile index coder (vqcodec.format.entropy)
codes a block far more cheaply when it repeats its left or upper neighbour,
and codes a new index from trees that know those neighbours. So after the
plain choice, blocks are chosen again in coding order, each by squared
error plus a share of lambda (LAMBDA) times its cost under a model of that
coder: a flag "same as the left one?" and one "same as the one above?",
each in the contexts the coder uses, and a new index at what it costs after
each neighbour, from how often codewords followed each other. The model's
statistics come from the choices already made in the bands above (the
first band from its plain choice), so that they follow the image as a
coder's would. As a new index, only the plain choice and the codewords
nearest it compete.

A decoder need not know any of this: it changes which codeword a block
takes, never how a file is read.
"""
import numpy as np
from numba import njit

from ..train.nearest import CACHE_BITS, sqdist, table_slot

NEAR = 8  # new indices a block weighs: its plain choice and the codewords nearest that
LAMBDA = 0.5  # the share of the plane's lambda that weighs the bits here: measured best from 0.35 to 0.65, where
# the plane's own lambda (1) gave a third less of the gain (docs/rate-distortion.md)
MAX_CONTEXT_K = 1024  # codebooks larger than this keep the plain choice: the model holds K x K statistics
PRIOR = 4.0  # weight of the order-0 frequencies in the statistics of what follows a codeword


@njit(cache=True, nogil=True, inline="always")
def _at(grid, r, c, c0, c1):
    """The index at (r, c) of the grid, or -1 outside it or outside columns c0..c1-1."""
    if r < 0 or c < c0 or c >= c1:
        return np.int64(-1)
    return np.int64(grid[r, c])


@njit(cache=True, nogil=True)
def choose_rows(start, stop, vectors, plain, codebook, near, lam, grid, top, columns, same, differ, follows):
    """Blocks of grid rows top.. (as many as `vectors` holds, a row of grid.shape[1] blocks each) in
    ranges of `columns` columns start..stop-1, each range in coding order and on its own (blocks outside
    it count as absent, so that ranges can run at once), each block to its codeword of least cost under
    the model (the module's docstring), written into `grid`, which holds the choices above. `plain`: the
    blocks' plain choices; `near[b]`: codeword b and those nearest it, the new indices weighed when b is
    the plain choice; `same` and `differ`: the bits of the flags, (2, 8) by flag and context;
    `follows[a, c]`: the bits of a new index c after a neighbour a."""
    for column_range in range(start, stop):
        c0 = column_range * columns
        _choose(vectors, plain, codebook, near, lam, grid, top, c0, min(c0 + columns, grid.shape[1]), same, differ,
                follows)


@njit(cache=True, nogil=True)
def _choose(vectors, plain, codebook, near, lam, grid, top, c0, c1, same, differ, follows):
    """The choice in one column range. A block's choice depends only on its samples, its left and upper
    neighbours and which of its neighbours are equal; where those fit an int64 key (blocks of at most
    4 samples), a block like one chosen shortly before takes that one's choice from a small table: the
    same choice, far sooner in smooth areas."""
    across = grid.shape[1]
    cached = vectors.shape[1] <= 4 and codebook.shape[0] < 2047
    slots = 1 << CACHE_BITS if cached else 0
    keys = np.full(slots, -1, dtype=np.int64)  # the situation each slot remembers
    known = np.empty(slots, dtype=np.int64)
    key, slot = np.int64(0), np.int64(0)
    for r in range(top, top + vectors.shape[0] // across):
        for c in range(c0, c1):
            i = (r - top) * across + c
            left, above = _at(grid, r, c - 1, c0, c1), _at(grid, r - 1, c, c0, c1)
            above_left, above_right = _at(grid, r - 1, c - 1, c0, c1), _at(grid, r - 1, c + 1, c0, c1)
            if cached:
                key = (((left + 1) << 11 | (above + 1)) << 4 | (above_left == left) | (above_right == left) << 1
                       | (above_left == above) << 2 | (above_right == above) << 3)
                for t in range(vectors.shape[1]):
                    key = key << 8 | np.int64(vectors[i, t])
                slot = table_slot(key)
                if keys[slot] == key:
                    grid[r, c] = known[slot]
                    continue
                keys[slot] = key
            chosen, cost, flags = np.int64(-1), np.inf, 0.0  # flags: the bits of the flags a new index follows
            if left >= 0:
                ctx = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
                chosen, cost = left, sqdist(vectors, i, codebook, left) + lam * same[0, ctx]
                flags += differ[0, ctx]
            if above >= 0 and above != left:
                ctx = (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
                j = sqdist(vectors, i, codebook, above) + lam * (flags + same[1, ctx])
                if j < cost:
                    chosen, cost = above, j
                flags += differ[1, ctx]
            ref_left = left if left >= 0 else max(above, 0)  # the coder's tree contexts
            ref_above = above if above >= 0 else ref_left
            for m in range(near.shape[1]):  # a new index: the plain choice, or a codeword nearest it
                a = near[plain[i], m]
                if a != left and a != above:
                    j = sqdist(vectors, i, codebook, a) + lam * (flags + 0.5 * (follows[ref_left, a]
                                                                                    + follows[ref_above, a]))
                    if j < cost:
                        chosen, cost = a, j
            grid[r, c] = chosen
            if cached:
                known[slot] = chosen


def nearest_codewords(codebook: np.ndarray) -> np.ndarray:
    """For each codeword, itself and the NEAR - 1 others nearest it (fewer in a smaller codebook), nearest
    first, ties to the lower index: (K, min(NEAR, K)) int64."""
    book = codebook.astype(np.int64)
    distances = ((book[:, None, :] - book[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, -1)
    return np.ascontiguousarray(np.argsort(distances, axis=1, kind="stable")[:, : min(NEAR, len(book))])


@njit(cache=True, nogil=True)
def _count(grid, top, bottom, flags, pairs, counts):
    """Model.add's counts: each block's flags in their contexts, what a new index follows, every index."""
    across = grid.shape[1]
    for r in range(top, bottom):
        for c in range(across):
            x = np.int64(grid[r, c])
            left, above = _at(grid, r, c - 1, 0, across), _at(grid, r - 1, c, 0, across)
            above_left, above_right = _at(grid, r - 1, c - 1, 0, across), _at(grid, r - 1, c + 1, 0, across)
            if left >= 0:
                ctx = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
                flags[0, ctx, np.int64(x == left)] += 1
            if above >= 0 and above != left and x != left:
                ctx = (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
                flags[1, ctx, np.int64(x == above)] += 1
            if x != left and x != above:
                if left >= 0:
                    pairs[left, x] += 1
                if above >= 0:
                    pairs[above, x] += 1
            counts[x] += 1


class Model:
    """The statistics of one plane's choices so far, and the costs the choice reads from them."""

    def __init__(self, codebook: np.ndarray, near: np.ndarray | None = None):
        self.codebook, self.k = codebook, len(codebook)
        self.near = nearest_codewords(codebook) if near is None else near
        self.flags = np.zeros((2, 8, 2))  # by flag and context: blocks that differ, blocks the same
        self.pairs = np.zeros((self.k, self.k))  # [a, c]: a new index c beside a neighbour a (left, or above)
        self.counts = np.zeros(self.k)  # every index chosen
        self._costs, self._costed = None, 0.0  # the costs last worked out, and how many blocks they counted

    def add(self, grid: np.ndarray, top: int, bottom: int) -> None:
        """Count the choices of grid rows top..bottom-1 (with the row above them, where there is one)."""
        _count(grid, top, bottom, self.flags, self.pairs, self.counts)

    def emptied(self) -> "Model":
        """The model with nothing counted."""
        return Model(self.codebook, self.near)

    def costs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(same, differ, follows) for choose_rows: worked out again only once the blocks counted have grown
        by a quarter since, as K x K logarithms a band add up on a large image."""
        blocks = self.counts.sum()
        if self._costs is None or blocks >= 1.25 * self._costed:
            p = (self.flags[..., 1] + 0.5) / (self.flags.sum(axis=2) + 1)
            order0 = (self.counts + 0.5) / (blocks + 0.5 * self.k)
            follows = (self.pairs + PRIOR * order0) / (self.pairs.sum(axis=1, keepdims=True) + PRIOR)
            self._costs, self._costed = (-np.log2(p), -np.log2(1 - p), -np.log2(follows)), blocks
        return self._costs
