import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vqcodec.format import bitpack


@st.composite
def widths_and_values(draw):
    width = draw(st.integers(0, bitpack.MAX_WIDTH))
    values = draw(st.lists(st.integers(0, (1 << width) - 1), max_size=200))
    return width, values


@given(widths_and_values())
def test_pack_unpack_round_trip(case):
    width, values = case
    data = bitpack.pack(np.array(values, dtype=np.int64), width)
    assert len(data) == bitpack.packed_size(len(values), width)
    out = bitpack.unpack(data, len(values), width)
    assert out.dtype == np.uint32
    assert out.tolist() == values


@pytest.mark.parametrize("width", range(bitpack.MAX_WIDTH + 1))
def test_round_trip_every_width_at_the_extremes(width):
    top = (1 << width) - 1
    values = np.array([0, top, top, 0, top // 2, top] * 3, dtype=np.uint32)
    out = bitpack.unpack(bitpack.pack(values, width), len(values), width)
    np.testing.assert_array_equal(out, values)


@given(st.integers(0, 10_000), st.integers(0, bitpack.MAX_WIDTH))
def test_packed_size_formula(count, width):
    assert bitpack.packed_size(count, width) == -(-count * width // 8)


@pytest.mark.parametrize(
    ("k", "width"),
    [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (255, 8), (256, 8), (257, 9), (512, 9), (513, 10), (65535, 16), (65536, 16)],
)
def test_index_width(k, width):
    assert bitpack.index_width(k) == width


@pytest.mark.parametrize("k", [0, -1])
def test_index_width_refuses_empty_codebook(k):
    with pytest.raises(ValueError):
        bitpack.index_width(k)


def test_lsb_first_bit_order_by_hand():
    # width 3, values 5 = 0b101, 1 = 0b001, 7 = 0b111, least significant bit first:
    #   stream bits s0..s8 = 1 0 1 | 1 0 0 | 1 1 1
    #   byte 0 holds s0..s7 with s0 as bit 0: bits 0,2,3,6,7 set -> 1+4+8+64+128 = 205 = 0xCD
    #   byte 1 holds s8 as bit 0, the 7 padding bits are zero -> 0x01
    assert bitpack.pack([5, 1, 7], 3) == bytes([0xCD, 0x01])
    assert bitpack.unpack(bytes([0xCD, 0x01]), 3, 3).tolist() == [5, 1, 7]


def test_index_straddling_three_bytes():
    # width 15, values [0, 0x7FFF]: the second index occupies stream bits 15..29, i.e. bit 7 of
    # byte 1, all of byte 2 and bits 0..5 of byte 3 -> 00 80 FF 3F (bits 30, 31 are padding).
    data = bitpack.pack([0, 0x7FFF], 15)
    assert data == bytes([0x00, 0x80, 0xFF, 0x3F])
    assert bitpack.unpack(data, 2, 15).tolist() == [0, 0x7FFF]


def test_width_zero_is_empty():
    assert bitpack.pack([0, 0, 0], 0) == b""
    assert bitpack.unpack(b"", 5, 0).tolist() == [0] * 5


def test_empty_input():
    assert bitpack.pack([], 7) == b""
    assert bitpack.unpack(b"", 0, 7).size == 0


@pytest.mark.parametrize("width", range(1, bitpack.MAX_WIDTH + 1))
def test_value_that_does_not_fit_is_refused(width):
    with pytest.raises(ValueError, match="fit"):
        bitpack.pack(np.array([0, 1 << width], dtype=np.int64), width)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.array([1 << 32], dtype=np.int64), id="2**32-int64"),
        pytest.param(np.array([-(1 << 32) + 5], dtype=np.int64), id="negative-int64-wrapping-to-5"),
        pytest.param(np.array([-1], dtype=np.int64), id="minus-one-int64"),
        pytest.param([-1], id="minus-one-list"),
    ],
)
def test_out_of_range_integers_are_refused_not_wrapped(values):
    # pack() promises ValueError for anything that is not a non-negative integer below 2**width;
    # it must not silently wrap values modulo 2**32 into range.
    with pytest.raises(ValueError):
        bitpack.pack(values, 3)


@pytest.mark.parametrize("width", [-1, 17])
def test_bad_width_is_refused(width):
    with pytest.raises(ValueError, match="width"):
        bitpack.pack([0], width)
    with pytest.raises(ValueError, match="width"):
        bitpack.unpack(b"\x00", 1, width)


@pytest.mark.parametrize(("count", "width", "length"), [(3, 3, 1), (3, 3, 3), (8, 1, 0), (8, 1, 2), (0, 5, 1), (4, 0, 1)])
def test_wrong_data_length_is_refused(count, width, length):
    with pytest.raises(ValueError, match="bytes"):
        bitpack.unpack(bytes(length), count, width)
