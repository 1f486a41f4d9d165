"""Codebook training: one interface to every trainer, and the checks their inputs pass.

Each trainer is a `Trainer` in `TRAINERS`; `train_codebook` validates its input
once, shrinks it where that changes nothing (distinct rows, a sample of large
inputs) and hands it on. The Numba trainers are imported only when training
starts, so decoding and `--help` never load Numba. The public functions of the
trainer modules validate with `checked_data` too, so that no call from Python
can crash the interpreter or return a codebook of NaN.
"""
import warnings
from dataclasses import dataclass
from numbers import Integral
from typing import Callable

import numpy as np

from .errors import OptionsError, VQCodecWarning
from .options import DEFAULT_K, MAX_K, SCALAR_ONLY, EncodeOptions


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


def _kmeans(vectors, weights, k, seed):
    from .kmeans import kmeans

    return kmeans(vectors, k, seed, weights)


def _warn_if_capped(stats, what: str) -> None:
    from .centnn import MAX_EPOCHS_PER_STAGE

    if stats["capped"]:
        warnings.warn(
            f"{what}: {stats['capped']} stage(s) stopped at the cap of {MAX_EPOCHS_PER_STAGE} epochs "
            "before converging; the codebook is complete but may be slightly worse",
            VQCodecWarning,
            stacklevel=4,
        )


def _centnn(vectors, weights, k, seed):
    from .centnn import centnn

    codebook, stats = centnn(vectors, k, weights)
    _warn_if_capped(stats, "CentNN")
    return codebook


def _park(vectors, weights, k, seed):
    from .centnn import park

    codebook, stats = park(vectors, k, weights)
    _warn_if_capped(stats, "CentNN (Park's rule)")
    return codebook


def _refine(vectors, weights, codebook):
    from .centnn import refine

    refined, _, stats = refine(vectors, codebook, weights)
    _warn_if_capped(stats, "Hartigan's refinement")
    return refined


def _optimal(vectors, weights, k, seed):
    from .scalar import optimal_scalar

    return optimal_scalar(vectors, k, weights)


@dataclass(frozen=True)
class Trainer:
    """A codebook trainer: fit(vectors, weights, k, seed) -> at most k float32 codewords.

    `refined`: its codebook then goes through Hartigan's refinement, which
    never raises the squared error. `park` is left as published, and
    `optimal` is already the least squared error there is.
    """

    name: str
    fit: Callable
    refined: bool = True

    @property
    def scalar_only(self) -> bool:
        """Exact for one value per vector, and only for that: it never trains on a sample."""
        return self.name in SCALAR_ONLY


TRAINERS = {t.name: t for t in (Trainer("kmeans", _kmeans), Trainer("centnn", _centnn),
                                 Trainer("park", _park, refined=False), Trainer("optimal", _optimal, refined=False))}


def train_codebook(vectors, options: EncodeOptions | None = None, **fields) -> np.ndarray:
    """Learn at most K codewords (float32 rows) for the rows of `vectors` (any N x D array).

    `options` (an EncodeOptions) or its fields as keywords (k=, algo=, seed=)
    choose the trainer. Fewer than K codewords come back only when the data
    has fewer than K distinct rows. When rows repeat a lot (scalar 8-bit data
    above all), training runs on the distinct rows weighted by their counts.
    Large inputs train on a random sample of max(256 K, 65536) rows, drawn
    with the seed; `optimal`, for one-column data only, never samples.
    """
    options = EncodeOptions.of(options, **fields)
    if options.k is None:
        options = options.replace(k=DEFAULT_K)
    vectors, _ = checked_data(vectors)
    trainer = TRAINERS[options.algo]
    if trainer.scalar_only and vectors.shape[1] != 1:
        raise OptionsError(f"--algo {options.algo} is for scalar data only (-b 1 on a grey image), "
                           f"got {vectors.shape[1]} values per vector")
    vectors, weights = distinct_rows(vectors)
    if not trainer.scalar_only:
        vectors, weights = training_sample(vectors, weights, options.k, options.seed)
    codebook = trainer.fit(vectors, weights, options.k, options.seed)
    return _refine(vectors, weights, codebook) if trainer.refined else codebook
