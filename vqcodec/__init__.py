"""vqcodec: an image codec built on vector quantization, with K-Means and CentNN trainers.

    >>> import vqcodec
    >>> result = vqcodec.encode("photo.png", k=256, block=4)
    >>> pixels = vqcodec.decode(result.data).pixels

The codec functions are loaded on first use, so importing vqcodec (and
running `vqcodec --help`) does not pay for NumPy, Pillow or Numba.

The package in layers, each importing only the layers below it
(tests/test_layers.py checks it):

    integrations/   Pillow, numcodecs, Zarr 3 and Dask (which runs the command's jobs)
    cli/            the `vqcodec` command: commands, batches, progress, kernel warm-up
    bench/          trainer and rate-distortion benchmarks, anchors, montage
    api             encode(), decode(), info(): the library's entry points
    classic/, rd/   the two encoders and their decoders (versions 1-2, version 3)
    format/         the container and the codings: what docs/format.md specifies
    train/          the codebook trainers and their Numba kernels

beside the small modules the layers share: errors and options (every layer),
images, files, metrics and pipeline (the encoders and above).
"""
import importlib

from .errors import (
    CodebookError,
    FormatError,
    ImageError,
    ImageTypeError,
    OptionsError,
    OutputError,
    TooManyPixelsError,
    VQCodecError,
    VQCodecWarning,
)
from .options import ALGORITHMS, DEFAULT_ALGO, DEFAULT_BLOCK, DEFAULT_K, DEFAULT_MAX_PIXELS, EncodeOptions

__version__ = "0.9.0"

_LAZY = {
    "encode": "api", "decode": "api", "info": "api", "Encoded": "api", "Decoded": "api", "train_shared": "api",
    "read_codebook": "api", "SharedCodebook": "format.codebooks",
    "Header": "format.container", "train_codebook": "train", "register_pillow": "integrations.pillow",
}

__all__ = [
    "ALGORITHMS", "DEFAULT_ALGO", "DEFAULT_BLOCK", "DEFAULT_K", "DEFAULT_MAX_PIXELS", "EncodeOptions",
    "CodebookError", "FormatError", "ImageError", "ImageTypeError", "OptionsError", "OutputError", "TooManyPixelsError", "VQCodecError",
    "VQCodecWarning", "__version__", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'vqcodec' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
