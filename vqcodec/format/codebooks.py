"""Shared codebooks (.vqcb): codebooks learned once from a collection of images and named by a hash of
their bytes, so that many small .vqc files need not carry their own.

docs/format.md, "Shared codebooks (.vqcb)", is the specification; this module builds them and parses
them as hostile input: every field, the exact length and the checksum before any codebook is decoded,
and the codewords' total size before anything in proportion to it is allocated.
"""
import hashlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError
from ..options import MAX_BLOCK, MAX_K
from .container import CRC, SYMBOL_BYTES

MAGIC = b"\x89VQB"
VERSION = 1
HEAD = struct.Struct("<4sBBB")  # magic, version, block side, entries
ENTRY = struct.Struct("<BBII")  # kind, quality, K, bytes of its coded codebook
KINDS = ("luma", "chroma")  # an entry's kind: for grey and luma planes (and alpha), or for chroma planes
IDENTITY_BYTES = 8  # a codebook's identity: the first bytes of the SHA-256 of its file
MAX_SAMPLES = 1 << 24  # every entry's K x b^2 codeword samples together: what decoding one may allocate
MAX_FILE_BYTES = HEAD.size + 255 * ENTRY.size + SYMBOL_BYTES * MAX_SAMPLES + 255 * 8 + CRC.size  # (so a reader
# need not read more to know a file is too long)


@dataclass(frozen=True, eq=False)
class SharedCodebook:
    """A .vqcb: its block side, its entries (kind, quality, K x b^2 uint8 codebook), sorted by kind and
    then quality, and the file's bytes."""

    block: int
    entries: tuple[tuple[int, int, np.ndarray], ...]
    data: bytes

    @property
    def identity(self) -> bytes:
        return identity_of(self.data)

    @property
    def name(self) -> str:
        """The identity as files and messages spell it: 16 hexadecimal digits."""
        return self.identity.hex()

    def entry_for(self, kind: int, quality: float) -> int | None:
        """The entry of that kind whose quality is nearest (the lower of two as near), or None."""
        found = [(abs(q - quality), q, n) for n, (k, q, _) in enumerate(self.entries) if k == kind]
        return min(found)[2] if found else None


def identity_of(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:IDENTITY_BYTES]


def build(block: int, entries) -> SharedCodebook:
    """A .vqcb of (kind, quality, codebook) entries, each a K x b^2 uint8 codebook."""
    from .entropy import encode_codebook

    entries = sorted((int(kind), int(quality), np.ascontiguousarray(book, dtype=np.uint8))
                     for kind, quality, book in entries)
    coded = [encode_codebook(book, block, 1, _bound(len(book), block) + 1) for _, _, book in entries]
    body = b"".join([HEAD.pack(MAGIC, VERSION, block, len(entries)),
                     *(ENTRY.pack(kind, quality, len(book), len(data))
                       for (kind, quality, book), data in zip(entries, coded)), *coded])
    data = body + CRC.pack(zlib.crc32(body))
    shared = parse(data)
    if any(not np.array_equal(a[2], b[2]) for a, b in zip(shared.entries, entries)):
        raise ValueError("the codebooks do not survive their coding")  # cannot happen: the coding is lossless
    return shared


def _bound(k: int, block: int) -> int:
    """The most bytes a coded codebook of K codewords can take (as a .vqc's codebook section)."""
    return SYMBOL_BYTES * k * block * block + 8


def parse(data: bytes) -> SharedCodebook:
    """The shared codebook a .vqcb holds; FormatError, naming what is wrong, if it is not a valid one."""
    from .entropy import decode_codebook

    data = bytes(data)
    if not data or data[:4] != MAGIC[: len(data[:4])]:
        raise FormatError("not a shared codebook (.vqcb): bad magic")
    if len(data) < HEAD.size:
        raise FormatError(f"truncated: {len(data)} bytes is shorter than a .vqcb's header")
    magic, version, block, count = HEAD.unpack_from(data)
    if version != VERSION:
        raise FormatError(f"unsupported .vqcb version {version} (this vqcodec reads version {VERSION})")
    if not 1 <= block <= MAX_BLOCK:
        raise FormatError(f"block side {block} is not 1 to {MAX_BLOCK}")
    if count == 0:
        raise FormatError("a .vqcb holds at least one codebook")
    start = HEAD.size + ENTRY.size * count
    if len(data) < start + CRC.size:
        raise FormatError(f"truncated: {len(data)} bytes is shorter than the header of {count} codebooks")
    records = [ENTRY.unpack_from(data, HEAD.size + ENTRY.size * n) for n in range(count)]
    samples = 0
    for n, (kind, quality, k, length) in enumerate(records):
        if kind >= len(KINDS):
            raise FormatError(f"codebook {n}: kind {kind} is not 0 (luma) or 1 (chroma)")
        if quality > 100:
            raise FormatError(f"codebook {n}: quality {quality} is above 100")
        if not 1 <= k <= MAX_K:
            raise FormatError(f"codebook {n}: K = {k} is not 1 to {MAX_K}")
        if length > _bound(k, block):
            raise FormatError(f"codebook {n}: {length} bytes, more than the {_bound(k, block)} its K allows")
        if n and (kind, quality) <= records[n - 1][:2]:
            raise FormatError(f"codebook {n} is not after codebook {n - 1} in kind and quality")
        samples += k * block * block
    if samples > MAX_SAMPLES:
        raise FormatError(f"the codebooks hold {samples} samples, more than the {MAX_SAMPLES} allowed")
    end = start + sum(r[3] for r in records)
    if len(data) != end + CRC.size:
        raise FormatError(f"the file is {len(data)} bytes where its header says {end + CRC.size}"
                          + (" (truncated)" if len(data) < end + CRC.size else ""))
    if CRC.unpack_from(data, end)[0] != zlib.crc32(data[:end]):
        raise FormatError("checksum mismatch: the .vqcb is corrupt")
    entries, at = [], start
    for n, (kind, quality, k, length) in enumerate(records):
        try:
            entries.append((kind, quality, decode_codebook(data[at : at + length], k, block, 1)))
        except FormatError as exc:
            raise FormatError(f"codebook {n}: {exc}") from None
        at += length
    return SharedCodebook(block, tuple(entries), data)
