"""Unsigned LEB128 varints, as version 5's header writes its integers: 7 bits a byte, the lowest
first, the top bit set on every byte but the last. Only the shortest form of a value is valid, so that
a header has one spelling. Reading is vectorized, for tile tables of many entries."""
import numpy as np

from ..errors import FormatError

MAX_BYTES = 10  # a 64-bit value


def size(values) -> np.ndarray:
    """Bytes of each value's varint."""
    values = np.asarray(values, dtype=np.uint64)
    out = np.ones(values.shape, dtype=np.int64)
    for n in range(1, MAX_BYTES):
        out += values >= np.uint64(1) << np.uint64(7 * n)
    return out


def encode(values) -> bytes:
    out = bytearray()
    for value in values:
        value = int(value)
        while value >= 0x80:
            out.append(value & 0x7F | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out)


def decode(data, at: int, count: int, limits, what: str) -> tuple[np.ndarray, int] | int:
    """`count` varints from offset `at`, as uint64, each at most its `limits` entry (or `limits`), and
    the offset after them; or, if the data ends first, the least length it must have to hold them.
    FormatError, naming `what`, for one longer than its shortest form or above its limit."""
    limits = np.asarray(limits, dtype=np.uint64)
    if len(data) - at < count:  # each takes a byte at least: judged before anything is read
        return at + count
    window = np.frombuffer(data, dtype=np.uint8, count=min(len(data) - at, MAX_BYTES * count), offset=at)
    if np.all(window[:count] < 0x80):  # the common case: each a byte
        values = window[:count].astype(np.uint64)
        end = at + count
    else:
        ends = np.flatnonzero(window < 0x80)[:count]
        last = int(ends[-1]) + 1 if len(ends) else 0
        if len(ends) < count:
            if len(window) - last >= MAX_BYTES:  # MAX_BYTES bytes and still no last byte
                raise FormatError(f"{what}: varint number {len(ends)} has more than {MAX_BYTES} bytes")
            return max(at + last + count - len(ends), len(data) + 1)
        starts = np.concatenate(([0], ends[:-1] + 1))
        lengths = ends - starts + 1
        bad = np.flatnonzero((lengths > MAX_BYTES) | ((lengths > 1) & (window[ends] == 0)))
        if len(bad):
            n = int(bad[0])
            raise FormatError(f"{what}: varint number {n} " + (f"has more than {MAX_BYTES} bytes"
                                                                if lengths[n] > MAX_BYTES else
                                                                "is not in its shortest form"))
        used = window[:last]
        place = np.arange(last) - np.repeat(starts, lengths)
        if np.any((place == MAX_BYTES - 1) & (used > 1)):
            raise FormatError(f"{what}: a varint above 2^64 - 1")
        values = np.add.reduceat((used & 0x7F).astype(np.uint64) << (7 * place).astype(np.uint64), starts)
        end = at + last
    over = np.flatnonzero(values > limits)
    if len(over):
        n = int(over[0])
        raise FormatError(f"{what}: {int(values[n])} is above {int(limits if limits.ndim == 0 else limits[n])}")
    return values, end
