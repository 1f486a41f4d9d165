"""What the trainers take: input checks, and the shrinking of inputs that changes no codebook.

Every public function of the trainer modules validates with `checked_data`,
so that no call from Python can crash the interpreter or return a codebook
of NaN.
"""
from numbers import Integral

import numpy as np

from ..errors import OptionsError
from ..options import MAX_K


def checked_data(vectors, weights=None) -> tuple[np.ndarray, np.ndarray | None]:
    """(vectors, weights) as the kernels take them, or OptionsError.

    vectors: a non-empty 2-D array of finite real numbers, returned C-contiguous
    as uint8 when it is uint8 and as float32 otherwise. weights: None, or one
    whole number of at least 1 per vector (a weight w counts as w copies),
    returned as int64.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or 0 in vectors.shape:
        raise OptionsError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
    if vectors.dtype != np.uint8:
        if not (np.issubdtype(vectors.dtype, np.integer) or np.issubdtype(vectors.dtype, np.floating)):
            raise OptionsError(f"vectors must be real numbers, got {vectors.dtype}")
        with np.errstate(over="ignore"):  # values beyond float32 become infinite, refused below
            vectors = vectors.astype(np.float32)
        if not np.all(np.isfinite(vectors)):
            raise OptionsError("vectors contain NaN or infinity (or values beyond float32)")
    vectors = np.ascontiguousarray(vectors)
    if weights is None:
        return vectors, None
    weights = np.asarray(weights)
    if weights.shape != (len(vectors),):
        raise OptionsError(f"weights must be one number per vector ({len(vectors)}), got shape {weights.shape}")
    if not (np.issubdtype(weights.dtype, np.integer) or np.issubdtype(weights.dtype, np.floating)):
        raise OptionsError(f"weights must be whole numbers, got {weights.dtype}")
    if not (np.all(weights >= 1) and np.all(weights <= 2**53) and np.all(np.floor(weights) == weights)):
        raise OptionsError("weights must be whole numbers from 1 to 2**53 (a weight w counts as w copies)")
    return vectors, np.ascontiguousarray(weights, dtype=np.int64)


def checked_k(k) -> int:
    """A codebook size for the kernels: a whole number from 1 to MAX_K."""
    if not isinstance(k, Integral) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise OptionsError(f"codebook size must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


def distinct_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows, counts) of the distinct rows when that shrinks the data at least twofold, else (vectors, None).

    Only short uint8 rows are looked at (up to 8 bytes: scalar and 2x2 grey
    blocks, single colour pixels), where a row packs into one 64-bit key.
    Scalar 8-bit data has at most 256 distinct rows, whatever the image size.
    """
    n, d = vectors.shape
    if vectors.dtype != np.uint8 or d > 8:
        return vectors, None
    if d == 1:  # a histogram is quicker than sorting
        counts = np.bincount(vectors[:, 0], minlength=256)
        levels = np.flatnonzero(counts)
        return (levels.astype(np.uint8)[:, None], counts[levels]) if 2 * len(levels) <= n else (vectors, None)
    packed = np.zeros((n, 8), dtype=np.uint8)
    packed[:, :d] = vectors
    keys, counts = np.unique(packed.view("<u8")[:, 0], return_counts=True)
    if 2 * len(keys) > n:
        return vectors, None
    rows = keys.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :d]
    return np.ascontiguousarray(rows), counts


SAMPLE_PER_CODEWORD = 256  # as faiss does by default
MIN_SAMPLE = 1 << 16


def training_sample(vectors: np.ndarray, weights: np.ndarray | None, k: int, seed: int):
    """At most max(256 K, 65536) rows, drawn at random with the seed: beyond that,
    more rows cost training time in proportion and change the codebook very little."""
    limit = max(SAMPLE_PER_CODEWORD * k, MIN_SAMPLE)
    if len(vectors) <= limit:
        return vectors, weights
    rows = np.sort(np.random.default_rng(seed).choice(len(vectors), limit, replace=False))
    return np.ascontiguousarray(vectors[rows]), None if weights is None else weights[rows]
