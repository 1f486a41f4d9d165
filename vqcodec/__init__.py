"""vqcodec: an image codec built on vector quantization, with K-Means and CentNN trainers.

    >>> import vqcodec
    >>> result = vqcodec.encode("photo.png", k=256, block=4)
    >>> pixels = vqcodec.decode(result.data)
"""
from .codec import DEFAULT_ALGO, DEFAULT_BLOCK, DEFAULT_K, Encoded, decode, encode, info
from .container import DEFAULT_MAX_PIXELS, Header
from .errors import (
    FormatError,
    ImageError,
    OptionsError,
    OutputError,
    TooManyPixelsError,
    VQCodecError,
    VQCodecWarning,
)
from .train import ALGORITHMS, train_codebook

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS", "DEFAULT_ALGO", "DEFAULT_BLOCK", "DEFAULT_K", "DEFAULT_MAX_PIXELS",
    "Encoded", "FormatError", "Header", "ImageError", "OptionsError", "OutputError",
    "TooManyPixelsError", "VQCodecError", "VQCodecWarning",
    "decode", "encode", "info", "train_codebook", "__version__",
]
