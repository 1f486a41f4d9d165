"""The refinement layer (version 4's plane tool REFINE): its kernels against plain NumPy, its streams against
the reference decoder, what the encoder chooses, and the quality it reaches."""
import sys

import numpy as np
import pytest
from helpers import GOLDEN, SAMPLES
from PIL import Image

import vqcodec
from vqcodec.errors import FormatError
from vqcodec.format import container
from vqcodec.format.entropy import codeword_levels, decode_refinement, encode_refinement, refinement_grid
from vqcodec.metrics import psnr
from vqcodec.rd import pixels
from vqcodec.rd.settings import REFINE_FROM, refine_lambda, refinement_steps

sys.path.insert(0, str(GOLDEN.parent))
import spec_vqc  # noqa: E402  (the reference decoder, beside the format tests)

PHOTOS = ["astronaut", "camera", "chelsea", "coffee", "coins"]


def random_grid(seed: int, rows: int, across: int, spread: int) -> np.ndarray:
    """A refinement grid with mostly small residuals, some zeros, and a few at the extremes."""
    rng = np.random.default_rng(seed)
    q = refinement_grid(rows, across)
    inner = np.rint(rng.laplace(0, spread, (rows, across))).clip(-255, 255)
    inner[rng.random((rows, across)) < 0.3] = 0
    inner.flat[rng.integers(0, inner.size, 3)] = (-255, 255, 128)
    q[1:, 1:-1] = inner
    return q


def test_refine_box_adds_the_residuals_times_the_step_clipped():
    rng = np.random.default_rng(1)
    plane = rng.integers(0, 256, (12, 20), dtype=np.uint8)
    q = random_grid(2, 8, 9, 3)
    expected = plane.copy()
    top, left, bottom, right, tile_top, tile_left = 5, 6, 11, 13, 4, 5  # a box inside the tile at (4, 5)
    inner = q[1:, 1:-1].astype(np.int64)[top - tile_top : bottom - tile_top, left - tile_left : right - tile_left]
    expected[top:bottom, left:right] = np.clip(plane[top:bottom, left:right] + 7 * inner, 0, 255)
    band = plane[3:].copy()  # the plane's rows from 3 on
    pixels.refine_box(band, 3, top, left, bottom, right, q, tile_top, tile_left, 7)
    np.testing.assert_array_equal(band, expected[3:])


def bits_of(m: np.ndarray) -> np.ndarray:
    """The quantizer's estimate of a residual's bits: 0.5 for 0, else 4 + 2 floor(log2 m)."""
    return np.where(m == 0, 0.5, 4.0 + 2.0 * np.floor(np.log2(np.maximum(m, 1))))


@pytest.mark.parametrize(("step", "lam"), [(1, 0.0), (2, 0.0), (5, 0.0), (64, 0.0), (2, 3.0), (5, 12.0), (9, 40.0)])
def test_quantized_residuals_are_the_nearest_multiples_or_the_one_below_where_it_pays(step, lam):
    rng = np.random.default_rng(step)
    original = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    decoded = np.clip(original.astype(np.int64) + rng.integers(-40, 41, original.shape), 0, 255).astype(np.uint8)
    q = refinement_grid(*original.shape)
    error = pixels.quantize_residuals(original, decoded, step, lam, q)
    e = original.astype(np.int64) - decoded
    nearest = (2 * np.abs(e) + step - 1) // (2 * step)  # halves towards 0
    near, below = np.abs(e) - nearest * step, np.abs(e) - (nearest - 1) * step
    lower = (nearest > 0) & (below ** 2 - near ** 2 < lam * (bits_of(nearest) - bits_of(nearest - 1)))
    expected = np.sign(e) * (nearest - lower)
    np.testing.assert_array_equal(q[1:, 1:-1], expected)
    assert not q[0].any() and not q[:, 0].any() and not q[:, -1].any()
    refined = np.clip(decoded + expected * step, 0, 255)
    assert error == np.sum((original - refined) ** 2)
    assert lower.any() == (lam > 0)


def random_levels(seed: int, rows: int, across: int, block: int) -> np.ndarray:
    """Each block's codeword level (0 to 7) for a tile of rows x across samples."""
    return np.random.default_rng(seed).integers(0, 8, (-(-rows // block), -(-across // block))).astype(np.uint8)


def per_sample(levels: np.ndarray, block: int, rows: int, across: int) -> list[list[int]]:
    return levels.repeat(block, axis=0).repeat(block, axis=1)[:rows, :across].tolist()


def test_a_codewords_level_is_the_bit_length_of_how_far_it_moves_its_block():
    book = np.array([[128] * 4, [129, 128, 128, 128], [127, 130, 128, 128], [0, 0, 0, 0], [255, 255, 255, 255],
                     [64, 128, 128, 128]], dtype=np.uint8)
    np.testing.assert_array_equal(codeword_levels(book), [0, 1, 2, 7, 7, 7])
    moved = np.arange(0, 300)
    book = np.full((300, 4), 128, dtype=np.int64)
    book[:, 0] += np.minimum(moved, 127)
    book[:, 1] -= np.maximum(moved - 127, 0).clip(0, 128)
    np.testing.assert_array_equal(codeword_levels(book.astype(np.uint8)),
                                  [min(7, int(m).bit_length()) for m in np.abs(book - 128).sum(axis=1)])


@pytest.mark.parametrize(("rows", "across", "spread", "block"), [(1, 1, 1, 2), (3, 40, 0.3, 2), (17, 9, 4, 3),
                                                                 (32, 32, 60, 4)])
def test_a_refinement_stream_decodes_to_its_residuals_as_the_reference_decoder_reads_it(rows, across, spread, block):
    q = random_grid(rows * across, rows, across, spread)
    levels = random_levels(rows, rows, across, block)
    stream = encode_refinement(q, levels, block, 9, 32 * rows * across + 10)
    assert stream[0] == 9
    step, decoded = decode_refinement(stream, levels, block, rows, across)
    assert step == 9
    np.testing.assert_array_equal(decoded, q)
    samples = [[100] * across for _ in range(rows)]
    assert spec_vqc.refine_tile(samples, stream, 0, 0, per_sample(levels, block, rows, across))
    np.testing.assert_array_equal(np.array(samples), np.clip(100 + 9 * q[1:, 1:-1].astype(np.int64), 0, 255))
    if spread > 1:  # the levels choose the contexts: one level for every block reads other residuals
        try:
            assert not np.array_equal(decode_refinement(stream, np.zeros_like(levels), block, rows, across)[1], q)
        except FormatError:
            pass


def test_a_refinement_stream_that_is_not_one_is_refused_as_the_reference_decoder_refuses_it():
    q = random_grid(4, 10, 10, 2)
    levels = random_levels(4, 10, 10, 2)
    stream = encode_refinement(q, levels, 2, 3, 4000)
    with pytest.raises(FormatError, match="step of 0"):
        decode_refinement(b"\0" + stream[1:], levels, 2, 10, 10)
    with pytest.raises(FormatError, match="refinement stream"):
        decode_refinement(stream + b"\0", levels, 2, 10, 10)
    refused = 0
    for end in range(1, len(stream)):  # every truncation: refused by both, or the same residuals for both
        samples = [[128] * 10 for _ in range(10)]
        accepted = spec_vqc.refine_tile(samples, stream[:end], 0, 0, per_sample(levels, 2, 10, 10))
        try:
            step, decoded = decode_refinement(stream[:end], levels, 2, 10, 10)
        except FormatError:
            assert not accepted, end
            refused += 1
            continue
        assert accepted, end
        refined = np.clip(128 + step * decoded[1:, 1:-1].astype(np.int64), 0, 255)
        np.testing.assert_array_equal(np.array(samples), refined)
    assert refused  # (the coder reads zeros past a stream's end: most truncations are other valid streams)


def test_a_stream_too_long_for_its_limit_is_not_written():
    q, levels = random_grid(5, 16, 16, 60), random_levels(5, 16, 16, 2)
    stream = encode_refinement(q, levels, 2, 2, 4000)
    assert encode_refinement(q, levels, 2, 2, len(stream)) is None
    assert encode_refinement(q, levels, 2, 2, len(stream) + 1) == stream


def test_the_steps_tried_are_near_where_a_uniform_quantizers_slope_meets_lambda():
    assert refinement_steps(12.0, 3) == [9, 10, 11]  # sqrt(6 x 12 / ln 2) = 10.2
    assert refinement_steps(12.0, 1) == [10]
    assert refinement_steps(0.01, 3) == [2, 3]  # never 1: a lossless tile costs most and no quality needs it
    assert refine_lambda(REFINE_FROM - 0.5) == 0 < refine_lambda(REFINE_FROM)
    lambdas = [refine_lambda(q) for q in range(REFINE_FROM, 101)]
    assert all(a > b for a, b in zip(lambdas, lambdas[1:]))


def test_below_its_first_quality_no_plane_is_refined_and_from_it_luma_is():
    photo = np.asarray(Image.open(SAMPLES / "astronaut.png"))[:256, :256]
    assert not any(p.tools & container.REFINE for p in vqcodec.encode(photo, quality=REFINE_FROM - 1).header.planes)
    assert vqcodec.encode(photo, quality=90).header.planes[0].tools & container.REFINE


@pytest.mark.parametrize("name", PHOTOS)
def test_quality_100_reaches_46_db_and_the_psnr_the_encoder_reports_is_the_files(name):
    photo = np.asarray(Image.open(SAMPLES / f"{name}.png"))
    encoded = vqcodec.encode(photo, quality=100)
    assert encoded.psnr >= 46.0
    assert encoded.psnr == pytest.approx(psnr(photo, vqcodec.decode(encoded.data).pixels), abs=1e-9)


def test_size_and_psnr_climb_with_quality_through_the_refinement():
    photo = np.asarray(Image.open(SAMPLES / "coffee.png"))[:200, :300]
    encoded = [vqcodec.encode(photo, quality=q) for q in (70, 78, 80, 84, 90, 95, 100)]
    sizes, quality = [len(e.data) for e in encoded], [e.psnr for e in encoded]
    assert sizes == sorted(sizes) and quality == sorted(quality), (sizes, quality)


def test_a_region_of_a_refined_file_is_the_whole_images():
    photo = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:150, :190]
    data = vqcodec.encode(photo, quality=92, tile=64).data
    assert any(p.tools & container.REFINE for p in vqcodec.info(data).planes)
    whole = vqcodec.decode(data).pixels
    for x, y, w, h in ((0, 0, 1, 1), (60, 50, 70, 40), (63, 127, 2, 2), (150, 100, 40, 50)):
        np.testing.assert_array_equal(vqcodec.decode(data, crop=(x, y, w, h)).pixels, whole[y : y + h, x : x + w])


def test_the_refinement_comes_in_without_a_jump_for_a_search_to_fall_into():
    """From the default quality to the refinement's full lambda, a point of quality never adds a fifth to the
    file (a layer switched on at once added two fifths), nor takes more than noise away."""
    photo = np.asarray(Image.open(SAMPLES / "camera.png"))
    sizes = [len(vqcodec.encode(photo, quality=q).data) for q in range(74, 93)]
    growth = np.diff(sizes) / sizes[:-1]
    assert growth.max() < 0.2 and growth.min() > -0.01, growth
