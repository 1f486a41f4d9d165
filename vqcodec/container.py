"""The .vqc v1 container: build it, and parse it as hostile input.

docs/FORMAT.md is the specification; this module is its only implementation.
Parsing checks every header field and the exact file length before anything
proportional to the declared image is allocated, then the CRC before the
payload is trusted.
"""
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from . import bitpack
from .errors import FormatError, TooManyPixelsError
from .options import DEFAULT_MAX_PIXELS, MAX_BLOCK, MAX_K

MAGIC = b"\x89VQC"
VERSION = 1
HEADER = struct.Struct("<4sBBBBIIII")  # magic, version, channels, block, trainer, width, height, k, requested k
CRC = struct.Struct("<I")

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # channel count -> Pillow mode
TRAINERS = {1: "kmeans", 2: "centnn", 3: "optimal"}
MAX_SIDE = (1 << 31) - 1
assert MAX_K == 1 << bitpack.MAX_WIDTH


@dataclass(frozen=True)
class Header:
    """Everything a .vqc says about itself; the derived sizes follow from these fields."""

    width: int
    height: int
    channels: int
    block: int
    k: int
    requested_k: int
    trainer: str

    @property
    def mode(self) -> str:
        return MODES[self.channels]

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def raw_size(self) -> int:
        """Bytes of the image as uncompressed 8-bit samples."""
        return self.pixels * self.channels

    @property
    def blocks_x(self) -> int:
        return -(-self.width // self.block)

    @property
    def blocks_y(self) -> int:
        return -(-self.height // self.block)

    @property
    def block_count(self) -> int:
        return self.blocks_x * self.blocks_y

    @property
    def codeword_size(self) -> int:
        return self.block * self.block * self.channels

    @property
    def index_bits(self) -> int:
        return bitpack.index_width(self.k)

    @property
    def codebook_bytes(self) -> int:
        return self.k * self.codeword_size

    @property
    def index_bytes(self) -> int:
        return bitpack.packed_size(self.block_count, self.index_bits)

    @property
    def file_size(self) -> int:
        return HEADER.size + self.codebook_bytes + self.index_bytes + CRC.size

    @property
    def bits_per_pixel(self) -> float:
        return 8 * self.file_size / self.pixels


def _check_fields(h: Header) -> None:
    """Raise FormatError naming the first field out of its range."""
    if h.channels not in MODES:
        raise FormatError(f"channel count {h.channels} is not 1 to 4")
    if not 1 <= h.block <= MAX_BLOCK:
        raise FormatError(f"block size {h.block} is not 1 to {MAX_BLOCK}")
    if not (1 <= h.width <= MAX_SIDE and 1 <= h.height <= MAX_SIDE):
        raise FormatError(f"image size {h.width}x{h.height} is out of range")
    if not 1 <= h.k <= min(MAX_K, h.block_count):
        raise FormatError(f"codebook size {h.k} is not 1 to min({MAX_K}, number of blocks)")
    if not h.k <= h.requested_k <= MAX_K:
        raise FormatError(f"requested codebook size {h.requested_k} is not {h.k} to {MAX_K}")


def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse images above the pixel cap before anything their size is allocated."""
    if max_pixels is not None and width * height > max_pixels:
        raise TooManyPixelsError(
            f"image is {width}x{height} = {width * height} pixels, above the cap of {max_pixels}; "
            "raise it with --max-pixels (max_pixels=) if you trust this input"
        )


def too_big(header: Header) -> TooManyPixelsError:
    return TooManyPixelsError(f"a {header.width}x{header.height} image does not fit in memory")


def build(header: Header, codebook: np.ndarray, indices: np.ndarray) -> bytes:
    """Serialise a complete file; the arguments must already be consistent."""
    _check_fields(header)
    codebook = np.ascontiguousarray(codebook, dtype=np.uint8)
    if codebook.shape != (header.k, header.codeword_size):
        raise ValueError(f"codebook shape {codebook.shape} does not match the header")
    if indices.size != header.block_count:
        raise ValueError(f"{indices.size} indices for {header.block_count} blocks")
    trainer_id = {name: i for i, name in TRAINERS.items()}[header.trainer]
    body = b"".join(
        (
            HEADER.pack(MAGIC, VERSION, header.channels, header.block, trainer_id,
                        header.width, header.height, header.k, header.requested_k),
            codebook.tobytes(),
            bitpack.pack(indices, header.index_bits),
        )
    )
    return body + CRC.pack(zlib.crc32(body))


def parse_header(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Header:
    """Validate the fixed-size header (the first HEADER.size bytes suffice) and the pixel cap."""
    if not data:
        raise FormatError("empty file, not a .vqc")
    if bytes(data[:4]) != MAGIC[: len(data[:4])]:
        raise FormatError("not a .vqc file (bad magic)")
    if len(data) < HEADER.size:
        raise FormatError(f"truncated: {len(data)} bytes is shorter than the {HEADER.size}-byte header")
    magic, version, channels, block, trainer_id, width, height, k, requested_k = HEADER.unpack_from(data)
    if version != VERSION:
        raise FormatError(f"unsupported .vqc version {version} (this vqcodec reads version {VERSION})")
    header = Header(width, height, channels, block, k, requested_k, TRAINERS.get(trainer_id, "unknown"))
    _check_fields(header)
    if trainer_id not in TRAINERS:
        raise FormatError(f"unknown trainer id {trainer_id}")
    check_pixels(width, height, max_pixels)
    return header


def check_length(header: Header, length: int) -> None:
    """The file must be exactly as long as its header says."""
    if length != header.file_size:
        what = "truncated" if length < header.file_size else "trailing bytes"
        raise FormatError(f"{what}: the header declares {header.file_size} bytes, the file has {length}")


def read_header(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Header:
    """Validate header, pixel cap, exact length and CRC of a whole file; return the header."""
    header = parse_header(data, max_pixels)
    check_length(header, len(data))
    (stored_crc,) = CRC.unpack_from(data, len(data) - CRC.size)
    if zlib.crc32(memoryview(data)[: -CRC.size]) != stored_crc:
        raise FormatError("checksum mismatch: the file is corrupted")
    return header


def parse(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[Header, np.ndarray, np.ndarray]:
    """Return (header, codebook as uint8 K x D, indices as uint32) of a validated file."""
    header = read_header(data, max_pixels)
    start = HEADER.size
    codebook = np.frombuffer(data, dtype=np.uint8, count=header.codebook_bytes, offset=start)
    codebook = codebook.reshape(header.k, header.codeword_size)
    start += header.codebook_bytes
    packed = bytes(memoryview(data)[start : start + header.index_bytes])
    tail_bits = header.index_bytes * 8 - header.block_count * header.index_bits
    if tail_bits and packed[-1] >> (8 - tail_bits):
        raise FormatError("padding bits after the last index are not zero")
    try:
        indices = bitpack.unpack(packed, header.block_count, header.index_bits)
    except (MemoryError, ValueError):  # NumPy's "array is too big" when the pixel cap is lifted
        raise too_big(header) from None
    if indices.size and int(indices.max()) >= header.k:
        raise FormatError(f"an index is {int(indices.max())}, beyond the codebook of {header.k}")
    return header, codebook, indices
