"""An independent reference decoder for the .vqc image format, versions 1 to 5.

Written from docs/format.md only: none of vqcodec's own code was read, copied
or imported. It is deliberately slow and simple -- the arithmetic coder, the
counters, the mixers, the adaptive models, version 3's base interpolation and
colour transform, version 4's tiles and what each hands on to the next (its
models, and its cells and blocks along their shared edge) are plain Python
integer code that follows the page step by step, and NumPy is used only to
unpack bits and to assemble arrays (codewords into an image, lists of samples
into the decoded image). It is meant for
small test files (a few thousand blocks or pixels), and for checking that the
page is precise enough to write a compatible decoder from.

Public functions:

- read_header(data)   -> dict of header fields, or None if the file is invalid
- decode(data, max_pixels, codebook=None) -> uint8 image (H x W or H x W x C), or None;
  `codebook`: the bytes of the shared codebook (.vqcb) a file may need
- read_vqcb(data) -> the entries of a shared codebook file as (kind, quality, K x D uint8), or None
- decode_codebook_stream(payload, k, block, channels) -> K x D uint8, or None
- decode_index_stream(payload, count, across, k) -> `count` indices, or None
- decode_means_stream(payload, rows, columns) -> rows x columns uint8 (version 3), or None
- decode_lean_index_stream(payload, count, across, k) -> `count` indices of a version-4
  index section with fresh models and no seed (as tile (0, 0)'s), or None

None of them raises on any input bytes; they return None instead.
"""

from __future__ import annotations

import hashlib

import numpy as np

MAGIC = b"\x89VQC"
MAX_SIDE = 2**31 - 1  # width and height
MAX_K = 65536
MAX_BLOCK = 16
CODEBOOK, INDICES = 1, 2  # section kinds
FIXED, ADAPTIVE = 0, 1  # section codings: raw / packed, predicted / context
V2_TABLE_END = 25 + 10 * 2  # header + section table of two entries
V3_HEADER = 20  # version 3: the header before the plane records
PLANE_RECORD = 32  # version 3: bytes of one plane record
PLANES, YCBCR420, YCBCR444 = 0, 1, 2  # version 3: colour ids
COLOURS = {PLANES: "planes", YCBCR420: "ycbcr420", YCBCR444: "ycbcr444"}
MAX_CELL = 64  # version 3: the side of a mean cell
V4_HEADER = 24  # version 4: the header before the plane records
V4_PLANE_RECORD = 24  # version 4: bytes of one plane record
MIN_TILE, MAX_TILE = 32, 4096  # version 4: the tile side
SHARED = 1  # version 4's one file tool: a shared codebook, named by its identity after the plane records
KNOWN_FILE_TOOLS = SHARED
FILTER = 1  # and five plane tools: the restoration filter
REFINE = 2  # the refinement layer
SHARED_BOOK = 4  # a codebook that is an entry of the shared codebook
EXTENDED = 8  # and that entry followed by codewords of the plane's own
CUBIC = 16  # the cubic base
KNOWN_PLANE_TOOLS = FILTER | REFINE | SHARED_BOOK | EXTENDED | CUBIC
IDENTITY = 8  # bytes of a shared codebook's identity
VQCB_MAGIC = b"\x89VQB"
FILTER_BYTES = 16  # a tile's weights in the filter section


# ---------------------------------------------------------------- checksum

def _crc_table() -> list[int]:
    """CRC-32, polynomial 0x04C11DB7 reflected (0xEDB88320)."""
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()


def crc32(data: bytes) -> int:
    """CRC-32 as in zlib, PNG and gzip: initial value and final XOR 0xFFFFFFFF."""
    c = 0xFFFFFFFF
    for byte in data:
        c = CRC_TABLE[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---------------------------------------------------------------- header

def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 4], "little")


def _u64(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset:offset + 8], "little")


def index_width(k: int) -> int:
    """w = ceil(log2 K): 0 when K = 1, 8 when K = 256, 16 when K = 65536."""
    return (k - 1).bit_length()


def _parse(data: bytes, max_pixels: int | None = None) -> dict | None:
    """Every header check of the Validation sections in the spec's order, then
    the exact file size and the checksum. The pixel cap (None: no cap) is
    checked here for version 4, whose tile table comes after it; for the
    earlier versions decode() checks it (the outcome is the same)."""
    if len(data) < 5 or data[0:4] != MAGIC:
        return None
    version = data[4]
    if version not in (1, 2, 3, 4, 5):
        return None
    if len(data) < 24:  # the header of version 1 (and the shortest of any version)
        return None
    if version == 3:
        return _parse_v3(data)
    if version == 4:
        return _parse_v4(data, max_pixels)
    if version == 5:
        return _parse_v5(data, max_pixels)
    channels, block, trainer = data[5], data[6], data[7]
    if channels not in (1, 2, 3, 4):
        return None
    if not 1 <= block <= MAX_BLOCK:
        return None
    width, height = _u32(data, 8), _u32(data, 12)
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        return None
    across = -(-width // block)  # BX = ceil(W / b)
    down = -(-height // block)  # BY = ceil(H / b)
    count = across * down  # N
    k = _u32(data, 16)
    if not 1 <= k <= min(MAX_K, count):
        return None
    requested_k = _u32(data, 20)
    if not k <= requested_k <= MAX_K:
        return None
    d = block * block * channels  # codeword size D
    w = index_width(k)
    packed_bytes = (count * w + 7) // 8  # P

    if version == 1:
        sections = [(CODEBOOK, FIXED, k * d), (INDICES, FIXED, packed_bytes)]
        body_start = 24
    else:
        if len(data) < 25 or data[24] != 2:  # section count S
            return None
        if len(data) < V2_TABLE_END:
            return None
        sections = []
        for entry, kind in enumerate((CODEBOOK, INDICES)):
            at = 25 + 10 * entry
            if data[at] != kind or data[at + 1] not in (FIXED, ADAPTIVE):
                return None
            sections.append((data[at], data[at + 1], _u64(data, at + 2)))
        fixed_lengths = (k * d, packed_bytes)
        for (kind, coding, length), fixed in zip(sections, fixed_lengths):
            if coding == FIXED and length != fixed:
                return None
            if coding == ADAPTIVE and length >= fixed:  # "fewer than K x D bytes", "fewer than P bytes"
                return None
        body_start = V2_TABLE_END

    # (the pixel cap comes here in the spec's order; see decode())
    if len(data) != body_start + sections[0][2] + sections[1][2] + 4:
        return None
    if crc32(data[:-4]) != _u32(data, len(data) - 4):
        return None
    return {
        "version": version, "channels": channels, "block": block,
        "trainer": trainer, "width": width, "height": height,
        "k": k, "requested_k": requested_k, "sections": sections,
        "colour": None, "planes": [], "tools": 0,
        # derived quantities
        "across": across, "down": down, "count": count, "d": d, "w": w,
        "body_start": body_start,
    }


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def plane_sizes(width: int, height: int, channels: int, colour: int) -> list[tuple[int, int]]:
    """Version 3, Layout: (width, height) of each of the C planes. Chroma planes
    1 and 2 of ycbcr420 are ceil(W / 2) x ceil(H / 2), every other plane W x H."""
    sizes = [(width, height)] * channels
    if colour == YCBCR420:
        sizes[1] = sizes[2] = (_ceil_div(width, 2), _ceil_div(height, 2))
    return sizes


def _parse_v3(data: bytes) -> dict | None:
    """Version 3, Validation: the header, then each plane record in plane
    order, then (after the pixel cap, see decode()) the exact file size and
    the checksum."""
    channels, colour, trainer = data[5], data[6], data[7]
    if channels not in (1, 2, 3, 4):
        return None
    body_start = V3_HEADER + PLANE_RECORD * channels
    if len(data) < body_start:  # the plane records are there
        return None
    if colour not in COLOURS or (colour != PLANES and channels < 3):
        return None
    width, height = _u32(data, 8), _u32(data, 12)
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        return None
    requested_k = _u32(data, 16)
    if requested_k > MAX_K:
        return None
    planes = []
    for p, (pw, ph) in enumerate(plane_sizes(width, height, channels, colour)):
        at = V3_HEADER + PLANE_RECORD * p
        b, g, s, fill = data[at], data[at + 1], data[at + 2], data[at + 3]
        k = _u32(data, at + 4)
        lengths = (_u64(data, at + 8), _u64(data, at + 16), _u64(data, at + 24))
        plane = {"width": pw, "height": ph, "block": b, "cell": g, "step": s,
                 "fill": fill, "k": k, "lengths": lengths, "tile": None, "tools": 0}
        if k == 0:  # a constant plane: b = g = s = 0 and no sections; fill is any byte
            if b != 0 or g != 0 or s != 0 or lengths != (0, 0, 0):
                return None
            planes.append(plane)
            continue
        if not _coded_plane(plane):
            return None
        bounds = (32 * plane["cells_across"] * plane["cells_down"] + 8, 32 * k * b * b + 8, 32 * plane["blocks"] + 8)
        if any(length > bound for length, bound in zip(lengths, bounds)):
            return None
        planes.append(plane)
    # (the pixel cap comes here in the spec's order; see decode())
    if len(data) != body_start + sum(sum(plane["lengths"]) for plane in planes) + 4:
        return None
    if crc32(data[:-4]) != _u32(data, len(data) - 4):
        return None
    return {
        "version": 3, "channels": channels, "trainer": trainer,
        "width": width, "height": height, "requested_k": requested_k,
        "colour": COLOURS[colour], "planes": planes, "sections": [], "tools": 0,
        # as vqcodec reports a version-3 header: the first plane's block, the planes' codewords in all
        "block": planes[0]["block"], "k": sum(plane["k"] for plane in planes),
        "body_start": body_start,
    }


def tile_grid(pw: int, ph: int, t: int) -> tuple[int, int]:
    """Version 4, Tiles: (TY, TX), the rows and columns of tiles of side t."""
    return _ceil_div(ph, t), _ceil_div(pw, t)


def tiles_of(plane: dict) -> list[tuple[int, int, int, int, int, int]]:
    """Version 4: a coded plane's tiles in tile order (row by row), each as
    (u, v, top, left, th, tw): row u and column v of tiles, its first row and
    column of samples and its height and width (smaller in the last row and
    column)."""
    t, pw, ph = plane["tile"], plane["width"], plane["height"]
    rows, columns = tile_grid(pw, ph, t)
    return [(u, v, u * t, v * t, min(u * t + t, ph) - u * t, min(v * t + t, pw) - v * t)
            for u in range(rows) for v in range(columns)]


def tile_bounds(plane: dict, th: int, tw: int) -> tuple[int, int]:
    """Version 4: the bounds of a th x tw tile's means and index lengths,
    32 x cells_t + 8 and 32 x blocks_t + 8."""
    b, g = plane["block"], plane["cell"]
    cells = _ceil_div(th, g) * _ceil_div(tw, g)
    blocks = _ceil_div(tw, b) * _ceil_div(th, b)
    return 32 * cells + 8, 32 * blocks + 8


def _coded_plane(plane: dict) -> bool:
    """Versions 3 and 4: a coded plane record's b, g, s, fill and k, in that order,
    each in its range; adds the plane's grids of blocks (BX, BY) and cells (CX, CY)."""
    b, g, pw, ph = plane["block"], plane["cell"], plane["width"], plane["height"]
    if not (1 <= b <= MAX_BLOCK and 1 <= g <= MAX_CELL and 1 <= plane["step"] <= 255 and plane["fill"] == 0):
        return False
    plane.update(across=_ceil_div(pw, b), down=_ceil_div(ph, b), cells_across=_ceil_div(pw, g),
                 cells_down=_ceil_div(ph, g))
    plane["blocks"] = plane["across"] * plane["down"]
    return plane["k"] <= (MAX_K if plane["tools"] & SHARED_BOOK else min(MAX_K, plane["blocks"]))


def _parse_v4(data: bytes, max_pixels: int | None) -> dict | None:
    """Version 4, Validation, steps 3 and 4 (steps 1 and 2 are _parse's), then
    _parse_tiled's."""
    channels = data[5]
    if channels not in (1, 2, 3, 4):  # 3.
        return None
    table_start = V4_HEADER + V4_PLANE_RECORD * channels
    if len(data) < table_start:  # 4. the plane records are there
        return None
    fixed = (channels, data[6], data[7], _u32(data, 8), _u32(data, 12), _u32(data, 16), _u32(data, 20))
    records = []
    for p in range(channels):
        at = V4_HEADER + V4_PLANE_RECORD * p
        records.append((data[at], data[at + 1], data[at + 2], data[at + 3], _u32(data, at + 4),
                        _u32(data, at + 8), _u32(data, at + 12), _u64(data, at + 16)))

    def entries(at: int, count: int) -> tuple[list[int], int] | None:  # 4 bytes each
        if len(data) < at + 4 * count:
            return None
        return [_u32(data, at + 4 * n) for n in range(count)], at + 4 * count

    return _parse_tiled(data, max_pixels, 4, fixed, records, table_start, entries)


def _varints(data: bytes, at: int, count: int, limit: int) -> tuple[list[int], int] | None:
    """`count` varints from `at`, each in its shortest form and at most `limit`, and where they end."""
    values = []
    for _ in range(count):
        value = 0
        for n in range(11):
            if n == 10 or at + n >= len(data):  # longer than 10 bytes, or past the end
                return None
            byte = data[at + n]
            value |= (byte & 0x7F) << (7 * n)
            if byte < 0x80:
                break
        if n > 0 and byte == 0:  # not the shortest form
            return None
        if value > limit:
            return None
        values.append(value)
        at += n + 1
    return values, at


def _parse_v5(data: bytes, max_pixels: int | None) -> dict | None:
    """Version 5: its varints, each checked as it is read, into version 4's fields, then
    _parse_tiled's steps."""
    u8, u32, u64 = 255, 2**32 - 1, 2**64 - 1
    got = _varints(data, 5, 1, u8)
    if got is None or got[0][0] not in (1, 2, 3, 4):  # the channel count first: it counts the records
        return None
    channels = got[0][0]
    got = _varints(data, 6, 6, u32)
    if got is None:
        return None
    rest, at = got
    if rest[0] > u8 or rest[1] > u8:  # colour and trainer
        return None
    fixed = (channels, *rest)
    records = []
    for _ in range(channels):
        got = _varints(data, at, 8, u64)
        if got is None:
            return None
        record, at = got
        if max(record[:4]) > u8 or max(record[4:7]) > u32:
            return None
        records.append(tuple(record))
    return _parse_tiled(data, max_pixels, 5, fixed, records, at,
                        lambda start, count: _varints(data, start, count, u32))


def _parse_tiled(data: bytes, max_pixels: int | None, version: int, fixed: tuple, records: list,
                 table_start: int, entries) -> dict | None:
    """Versions 4 and 5, Validation, steps 5 to 14 in the page's order: the
    header fields, each plane record, the pixel cap (None: no cap), the tile
    table (read by `entries(at, count)`), the exact file size and the checksum."""
    channels, colour, trainer, width, height, requested_k, tools = fixed
    if tools & ~KNOWN_FILE_TOOLS:  # 5. a file tool this decoder does not know: it needs a newer decoder
        return None
    identity = b""
    if tools & SHARED:  # and the identity is there
        if len(data) < table_start + IDENTITY:
            return None
        identity = data[table_start:table_start + IDENTITY]
        table_start += IDENTITY
    if colour not in COLOURS or (colour != PLANES and channels < 3):  # 6.
        return None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):  # 7.
        return None
    if requested_k > MAX_K:  # 8.
        return None
    planes = []
    for (pw, ph), record in zip(plane_sizes(width, height, channels, colour), records):  # 9.
        b, g, s, fill, k, plane_tools, t, book_length = record
        plane = {"width": pw, "height": ph, "block": b, "cell": g, "step": s, "fill": fill,
                 "k": k, "tools": plane_tools, "tile": t, "lengths": ()}
        if plane_tools & ~KNOWN_PLANE_TOOLS:  # first the plane's tools
            return None
        if k == 0:  # a constant plane: no tools, b = g = s = t = 0, no codebook; fill is any byte
            if plane_tools != 0 or b != 0 or g != 0 or s != 0 or t != 0 or book_length != 0:
                return None
            planes.append(plane)
            continue
        if not _coded_plane(plane):
            return None
        if book_length > 32 * k * b * b + 8:
            return None
        if plane_tools & SHARED_BOOK and not tools & SHARED:
            return None
        if plane_tools & EXTENDED and not (plane_tools & SHARED_BOOK and book_length >= 1):
            return None
        if plane_tools & SHARED_BOOK and not plane_tools & EXTENDED and book_length != 1:
            return None
        if not MIN_TILE <= t <= MAX_TILE or t % b or t % g:
            return None
        plane["book_length"] = book_length
        planes.append(plane)
    if tools & SHARED and not any(plane["tools"] & SHARED_BOOK for plane in planes):
        return None
    if max_pixels is not None and width * height > max_pixels:  # 10. the pixel cap
        return None
    coded = [plane for plane in planes if plane["k"]]
    at = table_start
    for plane in coded:  # 11. and 12. each plane's entries, in table order: means, index, refinement length
        streams = 3 if plane["tools"] & REFINE else 2
        rows, columns = tile_grid(plane["width"], plane["height"], plane["tile"])
        got = entries(at, streams * rows * columns)  # None unless they are there (so T is at most the file's length)
        if got is None:
            return None
        values, at = got
        lengths, refinements = [plane["book_length"]], []
        for n, (*_, th, tw) in enumerate(tiles_of(plane)):
            means_bound, index_bound = tile_bounds(plane, th, tw)
            means_length, index_length = values[streams * n], values[streams * n + 1]
            if means_length > means_bound:
                return None
            if index_length > index_bound:
                return None
            lengths += [means_length, index_length]
            if plane["tools"] & REFINE:
                refinements.append(values[streams * n + 2])
                if refinements[-1] > 32 * th * tw + 9:
                    return None
                lengths.append(refinements[-1])
        plane["size"] = sum(lengths)  # the sections' bytes, so far
        if plane["tools"] & FILTER:  # the filter section: 16 bytes a tile
            lengths.append(FILTER_BYTES * len(tiles_of(plane)))
            plane["size"] += lengths[-1]
        if plane["tools"] & REFINE:  # the refinement section: the tiles' refinement streams
            lengths.append(sum(refinements))
        plane["lengths"] = tuple(lengths)
    body_start = at
    if len(data) != body_start + sum(plane["size"] for plane in coded) + 4:  # 13.
        return None
    if crc32(data[:-4]) != _u32(data, len(data) - 4):  # 14.
        return None
    return {
        "version": version, "channels": channels, "trainer": trainer,
        "width": width, "height": height, "requested_k": requested_k,
        "colour": COLOURS[colour], "planes": planes, "sections": [], "tools": tools, "codebook": identity,
        # as vqcodec reports a version-3, -4 or -5 header: the first plane's block, the planes' codewords in all
        "block": planes[0]["block"], "k": sum(plane["k"] for plane in planes),
        "body_start": body_start,
    }


PUBLIC_FIELDS = ("width", "height", "channels", "block", "trainer", "k",
                 "requested_k", "version", "sections", "colour", "planes", "tools")
# a version-4 plane's lengths: its codebook's, then each tile's means and index lengths in tile order (with
# REFINE its refinement length too), then with FILTER its filter section's, then with REFINE its refinement
# section's
PLANE_FIELDS = ("width", "height", "block", "cell", "step", "fill", "k", "lengths", "tile", "tools")


def read_header(data: bytes) -> dict | None:
    """The header fields if header, section table (version 3: plane records),
    file length and CRC-32 are valid (no pixel cap), else None."""
    header = _parse(bytes(data))
    if header is None:
        return None
    public = {name: header[name] for name in PUBLIC_FIELDS}
    public["planes"] = [{name: plane[name] for name in PLANE_FIELDS} for plane in header["planes"]]
    return public


# ---------------------------------------------------------------- the binary arithmetic coder

class ArithmeticDecoder:
    """The decoding side of the spec's binary arithmetic coder, over one section."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.length = len(payload)  # L
        self.x1 = 0
        self.x2 = 0xFFFFFFFF
        self.x = 0
        for i in range(4):  # first 4 bytes, big-endian
            self.x = (self.x << 8) + self.byte(i)
        self.r = 4  # bytes read

    def byte(self, i: int) -> int:
        """Bytes at or past the section's end read as 0."""
        return self.payload[i] if i < self.length else 0

    def decode_bit(self, p: int) -> int:
        """One binary decision coded with p = chance in 4096ths of a 1."""
        xmid = self.x1 + ((self.x2 - self.x1) >> 12) * p
        bit = 1 if self.x <= xmid else 0
        if bit:
            self.x2 = xmid
        else:
            self.x1 = xmid + 1
        while ((self.x1 ^ self.x2) & 0xFF000000) == 0:
            self.x1 = (self.x1 * 256) % 2**32
            self.x2 = (self.x2 * 256) % 2**32 + 255
            self.x = (self.x * 256) % 2**32 + self.byte(self.r)
            self.r += 1
        return bit

    def cut_short(self) -> bool:
        """r only grows, so once r > L + 4 the end-of-stream rule must fail."""
        return self.r > self.length + 4

    def final_byte(self) -> bytes:
        """What the encoder writes after its last decision: nothing if x1 = 0, else one byte."""
        if self.x1 == 0:
            return b""
        return bytes([(self.x1 >> 24) + (1 if self.x1 & 0xFFFFFF else 0)])

    def ended_properly(self) -> bool:
        """End-of-stream rule, after the last decision: L = r - 4 + f, and when f = 1
        the section's last byte is the final byte."""
        final = self.final_byte()
        return self.length == self.r - 4 + len(final) and (not final or self.payload[-1:] == final)


# ---------------------------------------------------------------- counters

class Counters:
    """A table of counters: 16-bit probability q of a 1 and update count n."""

    def __init__(self, size: int):
        self.q = [32768] * size
        self.n = [0] * size

    def p(self, i: int) -> int:
        """Probability for the coder, in 4096ths."""
        return max(1, self.q[i] >> 4)

    def learn(self, i: int, bit: int) -> None:
        """Counter update: d = 131072 div (2 n + 3)."""
        n, q = self.n[i], self.q[i]
        d = 131072 // (2 * n + 3)
        if bit:
            q = q + (((65536 - q) * d) >> 16)
        else:
            q = q - ((q * d) >> 16)
        self.q[i] = q
        self.n[i] = min(n + 1, 30)

    def copy(self) -> Counters:
        """Version 4: a tile takes its own copy of its seed's counters."""
        twin = Counters(0)
        twin.q, twin.n = self.q[:], self.n[:]
        return twin


def code_with_counter(coder: ArithmeticDecoder, counters: Counters, i: int) -> int:
    """A bit coded with a counter's probability, then learned by it."""
    bit = coder.decode_bit(counters.p(i))
    counters.learn(i, bit)
    return bit


# ---------------------------------------------------------------- squash, stretch, mixer

SQUASH_POINTS = (
    1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048,
    2550, 2994, 3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090,
    4092, 4094, 4095,
)


def squash(s: int) -> int:
    """Logit in 1/256ths (-2047 .. 2047) -> probability in 4096ths."""
    i = (s >> 7) + 16
    f = s & 127
    return (SQUASH_POINTS[i] * (128 - f) + SQUASH_POINTS[i + 1] * f + 64) >> 7


def _stretch_table() -> list[int]:
    """stretch(p) = the smallest s in -2047 .. 2047 with squash(s) >= p."""
    table = []
    s = -2047
    for p in range(4096):
        while squash(s) < p:
            s += 1
        table.append(s)
    return table


STRETCH_TABLE = _stretch_table()


def stretch(p: int) -> int:
    return STRETCH_TABLE[p]


def _int32(v: int) -> int:
    """Reduce to a signed 32-bit integer (mod 2^32 into -2^31 .. 2^31 - 1)."""
    return (v + 2**31) % 2**32 - 2**31


class Mixer:
    """m logit inputs, weights in 1/65536ths starting at 16384."""

    def __init__(self, m: int):
        self.weights = [16384] * m
        self.inputs: list[int] = []
        self.p = 2048

    def mix(self, inputs: list[int]) -> int:
        self.inputs = inputs
        t = sum(wt * s for wt, s in zip(self.weights, inputs)) >> 16
        t = max(-2047, min(2047, t))
        self.p = squash(t)
        return self.p

    def learn(self, bit: int) -> None:
        err = 4096 * bit - self.p
        self.weights = [_int32(wt + ((s * err) >> 10))
                        for wt, s in zip(self.weights, self.inputs)]

    def copy(self) -> Mixer:
        """Version 4: a tile takes its own copy of its seed's weights."""
        twin = Mixer(0)
        twin.weights = self.weights[:]
        return twin


def code_mixed(coder: ArithmeticDecoder, mixer: Mixer,
               inputs: list[tuple[Counters, int]]) -> int:
    """Mix the stretched counters' predictions plus the constant input 256,
    code the bit with the mixed p; the mixer learns, then the counters."""
    p = mixer.mix([stretch(c.p(i)) for c, i in inputs] + [256])
    bit = coder.decode_bit(p)
    mixer.learn(bit)
    for counters, i in inputs:
        counters.learn(i, bit)
    return bit


# ---------------------------------------------------------------- codebook, coding 1: predicted

def median_edge(left: int, up: int, corner: int) -> int:
    """The median edge detector of LOCO-I."""
    if corner >= max(left, up):
        return min(left, up)
    if corner <= min(left, up):
        return max(left, up)
    return left + up - corner


def _guess(values: list[int], t: int, x: int, y: int, channels: int,
           block: int, previous: list[int] | None) -> int:
    """Step 1: the median edge detector, or left, or up, or the previous codeword."""
    row = block * channels
    if x > 0 and y > 0:
        return median_edge(values[t - channels], values[t - row], values[t - row - channels])
    if x > 0:
        return values[t - channels]
    if y > 0:
        return values[t - row]
    return previous[t] if previous is not None else 128


class ResidualModel:
    """`contexts` contexts (32 for a codebook, 8 for version 3's means), each
    with counters Z, S, U[0..6] and M[1..7][0..6]."""

    def __init__(self, contexts: int = 32):
        self.z = Counters(contexts)
        self.s = Counters(contexts)
        self.u = Counters(contexts * 7)
        self.m = Counters(contexts * 8 * 7)  # M[top][i] at (context * 8 + top) * 7 + i

    def decode_residual(self, coder: ArithmeticDecoder, context: int) -> int:
        """Step 5: Z, S, the unary U bits for top, then the top bits of mag below its highest."""
        if code_with_counter(coder, self.z, context):
            return 0
        negative = code_with_counter(coder, self.s, context)
        top = 0
        while top < 7 and code_with_counter(coder, self.u, context * 7 + top):
            top += 1
        mag = 1
        for i in range(top - 1, -1, -1):
            mag = 2 * mag + code_with_counter(coder, self.m, (context * 8 + top) * 7 + i)
        return -mag if negative else mag

    def copy(self) -> ResidualModel:
        twin = ResidualModel(0)
        twin.z, twin.s, twin.u, twin.m = self.z.copy(), self.s.copy(), self.u.copy(), self.m.copy()
        return twin


def _level(a: int) -> int:
    """Number of binary digits of a, at most 7."""
    return min(a.bit_length(), 7)


def decode_codebook_stream(payload: bytes, k: int, block: int,
                           channels: int) -> np.ndarray | None:
    """The K x D codebook of a predicted codebook section, or None."""
    payload = bytes(payload)
    d = block * block * channels
    row = block * channels
    coder = ArithmeticDecoder(payload)
    model = ResidualModel()
    book = np.zeros((max(k, 0), d), dtype=np.uint8)
    previous: list[int] | None = None  # samples of codeword j - 1
    previous_errors = [0] * d  # |residuals| of codeword j - 1 (0 for codeword 0)
    for j in range(k):
        if coder.cut_short():
            return None
        values, guesses, errors = [0] * d, [0] * d, [0] * d
        for t in range(d):
            c = t % channels
            y = t // row
            x = (t // channels) % block
            guess = _guess(values, t, x, y, channels, block, previous)
            if c == 0:
                prediction = guess
            else:  # plus the previous channel's error at the same pixel
                prediction = max(0, min(255, guess + values[t - 1] - guesses[t - 1]))
            a = previous_errors[t]
            if x > 0:
                a += abs(errors[t - channels])
            if y > 0:
                a += abs(errors[t - row])
            context = 8 * c + _level(a)
            e = model.decode_residual(coder, context)
            values[t] = (prediction + e) % 256
            guesses[t] = guess
            errors[t] = e
        previous_errors = [abs(e) for e in errors]
        previous = values
        book[j] = values
    if not coder.ended_properly():
        return None
    return book


# ---------------------------------------------------------------- indices, coding 1: context

class IndexModel:
    """FLAG, CAND, TREE0, LEFT, ABOVE, RIGHT counters; FM and TM mixers."""

    def __init__(self, k: int):
        self.w = w = index_width(k)
        cb = min(w, 20 - w)
        self.sh = w - cb
        self.flag = Counters(16)
        self.cand = Counters(4 * k)
        self.tree0 = Counters(1 << w)  # nodes 1 .. 2^w - 1
        self.left = Counters(1 << (cb + w))
        self.above = Counters(1 << (cb + w))
        self.right = Counters(1 << (cb + w))
        self.fm = [Mixer(3) for _ in range(16)]
        self.tm = [Mixer(5) for _ in range(4 * w)]

    def flag_bit(self, coder: ArithmeticDecoder, f: int, c: int) -> int:
        return code_mixed(coder, self.fm[f], [(self.flag, f), (self.cand, c)])

    def tree_index(self, coder: ArithmeticDecoder, l: int, a: int, r: int,
                   edge: int) -> int:
        """Step 3: the index, most significant bit first, down the tree, each bit
        from the counters `tree_inputs` names mixed by TM[4 depth + edge]."""
        node = 1
        for depth in range(self.w):
            bit = code_mixed(coder, self.tm[4 * depth + edge], self.tree_inputs(node, l, a, r))
            node = 2 * node + bit
        return node - (1 << self.w)

    def tree_inputs(self, node: int, l: int, a: int, r: int) -> list:
        w, sh = self.w, self.sh
        return [(self.tree0, node), (self.left, ((l >> sh) << w) + node),
                (self.above, ((a >> sh) << w) + node), (self.right, ((r >> sh) << w) + node)]


class LeanIndexModel(IndexModel):
    """Version 4's lean index model: FLAG, CAND, TREE0, LEFT and ABOVE counters
    (no RIGHT), FM and TM mixers, tables sized to the contexts that can occur."""

    def __init__(self, k: int):
        self.w = w = index_width(k)
        cb = min(w, 18 - w)
        self.sh = w - cb  # none for k <= 512
        entries = ((k - 1) >> self.sh) + 1  # E, the values index >> sh can take
        self.flag = Counters(16)
        self.cand = Counters(4 * k)
        self.tree0 = Counters(1 << w)  # nodes 1 .. 2^w - 1
        self.left = Counters(entries << w)
        self.above = Counters(entries << w)
        self.fm = [Mixer(3) for _ in range(16)]
        self.tm = [Mixer(4) for _ in range(4 * max(w, 1))]

    def copy(self) -> LeanIndexModel:
        """Every counter and weight as it is now, for a tile whose seed this model's tile is."""
        twin = LeanIndexModel.__new__(LeanIndexModel)
        twin.w, twin.sh = self.w, self.sh
        twin.flag, twin.cand, twin.tree0 = self.flag.copy(), self.cand.copy(), self.tree0.copy()
        twin.left, twin.above = self.left.copy(), self.above.copy()
        twin.fm = [mixer.copy() for mixer in self.fm]
        twin.tm = [mixer.copy() for mixer in self.tm]
        return twin

    def tree_inputs(self, node: int, l: int, a: int, r: int) -> list:
        """Step 3 without r and RIGHT: the three counters (and 256) that TM mixes."""
        w, sh = self.w, self.sh
        return [(self.tree0, node), (self.left, ((l >> sh) << w) + node), (self.above, ((a >> sh) << w) + node)]


def _decode_one_index(coder: ArithmeticDecoder, model: IndexModel | LeanIndexModel,
                      left: int | None, above: int | None,
                      above_left: int | None, above_right: int | None) -> int:
    """Steps 1 to 3 for one block; None stands for a missing neighbour, which
    compares unequal to every index."""
    if left is not None:  # 1. same as the left neighbour?
        f = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
        c = 4 * left + (above == left)
        if model.flag_bit(coder, f, c):
            return left
    if above is not None and above != left:  # 2. same as the one above?
        f = 8 + (above_left == above) + 2 * (above_right == above) + 4 * (left is None)
        c = 4 * above + 2
        if model.flag_bit(coder, f, c):
            return above
    # 3. the index itself, down the tree
    l = left if left is not None else (above if above is not None else 0)
    a = above if above is not None else l
    r = above_right if above_right is not None else a
    edge = (left is None) + 2 * (above is None)
    return model.tree_index(coder, l, a, r, edge)


def decode_index_stream(payload: bytes, count: int, across: int,
                        k: int) -> np.ndarray | None:
    """The `count` indices of a context-coded index section over a block grid
    `across` blocks wide, or None."""
    if count < 0 or across < 1 or not 1 <= k <= MAX_K:
        return None
    return _decode_indices(bytes(payload), IndexModel(k), count, across, k)


def decode_lean_index_stream(payload: bytes, count: int, across: int,
                             k: int) -> np.ndarray | None:
    """The `count` indices of a version-4 index section over a tile `across`
    blocks wide whose models start fresh (as tile (0, 0)'s do), or None."""
    if count < 0 or across < 1 or not 1 <= k <= MAX_K:
        return None
    return _decode_indices(bytes(payload), LeanIndexModel(k), count, across, k)


def _decode_indices(payload: bytes, model: IndexModel | LeanIndexModel, count: int,
                    across: int, k: int, above: list[int] | None = None,
                    left: list[int] | None = None) -> np.ndarray | None:
    """Steps 1 to 3 for each block of a grid `across` blocks wide, in order, with
    `model` (version 2's or version 4's), then the end-of-stream rule. Outside the
    grid every neighbour is missing, except (version 4) a seed's blocks seen across
    the edge the tile shares with it: `above`, the `across` indices of the row
    above the first (the seed's last row), or `left`, one index per row on the left
    of the first column (the seed's last column)."""
    coder = ArithmeticDecoder(payload)
    indices = np.zeros(count, dtype=np.uint16)  # every index is below 65536
    above_row: list[int] | None = list(above) if above is not None else None  # the row above, if any
    this_row: list[int] = []
    for n in range(count):
        if coder.cut_short():
            return None
        row, col = divmod(n, across)
        if col == 0 and n > 0:
            above_row, this_row = this_row, []
        if col > 0:
            left_index, above_left = this_row[col - 1], above_row[col - 1] if above_row is not None else None
        else:  # the first column: on its left only a seed's last column, if the seed is there
            left_index = left[row] if left is not None else None
            above_left = left[row - 1] if left is not None and row > 0 else None
        idx = _decode_one_index(
            coder, model,
            left=left_index,
            above=above_row[col] if above_row is not None else None,
            above_left=above_left,
            above_right=above_row[col + 1] if above_row is not None and col < across - 1 else None,
        )
        if idx >= k:
            return None
        this_row.append(idx)
        indices[n] = idx
    if not coder.ended_properly():
        return None
    return indices


# ---------------------------------------------------------------- version 3: means section

def decode_means_stream(payload: bytes, rows: int, columns: int) -> np.ndarray | None:
    """The rows x columns quantized means q of a version-3 means section (CY x CX), or None."""
    if rows < 1 or columns < 1:
        return None
    decoded = _decode_means(bytes(payload), ResidualModel(8), rows, columns)  # one set of counters per level
    return None if decoded is None else np.array(decoded[0], dtype=np.uint8)


def _decode_means(payload: bytes, model: ResidualModel, rows: int, columns: int,
                  above: tuple[list[int], list[int]] | None = None,
                  left: tuple[list[int], list[int]] | None = None) -> tuple[list, list] | None:
    """Version 3's means section over a grid of rows x columns cells, with `model`
    (fresh in version 3, a seed's in version 4), then the end-of-stream rule:
    (q, e) as rows of ints, the residuals e as decoded, not reduced. Steps 1 and 2
    choose their rule by which neighbours exist (version 4's wording; for a grid
    without borders, version 3's rules by position). `above` and `left` (version 4)
    are the q and e of a seed's last row above the first row or of its last column
    on the left of the first column; every other neighbour outside is missing."""
    coder = ArithmeticDecoder(payload)
    # q and e of the grid, with row 0 and column 0 for the neighbours above and on the left; None: missing
    q: list[list[int | None]] = [[None] * (columns + 1) for _ in range(rows + 1)]
    e: list[list[int | None]] = [[None] * (columns + 1) for _ in range(rows + 1)]
    if above is not None:
        q[0][1:], e[0][1:] = list(above[0]), list(above[1])
    if left is not None:
        for i in range(rows):
            q[i + 1][0], e[i + 1][0] = left[0][i], left[1][i]
    for i in range(1, rows + 1):
        for j in range(1, columns + 1):
            if coder.cut_short():
                return None
            left_q, up, corner = q[i][j - 1], q[i - 1][j], q[i - 1][j - 1]  # 1. prediction, 2. context
            if left_q is not None and up is not None and corner is not None:
                prediction = median_edge(left_q, up, corner)
                a = abs(left_q - corner) + abs(up - corner) + abs(e[i][j - 1]) + abs(e[i - 1][j])
            elif left_q is not None:  # version 3: the first row
                prediction, a = left_q, abs(e[i][j - 1])
            elif up is not None:  # version 3: the first column
                prediction, a = up, abs(e[i - 1][j])
            else:  # version 3: the first cell
                prediction, a = 0, 0
            e[i][j] = model.decode_residual(coder, _level(a))  # 3. residual
            q[i][j] = (prediction + e[i][j]) % 256
    if not coder.ended_properly():
        return None
    return [row[1:] for row in q[1:]], [row[1:] for row in e[1:]]


# ---------------------------------------------------------------- fixed codings

def raw_codebook(payload: bytes, k: int, d: int) -> np.ndarray:
    """Codeword j at bytes j D .. (j + 1) D - 1 (length already checked)."""
    return np.frombuffer(payload, dtype=np.uint8).reshape(k, d)


CHUNK = 8 * 4096  # indices per step; a multiple of 8, so each step starts on a byte


def unpack_indices(payload: bytes, count: int, w: int, k: int) -> np.ndarray | None:
    """N indices of w bits, least significant bit first; padding bits zero;
    every index below K. (The length was already checked to be P.)"""
    indices = np.zeros(count, dtype=np.uint16)
    if w == 0:
        return indices
    used = count * w % 8  # bits of the final byte that belong to the last index
    if used and payload[-1] >> used:
        return None
    weights = np.int64(1) << np.arange(w, dtype=np.int64)
    for start in range(0, count, CHUNK):
        stop = min(count, start + CHUNK)
        chunk = np.frombuffer(payload[start * w // 8:(stop * w + 7) // 8], dtype=np.uint8)
        bits = np.unpackbits(chunk, bitorder="little")[:(stop - start) * w]
        values = bits.reshape(stop - start, w).astype(np.int64) @ weights
        if (values >= k).any():
            return None
        indices[start:stop] = values
    return indices


# ---------------------------------------------------------------- decoding

def assemble(book: np.ndarray, indices: np.ndarray, header: dict) -> np.ndarray:
    """Replace every block by its codeword, put the blocks in place and crop
    to W x H. Works on at most CHUNK blocks at a time, so that the padded
    image is never held whole (a 1-pixel-high image with b = 16 would pad to
    16 times its size)."""
    b, c = header["block"], header["channels"]
    width, height = header["width"], header["height"]
    across, down = header["across"], header["down"]
    codewords = book.reshape(-1, b, b, c)  # (row, column, channel) order
    grid = indices.reshape(down, across)
    image = np.empty((height, width, c), dtype=np.uint8)
    rows_per_step = max(1, CHUNK // across)
    for by in range(0, down, rows_per_step):
        for bx in range(0, across, CHUNK):
            ids = grid[by:by + rows_per_step, bx:bx + CHUNK]
            g, m = ids.shape
            pixels = codewords[ids].transpose(0, 2, 1, 3, 4).reshape(g * b, m * b, c)
            top, x0 = by * b, bx * b
            rows, cols = min(g * b, height - top), min(m * b, width - x0)
            image[top:top + rows, x0:x0 + cols] = pixels[:rows, :cols]
    return np.ascontiguousarray(image[:, :, 0]) if c == 1 else image


def decode(data: bytes, max_pixels: int, codebook: bytes | None = None) -> np.ndarray | None:
    """The decoded uint8 image if the file is valid and W x H <= max_pixels; a file with the
    tool SHARED needs `codebook`, the shared codebook of its identity."""
    data = bytes(data)
    header = _parse(data, max_pixels)
    if header is None or header["width"] * header["height"] > max_pixels:
        return None
    if header.get("codebook"):  # 15. the shared codebook of the file's identity, and each plane's entry in it
        entries = read_vqcb(codebook) if codebook is not None else None
        if entries is None or hashlib.sha256(bytes(codebook)).digest()[:IDENTITY] != header["codebook"]:
            return None
        for plane, at in zip(header["planes"], _plane_starts(header)):
            if plane["tools"] & SHARED_BOOK:
                e = data[at]
                if e >= len(entries) or entries[e][2].shape[1] != plane["block"] ** 2:
                    return None
                given = entries[e][2].shape[0]  # with EXTENDED fewer than k, the plane's own following
                if given >= plane["k"] if plane["tools"] & EXTENDED else given != plane["k"]:
                    return None
                plane["shared"] = entries[e][2]
    try:
        if header["version"] in (3, 4, 5):
            return _decode_planes(data, header, _decode_plane if header["version"] == 3 else _decode_tiled_plane)
        return _decode_body(data, header)
    except MemoryError:  # a valid file too large for this machine: still no exception
        return None


def _decode_body(data: bytes, header: dict) -> np.ndarray | None:
    """Decode the two sections of a file whose header passed every check."""
    k, d, w, count = header["k"], header["d"], header["w"], header["count"]
    (_, book_coding, book_length), (_, index_coding, index_length) = header["sections"]
    start = header["body_start"]
    book_bytes = data[start:start + book_length]
    index_bytes = data[start + book_length:start + book_length + index_length]

    if book_coding == FIXED:
        book = raw_codebook(book_bytes, k, d)
    else:
        book = decode_codebook_stream(book_bytes, k, header["block"], header["channels"])
    if book is None:
        return None
    if index_coding == FIXED:
        indices = unpack_indices(index_bytes, count, w, k)
    else:
        indices = decode_index_stream(index_bytes, count, header["across"], k)
    if indices is None:
        return None
    return assemble(book, indices, header)


# ---------------------------------------------------------------- version 3: reconstruction

def axis_step(z: int, cells: int, g: int) -> tuple[int, int, int]:
    """Reconstruction, step 2: position z along an axis of `cells` cells of
    side g (the page's len) -> (i0, i1, f), in the page's order."""
    t = 2 * z - (g - 1)
    i0 = t // (2 * g)  # floor, also for t < 0
    f = t - 2 * g * i0
    if t < 0:
        f = 0
    i0 = min(max(i0, 0), cells - 1)
    if i0 == cells - 1:
        f = 0
    i1 = min(i0 + 1, cells - 1)
    return i0, i1, f


def interpolate(grid: list[list[int]], g: int, height: int, width: int) -> list[list[int]]:
    """The base interpolation: a grid of cell values (cells of side g) -> height x width."""
    rows = [axis_step(y, len(grid), g) for y in range(height)]
    columns = [axis_step(x, len(grid[0]), g) for x in range(width)]
    out = []
    for i0, i1, fy in rows:
        line = []
        for j0, j1, fx in columns:
            total = ((2 * g - fy) * ((2 * g - fx) * grid[i0][j0] + fx * grid[i0][j1])
                     + fy * ((2 * g - fx) * grid[i1][j0] + fx * grid[i1][j1]))  # the page's sum
            line.append((total + 2 * g * g) // (4 * g * g))  # rounded, by integer division
        out.append(line)
    return out


def cubic_taps(z: int, cells: int, g: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The tool CUBIC: position z along an axis -> its four cells c0..c3 and weights w0..w3 (in 1/128)."""
    i0, i1, f = axis_step(z, cells, g)
    d = 2 * g
    p = (64 * f * (d - f) ** 2 + d ** 3 // 2) // d ** 3
    r = (64 * f * f * (d - f) + d ** 3 // 2) // d ** 3
    n = (64 * f * (4 * f * d + d * d - 3 * f * f) + d ** 3 // 2) // d ** 3
    return (max(i0 - 1, 0), i0, i1, min(i1 + 1, cells - 1)), (-p, 128 - n + p + r, n, -r)


def interpolate_cubic(grid: list[list[int]], g: int, height: int, width: int) -> list[list[int]]:
    """The cubic base: the sum over four cells along each axis, plus 8192, shifted right by 14 (a floor)."""
    rows = [cubic_taps(y, len(grid), g) for y in range(height)]
    columns = [cubic_taps(x, len(grid[0]), g) for x in range(width)]
    out = []
    for cells_y, a in rows:
        line = []
        for cells_x, v in columns:
            total = sum(a[k] * sum(v[j] * grid[cells_y[k]][cells_x[j]] for j in range(4)) for k in range(4))
            line.append((total + 8192) >> 14)
        out.append(line)
    return out


def _clip(value: int) -> int:
    return max(0, min(255, value))


def _decode_plane(data: bytes, at: int, plane: dict) -> list[list[int]] | None:
    """A plane's samples (rows of ints) from its three sections starting at `at`, or None."""
    pw, ph = plane["width"], plane["height"]
    if plane["k"] == 0:
        return [[plane["fill"]] * pw for _ in range(ph)]
    b, k = plane["block"], plane["k"]
    means_length, book_length, index_length = plane["lengths"]
    q = decode_means_stream(data[at:at + means_length], plane["cells_down"], plane["cells_across"])
    if q is None:
        return None
    at += means_length
    book = decode_codebook_stream(data[at:at + book_length], k, b, 1)
    if book is None:
        return None
    at += book_length
    indices = decode_index_stream(data[at:at + index_length], plane["blocks"], plane["across"], k)
    if indices is None:
        return None
    return reconstruct(plane, q, book, indices)


def reconstruct(plane: dict, q: np.ndarray, book: np.ndarray, indices: np.ndarray) -> list[list[int]]:
    """Version 3's Reconstruction of a coded plane from its whole grid of q (CY x CX),
    its codewords and its block indices (in block order)."""
    pw, ph = plane["width"], plane["height"]
    b, g, s = plane["block"], plane["cell"], plane["step"]
    means = [[min(int(v) * s, 255) for v in row] for row in q]  # 1. m = min(q x s, 255)
    base = (interpolate_cubic if plane["tools"] & CUBIC else interpolate)(means, g, ph, pw)  # 2.
    codewords = [[int(v) for v in codeword] for codeword in book]
    index = [int(i) for i in indices]
    across = plane["across"]
    samples = []
    for y in range(ph):  # 3. base plus the block's codeword byte, less 128, clipped
        line = []
        for x in range(pw):
            byte = codewords[index[(y // b) * across + x // b]][(y % b) * b + x % b]
            line.append(_clip(base[y][x] + byte - 128))
        samples.append(line)
    return samples


def ycbcr_to_rgb(y: int, cb: int, cr: int) -> tuple[int, int, int]:
    """JPEG's BT.601 full-range inverse in libjpeg's 16.16 fixed point."""
    cb, cr = cb - 128, cr - 128
    return (_clip(y + ((91881 * cr + 32768) >> 16)),
            _clip(y + ((-22554 * cb - 46802 * cr + 32768) >> 16)),
            _clip(y + ((116130 * cb + 32768) >> 16)))


def read_vqcb(data: bytes) -> list[tuple[int, int, np.ndarray]] | None:
    """Shared codebooks, Validation of a .vqcb in the page's order: its entries as
    (kind, quality, K x b^2 codebook), or None if the file is not a valid one."""
    data = bytes(data)
    if len(data) < 5 or data[0:4] != VQCB_MAGIC or data[4] != 1:
        return None
    if len(data) < 7:
        return None
    b, n = data[5], data[6]
    if not 1 <= b <= MAX_BLOCK or n == 0:
        return None
    start = 7 + 10 * n
    if len(data) < start + 4:
        return None
    records, samples = [], 0
    for e in range(n):
        at = 7 + 10 * e
        kind, quality, k, length = data[at], data[at + 1], _u32(data, at + 2), _u32(data, at + 6)
        if kind > 1 or quality > 100 or not 1 <= k <= MAX_K or length > 32 * k * b * b + 8:
            return None
        if records and (kind, quality) <= records[-1][:2]:
            return None
        records.append((kind, quality, k, length))
        samples += k * b * b
    if samples > 1 << 24:
        return None
    if len(data) != start + sum(r[3] for r in records) + 4:
        return None
    if crc32(data[:-4]) != _u32(data, len(data) - 4):
        return None
    entries, at = [], start
    for kind, quality, k, length in records:
        book = decode_codebook_stream(data[at:at + length], k, b, 1)
        if book is None:
            return None
        entries.append((kind, quality, book))
        at += length
    return entries


def _plane_starts(header: dict) -> list[int]:
    """Where each plane's sections start: the codebook section first."""
    starts, at = [], header["body_start"]
    for plane in header["planes"]:
        starts.append(at)
        at += plane.get("size", sum(plane["lengths"]))
    return starts


def _decode_planes(data: bytes, header: dict, decode_plane) -> np.ndarray | None:
    """Versions 3 and 4: decode each plane's sections in plane order with `decode_plane`
    (version 4's: its codebook and tiles, then the plane from its whole grid of means and
    indices), then make the channels."""
    planes = []
    at = header["body_start"]
    for plane in header["planes"]:
        samples = decode_plane(data, at, plane)
        if samples is None:
            return None
        planes.append(samples)
        at += plane.get("size", sum(plane["lengths"]))  # version 4 with REFINE lists each tile's refinement
        # length and their sum
    return colour_image(planes, header)


def colour_image(planes: list[list[list[int]]], header: dict) -> np.ndarray:
    """Version 3's Colour: the decoded planes (rows of samples) -> the output image."""
    width, height, channels = header["width"], header["height"], header["channels"]
    colour = header["colour"]
    if colour == "planes":  # the planes are the channels
        out = planes
    else:
        luma, cb, cr = planes[0], planes[1], planes[2]
        if colour == "ycbcr420":  # chroma to W x H: its samples are the cells, g = 2
            cb, cr = interpolate(cb, 2, height, width), interpolate(cr, 2, height, width)
        red, green, blue = ([[0] * width for _ in range(height)] for _ in range(3))
        for y in range(height):
            for x in range(width):
                red[y][x], green[y][x], blue[y][x] = ycbcr_to_rgb(luma[y][x], cb[y][x], cr[y][x])
        out = [red, green, blue] + planes[3:]  # alpha, if any, as it is
    image = np.array(out, dtype=np.uint8)  # C x H x W
    return image[0] if channels == 1 else np.ascontiguousarray(image.transpose(1, 2, 0))


# ---------------------------------------------------------------- version 4: tiles

def _decode_tiled_plane(data: bytes, at: int, plane: dict) -> list[list[int]] | None:
    """A version-4 plane's samples from its sections starting at `at` (its codebook,
    then every tile's means section in tile order, then every tile's index section
    in tile order), or None."""
    pw, ph = plane["width"], plane["height"]
    if plane["k"] == 0:
        return [[plane["fill"]] * pw for _ in range(ph)]
    b, g, k = plane["block"], plane["cell"], plane["k"]
    book_length, *tile_lengths = plane["lengths"]
    refined = plane["tools"] & REFINE
    if refined:
        tile_lengths.pop()  # the refinement section's length: the sum of its tiles'
    filter_length = tile_lengths.pop() if plane["tools"] & FILTER else 0
    refinement_lengths = tile_lengths[2::3] if refined else []
    if refined:
        del tile_lengths[2::3]
    if plane["tools"] & EXTENDED:  # the entry, then k - K_e codewords coded after its number
        entry = plane["shared"]
        own = decode_codebook_stream(data[at + 1:at + book_length], k - len(entry), b, 1)
        book = None if own is None else np.concatenate([entry, own])
    elif plane["tools"] & SHARED_BOOK:  # the entry of the shared codebook, checked by decode()
        book = plane["shared"]
    else:
        book = decode_codebook_stream(data[at:at + book_length], k, b, 1)  # fresh models
    if book is None:
        return None
    means_at = at + book_length  # the next tile's means section
    index_at = means_at + sum(tile_lengths[0::2])  # the next tile's index section
    q = np.zeros((plane["cells_down"], plane["cells_across"]), dtype=np.uint8)  # the whole plane's grid
    indices = np.zeros((plane["down"], plane["across"]), dtype=np.uint16)
    # Tile order decodes every tile after its seed: (0, v - 1) for (0, v), (u - 1, v) for (u, v).
    # What a tile hands on: its models as they ended, and its cells' q and e and its blocks' indices.
    row_above: list[dict] = []  # the tiles of row u - 1
    this_row: list[dict] = []
    for n, (u, v, top, left, th, tw) in enumerate(tiles_of(plane)):
        if v == 0 and u > 0:
            row_above, this_row = this_row, []
        means_above = means_left = index_above = index_left = None
        if u == 0 and v == 0:  # no seed: fresh models, every neighbour outside the tile missing
            means_model, index_model = ResidualModel(8), LeanIndexModel(k)
        else:  # the seed's models as they ended (a copy of its own), and its cells and blocks along the edge
            seed = this_row[v - 1] if u == 0 else row_above[v]
            means_model, index_model = seed["means"].copy(), seed["index"].copy()
            if u > 0:  # the seed is above: its last row
                means_above = (seed["q"][-1], seed["e"][-1])
                index_above = seed["indices"][-1]
            else:  # the seed is on the left: its last column
                means_left = ([row[-1] for row in seed["q"]], [row[-1] for row in seed["e"]])
                index_left = [row[-1] for row in seed["indices"]]
        means_length, index_length = tile_lengths[2 * n], tile_lengths[2 * n + 1]
        cells_down, cells_across = _ceil_div(th, g), _ceil_div(tw, g)
        decoded = _decode_means(data[means_at:means_at + means_length], means_model, cells_down, cells_across,
                                above=means_above, left=means_left)
        if decoded is None:
            return None
        means_at += means_length
        tile_q, tile_e = decoded
        q[top // g:top // g + cells_down, left // g:left // g + cells_across] = tile_q
        blocks_down, blocks_across = _ceil_div(th, b), _ceil_div(tw, b)
        tile_indices = _decode_indices(data[index_at:index_at + index_length], index_model,
                                       blocks_down * blocks_across, blocks_across, k,
                                       above=index_above, left=index_left)
        if tile_indices is None:
            return None
        index_at += index_length
        tile_indices = tile_indices.reshape(blocks_down, blocks_across)
        indices[top // b:top // b + blocks_down, left // b:left // b + blocks_across] = tile_indices
        this_row.append({"means": means_model, "index": index_model, "q": tile_q, "e": tile_e,
                         "indices": [[int(i) for i in row] for row in tile_indices]})
    samples = reconstruct(plane, q, book, indices.reshape(-1))
    if plane["tools"] & FILTER:
        samples = restoration_filter(plane, samples, data[index_at:index_at + filter_length])
    if refined:
        levels = [min(7, int(np.abs(w.astype(np.int64) - 128).sum()).bit_length()) for w in book]
        at = index_at + filter_length
        for (u, v, top, left, th, tw), length in zip(tiles_of(plane), refinement_lengths):
            level = [[levels[indices[(top + i) // b][(left + j) // b]] for j in range(tw)] for i in range(th)]
            if length and not refine_tile(samples, data[at:at + length], top, left, level):
                return None
            at += length
    return samples


def refine_tile(samples: list[list[int]], stream: bytes, top: int, left: int, level: list[list[int]]) -> bool:
    """The tool REFINE: a tile's non-empty refinement stream, its step s (1 to 255) then the residuals
    of its samples row by row, each added times s to its sample (after the filter), clipped. Each residual
    is coded with fresh models of 64 contexts: 8 x the level of its block's codeword (level[i][j] for the
    tile's sample (i, j)) + the number of binary digits (at most 7) of
    |left| + |up| + ((|up-left| + |up-right| + 1) >> 1), residuals outside the tile counting as 0.
    False if the stream is not one."""
    step = stream[0]
    if step == 0:
        return False
    th, tw = len(level), len(level[0])
    coder, model = ArithmeticDecoder(stream[1:]), ResidualModel(64)
    q = [[0] * (tw + 2) for _ in range(th + 1)]  # row 0 and columns 0 and tw + 1: outside the tile
    for i in range(1, th + 1):
        for j in range(1, tw + 1):
            if coder.cut_short():
                return False
            a = abs(q[i][j - 1]) + abs(q[i - 1][j]) + ((abs(q[i - 1][j - 1]) + abs(q[i - 1][j + 1]) + 1) >> 1)
            q[i][j] = model.decode_residual(coder, 8 * level[i - 1][j - 1] + _level(a))
            y, x = top + i - 1, left + j - 1
            samples[y][x] = _clip(samples[y][x] + q[i][j] * step)
    return coder.ended_properly()


def restoration_filter(plane: dict, samples: list[list[int]], section: bytes) -> list[list[int]]:
    """The tool FILTER: each sample from its unfiltered 3 x 3 neighbourhood (coordinates clamped to
    its tile) and its unit's four weights, signed bytes stored 16 to a tile."""
    pw, ph, t = plane["width"], plane["height"], plane["tile"]
    unit = (t + 1) // 2
    tiles_across = tile_grid(pw, ph, t)[1]

    def weights(i: int, j: int) -> list[int]:
        at = FILTER_BYTES * ((i // 2) * tiles_across + j // 2) + 4 * (2 * (i % 2) + j % 2)
        return [b - 256 if b > 127 else b for b in section[at:at + 4]]

    out = []
    for y in range(ph):
        line = []
        top = y // t * t
        for x in range(pw):
            left = x // t * t

            def x_(yy: int, xx: int) -> int:  # clamped to the tile of (y, x)
                return samples[min(max(yy, top), min(top + t, ph) - 1)][min(max(xx, left), min(left + t, pw) - 1)]

            w0, w1, w2, w3 = weights(y // unit, x // unit)
            c = x_(y, x)
            v = (64 * c + 32 + w0 * (x_(y, x - 1) + x_(y, x + 1) - 2 * c) + w1 * (x_(y - 1, x) + x_(y + 1, x) - 2 * c)
                 + w2 * (x_(y - 1, x - 1) + x_(y + 1, x + 1) - 2 * c)
                 + w3 * (x_(y - 1, x + 1) + x_(y + 1, x - 1) - 2 * c))
            line.append(_clip(v >> 6))
        out.append(line)
    return out
