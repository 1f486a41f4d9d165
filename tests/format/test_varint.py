"""Version 5's varints: the vectorized reader against a plain one written from docs/format.md."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.errors import FormatError
from vqcodec.format import varint

U64 = 2**64 - 1


def plain(data: bytes, at: int, count: int, limit: int):
    """The values and where they end; "short" if the data ends first; "bad" for a varint not in its shortest
    form, of more than 10 bytes, or above `limit`."""
    values = []
    for _ in range(count):
        value, n = 0, 0
        while True:
            if n == 10:
                return "bad"
            if at + n >= len(data):
                return "short"
            byte = data[at + n]
            value |= (byte & 0x7F) << (7 * n)
            n += 1
            if byte < 0x80:
                break
        if (n > 1 and byte == 0) or value > limit:
            return "bad"
        values.append(value)
        at += n
    return values, at


def fast(data: bytes, at: int, count: int, limit: int):
    try:
        got = varint.decode(data, at, count, limit, "test")
    except FormatError:
        return "bad"
    if isinstance(got, int):
        assert got > len(data)  # the least length that could hold them: more than there is
        return "short"
    return [int(v) for v in got[0]], got[1]


@given(st.lists(st.integers(0, U64), max_size=40))
def test_values_round_trip_in_their_shortest_form(values):
    data = varint.encode(values)
    assert len(data) == int(varint.size(values).sum())
    assert fast(data, 0, len(values), U64) == (values, len(data)) == plain(data, 0, len(values), U64)


@settings(max_examples=2000)
@given(st.binary(max_size=40), st.integers(0, 8), st.integers(0, 12),
       st.sampled_from([0, 1, 127, 128, 255, 2**32 - 1, U64]))
def test_any_bytes_read_as_the_plain_reader_reads_them(data, at, count, limit):
    """The same values, or a refusal of both (the vectorized reader may call short what the plain one
    finds bad first: either way the header is refused, as truncated or for the varint)."""
    at = min(at, len(data))
    expected = plain(data, at, count, limit)
    if isinstance(expected, tuple):
        assert fast(data, at, count, limit) == expected
    else:
        assert fast(data, at, count, limit) in ("short", "bad")


@pytest.mark.parametrize("data, word", [
    (b"\x80\x00", "shortest form"),  # 0 in two bytes
    (b"\x81\x80\x00", "shortest form"),
    (b"\xff" * 10 + b"\x01", "has more than 10 bytes"),
    (b"\xff" * 9 + b"\x02", r"above 2\^64 - 1"),
    (b"\x80\x02", "256 is above 255"),
])
def test_what_is_refused_is_named(data, word):
    with pytest.raises(FormatError, match=word):
        varint.decode(data, 0, 1, 255, "test")


def test_short_data_gives_the_least_length_that_could_hold_it():
    assert varint.decode(b"\x01\x02", 0, 5, U64, "test") == 5  # a byte each at least
    assert varint.decode(b"\x01\x82\x83", 0, 3, U64, "test") == 4  # one more for the unfinished one
    assert varint.decode(b"\x01\x82\x03\x84", 0, 4, U64, "test") == 5
    values, end = varint.decode(b"\x01\x82\x03\x04", 0, 3, U64, "test")
    assert list(values) == [1, 2 + (3 << 7), 4] and end == 4
    assert varint.decode(np.zeros(3, np.uint8).tobytes(), 3, 0, 0, "test")[1] == 3
