"""Codebook training: one entry point that validates its input and picks a trainer.

The Numba trainers are imported only when training starts, so decoding and
`--help` never load Numba.
"""
import warnings

import numpy as np

from .errors import OptionsError, VQCodecWarning
from .options import SCALAR_ONLY, check_algo, check_k, check_seed


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


def train_codebook(vectors: np.ndarray, k: int, algo: str = "kmeans", seed: int = 0) -> np.ndarray:
    """Learn at most k codewords (float32 rows) for the rows of `vectors`.

    Fewer than k come back only when `vectors` has fewer than k distinct rows.
    uint8 input is used as is; anything else is converted to float32. When the
    rows repeat a lot (scalar 8-bit data above all), training runs on the
    distinct rows weighted by their counts. Large inputs train on a random
    sample of max(256 K, 65536) rows, drawn with the seed. `optimal` takes
    one-column data only and, like CentNN on inputs below the sample size,
    ignores the seed.
    """
    check_k(k)
    check_algo(algo)
    check_seed(seed)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or 0 in vectors.shape:
        raise OptionsError(f"vectors must be a non-empty 2-D array, got shape {vectors.shape}")
    if vectors.dtype != np.uint8:
        if not np.issubdtype(vectors.dtype, np.number) or np.iscomplexobj(vectors):
            raise OptionsError(f"vectors must be real numbers, got {vectors.dtype}")
        vectors = vectors.astype(np.float32)
        if not np.all(np.isfinite(vectors)):
            raise OptionsError("vectors contain NaN or infinity")
    if algo in SCALAR_ONLY and vectors.shape[1] != 1:
        raise OptionsError(f"--algo {algo} is for scalar data only (-b 1 on a grey image), got {vectors.shape[1]} values per vector")
    vectors, weights = distinct_rows(np.ascontiguousarray(vectors))
    if algo == "optimal":
        from .scalar import optimal_scalar

        return optimal_scalar(vectors, k, weights)
    vectors, weights = training_sample(vectors, weights, k, seed)
    if algo == "kmeans":
        from .kmeans import kmeans

        return kmeans(vectors, k, seed, weights)
    from .centnn import MAX_EPOCHS_PER_STAGE, centnn

    codebook, stats = centnn(vectors, k, weights)
    if stats["capped"]:
        warnings.warn(
            f"CentNN: {stats['capped']} growth stage(s) stopped at the cap of {MAX_EPOCHS_PER_STAGE} epochs "
            "before converging; the codebook is complete but may be slightly worse",
            VQCodecWarning,
            stacklevel=2,
        )
    return codebook
