"""Exceptions raised by the library; the CLI turns each into `Error: ...` and an exit code."""


class VQCodecError(Exception):
    """Base class: anything vqcodec refuses to do, with a message fit for one line."""


class OptionsError(VQCodecError, ValueError):
    """A parameter is out of range (K, block size, trainer name, ...)."""


class ImageError(VQCodecError):
    """The input image cannot be read or is of a kind vqcodec does not encode."""


class ImageTypeError(ImageError, TypeError):
    """An array of another dtype than uint8, the only one vqcodec encodes or decodes into: a TypeError too,
    as numcodecs expects of a codec handed an object array."""


class FormatError(VQCodecError):
    """A .vqc file is truncated, corrupted, of another version or not a .vqc at all."""


class CodebookError(VQCodecError):
    """A .vqc needs a shared codebook (.vqcb) that was not given or found, or was given another one."""


class TooManyPixelsError(VQCodecError):
    """An image is larger than the pixel cap (a guard against decompression bombs)."""


class OutputError(VQCodecError):
    """The output cannot be written: it exists (and overwriting was not asked for), or the folder refuses."""


class TargetError(VQCodecError):
    """A PSNR or size target is out of reach and strict mode was asked for, so no file is written."""


class DependencyError(VQCodecError):
    """An optional package a feature needs is missing (matplotlib for plots, a Pillow codec for an anchor)."""


class VQCodecWarning(UserWarning):
    """Something worked but the user should know (precision lost, codebook shrank, epoch cap hit)."""


def naming(message: str, *names: str) -> str:
    """`message` prefixed with the first name, unless it already starts with one of them,
    so that every message says which file it is about exactly once."""
    return message if message.startswith(names) else f"{names[0]}: {message}"
