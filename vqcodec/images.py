"""Read images into 8-bit arrays and write them back, through Pillow.

vqcodec codes 8-bit samples in one of four layouts, named by Pillow mode:
L, LA, RGB and RGBA. Other inputs are converted, and every conversion that
loses information says so through a VQCodecWarning.
"""
import io
import os
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageError, ImageTypeError, OutputError, TooManyPixelsError, VQCodecWarning
from .options import check_pixels

NATIVE = ("L", "LA", "RGB", "RGBA")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
# What Pillow's decoders raise on malformed files, besides their own error classes.
_PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, TypeError, OverflowError, struct.error)


def _to_native(im: Image.Image, name: str) -> Image.Image:
    """Convert any Pillow mode to a native one, warning where precision is lost."""
    mode = im.mode
    if mode in NATIVE:
        return im
    if mode == "1":
        return im.convert("L")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return im.convert("RGBA" if has_alpha else "RGB")
    if mode in _SIXTEEN_BIT or mode == "I":
        values = np.asarray(im, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ImageError(f"{name}: 32-bit integer samples outside 0..65535 are not supported; convert to 8-bit first")
        if values.size and values.max() <= 255 and mode == "I":
            return Image.fromarray(values.astype(np.uint8), "L")
        warnings.warn(f"{name}: 16-bit samples reduced to 8 bits (the high byte is kept)", VQCodecWarning, stacklevel=3)
        return Image.fromarray((values >> 8).astype(np.uint8), "L")
    if mode == "F":
        raise ImageError(f"{name}: floating-point images are not supported; convert to 8-bit first")
    if mode in ("La", "RGBa"):
        return im.convert(mode.upper())
    if mode == "CMYK":
        warnings.warn(f"{name}: CMYK converted to RGB without colour management", VQCodecWarning, stacklevel=3)
    has_alpha = mode.endswith(("A", "a")) and mode != "LAB"  # LAB's A is a colour axis
    try:
        return im.convert("RGBA" if has_alpha else "RGB")
    except ValueError as exc:
        raise ImageError(f"{name}: image mode {mode} is not supported ({exc})") from None


def _from_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageTypeError(f"array images must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or 0 in array.shape:
        raise ImageError(f"array images must be H x W or H x W x C with C in 1..4, got shape {array.shape}")
    return np.ascontiguousarray(array)


def load(source, max_pixels: int | None) -> np.ndarray:
    """Return an (H, W, C) uint8 array from a path, a file object, a PIL image or an array.

    Images above `max_pixels` are refused from their header, before any pixel
    is decoded. Pillow's own guard (`PIL.Image.MAX_IMAGE_PIXELS`) applies too:
    it is the embedding program's setting, so the library leaves it alone; the
    vqcodec command lifts it, leaving `--max-pixels` the one that applies.
    """
    with rows(source, max_pixels) as image:
        return image.whole()


class Rows:
    """An image to read a band of rows at a time, as `load` reads it, without a second copy of a
    decoded file in memory (Pillow keeps its own). A context manager: it closes what it opened."""

    def __init__(self, image, opened=None):
        self._image, self._opened = image, opened
        if isinstance(image, np.ndarray):
            self.shape = image.shape
        else:
            self.shape = (image.height, image.width, len(image.getbands()))

    def rows(self, top: int, bottom: int) -> np.ndarray:
        """Rows top..bottom-1: (bottom - top, W, C) uint8."""
        if isinstance(self._image, np.ndarray):
            return self._image[top:bottom]
        return np.asarray(self._image.crop((0, top, self.shape[1], bottom))).reshape(bottom - top, *self.shape[1:])

    def whole(self) -> np.ndarray:
        image = self._image
        return image if isinstance(image, np.ndarray) else _from_array(np.asarray(image))

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()

    def __enter__(self) -> "Rows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def rows(source, max_pixels: int | None) -> Rows:
    """The image of a path, a file object, a PIL image or an array, as Rows: checked and converted as
    `load` says."""
    if isinstance(source, np.ndarray):
        pixels = _from_array(source)
        check_pixels(pixels.shape[1], pixels.shape[0], max_pixels)
        return Rows(pixels)
    name = os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "image")
    opened = None
    try:
        im = source if isinstance(source, Image.Image) else (opened := Image.open(source))
        check_pixels(im.width, im.height, max_pixels)
        if getattr(im, "n_frames", 1) > 1:
            warnings.warn(f"{name}: only the first of {im.n_frames} frames is encoded", VQCodecWarning, stacklevel=3)
        im.load()
        # A camera's orientation tag: code the picture the way it is shown (in place when vqcodec opened the
        # file: a copy would double the memory that reading takes)
        im = ImageOps.exif_transpose(im, in_place=im is opened) or im
        return Rows(_to_native(im, name), opened)
    except BaseException as exc:
        if opened is not None:  # a batch must not leak a file per bad input
            opened.close()
        raise _refusal(exc, name) from None


def _refusal(exc: BaseException, name: str) -> BaseException:
    """What reading an image raised, as one of vqcodec's errors naming the input where it is Pillow's."""
    if isinstance(exc, TooManyPixelsError):  # name the input, as every other refusal here does
        return TooManyPixelsError(f"{name}: {exc}")
    if isinstance(exc, Image.DecompressionBombError):
        return TooManyPixelsError(f"{name}: above Pillow's decompression-bomb limit of {2 * Image.MAX_IMAGE_PIXELS} "
                                  "pixels; raise PIL.Image.MAX_IMAGE_PIXELS if you trust this input")
    if isinstance(exc, FileNotFoundError):
        return ImageError(f"{name}: no such file")
    if isinstance(exc, IsADirectoryError):
        return ImageError(f"{name}: is a directory")
    if isinstance(exc, PermissionError):
        return ImageError(f"{name}: permission denied")
    if isinstance(exc, Image.UnidentifiedImageError):
        return ImageError(f"{name}: not an image Pillow can read")
    if isinstance(exc, _PILLOW_ERRORS):
        return ImageError(f"{name}: cannot read image ({exc})")
    return exc


def to_pil(array: np.ndarray) -> Image.Image:
    """uint8 array (H x W, or H x W x C with C in 1..4) -> PIL image of the matching native mode."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(array))


def writer_of(suffix: str) -> str | None:
    """The Pillow format that writes files of a suffix (".png", ...), or None. The common formats'
    plugins are looked at first, as Image.save does: loading every plugin is a noticeable part of a
    short command's time."""
    Image.preinit()
    if Image.EXTENSION.get(suffix) not in Image.SAVE:
        Image.init()
    fmt = Image.EXTENSION.get(suffix)
    return fmt if fmt in Image.SAVE else None


def encode_as(array: np.ndarray, path) -> bytes:
    """The bytes of `array` saved in the format that `path`'s suffix names (PNG if none)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower() or ".png"
    fmt = writer_of(suffix)
    if fmt is None:
        raise OutputError(f"{path}: no image format writes the suffix {suffix!r}; use .png, .webp, .tif, .bmp, ...")
    out = io.BytesIO()
    try:
        to_pil(array).save(out, format=fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise OutputError(f"{path}: cannot save this image as {fmt} ({exc}); try .png") from None
    return out.getvalue()
