"""The library's entry points: encode images to .vqc bytes, decode them back, read a header.

`encode` runs the classic encoder (vqcodec.classic) or the rate-distortion
one (vqcodec.rd); `decode` parses the container and runs the stages of the
file's version (`decoder(version)`). The CLI, the integrations and the benchmarks
all come through here.
"""
import os
import stat
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral
from pathlib import Path

import numpy as np

from . import files
from .errors import CodebookError, FormatError, OptionsError, VQCodecError, VQCodecWarning, naming
from .format import codebooks, container
from .format.codebooks import SharedCodebook
from .format.container import Header
from .options import DEFAULT_BLOCK, DEFAULT_K, DEFAULT_MAX_PIXELS, SHARED_EFFORT, SHARED_QUALITIES, EncodeOptions
from .pipeline import Pipeline, Stage

CODEBOOK_PATH = "VQCODEC_CODEBOOKS"  # folders where decode looks for the shared codebooks files name


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


def _region(header, crop):
    """The region to decode (left, top, width, height): `crop`, checked against the image, or all of it."""
    if crop is None:
        return {"region": (0, 0, header.width, header.height)}
    left, top, width, height = crop
    if not (0 <= left and 0 <= top and 1 <= width and 1 <= height and left + width <= header.width
            and top + height <= header.height):
        raise OptionsError(f"the region {left},{top},{width},{height} (x, y, width, height) is not inside the "
                           f"{header.width}x{header.height} image")
    return {"region": (left, top, width, height)}


def _crop(pixels, region):
    """The region of a whole image, for the versions that cannot decode less."""
    left, top, width, height = region
    return {"pixels": pixels[top : top + height, left : left + width]}


def _reduce(pixels):
    """The thumbnail of a version without means: the mean of each 8 x 8 square of pixels, rounded."""
    height, width = pixels.shape[:2]
    image = pixels.reshape(height, width, -1)
    sums = np.add.reduceat(np.add.reduceat(image, np.arange(0, height, 8), axis=0, dtype=np.int64),
                           np.arange(0, width, 8), axis=1)
    counts = np.outer(np.bincount(np.arange(height) // 8), np.bincount(np.arange(width) // 8))[:, :, None]
    reduced = ((2 * sums + counts) // (2 * counts)).astype(np.uint8)
    return {"pixels": reduced[:, :, 0] if pixels.ndim == 2 else reduced}


def _thumbnail(header, payloads):
    """The thumbnail of a version with means: from them alone."""
    from .rd.decode import thumbnail

    return {"pixels": thumbnail(header, payloads)}


def _shared(header, codebook):
    """The shared codebook the file names, before any pixel is decoded: the one given if it is that one
    (CodebookError if it is another), else one found in the folders CODEBOOK_PATH names; None when
    the file names none."""
    if not header.tools & container.SHARED:
        return {"shared": None}
    name = header.codebook.hex()
    if codebook is not None:
        if codebook.identity != header.codebook:
            raise CodebookError(f"needs shared codebook {name}, and the one given is {codebook.name}")
        return {"shared": codebook}
    found = find_codebook(header.codebook)
    if found is None:
        raise CodebookError(f"needs shared codebook {name}: give it (--codebook FILE.vqcb, or codebook= in "
                            f"Python) or put it in a folder that {CODEBOOK_PATH} names")
    return {"shared": found}


PARSE = Stage("parse", _parse, ("header", "payloads"))
REGION = Stage("region", _region, ("region",))
SHARED = Stage("shared", _shared, ("shared",))


@lru_cache(maxsize=None)
def decoder(version: int, thumbnail: bool = False) -> Pipeline:
    """A version's whole decoder: from the file's bytes (and `crop`, the region to decode as left, top,
    width, height, or None for all) to its pixels; with `thumbnail`, to the image at 1/8 scale. The
    version's modules are imported when it is first asked for, so that reading a header or decoding a
    fixed-rate file never loads Numba."""
    given = ("data", "max_pixels", "crop", "codebook")
    if version in (1, 2):
        from .classic.decode import DECODE

        last = Stage("reduce", _reduce, ("pixels",)) if thumbnail else Stage("crop", _crop, ("pixels",))
        return Pipeline(given, (PARSE, REGION, *DECODE.stages, last))
    from .rd import decode as rd

    if thumbnail:
        return Pipeline(given, (PARSE, Stage("pixels", _thumbnail, ("pixels",))))
    if version in container.TILED:
        return Pipeline(given, (PARSE, REGION, SHARED, *rd.DECODE_TILES.stages))
    return Pipeline(given, (PARSE, REGION, *rd.DECODE.stages))


def encode(image, options: EncodeOptions | None = None, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
           codebook=None, **fields) -> Encoded:
    """Encode a path, file object, PIL image or uint8 array (H x W or H x W x C).

    `options` (an EncodeOptions) or its fields as keywords (quality=, psnr=,
    size=, bpp=, k=, block=, classic=, ...) say how; keywords override the
    options' values. A target out of reach warns (VQCodecWarning) and keeps
    the closest file, or with strict=True raises TargetError. `codebook`, a
    shared codebook (read_codebook takes a .vqcb's path or bytes), lets each
    plane code with it where that costs less than its own codebook.
    """
    options = EncodeOptions.of(options, **fields)
    codebook = read_codebook(codebook)
    if codebook is not None and options.plain:
        raise OptionsError("a shared codebook serves the rate-distortion encoder, not the classic one")
    if codebook is not None and (options.block or codebook.block) != codebook.block:
        raise OptionsError(f"the shared codebook {codebook.name} is for blocks of {codebook.block}, not "
                           f"{options.block}")
    if options.plain:
        from .classic.encode import ENCODE

        values = ENCODE.run(source=image, max_pixels=max_pixels,
                                           options=options.replace(k=options.k or DEFAULT_K,
                                                                   block=options.block or DEFAULT_BLOCK))
        return Encoded(values["data"], values["header"], values["psnr"])
    from .rd import search

    values, warning = search.encode(image, options, max_pixels, codebook)
    if warning:
        warnings.warn(warning, VQCodecWarning, stacklevel=2)
    return Encoded(values["data"], values["header"], values["psnr"], values["quality"])


def decode(source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, crop=None, thumbnail: bool = False,
           codebook=None) -> Decoded:
    """Decode .vqc bytes, a path or a binary stream: the pixels and the header.

    `crop=(x, y, width, height)` decodes that region only, with exactly the
    pixels of a full decode (versions 4 and 5 decode only the tiles it needs);
    `thumbnail=True` gives the image at 1/8 scale, from the means alone in
    versions 3 to 5. The header describes the whole image either way. A
    file coded with a shared codebook needs it: `codebook` (a .vqcb's path
    or bytes, or what read_codebook made of them), else one found in the
    folders the environment variable VQCODEC_CODEBOOKS names.
    """
    codebook = read_codebook(codebook)
    if crop is not None and (thumbnail or not (isinstance(crop, (tuple, list)) and len(crop) == 4
                                               and all(isinstance(v, Integral) for v in crop))):
        raise OptionsError("crop must be four whole numbers (x, y, width, height), and cannot go with thumbnail")
    with _errors_named_after(source):
        data = read_vqc(source, max_pixels)
        version = data[4] if len(data) > 4 and data[4] in container.VERSIONS else container.VERSION
        values = decoder(version, thumbnail).run(data=data, max_pixels=max_pixels, codebook=codebook,
                                                 crop=None if crop is None else tuple(int(v) for v in crop))
    return Decoded(values["pixels"], values["header"])


def info(source, *, max_pixels: int | None = None) -> Header:
    """The validated header of a .vqc (bytes, path or stream), checksum included."""
    with _errors_named_after(source):
        return container.read_header(read_vqc(source, max_pixels), max_pixels)


def train_shared(sources, options: EncodeOptions | None = None, qualities=SHARED_QUALITIES, *,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS, progress=None) -> SharedCodebook:
    """A shared codebook learned from a collection of images (paths, arrays, PIL images): for each kind
    of plane they have and each quality, one codebook. Save its `data` as a .vqcb; `encode(...,
    codebook=)` then codes with it. `options` gives the trainer (algo), seed, effort and block side
    (without options: effort SHARED_EFFORT, the most, as `vqcodec train`); `progress(done, total)`
    hears of each image read. Deterministic for a seed."""
    from .rd.shared import train_shared as train

    options = EncodeOptions(effort=SHARED_EFFORT) if options is None else EncodeOptions.of(options)
    if options.plain:
        raise OptionsError("a shared codebook serves the rate-distortion encoder, not the classic one")
    sources = list(sources)
    if not sources:
        raise OptionsError("no images to learn a shared codebook from")
    return train(sources, options, tuple(qualities), max_pixels, progress)


def read_codebook(source) -> SharedCodebook | None:
    """A shared codebook from a .vqcb's path or bytes, validated (or one read already; None stays None)."""
    if source is None or isinstance(source, SharedCodebook):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return codebooks.parse(source)
    with _errors_named_after(source):
        try:
            with open(source, "rb") as f:
                return codebooks.parse(f.read(codebooks.MAX_FILE_BYTES + 1))
        except OSError as exc:
            raise CodebookError(f"cannot read ({exc.strerror or exc})") from None


def find_codebook(identity: bytes) -> SharedCodebook | None:
    """The shared codebook of that identity among the .vqcb files in the folders CODEBOOK_PATH names
    (separated as PATH is), or None. A file that is no valid .vqcb is passed over. Each file is read
    and checked once while it stays the same size and age, not once for every .vqc of a batch."""
    for folder in filter(None, os.environ.get(CODEBOOK_PATH, "").split(os.pathsep)):
        for path in sorted(Path(folder).glob("*.vqcb")):
            try:
                stat = path.stat()
            except OSError:
                continue
            found = _codebook_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
            if found is not None and found.identity == identity:
                return found
    return None


@lru_cache(maxsize=64)
def _codebook_file(path: str, mtime_ns: int, size: int) -> SharedCodebook | None:
    """The valid shared codebook at `path` as it was at that time and size, or None."""
    try:
        with open(path, "rb") as f:
            return codebooks.parse(f.read(codebooks.MAX_FILE_BYTES + 1))
    except (OSError, FormatError):
        return None


def read_vqc(source, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of a .vqc from bytes, a path or a binary stream; from a path or a
    stream the header is checked before the rest is read, and no more is read
    than the header declares (plus one byte, to notice trailing data)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if hasattr(source, "read"):
        head = read_header_bytes(source, max_pixels)
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
            size = os.fstat(f.fileno()).st_size
            head = read_header_bytes(f, max_pixels, size)
            header = container.parse_header(head, max_pixels)
            container.check_length(header, size)
            return head + f.read()
    except FileNotFoundError:
        raise FormatError("no such file") from None
    except IsADirectoryError:
        raise FormatError("is a directory") from None
    except OSError as exc:
        raise FormatError(f"cannot read ({exc.strerror or exc})") from None


def read_header_bytes(stream, max_pixels: int | None = None, size: int | None = None) -> bytes:
    """The header's bytes, read as far as the header says it goes (or the stream ends), a chunk at a
    time: a hostile header cannot make this read or allocate more than the stream holds. With `size`,
    the bytes the stream holds (a file's), a header longer than that is not read at all: what was
    read then shows it truncated."""
    head = stream.read(container.HEADER.size)
    while head:
        needed = container.header_length(head, max_pixels)
        if size is not None and needed > size:
            break
        more = _read_at_most(stream, needed - len(head)) if len(head) < needed else b""
        if not more:
            break
        head += more
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
