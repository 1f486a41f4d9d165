"""Encode images to .vqc bytes and decode them back: the library layer the CLI calls.

Both directions are pipelines of stages (vqcodec.pipeline); `ENCODE` and
`DECODE` list them, and each stage function below does one job.
"""
import os
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import blocks, coding, container, files, images, rd
from .container import KINDS, PLANES_VERSION, Header
from .errors import FormatError, VQCodecError, VQCodecWarning, naming
from .metrics import psnr_of_bands
from .options import DEFAULT_BLOCK, DEFAULT_K, DEFAULT_MAX_PIXELS, EncodeOptions
from .pipeline import Pipeline, Stage
from .train import train_codebook


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


# --- the encoder's stages --------------------------------------------------------------------


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
    from .nearest import nearest  # Numba: only when encoding

    return {"indices": nearest(vectors, codebook)[0]}


def _order(codebook, indices):
    """Unused codewords dropped, the rest ordered so that similar ones are neighbours: the same pixels."""
    from .codebook import prune_and_order

    codebook, indices = prune_and_order(codebook, indices)
    return {"codebook": codebook, "indices": indices}


def _code(pixels, codebook, indices, options):
    """Each section in the smaller of its codings (the fixed ones with options.fixed_rate)."""
    height, width, channels = pixels.shape
    header = Header(width, height, channels, options.block, len(codebook), options.k, options.algo)
    header, payloads = coding.encode_sections(header, {"codebook": codebook, "indices": indices}, options.fixed_rate)
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


# --- the decoder's stages --------------------------------------------------------------------


def _parse(data, max_pixels):
    header, payloads = container.parse(data, max_pixels)
    return {"header": header, "payloads": payloads}


def _decode_codebook(header, payloads):
    return {"codebook": coding.decode_section(header, "codebook", payloads[KINDS.index("codebook")])}


def _decode_indices(header, payloads):
    return {"indices": coding.decode_section(header, "indices", payloads[KINDS.index("indices")])}


def _assemble(header, codebook, indices):
    try:
        image = blocks.decode(codebook, indices, header.height, header.width, header.block)
    except (MemoryError, ValueError):  # NumPy's "array is too big" when the pixel cap is lifted
        raise container.too_big(header) from None
    return {"pixels": image[:, :, 0] if header.channels == 1 else image}


PARSE = Stage("parse", _parse, ("header", "payloads"))
DECODE = Pipeline(("data", "max_pixels"), (  # versions 1 and 2
    PARSE,
    Stage("codebook", _decode_codebook, ("codebook",)),
    Stage("indices", _decode_indices, ("indices",)),
    Stage("pixels", _assemble, ("pixels",)),
))


DECODE_PLANES = Pipeline(("data", "max_pixels"), (PARSE, *rd.DECODE.stages))  # version 3


# --- the API -----------------------------------------------------------------------------------


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
        values = ENCODE.run(source=image, max_pixels=max_pixels,
                            options=options.replace(k=options.k or DEFAULT_K, block=options.block or DEFAULT_BLOCK))
        return Encoded(values["data"], values["header"], values["psnr"])
    from . import quality

    values, warning = quality.encode(image, options, max_pixels)
    if warning:
        warnings.warn(warning, VQCodecWarning, stacklevel=2)
    return Encoded(values["data"], values["header"], values["psnr"], values["quality"])


def decode(source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Decoded:
    """Decode .vqc bytes, a path or a binary stream: the pixels and the header."""
    with _errors_named_after(source):
        data = read_vqc(source, max_pixels)
        version = data[4] if len(data) > 4 else None  # a short file is refused by the parse stage
        values = (DECODE_PLANES if version == PLANES_VERSION else DECODE).run(data=data, max_pixels=max_pixels)
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
