"""The codings of a .vqc's sections: how the codebook and the indices become bytes and back.

Each section has a fixed-size coding (the codebook raw, the indices
bit-packed at ceil(log2 K) bits) and an adaptive one (`entropy`). The
encoder writes whichever is smaller, or the fixed ones when asked for a fixed
rate. Decoding the fixed codings is plain NumPy; only the adaptive ones load
Numba.
"""
import dataclasses

import numpy as np

from ..errors import FormatError
from . import bitpack
from .container import CODINGS, KINDS, Header, Section, too_big

# (section, coding) -> encode(header, values, limit) -> payload, or None if it would take `limit` bytes or more


def _encode_raw(header: Header, codebook: np.ndarray, limit: int) -> bytes:
    return np.ascontiguousarray(codebook, dtype=np.uint8).tobytes()


def _encode_predicted(header: Header, codebook: np.ndarray, limit: int) -> bytes | None:
    from .entropy import encode_codebook

    return encode_codebook(codebook, header.block, header.channels, limit)


def _encode_packed(header: Header, indices: np.ndarray, limit: int) -> bytes:
    return bitpack.pack(indices, header.index_bits)


def _encode_context(header: Header, indices: np.ndarray, limit: int) -> bytes | None:
    from .entropy import encode_indices

    return encode_indices(indices, header.blocks_x, header.k, limit)


ENCODERS = {
    ("codebook", "raw"): _encode_raw, ("codebook", "predicted"): _encode_predicted,
    ("indices", "packed"): _encode_packed, ("indices", "context"): _encode_context,
}

# (section, coding) -> decode(header, payload) -> codebook (K x D uint8) or indices (one per block, below K)


def _decode_raw(header: Header, payload) -> np.ndarray:
    return np.frombuffer(payload, dtype=np.uint8).reshape(header.k, header.codeword_size)


def _decode_predicted(header: Header, payload) -> np.ndarray:
    from .entropy import decode_codebook

    return decode_codebook(bytes(payload), header.k, header.block, header.channels)


def _decode_packed(header: Header, payload) -> np.ndarray:
    packed = bytes(payload)
    tail_bits = len(packed) * 8 - header.block_count * header.index_bits
    if tail_bits and packed[-1] >> (8 - tail_bits):
        raise FormatError("padding bits after the last index are not zero")
    indices = bitpack.unpack(packed, header.block_count, header.index_bits)
    if indices.size and int(indices.max()) >= header.k:
        raise FormatError(f"an index is {int(indices.max())}, beyond the codebook of {header.k}")
    return indices


def _decode_context(header: Header, payload) -> np.ndarray:
    from .entropy import decode_indices

    return decode_indices(bytes(payload), header.block_count, header.blocks_x, header.k)


DECODERS = {
    ("codebook", "raw"): _decode_raw, ("codebook", "predicted"): _decode_predicted,
    ("indices", "packed"): _decode_packed, ("indices", "context"): _decode_context,
}
assert set(ENCODERS) == set(DECODERS) == {(kind, coding) for kind in KINDS for coding in CODINGS[kind]}


def encode_sections(header: Header, values: dict[str, np.ndarray], fixed_rate: bool) -> tuple[Header, tuple[bytes, ...]]:
    """The header with its sections described, and their payloads: each section ("codebook",
    "indices") in the smaller of its codings, or in its fixed-size one when `fixed_rate`."""
    sections, payloads = [], []
    for kind in KINDS:
        fixed, adaptive = CODINGS[kind]
        payload = None if fixed_rate else ENCODERS[kind, adaptive](header, values[kind], header.fixed_length(kind))
        coding = adaptive
        if payload is None:
            coding, payload = fixed, ENCODERS[kind, fixed](header, values[kind], 0)
        sections.append(Section(kind, coding, len(payload)))
        payloads.append(payload)
    return dataclasses.replace(header, sections=tuple(sections)), tuple(payloads)


def decode_section(header: Header, kind: str, payload) -> np.ndarray:
    """What a section of a validated file holds; FormatError if its payload is not what its coding says."""
    try:
        return DECODERS[kind, header.section(kind).coding](header, payload)
    except (MemoryError, ValueError):  # NumPy's "array is too big" when the pixel cap is lifted
        raise too_big(header) from None
