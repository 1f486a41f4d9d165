"""The adaptive codings (version 2's codebook and indices, which version 3 reuses, and version 3's means)
against the reference decoder written from docs/format.md alone (spec_vqc), on random and adversarial
streams, and the codebook's ordering against a plain Python walk."""
import math

import numpy as np
import pytest
import spec_vqc
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec.format import entropy
from vqcodec.format.order import WINDOW, prune_and_order

BIG = 1 << 30  # a limit no test stream reaches


def index_round_trip(indices, across, k):
    """Encode, decode with vqcodec and with the reference; all three must agree. Returns the stream."""
    indices = np.asarray(indices)
    data = entropy.encode_indices(indices, across, k, BIG)
    np.testing.assert_array_equal(entropy.decode_indices(data, len(indices), across, k), indices)
    if len(indices) <= 4000:
        np.testing.assert_array_equal(spec_vqc.decode_index_stream(data, len(indices), across, k), indices)
    return data


RNG = np.random.default_rng(7)
INDEX_STREAMS = {  # name: (indices, blocks across, K)
    "one-symbol": (np.full(3000, 200), 60, 256),
    "one-symbol-k65536": (np.full(500, 65535), 25, 65536),
    "k2-random": (RNG.integers(0, 2, 3000), 50, 2),
    "k65536-random": (RNG.integers(0, 65536, 3000), 50, 65536),
    "k65536-extremes": (RNG.choice([0, 1, 32768, 65534, 65535], 2000), 40, 65536),
    "k1100-random": (RNG.integers(0, 1100, 2500), 50, 1100),  # the context tables drop a bit (w = 11)
    "k300-random": (RNG.integers(0, 300, 2000), 40, 300),  # K not a power of two: the tree can reach past K
    "alternating": (np.arange(3000) % 2 * 255, 60, 256),
    "checkerboard": ((np.arange(3000) + np.arange(3000) // 60) % 2 * 3, 60, 4),
    "1x1": (np.array([5]), 1, 9),
    "one-row": (RNG.integers(0, 7, 500), 500, 7),
    "one-column": (RNG.integers(0, 7, 500), 1, 7),
    "k1": (np.zeros(100, np.int64), 10, 1),
    "ramp": (np.arange(4000) // 16 % 256, 64, 256),
    "runs": (np.repeat(RNG.integers(0, 40, 100), 30), 50, 40),
}


@pytest.mark.parametrize("name", INDEX_STREAMS)
def test_index_streams_round_trip_and_match_the_reference(name):
    index_round_trip(*INDEX_STREAMS[name])


def test_one_symbol_and_runs_cost_almost_nothing():
    assert len(index_round_trip(*INDEX_STREAMS["one-symbol"])) < 40  # 3000 indices
    assert len(index_round_trip(*INDEX_STREAMS["k65536-random"])) > 3000 * 16 / 8 * 0.98  # noise stays noise


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 65536).flatmap(lambda k: st.tuples(
    st.just(k), st.integers(1, 40), st.lists(st.integers(0, k - 1), min_size=1, max_size=400))))
def test_any_index_stream_round_trips(case):
    k, across, values = case
    index_round_trip(values, across, k)


def codebook_round_trip(codebook, block, channels):
    codebook = np.asarray(codebook, np.uint8)
    data = entropy.encode_codebook(codebook, block, channels, BIG)
    np.testing.assert_array_equal(entropy.decode_codebook(data, len(codebook), block, channels), codebook)
    np.testing.assert_array_equal(spec_vqc.decode_codebook_stream(data, len(codebook), block, channels), codebook)
    return data


CODEBOOKS = {  # name: (codebook, block, channels)
    "random-rgb-4x4": (RNG.integers(0, 256, (40, 48)), 4, 3),
    "random-rgba-2x2": (RNG.integers(0, 256, (30, 16)), 2, 4),
    "extremes": (RNG.choice([0, 1, 127, 128, 129, 254, 255], (30, 18)), 3, 2),  # residuals of -128 and 127
    "flat": (np.full((20, 16), 77), 4, 1),
    "one-codeword": (np.arange(16).reshape(1, 16) * 16, 4, 1),
    "scalar": (np.arange(0, 256, 5).reshape(-1, 1), 1, 1),
    "largest-block": (RNG.integers(0, 256, (3, 1024)), 16, 4),
    "planes": ([[3 * j + (j % 5) * (t % 4) + (j % 3) * (t // 4) for t in range(16)] for j in range(32)], 4, 1),
}


@pytest.mark.parametrize("name", CODEBOOKS)
def test_codebooks_round_trip_and_match_the_reference(name):
    codebook_round_trip(*CODEBOOKS[name])


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4).flatmap(lambda c: st.integers(1, 6).flatmap(lambda b: st.tuples(
    st.just(b), st.just(c), st.lists(st.lists(st.integers(0, 255), min_size=b * b * c, max_size=b * b * c),
                                     min_size=1, max_size=12)))))
def test_any_codebook_round_trips(case):
    block, channels, rows = case
    codebook_round_trip(rows, block, channels)


def test_smooth_codebooks_shrink():
    """Blocks that are planes are what the median edge detector predicts exactly."""
    planes, block, channels = CODEBOOKS["planes"]
    assert len(codebook_round_trip(planes, block, channels)) < np.size(planes) / 4


def means_round_trip(grid):
    """Version 3's means section: encode, decode with vqcodec and with the reference."""
    grid = np.asarray(grid, np.uint8)
    data = entropy.encode_means(grid, BIG)
    np.testing.assert_array_equal(entropy.decode_means(data, *grid.shape), grid)
    np.testing.assert_array_equal(spec_vqc.decode_means_stream(data, *grid.shape), grid)
    return data


MEANS = {  # name: rows x columns of quantized means
    "random": RNG.integers(0, 256, (20, 30)),
    "flat": np.full((12, 9), 200),
    "zeros": np.zeros((4, 6), np.int64),
    "1x1": [[77]],
    "one-row": RNG.integers(0, 256, (1, 40)),
    "one-column": RNG.integers(0, 256, (40, 1)),
    "ramp": (np.arange(16)[:, None] * 3 + np.arange(24)[None, :] * 5) % 256,  # wraps around at 256
    "extremes": RNG.choice([0, 1, 127, 128, 129, 255], (12, 10)),  # residuals of -128 and 127
}


@pytest.mark.parametrize("name", MEANS)
def test_means_streams_round_trip_and_match_the_reference(name):
    means_round_trip(MEANS[name])


def test_smooth_means_shrink():
    assert len(means_round_trip(MEANS["flat"])) < 8 and len(means_round_trip(MEANS["ramp"])) < 16 * 24 / 4


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8).flatmap(lambda rows: st.integers(1, 8).flatmap(lambda columns: st.lists(
    st.lists(st.integers(0, 255), min_size=columns, max_size=columns), min_size=rows, max_size=rows))))
def test_any_means_grid_round_trips(grid):
    means_round_trip(grid)


@pytest.mark.parametrize("kind", ["indices", "codebook"])
def test_a_stream_that_does_not_pay_is_not_written(kind):
    """Encoders return None at the limit (the fixed coding's size), so ties go to the fixed coding."""
    if kind == "indices":
        values, across, k = INDEX_STREAMS["k65536-random"]
        size = len(entropy.encode_indices(values, across, k, BIG))
        assert entropy.encode_indices(values, across, k, size + 1) is not None
        assert entropy.encode_indices(values, across, k, size) is None
        assert entropy.encode_indices(values, across, k, 10) is None
    else:
        book, block, channels = CODEBOOKS["random-rgb-4x4"]
        size = len(entropy.encode_codebook(book, block, channels, BIG))
        assert entropy.encode_codebook(book, block, channels, size + 1) is not None
        assert entropy.encode_codebook(book, block, channels, size) is None


# --- hostile streams: any bytes decode to valid values or raise FormatError -------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 300), st.integers(1, 20), st.integers(1, 70000))
def test_any_bytes_as_an_index_stream(data, count, across, k):
    k = min(k, 65536)
    expected = spec_vqc.decode_index_stream(data, count, across, k)
    try:
        decoded = entropy.decode_indices(data, count, across, k)
    except vqcodec.FormatError as exc:
        assert expected is None, str(exc)
        return
    np.testing.assert_array_equal(decoded, expected)
    assert decoded.max() < k


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 20), st.integers(1, 4), st.integers(1, 4))
def test_any_bytes_as_a_codebook_stream(data, k, block, channels):
    expected = spec_vqc.decode_codebook_stream(data, k, block, channels)
    try:
        decoded = entropy.decode_codebook(data, k, block, channels)
    except vqcodec.FormatError:
        assert expected is None
        return
    np.testing.assert_array_equal(decoded, expected)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 12), st.integers(1, 12))
def test_any_bytes_as_a_means_stream(data, rows, columns):
    expected = spec_vqc.decode_means_stream(data, rows, columns)
    try:
        decoded = entropy.decode_means(data, rows, columns)
    except vqcodec.FormatError:
        assert expected is None
        return
    np.testing.assert_array_equal(decoded, expected)


def test_the_end_of_stream_rule():
    """A stream must be exactly what an encoder writes: nothing missing, added or changed at its end."""
    values, across, k = INDEX_STREAMS["runs"]
    data = index_round_trip(values, across, k)
    for bad, word in ((data + b"\x00", "after its end"), (data[: len(data) // 2], "truncated")):
        with pytest.raises(vqcodec.FormatError, match=word):
            entropy.decode_indices(bad, len(values), across, k)
        assert spec_vqc.decode_index_stream(bad, len(values), across, k) is None
    # a changed final byte: the end no longer follows from the decisions (a byte the decoder
    # reads may change them, too; then both decoders must still agree on the outcome)
    changed = data[:-1] + bytes([data[-1] ^ 0x01])
    expected = spec_vqc.decode_index_stream(changed, len(values), across, k)
    if expected is None:
        with pytest.raises(vqcodec.FormatError):
            entropy.decode_indices(changed, len(values), across, k)
    else:
        np.testing.assert_array_equal(entropy.decode_indices(changed, len(values), across, k), expected)
    # K = 1: the flags alone, all "same as the left", leave x1 = 0 and no final byte: a byte more is refused
    assert index_round_trip(np.zeros(5, np.int64), 5, 1) == b""
    with pytest.raises(vqcodec.FormatError, match="end"):
        entropy.decode_indices(b"\xab", 5, 5, 1)
    assert spec_vqc.decode_index_stream(b"\xab", 5, 5, 1) is None


# --- the tables and the arithmetic the format defines ------------------------------------------


def test_squash_and_stretch_are_the_formats():
    points = [1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048, 2550, 2994, 3349, 3608,
              3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095]
    assert points == [max(1, min(4095, round(4096 / (1 + math.exp((16 - i) / 2))))) for i in range(33)]

    def squash(s):
        i, f = (s >> 7) + 16, s & 127
        return (points[i] * (128 - f) + points[i + 1] * f + 64) >> 7

    assert entropy.SQUASH.tolist() == [squash(s) for s in range(-2047, 2048)]
    assert entropy.STRETCH.tolist() == [next(s for s in range(-2047, 2048) if squash(s) >= p) for p in range(4096)]


def test_mixer_weights_wrap_around_as_32_bit_integers():
    weights = np.array([2**31 - 5, -(2**31) + 5, 0, 7, 16384], dtype=np.int32)
    inputs = (2047, -2047, 100, 0, 256)
    entropy._learn(weights, 0, *inputs, 1, 1)  # p = 1/4096, bit 1: the largest error
    expected = [((w + ((s * 4095) >> 10) + 2**31) % 2**32) - 2**31 for w, s in zip([2**31 - 5, -(2**31) + 5, 0, 7, 16384], inputs)]
    assert weights.tolist() == expected
    assert weights[0] < 0 < weights[1]  # both wrapped


# --- the order of the codewords -------------------------------------------------------------------


def naive_walk(book: np.ndarray, window: int) -> list[int]:
    """The walk codebook.py describes, step by step in plain Python."""
    by_key = sorted(range(len(book)), key=lambda j: (int(book[j].astype(np.int64).sum()), book[j].tolist(), j))
    left = list(by_key)
    walk = [left.pop(0)]
    position = 0  # where the current codeword was in `left` (the unvisited, in sort order)
    while left:
        here = walk[-1]
        candidates = left[max(0, position - window) : position + window]
        distance = {c: int(((book[c].astype(np.int64) - book[here]) ** 2).sum()) for c in candidates}
        best = min(candidates, key=lambda c: (distance[c], left.index(c)))
        position = left.index(best)
        walk.append(left.pop(position))
    return walk


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 2, 5, 80])
def test_codebook_order_is_the_described_walk(seed, k):
    rng = np.random.default_rng(seed)
    book = rng.integers(0, 4, (k, 3), dtype=np.uint8) * 60  # many ties, in sums and in distances
    order = prune_and_order(book, np.arange(k))[0]
    np.testing.assert_array_equal(order, book[naive_walk(book, WINDOW)])
    np.testing.assert_array_equal(prune_and_order(order, np.arange(k))[0], order)  # ordering again changes nothing
    shuffled = book[rng.permutation(k)]  # nor does the codewords' numbering
    np.testing.assert_array_equal(prune_and_order(shuffled, np.arange(k))[0], order)


def test_pruning_and_ordering_change_no_pixel():
    rng = np.random.default_rng(3)
    book = rng.integers(0, 256, (50, 12), dtype=np.uint8)
    indices = rng.choice([3, 7, 7, 8, 20, 49], 400)
    pruned, renumbered = prune_and_order(book, indices)
    assert len(pruned) == 5 and renumbered.max() == 4
    np.testing.assert_array_equal(pruned[renumbered], book[indices])
    again = prune_and_order(book, indices)
    np.testing.assert_array_equal(again[0], pruned)
    np.testing.assert_array_equal(again[1], renumbered)
