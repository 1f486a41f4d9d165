"""Encode images to .vqc bytes and decode them back: the library layer the CLI calls."""
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import blocks, container, files, images
from .container import Header
from .errors import FormatError, VQCodecError, VQCodecWarning
from .metrics import psnr_of_bands
from .options import (DEFAULT_ALGO, DEFAULT_BLOCK, DEFAULT_K, DEFAULT_MAX_PIXELS, check_algo, check_block, check_k,
                      check_seed)
from .train import train_codebook

@dataclass(frozen=True)
class Encoded:
    """A finished .vqc: its bytes, its header, and how close its decoded image is to the input."""

    data: bytes
    header: Header
    psnr: float

    @property
    def bits_per_pixel(self) -> float:
        return 8 * len(self.data) / (self.header.width * self.header.height)

    @property
    def raw_size(self) -> int:
        """Bytes of the uncompressed 8-bit pixels."""
        return self.header.width * self.header.height * self.header.channels

    def save(self, path, force: bool = False) -> None:
        """Write the .vqc; never over an existing file unless `force`, never half a file."""
        files.write_file(path, self.data, force)


def encode(
    image,
    *,
    k: int = DEFAULT_K,
    block: int = DEFAULT_BLOCK,
    algo: str = DEFAULT_ALGO,
    seed: int = 0,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Encoded:
    """Encode a path, file object, PIL image or uint8 array (H x W or H x W x C)."""
    check_k(k)
    check_algo(algo)
    check_seed(seed)
    check_block(block)
    pixels = images.load(image, max_pixels)
    height, width, channels = pixels.shape
    vectors = blocks.to_vectors(pixels, block)
    codebook = np.clip(np.rint(train_codebook(vectors, k, algo, seed)), 0, 255).astype(np.uint8)
    if len(codebook) < k:
        warnings.warn(
            f"training found only {len(codebook)} distinct block(s), so the codebook has {len(codebook)} "
            f"entries, not {k}",
            VQCodecWarning,
            stacklevel=2,
        )
    from .nearest import nearest  # the final assignment is against the rounded codebook that is stored

    indices, _ = nearest(vectors, codebook)
    header = Header(width, height, channels, block, len(codebook), k, algo)
    data = container.build(header, codebook, indices)
    return Encoded(data, header, psnr_of_bands(pixels, blocks.bands(codebook, indices, height, width, block)))


def decode(source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode .vqc bytes or a path to a uint8 array: H x W for grey, H x W x C otherwise."""
    with _naming(source):
        header, codebook, indices = container.parse(read_vqc(source, max_pixels), max_pixels)
        try:
            image = blocks.decode(codebook, indices, header.height, header.width, header.block)
        except (MemoryError, ValueError):  # NumPy's "array is too big" when the pixel cap is lifted
            raise container.too_big(header) from None
    return image[:, :, 0] if header.channels == 1 else image


def info(source, *, max_pixels: int | None = None) -> Header:
    """The validated header of a .vqc (bytes or path), checksum included."""
    with _naming(source):
        return container.read_header(read_vqc(source, max_pixels), max_pixels)


def read_vqc(source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of a .vqc from bytes, a path or a binary stream; from a path or a
    stream the header is checked before the rest is read, and no more is read
    than the header declares (plus one byte, to notice trailing data)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "read"):
        head = source.read(container.HEADER.size)
        header = container.parse_header(head, max_pixels)
        rest = source.read(header.file_size - len(head) + 1)
        if len(head) + len(rest) > header.file_size:
            raise FormatError(f"trailing bytes: the header declares {header.file_size} bytes, the input has more")
        container.check_length(header, len(head) + len(rest))
        return head + rest
    try:
        with open(source, "rb") as f:
            head = f.read(container.HEADER.size)
            header = container.parse_header(head, max_pixels)
            container.check_length(header, os.fstat(f.fileno()).st_size)
            return head + f.read()
    except FileNotFoundError:
        raise FormatError("no such file") from None
    except IsADirectoryError:
        raise FormatError("is a directory") from None
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror or exc})") from None


@contextmanager
def _naming(source):
    """Prefix errors about a file with its name, so a message says which file it is about."""
    try:
        yield
    except VQCodecError as exc:
        if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
            raise
        raise type(exc)(f"{os.fspath(source)}: {exc}") from None
