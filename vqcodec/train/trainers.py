"""One interface to every trainer: `train_codebook` and the `TRAINERS` it chooses from.

`train_codebook` validates its input once, shrinks it where that changes
nothing (distinct rows, a sample of large inputs) and hands it to a trainer.
The Numba trainers are imported only when training starts, so decoding and
`--help` never load Numba.
"""
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import OptionsError, VQCodecWarning
from ..options import DEFAULT_K, SCALAR_ONLY, EncodeOptions
from .data import checked_data, distinct_rows, training_sample


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


def train_codebook(vectors, options: EncodeOptions | None = None, *, refined: bool = True, **fields) -> np.ndarray:
    """Learn at most K codewords (float32 rows) for the rows of `vectors` (any N x D array).

    `options` (an EncodeOptions) or its fields as keywords (k=, algo=, seed=)
    choose the trainer. Fewer than K codewords come back only when the data
    has fewer than K distinct rows. When rows repeat a lot (scalar 8-bit data
    above all), training runs on the distinct rows weighted by their counts.
    Large inputs train on a random sample of max(256 K, 65536) rows, drawn
    with the seed; `optimal`, for one-column data only, never samples. `refined=False` skips Hartigan's
    refinement, for a start that other rounds refine anyway.
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
    return _refine(vectors, weights, codebook) if trainer.refined and refined else codebook
