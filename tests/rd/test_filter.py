"""The restoration filter (version 4's plane tool FILTER): its kernels against plain NumPy, what the
encoder chooses, and what it buys."""
import numpy as np
import pytest
from helpers import SAMPLES, with_crc
from PIL import Image

import vqcodec
from vqcodec.format import container
from vqcodec.metrics import psnr
from vqcodec.rd import encode, pixels
from vqcodec.rd.decode import unit_weights

PAIRS = ((0, 1), (1, 0), (1, 1), (1, -1))  # docs/format.md: the neighbour pairs of weights 0 to 3


def neighbour_terms(plane: np.ndarray, tile: int) -> np.ndarray:
    """(4, H, W): a + b - 2c for each pair, each tile's edge samples repeated beyond it."""
    h, w = plane.shape
    terms = np.empty((4, h, w), dtype=np.int64)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            part = plane[top : top + tile, left : left + tile]
            padded = np.pad(part.astype(np.int64), 1, mode="edge")
            th, tw = part.shape
            centre = padded[1 : 1 + th, 1 : 1 + tw]
            terms[:, top : top + th, left : left + tw] = np.stack(
                [padded[1 + dy : 1 + dy + th, 1 + dx : 1 + dx + tw] + padded[1 - dy : 1 - dy + th, 1 - dx : 1 - dx + tw]
                 - 2 * centre for dy, dx in PAIRS])
    return terms


def filtered(plane: np.ndarray, weights: np.ndarray, unit: int, tile: int) -> np.ndarray:
    """The filter as docs/format.md writes it, in NumPy."""
    h, w = plane.shape
    per_sample = weights[np.arange(h)[:, None] // unit, np.arange(w)[None, :] // unit].astype(np.int64)  # H x W x 4
    total = 64 * plane.astype(np.int64) + 32 + np.einsum("khw,hwk->hw", neighbour_terms(plane, tile), per_sample)
    return np.clip(total >> 6, 0, 255).astype(np.uint8)


def random_case(seed: int, h: int, w: int, unit: int):
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, 256, (h, w)).astype(np.uint8)
    plane[: h // 2] = plane[: h // 2] // 16 + 100  # a smooth part and a noisy one
    weights = rng.integers(-128, 128, (-(-h // unit), -(-w // unit), 4)).astype(np.int32)
    weights[0, 0] = 0  # a unit the filter leaves as it is
    return plane, weights


@pytest.mark.parametrize(("h", "w", "tile"), [(1, 1, 32), (2, 3, 1), (3, 2, 2), (37, 45, 32), (40, 33, 13), (64, 64, 64)])
def test_the_filter_kernel_is_the_formula(h, w, tile):
    unit = (tile + 1) // 2
    plane, weights = random_case(h * w, h, w, unit)
    out = np.empty_like(plane)
    pixels.filter_rows(0, h, out, 0, plane, 0, h, 0, w, weights, unit, tile)
    np.testing.assert_array_equal(out, filtered(plane, weights, unit, tile))


def test_the_filter_kernel_does_bands_and_boxes_from_the_unfiltered_rows_around_them():
    """A band of rows with the unfiltered rows it reads (one more on each side), and a box of columns: the
    same samples as the whole plane's filter, wherever the band and the box lie."""
    h, w, unit, tile = 50, 41, 8, 16
    plane, weights = random_case(5, h, w, unit)
    whole = filtered(plane, weights, unit, tile)
    for top, bottom, left, right in ((0, 50, 0, 41), (0, 9, 3, 20), (17, 30, 0, 41), (44, 50, 38, 41), (25, 26, 7, 8)):
        first, last = max(top - 1, 0), min(bottom + 1, h)
        out = np.full((bottom - top, w), 7, dtype=np.uint8)
        pixels.filter_rows(0, bottom - top, out, top, plane[first:last].copy(), first, h, left, right, weights, unit,
                           tile)
        np.testing.assert_array_equal(out[:, left:right], whole[top:bottom, left:right])
        assert (out[:, :left] == 7).all() and (out[:, right:] == 7).all()


def test_the_encoders_sums_are_the_products_of_the_neighbour_terms_and_the_error():
    h, w, unit, tile = 37, 29, 8, 15
    plane, _ = random_case(9, h, w, unit)
    original = np.random.default_rng(3).integers(0, 256, (h, w)).astype(np.uint8)
    stats = np.zeros((-(-h // unit), -(-w // unit), 15), dtype=np.int64)
    for top in range(0, h, 10):  # in bands, as the encoder reads the image
        bottom = min(top + 10, h)
        first, last = max(top - 1, 0), min(bottom + 1, h)
        pixels.filter_statistics(stats, plane[first:last].copy(), first, original[top:bottom], top, h, unit, tile)
    terms = neighbour_terms(plane, tile)
    error = original.astype(np.int64) - plane
    pairs = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3)]
    products = [terms[i] * terms[j] for i, j in pairs] + [terms[i] * error for i in range(4)] + [error * error]
    for n, product in enumerate(products):
        expected = np.add.reduceat(np.add.reduceat(product, np.arange(0, h, unit), axis=0), np.arange(0, w, unit), axis=1)
        np.testing.assert_array_equal(stats[..., n], expected, err_msg=str(n))


def test_chosen_weights_are_those_that_minimise_the_error_where_they_lower_it():
    """A plane blurred from a sharp one: the least-squares weights sharpen it back (most of the error goes);
    where the reconstruction is already exact, no weights are kept."""
    rng = np.random.default_rng(1)
    sharp = rng.integers(60, 200, (64, 64)).astype(np.float64)
    blurred = sharp.copy()
    blurred[1:-1, 1:-1] = (4 * sharp[1:-1, 1:-1] + sharp[:-2, 1:-1] + sharp[2:, 1:-1] + sharp[1:-1, :-2]
                           + sharp[1:-1, 2:]) / 8
    plane, original = np.rint(blurred).astype(np.uint8), np.rint(sharp).astype(np.uint8)
    original[32:] = plane[32:]  # the bottom half is exact already
    p = container.Plane(64, 64, 2, 8, 1, 0, 10, tile=64)
    stats = np.zeros((*encode.units(p), 15), dtype=np.int64)
    pixels.filter_statistics(stats, plane, 0, original, 0, 64, p.unit, p.tile)
    weights, gain = encode.chosen_weights(stats, p)
    assert weights.dtype == np.int8 and weights.shape == (2, 2, 4)
    assert weights[0].any(axis=1).all() and not weights[1].any()
    out = np.empty_like(plane)
    pixels.filter_rows(0, 64, out, 0, plane, 0, 64, 0, 64, weights.astype(np.int32), p.unit, p.tile)
    before = ((original[:32].astype(np.int64) - plane[:32]) ** 2).sum()
    after = ((original[:32].astype(np.int64) - out[:32]) ** 2).sum()
    assert after < 0.5 * before, (before, after)
    assert gain == pytest.approx(before - after, rel=0.05)


def test_a_filter_section_holds_each_tiles_four_units_in_order():
    p = container.Plane(70, 100, 2, 8, 1, 0, 10, tile=32)  # 3 x 4 tiles, 6 x 8 units (some past the edge)
    weights = np.arange(6 * 8 * 4).reshape(6, 8, 4) % 251 - 125
    section = encode.filter_section(weights.astype(np.int8))
    assert len(section) == container.FILTER_BYTES * p.tiles
    tile = 1 * 4 + 2  # tile (1, 2) holds units (2, 4), (2, 5), (3, 4), (3, 5)
    stored = np.frombuffer(section, dtype=np.int8)[16 * tile : 16 * tile + 16].reshape(4, 4)
    np.testing.assert_array_equal(stored, weights[[2, 2, 3, 3], [4, 5, 4, 5]])
    np.testing.assert_array_equal(unit_weights(p, section), weights)


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_the_filter_raises_psnr_for_a_few_bytes(name):
    """Against the same file with its weights set to 0 (the planes as they are without the filter): luma
    has the tool, the PSNR is higher, and the weights cost 16 bytes a tile."""
    pixels_in = np.asarray(Image.open(SAMPLES / f"{name}.png"))
    encoded = vqcodec.encode(pixels_in, quality=60)
    assert encoded.header.planes[0].tools & container.FILTER
    data, at = bytearray(encoded.data), encoded.header.header_size
    for p in encoded.header.planes:
        at += sum(s.length for s in p.sections[:3])
        if not p.tools & container.FILTER:
            continue
        assert p.sections[3].length == container.FILTER_BYTES * p.tiles
        data[at : at + p.sections[3].length] = bytes(p.sections[3].length)
        at += p.sections[3].length
    plain = vqcodec.decode(with_crc(bytes(data[:-4]))).pixels
    assert psnr(pixels_in, vqcodec.decode(encoded.data).pixels) == pytest.approx(encoded.psnr)
    assert encoded.psnr > psnr(pixels_in, plain) + 0.1


def test_a_plane_the_filter_cannot_improve_enough_to_pay_for_its_bytes_goes_without_it():
    flat = np.full((40, 48), 90, dtype=np.uint8)
    flat[::2, ::2] = 91
    encoded = vqcodec.encode(np.stack([flat, flat, flat], axis=2), quality=100)
    assert not any(p.tools & container.FILTER for p in encoded.header.planes), encoded.header.planes


@pytest.mark.parametrize("colour", ["ycbcr420", "ycbcr444"])
def test_the_measure_decodes_every_chroma_row_the_colour_transform_reads(colour):
    """The colour transform reads, for each pixel row, the chroma rows on both sides of it (with 4:4:4 the
    next one too, at a weight of 0): a band must hold them, or the transform reads past its end."""
    from vqcodec.rd.planes import chroma_rows

    height, width = 37, 10
    chroma = chroma_rows(colour, height)
    chroma_size = (chroma, -(-width // 2) if colour == "ycbcr420" else width)
    sizes = [(height, width), chroma_size, chroma_size]
    asked = []

    class Plane:
        def __init__(self, n):
            self.n = n

        def rows(self, top, bottom):
            asked.append((self.n, top, bottom))
            return top, np.full((bottom - top, sizes[self.n][1]), 128, dtype=np.uint8)

    table = pixels.axis(height, 2 if colour == "ycbcr420" else 1, chroma)
    for top, bottom in ((0, 8), (8, 16), (30, 37)):
        asked.clear()
        encode._decoded_band(top, bottom, sizes, [Plane(0), Plane(1), Plane(2)], colour)
        for n, first, last in asked[1:]:
            assert first <= table[0, top] and last > table[1, bottom - 1], (colour, top, bottom, first, last)


@pytest.mark.parametrize("colour", ["ycbcr420", "ycbcr444"])
def test_the_measure_merges_chroma_planes_that_start_on_different_rows(colour):
    """A plane without a filter gives its rows from the block that holds the first one asked, a plane with one
    from that row itself: the band is the rows of the whole decoded image all the same."""
    from vqcodec.rd.planes import chroma_rows, merge

    height, width = 37, 10
    rng = np.random.default_rng(5)
    chroma = (chroma_rows(colour, height), -(-width // 2) if colour == "ycbcr420" else width)
    planes = [rng.integers(0, 256, size, dtype=np.uint8) for size in ((height, width), chroma, chroma)]

    class Plane:
        def __init__(self, n, block):
            self.n, self.block = n, block

        def rows(self, top, bottom):
            first = top - top % self.block
            return first, planes[self.n][first:bottom]

    coded = [Plane(0, 2), Plane(1, 2), Plane(2, 1)]
    whole = merge(planes, colour)
    for top, bottom in ((0, 8), (9, 16), (31, 37)):
        band = encode._decoded_band(top, bottom, [p.shape for p in planes], coded, colour)
        np.testing.assert_array_equal(band, whole[top:bottom])
