"""The classic encoder: plain VQ of the pixels (.vqc version 2), as a pipeline of stages: `ENCODE`.

The image is cut into b x b blocks of all channels, a codebook of K
codewords is trained on them, each block takes its nearest codeword, and
the codebook and indices are stored in the smaller of their codings (or the
fixed ones, for a fixed rate). No colour transform, no means, no rate control:
the trainer alone makes the file, which is what the trainer comparison needs.
"""
import warnings

import numpy as np

from .. import images
from ..errors import VQCodecWarning
from ..format import blocks, codings, container
from ..format.container import Header
from ..metrics import psnr_of_bands
from ..pipeline import Pipeline, Stage
from ..train import train_codebook


def _read(source, max_pixels):
    return {"pixels": images.load(source, max_pixels)}


def _cut_blocks(pixels, options):
    return {"vectors": blocks.to_vectors(pixels, options.block)}


def _train(vectors, options):
    """The trained codebook, rounded to the 8-bit values the file stores."""
    codebook = np.clip(np.rint(train_codebook(vectors, options)), 0, 255).astype(np.uint8)
    if len(codebook) < options.k:
        warnings.warn(f"training found only {len(codebook)} distinct block(s), so the codebook has "
                      f"{len(codebook)} entries, not {options.k}", VQCodecWarning,
                      stacklevel=5)  # the caller of encode(): past the pipeline's run and timing
    return {"codebook": codebook}


def _assign(vectors, codebook):
    """Every block to its nearest codeword of the stored (rounded) codebook."""
    from ..train.nearest import nearest  # Numba: only when encoding

    return {"indices": nearest(vectors, codebook)[0]}


def _order(codebook, indices):
    """Unused codewords dropped, the rest ordered so that similar ones are neighbours: the same pixels."""
    from ..format.order import prune_and_order

    codebook, indices = prune_and_order(codebook, indices)
    return {"codebook": codebook, "indices": indices}


def _code(pixels, codebook, indices, options):
    """Each section in the smaller of its codings (the fixed ones with options.fixed_rate)."""
    height, width, channels = pixels.shape
    header = Header(width, height, channels, options.block, len(codebook), options.k, options.algo)
    header, payloads = codings.encode_sections(header, {"codebook": codebook, "indices": indices}, options.fixed_rate)
    return {"header": header, "payloads": payloads}


def _build(header, payloads):
    return {"data": container.build(header, payloads)}


def _measure(pixels, codebook, indices, options):
    """PSNR of the decoded image against the input, a band at a time."""
    height, width, _ = pixels.shape
    return {"psnr": psnr_of_bands(pixels, blocks.bands(codebook, indices, height, width, options.block))}


ENCODE = Pipeline(("source", "max_pixels", "options"), (
    Stage("read", _read, ("pixels",)),
    Stage("blocks", _cut_blocks, ("vectors",)),
    Stage("train", _train, ("codebook",)),
    Stage("assign", _assign, ("indices",)),
    Stage("order", _order, ("codebook", "indices")),
    Stage("measure", _measure, ("psnr",), background=True),  # beside coding, which releases the GIL
    Stage("code", _code, ("header", "payloads")),
    Stage("container", _build, ("data",)),
))
