"""Nearest-codeword search: the final assignment of every block to a codeword,
and the distance helpers every full scan shares."""
import numpy as np
from numba import njit

from ..errors import OptionsError
from .data import checked_data
from .rows import over_rows


@njit(cache=True, fastmath={"reassoc", "contract"})
def sqdist(vectors, i, codebook, j):
    """Squared distance from vector i to codeword j (codebook K x D)."""
    s = np.float32(0.0)
    for t in range(vectors.shape[1]):
        diff = np.float32(vectors[i, t]) - codebook[j, t]
        s += diff * diff
    return s


@njit(cache=True, fastmath={"reassoc", "contract"})
def distances_to_all(vectors, i, codebook_t, k, out):
    """Squared distances from vector i to the first k codewords, into out[:k].

    The codebook comes transposed (D x K), so the innermost loop runs along the
    codewords and vectorises; four coordinates per pass keep the partial sums
    in registers, a quarter of the loads and stores of one per pass. Shared by
    every full scan: K-Means, CentNN and the final assignment.
    """
    d = vectors.shape[1]
    out[:k] = 0.0
    t = 0
    while t + 4 <= d:
        x0 = np.float32(vectors[i, t])
        x1 = np.float32(vectors[i, t + 1])
        x2 = np.float32(vectors[i, t + 2])
        x3 = np.float32(vectors[i, t + 3])
        for c in range(k):
            d0 = x0 - codebook_t[t, c]
            d1 = x1 - codebook_t[t + 1, c]
            d2 = x2 - codebook_t[t + 2, c]
            d3 = x3 - codebook_t[t + 3, c]
            out[c] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
        t += 4
    while t < d:
        x = np.float32(vectors[i, t])
        for c in range(k):
            diff = x - codebook_t[t, c]
            out[c] += diff * diff
        t += 1


CACHE_BITS = 12  # a table of remembered answers (here and in vqcodec.rd.choice) has 2^CACHE_BITS slots
MAX_CACHED = 7  # bytes a vector may have for its answer to be remembered (its key is an int64 of them)


@njit(cache=True, nogil=True, inline="always")
def table_slot(key):
    """The slot of a non-negative int64 key in a table of remembered answers: Fibonacci hashing, whose
    multiplier's top bits spread nearby keys over the slots."""
    return np.int64((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - CACHE_BITS))


@njit(cache=True, nogil=True)
def scan_rows(start, stop, vectors, codebook_t, penalty, rows, labels, distances, group_of, lower, cached):
    """The full scan of rows[start:stop] (of rows start..stop-1 if `rows` is empty): each row's
    codeword of least distance plus penalty (ties to the lowest index) into `labels`, and that
    sum into `distances`.

    With groups of codewords (group_of[c] is codeword c's, `lower` has a column
    per group), also each row's distance (not squared) to every group's nearest
    member other than its codeword: the bounds of Lloyd's loop (kmeans.py). One
    kernel serves both, so that one compiles.

    With `cached` (byte vectors of at most MAX_CACHED values, no groups), a row equal to one
    scanned shortly before takes that one's answer from a small table instead of a scan: the
    same answer, so nothing depends on which rows a call was given. Residual blocks of 2 x 2
    repeat often, most of all in smooth images.
    """
    k = codebook_t.shape[1]
    groups = lower.shape[1]
    s = np.empty(k, dtype=np.float32)
    bits = s.view(np.int32)  # non-negative floats order as their bits: a minimum of integers vectorises
    signed = False  # a penalty below zero: floats are compared as floats
    for c in range(k):
        signed |= penalty[c] < 0.0
    slots = 1 << CACHE_BITS if cached else 0
    keys = np.full(slots, -1, dtype=np.int64)  # the vector each slot remembers, as its bytes
    known_labels = np.empty(slots, dtype=np.int64)
    known_distances = np.empty(slots, dtype=np.float32)
    slot = 0
    for r in range(start, stop):
        i = rows[r] if rows.shape[0] else r
        if cached:
            key = np.int64(0)
            for t in range(vectors.shape[1]):
                key = (key << 8) | np.int64(vectors[i, t])
            slot = table_slot(key)
            if keys[slot] == key:
                labels[i], distances[i] = known_labels[slot], known_distances[slot]
                continue
            keys[slot] = key
        distances_to_all(vectors, i, codebook_t, k, s)
        for c in range(k):
            s[c] += penalty[c]
        j = 0
        if signed:
            for c in range(1, k):
                if s[c] < s[j]:
                    j = c
        else:
            least = bits[0]
            for c in range(1, k):
                least = min(least, bits[c])
            while bits[j] != least:
                j += 1
        distances[i], labels[i] = s[j], j
        if cached:
            known_labels[slot], known_distances[slot] = j, s[j]
        if groups:
            for g in range(groups):
                lower[i, g] = np.inf
            for c in range(k):
                if c != j:
                    g = group_of[c]
                    lower[i, g] = min(lower[i, g], np.float64(s[c]))
            for g in range(groups):
                lower[i, g] = np.sqrt(lower[i, g])


ALL_ROWS = np.empty(0, dtype=np.int64)  # scan_rows' `rows` for every row
NO_GROUPS = (np.empty(0, dtype=np.int64), np.empty((0, 0)))  # its `group_of` and `lower` without groups


def nearest(vectors: np.ndarray, codebook: np.ndarray, penalty=None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest codeword for every vector, and its squared distance plus the codeword's
    penalty (none by default; entropy-constrained coding passes lambda times its code length).

    Ties go to the lowest index.
    """
    vectors, _ = checked_data(vectors)
    codebook, _ = checked_data(codebook)
    if vectors.shape[1] != codebook.shape[1]:
        raise OptionsError(f"vectors of shape {vectors.shape} and codebook of shape {codebook.shape} do not match")
    labels = np.empty(vectors.shape[0], dtype=np.int64)
    distances = np.empty(vectors.shape[0], dtype=np.float32)
    penalty = np.zeros(len(codebook), dtype=np.float32) if penalty is None else np.asarray(penalty, np.float32)
    if penalty.shape != (len(codebook),) or not np.all(np.isfinite(penalty)):
        raise OptionsError(f"penalty must be one finite number per codeword ({len(codebook)})")
    cached = vectors.dtype == np.uint8 and vectors.shape[1] <= MAX_CACHED
    over_rows(scan_rows, len(vectors), vectors, np.ascontiguousarray(codebook.T, dtype=np.float32), penalty, ALL_ROWS,
              labels, distances, *NO_GROUPS, cached)
    return labels, distances
