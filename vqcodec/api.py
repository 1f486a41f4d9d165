"""The library's entry points: encode images to .vqc bytes, decode them back, read a header.

`encode` runs the classic encoder (vqcodec.classic) or the rate-distortion
one (vqcodec.rd); `decode` parses the container and runs the stages of the
file's version (`DECODERS`). The CLI, the integrations and the benchmarks
all come through here.
"""
import os
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import files
from .classic import decode as classic_decode
from .classic import encode as classic_encode
from .errors import FormatError, VQCodecError, VQCodecWarning, naming
from .format import container
from .format.container import Header
from .options import DEFAULT_BLOCK, DEFAULT_K, DEFAULT_MAX_PIXELS, EncodeOptions
from .pipeline import Pipeline, Stage
from .rd import decode as rd_decode
from .rd import search


@dataclass(frozen=True)
class Encoded:
    """A finished .vqc: its bytes, its header, and how close its decoded image is to the input."""

    data: bytes
    header: Header
    psnr: float
    quality: float | None = None  # the rate-distortion encoder's quality, searched for when a target was given

    @property
    def bits_per_pixel(self) -> float:
        return self.header.bits_per_pixel

    def save(self, path, force: bool = False) -> None:
        """Write the .vqc; never over an existing file unless `force`, never half a file."""
        files.write_file(path, self.data, force)


@dataclass(frozen=True)
class Decoded:
    """A decoded .vqc: the pixels (H x W for grey, H x W x C otherwise) and the header that describes them."""

    pixels: np.ndarray
    header: Header


def _parse(data, max_pixels):
    header, payloads = container.parse(data, max_pixels)
    return {"header": header, "payloads": payloads}


PARSE = Stage("parse", _parse, ("header", "payloads"))
DECODERS = {version: Pipeline(("data", "max_pixels"), (PARSE, *stages.stages))  # version -> its whole decoder
            for version, stages in ((1, classic_decode.DECODE), (2, classic_decode.DECODE),
                                    (container.PLANES_VERSION, rd_decode.DECODE))}
assert set(DECODERS) == set(container.VERSIONS)



def encode(image, options: EncodeOptions | None = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
           **fields) -> Encoded:
    """Encode a path, file object, PIL image or uint8 array (H x W or H x W x C).

    `options` (an EncodeOptions) or its fields as keywords (quality=, psnr=,
    size=, bpp=, k=, block=, classic=, ...) say how; keywords override the
    options' values. A target out of reach warns (VQCodecWarning) and keeps
    the closest file, or with strict=True raises TargetError.
    """
    options = EncodeOptions.of(options, **fields)
    if options.plain:
        values = classic_encode.ENCODE.run(source=image, max_pixels=max_pixels,
                                           options=options.replace(k=options.k or DEFAULT_K,
                                                                   block=options.block or DEFAULT_BLOCK))
        return Encoded(values["data"], values["header"], values["psnr"])
    values, warning = search.encode(image, options, max_pixels)
    if warning:
        warnings.warn(warning, VQCodecWarning, stacklevel=2)
    return Encoded(values["data"], values["header"], values["psnr"], values["quality"])


def decode(source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode .vqc bytes, a path or a binary stream: the pixels and the header."""
    with _errors_named_after(source):
        data = read_vqc(source, max_pixels)
        version = data[4] if len(data) > 4 else None  # a short or unknown file is refused by the parse stage
        values = DECODERS.get(version, DECODERS[container.VERSION]).run(data=data, max_pixels=max_pixels)
    return Decoded(values["pixels"], values["header"])


def info(source, *, max_pixels: int | None = None) -> Header:
    """The validated header of a .vqc (bytes, path or stream), checksum included."""
    with _errors_named_after(source):
        return container.read_header(read_vqc(source, max_pixels), max_pixels)


def read_vqc(source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of a .vqc from bytes, a path or a binary stream; from a path or a
    stream the header is checked before the rest is read, and no more is read
    than the header declares (plus one byte, to notice trailing data)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "read"):
        head = read_header_bytes(source)
        header = container.parse_header(head, max_pixels)
        rest = _read_at_most(source, header.file_size - len(head) + 1)
        if len(head) + len(rest) > header.file_size:
            raise FormatError(f"trailing bytes: the header declares {header.file_size} bytes, the input has more")
        container.check_length(header, len(head) + len(rest))
        return head + rest
    try:
        with open(source, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # a pipe such as <(cat a.vqc): no size to check
                return read_vqc(f, max_pixels)
            head = read_header_bytes(f)
            header = container.parse_header(head, max_pixels)
            container.check_length(header, os.fstat(f.fileno()).st_size)
            return head + f.read()
    except FileNotFoundError:
        raise FormatError("no such file") from None
    except IsADirectoryError:
        raise FormatError("is a directory") from None
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror or exc})") from None


def read_header_bytes(stream) -> bytes:
    """The header's bytes, read as far as the header says it goes (or the stream ends)."""
    head = b""
    while True:
        more = stream.read(container.header_length(head) - len(head)) if head else stream.read(container.HEADER.size)
        head += more
        if not more or len(head) >= container.header_length(head):
            return head


def _read_at_most(stream, size: int, chunk: int = 1 << 24) -> bytes:
    """Up to `size` bytes, a chunk at a time: memory follows what arrives, not what a header claims."""
    parts = []
    while size > 0:
        part = stream.read(min(size, chunk))
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


@contextmanager
def _errors_named_after(source):
    """Errors about a file named by a path say which file it is."""
    try:
        yield
    except VQCodecError as exc:
        if isinstance(source, (bytes, bytearray, memoryview)) or hasattr(source, "read"):
            raise
        raise type(exc)(naming(str(exc), os.fspath(source))) from None
