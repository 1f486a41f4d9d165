"""An independent reference decoder for the .vqc image format, versions 1 and 2.

Written from docs/format.md only: none of vqcodec's own code was read, copied
or imported. It is deliberately slow and simple -- the arithmetic coder, the
counters, the mixers and both adaptive models are plain Python integer code
that follows the page step by step, and NumPy is used only to unpack bits and
to gather codewords into an image. It is meant for small test files (a few
thousand blocks), and for checking that the page is precise enough to write a
compatible decoder from.

Public functions:

- read_header(data)   -> dict of header fields, or None if the file is invalid
- decode(data, max_pixels) -> uint8 image (H x W or H x W x C), or None
- decode_codebook_stream(payload, k, block, channels) -> K x D uint8, or None
- decode_index_stream(payload, count, across, k) -> `count` indices, or None

None of them raises on any input bytes; they return None instead.
"""

from __future__ import annotations

import numpy as np

MAGIC = b"\x89VQC"
MAX_SIDE = 2**31 - 1  # width and height
MAX_K = 65536
MAX_BLOCK = 16
CODEBOOK, INDICES = 1, 2  # section kinds
FIXED, ADAPTIVE = 0, 1  # section codings: raw / packed, predicted / context
V2_TABLE_END = 25 + 10 * 2  # header + section table of two entries


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


def _parse(data: bytes) -> dict | None:
    """Every header check of the Validation sections except the pixel cap,
    in the spec's order, then the exact file size and the checksum."""
    if len(data) < 24 or data[0:4] != MAGIC:
        return None
    version, channels, block, trainer = data[4], data[5], data[6], data[7]
    if version not in (1, 2):
        return None
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
        # derived quantities
        "across": across, "down": down, "count": count, "d": d, "w": w,
        "body_start": body_start,
    }


PUBLIC_FIELDS = ("width", "height", "channels", "block", "trainer", "k",
                 "requested_k", "version", "sections")


def read_header(data: bytes) -> dict | None:
    """The header fields if header, section table, file length and CRC-32 are
    valid (no pixel cap), else None."""
    header = _parse(bytes(data))
    if header is None:
        return None
    return {name: header[name] for name in PUBLIC_FIELDS}


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
        t = sum(w * s for w, s in zip(self.weights, inputs)) >> 16
        t = max(-2047, min(2047, t))
        self.p = squash(t)
        return self.p

    def learn(self, bit: int) -> None:
        e = 4096 * bit - self.p
        self.weights = [_int32(w + ((s * e) >> 10))
                        for w, s in zip(self.weights, self.inputs)]


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

def _guess(values: list[int], t: int, x: int, y: int, channels: int,
           block: int, previous: list[int] | None) -> int:
    """Step 1: the median edge detector, or left, or up, or the previous codeword."""
    row = block * channels
    if x > 0 and y > 0:
        left, up, corner = values[t - channels], values[t - row], values[t - row - channels]
        if corner >= max(left, up):
            return min(left, up)
        if corner <= min(left, up):
            return max(left, up)
        return left + up - corner
    if x > 0:
        return values[t - channels]
    if y > 0:
        return values[t - row]
    return previous[t] if previous is not None else 128


class ResidualModel:
    """32 contexts, each with counters Z, S, U[0..6] and M[1..7][0..6]."""

    def __init__(self):
        self.z = Counters(32)
        self.s = Counters(32)
        self.u = Counters(32 * 7)
        self.m = Counters(32 * 8 * 7)  # M[g][i] at (context * 8 + g) * 7 + i

    def decode_residual(self, coder: ArithmeticDecoder, context: int) -> int:
        """Step 5: Z, S, the unary U bits for g, then g bits of m below its top."""
        if code_with_counter(coder, self.z, context):
            return 0
        negative = code_with_counter(coder, self.s, context)
        g = 0
        while g < 7 and code_with_counter(coder, self.u, context * 7 + g):
            g += 1
        m = 1
        for i in range(g - 1, -1, -1):
            m = 2 * m + code_with_counter(coder, self.m, (context * 8 + g) * 7 + i)
        return -m if negative else m


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
        """Step 3: the index, most significant bit first, down the tree."""
        w, sh = self.w, self.sh
        node = 1
        for depth in range(w):
            bit = code_mixed(coder, self.tm[4 * depth + edge], [
                (self.tree0, node),
                (self.left, ((l >> sh) << w) + node),
                (self.above, ((a >> sh) << w) + node),
                (self.right, ((r >> sh) << w) + node),
            ])
            node = 2 * node + bit
        return node - (1 << w)


def _decode_one_index(coder: ArithmeticDecoder, model: IndexModel,
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
    payload = bytes(payload)
    if count < 0 or across < 1 or not 1 <= k <= MAX_K:
        return None
    coder = ArithmeticDecoder(payload)
    model = IndexModel(k)
    indices = np.zeros(count, dtype=np.uint16)  # every index is below 65536
    above_row: list[int] = []  # the previous block row's indices
    this_row: list[int] = []
    for n in range(count):
        if coder.cut_short():
            return None
        col = n % across
        if col == 0 and n > 0:
            above_row, this_row = this_row, []
        has_above = n >= across
        v = _decode_one_index(
            coder, model,
            left=this_row[col - 1] if col > 0 else None,
            above=above_row[col] if has_above else None,
            above_left=above_row[col - 1] if has_above and col > 0 else None,
            above_right=above_row[col + 1] if has_above and col < across - 1 else None,
        )
        if v >= k:
            return None
        this_row.append(v)
        indices[n] = v
    if not coder.ended_properly():
        return None
    return indices


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


def decode(data: bytes, max_pixels: int) -> np.ndarray | None:
    """The decoded uint8 image if the file is valid and W x H <= max_pixels."""
    data = bytes(data)
    header = _parse(data)
    if header is None or header["width"] * header["height"] > max_pixels:
        return None
    try:
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
