"""Fixed-width bit packing of codeword indices (LSB-first), in plain NumPy.

Index i occupies bits [i*w, (i+1)*w) of the stream; stream bit n is bit (n % 8)
of byte n // 8, and the least significant bit of an index comes first. This is
the order docs/format.md specifies. Decoding needs no compiled kernel.
"""
import numpy as np

MAX_WIDTH = 16
_CHUNK = 1 << 16  # indices packed at a time, to bound the temporary bit array


def index_width(k: int) -> int:
    """Bits per index for a codebook of k entries: ceil(log2 k), 0 when k == 1."""
    if k < 1:
        raise ValueError(f"codebook size must be at least 1, got {k}")
    return (k - 1).bit_length()


def packed_size(count: int, width: int) -> int:
    """Bytes needed for `count` indices of `width` bits."""
    return (count * width + 7) // 8


def pack(indices: np.ndarray, width: int) -> bytes:
    """Pack non-negative integers below 2**width into a byte string."""
    if not 0 <= width <= MAX_WIDTH:
        raise ValueError(f"index width must be 0..{MAX_WIDTH}, got {width}")
    values = np.asarray(indices).ravel()
    if values.size == 0:
        return b""
    if not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= 1 << width:
        raise ValueError(f"indices must be integers that fit in {width} bits (0 to {(1 << width) - 1})")
    if width == 0:
        return b""
    shifts = np.arange(width, dtype=np.uint32)
    out = []
    for start in range(0, values.size, _CHUNK):  # a multiple of 8 indices fills whole bytes
        bits = (values[start : start + _CHUNK, None].astype(np.uint32) >> shifts) & 1
        out.append(np.packbits(bits.astype(np.uint8).ravel(), bitorder="little").tobytes())
    return b"".join(out)


def unpack(data: bytes, count: int, width: int) -> np.ndarray:
    """Read `count` indices of `width` bits; `data` must hold exactly packed_size bytes."""
    if not 0 <= width <= MAX_WIDTH:
        raise ValueError(f"index width must be 0..{MAX_WIDTH}, got {width}")
    if len(data) != packed_size(count, width):
        raise ValueError(f"expected {packed_size(count, width)} bytes of indices, got {len(data)}")
    if width == 0:
        return np.zeros(count, dtype=np.uint32)
    # Every index starts in some byte at a bit offset below 8, so it lies within
    # the 24 bits of that byte and the next two: gather them and shift.
    buf = np.zeros(len(data) + 2, dtype=np.uint32)
    buf[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    start = np.arange(count, dtype=np.uint64) * width
    byte = (start >> 3).astype(np.intp)
    shift = (start & 7).astype(np.uint32)
    word = buf[byte] | (buf[byte + 1] << 8) | (buf[byte + 2] << 16)
    return (word >> shift) & np.uint32((1 << width) - 1)
