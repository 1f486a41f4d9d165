"""The .vqc container, versions 1 to 5: build versions 2, 4 and 5, parse all as hostile input.

docs/format.md is the specification; this module is its implementation for
the header, the section table, the lengths and the checksum (the codings
decode what the sections hold). Parsing checks every header field, the
section table and the exact file length before anything proportional to the
declared image is allocated, then the CRC before any payload is trusted.
"""
import dataclasses
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, TooManyPixelsError
from ..options import DEFAULT_MAX_PIXELS, MAX_BLOCK, MAX_K, check_pixels
from . import bitpack, varint

MAGIC = b"\x89VQC"
VERSIONS = (1, 2, 3, 4, 5)
VERSION = 2  # what the classic encoder writes
PLANES_VERSION = 3  # the rate-distortion encoder's planes, each whole
TILES_VERSION = 4  # its planes in tiles
COMPACT_VERSION = 5  # what the rate-distortion encoder writes: version 4 with the header's integers as varints
TILED = (TILES_VERSION, COMPACT_VERSION)
HEADER = struct.Struct("<4sBBBBIIII")  # magic, version, channels, block, trainer, width, height, k, requested k
COUNT = struct.Struct("<B")  # version 2: the number of sections...
SECTION = struct.Struct("<BBQ")  # ...then for each: kind, coding, length in bytes
CRC = struct.Struct("<I")
HEADER_V3 = struct.Struct("<4sBBBBIII")  # magic, version, channels, colour, trainer, width, height, requested k
PLANE = struct.Struct("<BBBBIQQQ")  # block, cell, step, fill, k, then the means, codebook and index lengths
HEADER_V4 = struct.Struct("<4sBBBBIIII")  # magic, version, channels, colour, trainer, width, height, requested k, tools
PLANE_V4 = struct.Struct("<BBBBIIIQ")  # block, cell, step, fill, k, tools, tile side, codebook length
LENGTH = struct.Struct("<I")  # version 4: a tile table entry is a tile's stream lengths, each one of these
HEADER_V5_LIMITS = (255, 255, 255, (1 << 32) - 1, (1 << 32) - 1, (1 << 32) - 1, (1 << 32) - 1)  # version 5: the largest
PLANE_V5_LIMITS = (255, 255, 255, 255, (1 << 32) - 1, (1 << 32) - 1, (1 << 32) - 1, (1 << 64) - 1)  # value of each
# varint of HEADER_V4 after the version, and of PLANE_V4: what their fixed widths hold

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # channel count -> Pillow mode
TRAINERS = {1: "kmeans", 2: "centnn", 3: "optimal", 4: "park"}  # informative: other ids are read as "unknown (id)"
KINDS = ("codebook", "indices")  # section kinds 1 and 2, the order version 2 requires
PLANE_KINDS = ("means", "codebook", "indices")  # version 3: each coded plane's sections, in this order
MAX_CELL = 64  # versions 3 and 4: the side of a block-mean cell
MIN_TILE, MAX_TILE = 32, 4096  # version 4: a tile's side in samples. At least 32, so that the tile table stays a
# small part of what it describes; at most 4096, so that a tile's sections fit the table's 32-bit lengths
FILTER = 1  # version 4's plane tools: a restoration filter, with weights for each quarter of each tile;
REFINE = 2  # a refinement layer, each tile's residual after the filter quantized with a step and coded;
SHARED_BOOK = 4  # a codebook from a shared codebook (a .vqcb), whose entry number the codebook section holds;
EXTENDED = 8  # and with SHARED_BOOK, that entry followed by codewords of the plane's own, coded after the number;
CUBIC = 16  # a base interpolated by a cubic through four cell centres along each axis, rather than linearly
SHARED = 1  # version 4's file tool: planes may take their codebooks from a shared codebook, named after the records
KNOWN_FILE_TOOLS, KNOWN_PLANE_TOOLS = SHARED, FILTER | REFINE | SHARED_BOOK | EXTENDED | CUBIC  # version 4's tool
# flags this decoder knows: any other bit needs a newer vqcodec
IDENTITY = struct.Struct("<8s")  # version 4 with SHARED: the shared codebook's identity (vqcodec.format.codebooks)
FILTER_BYTES = 16  # a tile's filter weights: 4 signed bytes for each of its 4 units
SYMBOL_BYTES = 32  # version 3: no coded symbol takes more (at most 18 decisions of at most 12 bits)
CODINGS = {"codebook": ("raw", "predicted"), "indices": ("packed", "context")}  # coding id = position
COLOURS = ("planes", "ycbcr420", "ycbcr444")  # version 3, id = position: the channels as they are, or YCbCr (+ alpha)
MAX_SIDE = (1 << 31) - 1
assert MAX_K == 1 << bitpack.MAX_WIDTH


@dataclass(frozen=True, slots=True)  # slots: version 4 has two per tile
class Section:
    """One part of a file's payload: what it holds, how it is coded, how many bytes it takes."""

    kind: str
    coding: str
    length: int


@dataclass(frozen=True)
class Plane:
    """Versions 3 and 4: how one plane is coded. k = 0: every sample is `fill`, and nothing more is stored.
    Version 4 cuts it into tiles of `tile` x `tile` samples, row by row, each with its own means and
    index streams (and with the REFINE tool a refinement stream), whose lengths are `table` (the file's
    tile table, 8 bytes a tile, 12 with REFINE): its sections are the codebook, then every tile's means,
    then every tile's indices, then with the FILTER tool every tile's filter weights, then with REFINE
    every tile's refinement."""

    height: int
    width: int
    block: int
    cell: int
    step: int
    fill: int
    k: int
    sections: tuple[Section, ...] = ()
    tile: int = 0  # version 4
    tools: int = 0  # version 4: tool flags
    table: bytes = b""  # versions 4 and 5: each tile's means and index lengths, as version 4 stores them

    @property
    def tile_grid(self) -> tuple[int, int]:
        """Version 4: rows and columns of tiles."""
        return -(-self.height // self.tile), -(-self.width // self.tile)

    def tile_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """Version 4: (top, left, height, width) of a tile, in samples of the plane."""
        top, left = row * self.tile, column * self.tile
        return top, left, min(self.tile, self.height - top), min(self.tile, self.width - left)

    @property
    def unit(self) -> int:
        """Version 4's FILTER tool: the side of a filter unit, half a tile's rounded up (2 x 2 units a tile)."""
        return (self.tile + 1) // 2

    @property
    def tiles(self) -> int:
        rows, columns = self.tile_grid
        return rows * columns

    @property
    def streams(self) -> int:
        """Version 4: streams per tile: means and indices, and with REFINE the refinement."""
        return 3 if self.tools & REFINE else 2

    @property
    def table_size(self) -> int:
        """Version 4: bytes of the plane's part of the tile table."""
        return LENGTH.size * self.streams * self.tiles

    def tile_lengths(self) -> np.ndarray:
        """Version 4: each tile's stream lengths, (tiles, streams) int64, tiles in row order."""
        return np.frombuffer(self.table, dtype="<u4").reshape(-1, self.streams).astype(np.int64)

    def tile_bounds(self) -> np.ndarray:
        """Version 4: the most bytes each tile's streams can take, (tiles, streams) int64, tiles in row
        order: SYMBOL_BYTES per cell, block or (refinement: plus its step's byte) sample, plus 8."""
        rows, columns = self.tile_grid
        heights = np.minimum(self.tile, self.height - self.tile * np.arange(rows, dtype=np.int64))
        widths = np.minimum(self.tile, self.width - self.tile * np.arange(columns, dtype=np.int64))
        def count(side):
            return np.outer(-(-heights // side), -(-widths // side)).ravel()
        bounds = [SYMBOL_BYTES * count(self.cell) + 8, SYMBOL_BYTES * count(self.block) + 8]
        return np.stack(bounds + [SYMBOL_BYTES * count(1) + 9] * (self.streams - 2), axis=1)

    @property
    def blocks_x(self) -> int:
        return -(-self.width // self.block)

    @property
    def block_count(self) -> int:
        return self.blocks_x * -(-self.height // self.block)

    @property
    def cells(self) -> tuple[int, int]:
        """Rows and columns of the grid of block means."""
        return -(-self.height // self.cell), -(-self.width // self.cell)

    def bounds(self) -> dict[str, int]:
        """The most bytes each section can take: every coded symbol costs at most SYMBOL_BYTES."""
        rows, cols = self.cells
        return {"means": SYMBOL_BYTES * rows * cols + 8, "codebook": SYMBOL_BYTES * self.k * self.block ** 2 + 8,
                "indices": SYMBOL_BYTES * self.block_count + 8}


@dataclass(frozen=True)
class Header:
    """Everything a .vqc says about itself; sizes and rates follow from these fields."""

    width: int
    height: int
    channels: int
    block: int
    k: int
    requested_k: int
    trainer: str
    version: int = VERSION
    sections: tuple[Section, ...] = ()  # versions 3 and 4: every plane's, in order
    colour: str = "planes"  # versions 3 and 4: how the planes make the channels (one of COLOURS)
    planes: tuple[Plane, ...] = ()  # versions 3 and 4
    tools: int = 0  # version 4: the file's tool flags
    codebook: bytes = b""  # version 4 with SHARED: the identity of the shared codebook its planes need

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
        """Bits of one index bit-packed: ceil(log2 K)."""
        return bitpack.index_width(self.k)

    @property
    def raw_codebook_bytes(self) -> int:
        return self.k * self.codeword_size

    @property
    def packed_index_bytes(self) -> int:
        return bitpack.packed_size(self.block_count, self.index_bits)

    @property
    def header_size(self) -> int:
        identity = IDENTITY.size if self.tools & SHARED else 0
        if self.version == TILES_VERSION:
            return HEADER_V4.size + PLANE_V4.size * self.channels + identity + sum(len(p.table) for p in self.planes)
        if self.version == COMPACT_VERSION:
            fields = np.concatenate([_fixed_fields(self), *(_record(p) for p in self.planes),
                                     *(p.tile_lengths().ravel().astype(np.uint64) for p in self.planes if p.k)])
            return len(MAGIC) + 1 + int(varint.size(fields).sum()) + identity
        if self.version == PLANES_VERSION:
            return HEADER_V3.size + PLANE.size * self.channels
        return HEADER.size if self.version == 1 else HEADER.size + COUNT.size + SECTION.size * len(self.sections)

    def bytes_of(self, kind: str) -> int:
        """Bytes of all sections of a kind (versions 3 and 4 have one per coded plane)."""
        return sum(s.length for s in self.sections if s.kind == kind)

    @property
    def file_size(self) -> int:
        return self.header_size + sum(s.length for s in self.sections) + CRC.size

    @property
    def bits_per_pixel(self) -> float:
        return self.rate(self.file_size)

    def rate(self, length: int) -> float:
        """What `length` bytes of this file cost in bits per pixel."""
        return 8 * length / self.pixels

    def section(self, kind: str) -> Section:
        return next(s for s in self.sections if s.kind == kind)

    def fixed_length(self, kind: str) -> int:
        """Bytes of the section coded raw (codebook) or bit-packed (indices): known from the header alone."""
        return self.raw_codebook_bytes if kind == "codebook" else self.packed_index_bytes

    def record(self) -> dict:
        """The header in plain JSON types, as `vqcodec info --json` prints it (docs/info.schema.json)."""
        planes = self.version in (PLANES_VERSION, *TILED)
        return {
            "version": self.version, "width": self.width, "height": self.height, "channels": self.channels,
            "mode": self.mode, "colour": self.colour if planes else None, "trainer": self.trainer, "k": self.k,
            "requested_k": self.requested_k, "block": self.block, "file_bytes": self.file_size,
            "header_bytes": self.header_size + CRC.size, "raw_bytes": self.raw_size, "bpp": self.bits_per_pixel,
            "sections": [] if planes else _section_records(self.sections),
            "codebook": self.codebook.hex() or None,
            "planes": [{"width": p.width, "height": p.height, "block": p.block, "cell": p.cell, "step": p.step,
                        "fill": p.fill, "k": p.k, "sections": _section_records(p.sections)}
                       | ({"tile": p.tile, "tiles": p.tiles if p.k else 0, "tools": p.tools}
                          if self.version in TILED else {}) for p in self.planes],
        }


def shapes(colour: str, channels: int, height: int, width: int) -> list[tuple[int, int]]:
    """Versions 3 and 4: (height, width) of each plane. With YCbCr 4:2:0 the two chroma planes have half the
    sides, rounded up."""
    if colour == "planes":
        return [(height, width)] * channels
    half = (-(-height // 2), -(-width // 2)) if colour == "ycbcr420" else (height, width)
    return [(height, width), half, half] + [(height, width)] * (channels - 3)


def _section_records(sections) -> list[dict]:
    return [{"kind": s.kind, "coding": s.coding, "bytes": s.length} for s in sections]


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


def _check_sections(h: Header) -> None:
    """Version 2 holds a codebook section, then an index section, each in a known coding. A
    section in a fixed-size coding has exactly that size; one in an adaptive coding is smaller
    (else the fixed coding would have been used), so the header bounds every length."""
    if tuple(s.kind for s in h.sections) != KINDS:
        raise FormatError(f"the sections are {', '.join(s.kind for s in h.sections) or 'none'}, "
                          f"not {', '.join(KINDS)}")
    for s in h.sections:
        if s.coding not in CODINGS[s.kind]:
            raise FormatError(f"{s.kind} section: unknown coding {s.coding}")
        fixed, size = CODINGS[s.kind][0], h.fixed_length(s.kind)
        if s.coding == fixed and s.length != size:
            raise FormatError(f"{s.kind} section: {s.length} bytes, but {s.coding} it takes {size}")
        if s.coding != fixed and s.length >= size:
            raise FormatError(f"{s.kind} section: {s.length} bytes {s.coding}, not fewer than {size} {fixed}")


def too_big(header: Header) -> TooManyPixelsError:
    return TooManyPixelsError(f"a {header.width}x{header.height} image does not fit in memory")


def build(header: Header, payloads: tuple[bytes, ...]) -> bytes:
    """Serialise a version 2 or 3 file; header.sections must describe the payloads."""
    if [len(p) for p in payloads] != [s.length for s in header.sections]:
        raise ValueError("the header's sections do not describe the payloads")
    if header.version in TILED:
        return _build_tiled(header, payloads)
    _check_fields(header)
    _check_sections(header)
    if header.version != VERSION or [len(p) for p in payloads] != [s.length for s in header.sections]:
        raise ValueError("the header's sections do not describe the payloads")
    trainer_id = _trainer_id(header.trainer)
    table = b"".join(SECTION.pack(KINDS.index(s.kind) + 1, CODINGS[s.kind].index(s.coding), s.length)
                     for s in header.sections)
    body = b"".join((HEADER.pack(MAGIC, VERSION, header.channels, header.block, trainer_id, header.width,
                                 header.height, header.k, header.requested_k),
                     COUNT.pack(len(header.sections)), table, *payloads))
    return body + CRC.pack(zlib.crc32(body))


def header_length(data: bytes, max_pixels: int | None = None) -> int:
    """How many bytes the header of the file starting with `data` takes; when `data` is too
    short to say, a lower bound (read that many and ask again). A version-4 header's length
    follows from its plane records, so they are validated here, and the pixel cap with them."""
    if not data:
        raise FormatError("empty file, not a .vqc")
    if bytes(data[:4]) != MAGIC[: len(data[:4])]:
        raise FormatError("not a .vqc file (bad magic)")
    if len(data) < HEADER.size:
        return HEADER.size
    if data[4] not in VERSIONS:
        raise FormatError(f"unsupported .vqc version {data[4]} (this vqcodec reads versions 1 to 5)")
    if data[4] == 1:
        return HEADER.size
    if data[4] == COMPACT_VERSION:
        try:
            return _parse_header_v5(data, max_pixels)[1]
        except _Short as short:
            return short.needed
    if data[4] == TILES_VERSION:
        if data[5] not in MODES:
            raise FormatError(f"channel count {data[5]} is not 1 to 4")
        fixed = HEADER_V4.size + PLANE_V4.size * data[5]
        if len(data) < fixed:
            return fixed
        fields, planes = _parse_planes_v4(data, max_pixels)
        fixed += IDENTITY.size if fields[-1] & SHARED else 0
        return fixed + sum(p.table_size for p in planes if p.k)
    if data[4] == PLANES_VERSION:
        if data[5] not in MODES:
            raise FormatError(f"channel count {data[5]} is not 1 to 4")
        return HEADER_V3.size + PLANE.size * data[5]
    if len(data) < HEADER.size + COUNT.size:
        return HEADER.size + COUNT.size
    return HEADER.size + COUNT.size + SECTION.size * data[HEADER.size]


def parse_header(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Header:
    """Validate the header (its first header_length(data) bytes suffice) and the pixel cap."""
    needed = header_length(data, max_pixels)
    if len(data) < needed:
        raise FormatError(f"truncated: {len(data)} bytes is shorter than the {needed}-byte header")
    if data[4] == TILES_VERSION:
        return _parse_header_v4(data, max_pixels)
    if data[4] == COMPACT_VERSION:
        return _parse_header_v5(data, max_pixels)[0]
    if data[4] == PLANES_VERSION:
        return _parse_header_v3(data, max_pixels)
    magic, version, channels, block, trainer_id, width, height, k, requested_k = HEADER.unpack_from(data)
    header = Header(width, height, channels, block, k, requested_k, TRAINERS.get(trainer_id, f"unknown ({trainer_id})"),
                    version)
    _check_fields(header)
    if version == 1:  # the layout version 2 spells out: a raw codebook, then bit-packed indices
        sections = tuple(Section(kind, CODINGS[kind][0], header.fixed_length(kind)) for kind in KINDS)
    else:
        sections = tuple(_section(*SECTION.unpack_from(data, HEADER.size + COUNT.size + SECTION.size * n))
                         for n in range(data[HEADER.size]))
    header = dataclasses.replace(header, sections=sections)
    _check_sections(header)
    check_pixels(width, height, max_pixels)
    return header


def _parse_header_v3(data: bytes, max_pixels: int | None) -> Header:
    magic, version, channels, colour_id, trainer_id, width, height, requested_k = HEADER_V3.unpack_from(data)
    colour = _checked_image(channels, colour_id, width, height, requested_k)
    planes = []
    for n, (h, w) in enumerate(shapes(colour, channels, height, width)):
        block, cell, step, fill, k, *lengths = PLANE.unpack_from(data, HEADER_V3.size + PLANE.size * n)
        planes.append(_checked_plane(n, Plane(h, w, block, cell, step, fill, k), lengths))
    header = Header(width, height, channels, planes[0].block, sum(p.k for p in planes), requested_k,
                    TRAINERS.get(trainer_id, f"unknown ({trainer_id})"), version,
                    tuple(sec for p in planes for sec in p.sections), colour, tuple(planes))
    check_pixels(width, height, max_pixels)
    return header


def _checked_image(channels: int, colour_id: int, width: int, height: int, requested_k: int) -> str:
    """Versions 3 and 4: the colour transform's name, or FormatError naming the first field out of range."""
    if colour_id >= len(COLOURS):
        raise FormatError(f"unknown colour transform {colour_id}")
    colour = COLOURS[colour_id]
    if colour != "planes" and channels < 3:
        raise FormatError(f"colour transform {colour} needs 3 or 4 channels, the file has {channels}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FormatError(f"image size {width}x{height} is out of range")
    if not 0 <= requested_k <= MAX_K:  # 0: the encoder chose
        raise FormatError(f"requested codebook size {requested_k} is not 0 to {MAX_K}")
    return colour


def _checked_plane(n: int, p: Plane, lengths: list[int]) -> Plane:
    """The plane with its sections, or FormatError naming the first field out of its range."""
    if p.k == 0:
        if (p.block, p.cell, p.step) != (0, 0, 0) or any(lengths):
            raise FormatError(f"plane {n} is constant (k = 0) but has a block, cell, step or section")
        return p
    if not 1 <= p.block <= MAX_BLOCK:
        raise FormatError(f"plane {n}: block size {p.block} is not 1 to {MAX_BLOCK}")
    if not 1 <= p.cell <= MAX_CELL:
        raise FormatError(f"plane {n}: mean cell size {p.cell} is not 1 to {MAX_CELL}")
    if p.step == 0:
        raise FormatError(f"plane {n}: mean step 0")
    if p.fill != 0:
        raise FormatError(f"plane {n} is coded but has a fill value")
    if not 1 <= p.k <= (MAX_K if p.tools & SHARED_BOOK else min(MAX_K, p.block_count)):  # (a shared codebook
        # is not made for one plane)
        raise FormatError(f"plane {n}: codebook size {p.k} is not 1 to min({MAX_K}, number of blocks)")
    bounds = p.bounds()
    for kind, length in zip(PLANE_KINDS, lengths):
        if length > bounds[kind]:
            raise FormatError(f"plane {n}: {kind} section of {length} bytes, more than the {bounds[kind]} "
                              "any encoder can write")
    return dataclasses.replace(p, sections=tuple(Section(kind, CODED, length)
                                                 for kind, length in zip(PLANE_KINDS, lengths)))


CODED = "adaptive"  # versions 3 and 4 code every section with its context model


def _build_v3(header: Header, payloads: tuple[bytes, ...]) -> bytes:
    trainer_id = {name: i for i, name in TRAINERS.items()}[header.trainer]
    records = b"".join(PLANE.pack(p.block, p.cell, p.step, p.fill, p.k, *(s.length for s in p.sections))
                       if p.k else PLANE.pack(0, 0, 0, p.fill, 0, 0, 0, 0) for p in header.planes)
    body = b"".join((HEADER_V3.pack(MAGIC, PLANES_VERSION, header.channels, COLOURS.index(header.colour), trainer_id,
                                    header.width, header.height, header.requested_k), records, *payloads))
    data = body + CRC.pack(zlib.crc32(body))
    if parse_header(data, None) != header:
        raise ValueError("the header does not describe a valid version 3 file")
    return data


def _parse_planes_v4(data: bytes, max_pixels: int | None) -> tuple[tuple, list[Plane]]:
    """A version-4 header's fixed fields and its plane records, validated (_checked_planes)."""
    magic, version, *fields = HEADER_V4.unpack_from(data)
    records = [PLANE_V4.unpack_from(data, HEADER_V4.size + PLANE_V4.size * n) for n in range(fields[0])]
    return _checked_planes(fields, records, max_pixels)


def _checked_planes(fields, records, max_pixels: int | None) -> tuple[tuple, list[Plane]]:
    """Versions 4 and 5: the fixed fields (channels, colour, trainer, width, height, requested k, tools)
    and the plane records, validated in the order docs/format.md gives, the pixel cap last: everything
    the tile table's size follows from."""
    channels, colour_id, trainer_id, width, height, requested_k, tools = (int(x) for x in fields)
    if tools & ~KNOWN_FILE_TOOLS:  # first: a newer file's other fields may mean what this vqcodec cannot know
        raise FormatError(f"the file uses tools this vqcodec does not know (flags {tools:#x}): "
                          "it needs a newer vqcodec")
    colour = _checked_image(channels, colour_id, width, height, requested_k)
    planes = []
    for n, ((h, w), record) in enumerate(zip(shapes(colour, channels, height, width), records)):
        block, cell, step, fill, k, plane_tools, tile, codebook = (int(x) for x in record)
        if plane_tools & ~KNOWN_PLANE_TOOLS:
            raise FormatError(f"plane {n} uses tools this vqcodec does not know (flags {plane_tools:#x}): "
                              "it needs a newer vqcodec")
        plane = Plane(h, w, block, cell, step, fill, k, tile=tile, tools=plane_tools)
        if k == 0 and (tile or plane_tools):
            raise FormatError(f"plane {n} is constant (k = 0) but has a tile side or a tool")
        if plane_tools & SHARED_BOOK and not tools & SHARED:
            raise FormatError(f"plane {n} takes a shared codebook, but the file names none")
        if plane_tools & EXTENDED and not plane_tools & SHARED_BOOK:
            raise FormatError(f"plane {n} extends a shared codebook's entry, but takes none")
        if plane_tools & SHARED_BOOK and (codebook < 1 if plane_tools & EXTENDED else codebook != 1):
            raise FormatError(f"plane {n} takes a shared codebook, but its codebook section is {codebook} bytes, "
                              + ("not 1 or more" if plane_tools & EXTENDED else "not 1"))
        plane = _checked_plane(n, plane, [0, codebook, 0])
        if k:
            if not MIN_TILE <= tile <= MAX_TILE or tile % block or tile % cell:
                raise FormatError(f"plane {n}: tile side {tile} is not {MIN_TILE} to {MAX_TILE}, a multiple of the "
                                  f"block side {block} and of the cell side {cell}")
        planes.append(plane)
    if tools & SHARED and not any(p.tools & SHARED_BOOK for p in planes):
        raise FormatError("the file names a shared codebook, but no plane takes one")
    check_pixels(width, height, max_pixels)
    return (channels, colour, trainer_id, width, height, requested_k, tools), planes


def _parse_header_v4(data: bytes, max_pixels: int | None) -> Header:
    fields, planes = _parse_planes_v4(data, max_pixels)
    at = HEADER_V4.size + PLANE_V4.size * fields[0]
    identity = b""
    if fields[-1] & SHARED:
        identity = IDENTITY.unpack_from(data, at)[0]
        at += IDENTITY.size
    tables = []
    for p in planes:
        tables.append(bytes(data[at : at + p.table_size]) if p.k else b"")
        at += len(tables[-1])
    return _tiled_header(TILES_VERSION, fields, planes, identity, tables)


class _Short(Exception):
    """Version 5: the data ends inside the header, which takes `needed` bytes at least."""

    def __init__(self, needed: int):
        super().__init__(needed)
        self.needed = needed


def _varints(data: bytes, at: int, count: int, limits, what: str) -> tuple[np.ndarray, int]:
    got = varint.decode(data, at, count, limits, what)
    if isinstance(got, int):
        raise _Short(got)
    return got


def _parse_header_v5(data: bytes, max_pixels: int | None) -> tuple[Header, int]:
    """A version-5 header and its length, validated as version 4's, each varint as it is read; _Short
    when `data` ends inside it. The channel count is checked before the records it counts are read, and
    the pixel cap before the tile table."""
    fields, at = _varints(data, len(MAGIC) + 1, len(HEADER_V5_LIMITS), HEADER_V5_LIMITS, "header")
    if int(fields[0]) not in MODES:
        raise FormatError(f"channel count {fields[0]} is not 1 to 4")
    records, at = _varints(data, at, len(PLANE_V5_LIMITS) * int(fields[0]), PLANE_V5_LIMITS * int(fields[0]),
                           "plane records")
    fields, planes = _checked_planes(fields, records.reshape(-1, len(PLANE_V5_LIMITS)), max_pixels)
    identity = b""
    if fields[-1] & SHARED:
        if len(data) < at + IDENTITY.size:
            raise _Short(at + IDENTITY.size)  # (more than len(data))
        identity = IDENTITY.unpack_from(data, at)[0]
        at += IDENTITY.size
    entries = sum(p.streams * p.tiles for p in planes if p.k)
    if len(data) < at + entries:  # a byte each at least: a table that cannot be there is not read in part
        raise _Short(at + entries)
    tables = []
    for n, p in enumerate(planes):
        lengths, at = _varints(data, at, p.streams * p.tiles if p.k else 0, (1 << 32) - 1, f"plane {n}'s tile table")
        tables.append(lengths.astype("<u4").tobytes())
    return _tiled_header(COMPACT_VERSION, fields, planes, identity, tables), at


def _tiled_header(version: int, fields: tuple, planes: list[Plane], identity: bytes, tables: list[bytes]) -> Header:
    """Versions 4 and 5: the header from its validated fields, records and tile tables, each tile's
    lengths checked against their bounds."""
    channels, colour, trainer_id, width, height, requested_k, tools = fields
    tiled = []
    for n, (p, table) in enumerate(zip(planes, tables)):
        if not p.k:
            tiled.append(p)
            continue
        p = dataclasses.replace(p, table=table)
        lengths, bounds = p.tile_lengths(), p.tile_bounds()
        over = np.flatnonzero((lengths > bounds).ravel())  # in table order: a tile's means, its indices, ...
        if len(over):
            tile, which = divmod(int(over[0]), p.streams)
            row, column = divmod(tile, p.tile_grid[1])
            raise FormatError(f"plane {n}, tile ({row}, {column}): {('means', 'index', 'refinement')[which]} "
                              f"section of {lengths[tile, which]} bytes, more than the {bounds[tile, which]} any "
                              "encoder can write")
        totals = [int(total) for total in lengths.sum(axis=0)]
        tiled.append(dataclasses.replace(p, sections=(p.sections[1], Section("means", CODED, totals[0]),
                                                      Section("indices", CODED, totals[1]))
                                         + ((Section("filter", "raw", FILTER_BYTES * p.tiles),) if p.tools & FILTER
                                            else ())
                                         + ((Section("refinement", CODED, totals[2]),) if p.tools & REFINE else ())))
    return Header(width, height, channels, tiled[0].block, sum(p.k for p in tiled), requested_k,
                  TRAINERS.get(trainer_id, f"unknown ({trainer_id})"), version,
                  tuple(sec for p in tiled for sec in p.sections), colour, tuple(tiled), tools, identity)


def _trainer_id(name: str) -> int:
    """The id of a trainer's name, as parsing names it (an unknown id as "unknown (id)")."""
    ids = {name: i for i, name in TRAINERS.items()}
    return ids[name] if name in ids else int(name.removeprefix("unknown (").removesuffix(")"))


def _fixed_fields(header: Header) -> np.ndarray:
    """Versions 4 and 5: the header's integers after the version, in order."""
    return np.array([header.channels, COLOURS.index(header.colour), _trainer_id(header.trainer), header.width,
                     header.height, header.requested_k, header.tools], dtype=np.uint64)


def _record(p: Plane) -> np.ndarray:
    """Versions 4 and 5: a plane record's integers, in order."""
    return np.array([p.block, p.cell, p.step, p.fill, p.k, p.tools, p.tile, p.sections[0].length if p.k else 0],
                    dtype=np.uint64)


def _build_tiled(header: Header, payloads: tuple[bytes, ...]) -> bytes:
    identity = IDENTITY.pack(header.codebook) if header.tools & SHARED else b""
    if header.version == TILES_VERSION:
        head = b"".join((HEADER_V4.pack(MAGIC, TILES_VERSION, *(int(x) for x in _fixed_fields(header))),
                         *(PLANE_V4.pack(*(int(x) for x in _record(p))) for p in header.planes), identity,
                         *(p.table for p in header.planes)))
    else:
        head = b"".join((MAGIC, bytes([COMPACT_VERSION]), varint.encode(_fixed_fields(header)),
                         *(varint.encode(_record(p)) for p in header.planes), identity,
                         *(varint.encode(p.tile_lengths().ravel()) for p in header.planes if p.k)))
    body = b"".join((head, *payloads))
    data = body + CRC.pack(zlib.crc32(body))
    if parse_header(data, None) != header:
        raise ValueError(f"the header does not describe a valid version {header.version} file")
    return data


def _section(kind: int, coding: int, length: int) -> Section:
    if not 1 <= kind <= len(KINDS):
        raise FormatError(f"unknown section kind {kind}")
    name = KINDS[kind - 1]
    return Section(name, CODINGS[name][coding] if coding < len(CODINGS[name]) else coding, length)


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


def parse(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[Header, tuple[memoryview, ...]]:
    """The validated header of a whole file and each section's payload, in the order of header.sections."""
    header = read_header(data, max_pixels)
    payloads, start = [], header.header_size
    for s in header.sections:
        payloads.append(memoryview(data)[start : start + s.length])
        start += s.length
    return header, tuple(payloads)
