"""The rate-distortion encoder and its decoder: each stage against a plain reference, the encoder's
files, and the search for a quality, PSNR or size. Version 3 files as hostile input and golden files are
tested with the format, in tests/format."""
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import DOCS, SAMPLES, gradient_image, random_image
from PIL import Image

import vqcodec
from vqcodec.cli.commands import main
from vqcodec.errors import FormatError, OptionsError, TargetError, VQCodecWarning
from vqcodec.format.entropy import decode_means, encode_means
from vqcodec.metrics import psnr
from vqcodec.options import EncodeOptions
from vqcodec.rd import pixels, planes


def naive_upsample(grid, cell, height, width, cubic=False):
    """docs/format.md's base interpolation, one pixel at a time: linear, or with the tool CUBIC cubic."""
    def axis(y, n):
        t = 2 * y - (cell - 1)
        i0 = t // (2 * cell)
        u = t - 2 * cell * i0
        if t < 0:
            u = 0
        i0 = min(max(i0, 0), n - 1)
        if i0 == n - 1:
            u = 0
        return i0, min(i0 + 1, n - 1), u

    def taps(y, n):
        """(cells, weights) of position y along an axis of n cells."""
        i0, i1, u = axis(y, n)
        if not cubic:
            return (i0, i1), (2 * cell - u, u)
        d = 2 * cell
        p = (64 * u * (d - u) ** 2 + d ** 3 // 2) // d ** 3
        r = (64 * u * u * (d - u) + d ** 3 // 2) // d ** 3
        inner = (64 * u * (4 * u * d + d * d - 3 * u * u) + d ** 3 // 2) // d ** 3
        return (max(i0 - 1, 0), i0, i1, min(i1 + 1, n - 1)), (-p, 128 - inner + p + r, inner, -r)

    area = 128 * 128 if cubic else 4 * cell * cell
    m = grid.astype(np.int64)
    out = np.zeros((height, width), dtype=np.int64)
    for y in range(height):
        rows, row_weights = taps(y, grid.shape[0])
        for x in range(width):
            columns, column_weights = taps(x, grid.shape[1])
            total = sum(a * b * m[i, j] for i, a in zip(rows, row_weights) for j, b in zip(columns, column_weights))
            out[y, x] = (total + area // 2) // area  # rounded down, towards minus infinity
    return out


def kernel_base(grid, cell, height, width, cubic=False):
    """The base the decoder's kernel reconstructs from `grid`: every block the zero residual (clipped to a
    byte, as samples are)."""
    plane = np.empty((height, width), dtype=np.uint8)
    tables = pixels.base_tables(height, width, cell, grid.shape, cubic)
    zero = np.full((1, 1), pixels.ZERO, dtype=np.uint8)
    pixels.reconstruct_rows(0, height, plane, 0, 0, width, grid.astype(np.int32), *tables, zero,
                            np.zeros((height, width), dtype=np.uint16), 1)
    return plane


@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("cell,height,width", [(8, 20, 30), (2, 7, 5), (1, 4, 6), (5, 1, 13), (64, 70, 3), (3, 11, 10),
                                               (8, 41, 50)])
def test_the_base_matches_the_format(cell, height, width, cubic):
    """Powers of two (a shift) and other cell sides (a division) alike."""
    rows, cols = -(-height // cell), -(-width // cell)
    grid = np.random.default_rng(cell).integers(0, 256, (rows, cols))
    expected = naive_upsample(grid, cell, height, width, cubic)
    assert np.array_equal(kernel_base(grid, cell, height, width, cubic), np.clip(expected, 0, 255))


def test_the_cubic_base_overshoots_an_edge_and_the_samples_are_clipped():
    """Means that step from 0 to 255 make the cubic base dip below 0 before the step and rise past 255
    after it; the samples clip it."""
    grid = np.repeat([[0, 0, 0, 255, 255, 255]], 3, axis=0)
    expected = naive_upsample(grid, 8, 24, 48, cubic=True)
    assert expected.min() < 0 and expected.max() > 255
    assert np.array_equal(kernel_base(grid, 8, 24, 48, cubic=True), np.clip(expected, 0, 255))


@pytest.mark.parametrize("cell", [8, 5])
def test_the_cubic_base_passes_through_the_means_and_follows_a_ramp(cell):
    """At a cell's centre the cubic base is the cell's mean; over means that rise by the same step from
    cell to cell it is the straight line between them, as the linear base is (Catmull-Rom's cubic
    reproduces lines), up to the rounding of its weights, away from the plane's edges."""
    grid = np.add.outer(np.arange(6) * 20, np.arange(7) * 13) + 30
    height, width = 6 * cell, 7 * cell
    cubic = naive_upsample(grid, cell, height, width, cubic=True)
    if cell % 2:  # an odd cell has a sample at its centre
        centres = np.arange(6) * cell + cell // 2, np.arange(7) * cell + cell // 2
        assert np.array_equal(cubic[np.ix_(*centres)], grid)
    linear = naive_upsample(grid, cell, height, width)
    inside = slice(cell + cell // 2, -cell - cell // 2)  # between the centres of the second and the last but one
    # cells: before and after them an outer tap is clamped to the edge cell, and the cubic bends
    assert np.abs(cubic - linear)[inside, inside].max() <= 1



@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("cell,block,height,width,top", [(8, 2, 21, 30, 0), (8, 2, 21, 30, 6), (8, 2, 9, 31, 2),
                                                         (8, 3, 16, 17, 3), (5, 4, 13, 9, 0), (3, 1, 7, 5, 2),
                                                         (2, 4, 13, 11, 4), (8, 2, 40, 44, 10)])
def test_residual_blocks_by_runs_are_the_plane_less_the_base(cell, block, height, width, top, cubic):
    """The encoder's residuals of whole rows of blocks (a row of the base at a time), sliced anywhere,
    against each sample less the format's base: the same as the blocks given by their positions (a
    sample at a time). Blocks past the plane repeat its last row and column."""
    rng = np.random.default_rng(cell + block + top)
    grid = rng.integers(0, 256, (-(-height // cell), -(-width // cell)))
    plane = rng.integers(0, 256, (height, width)).astype(np.uint8)
    across, down = -(-width // block), -(-height // block)
    ys = np.minimum(np.arange(down * block), height - 1)
    xs = np.minimum(np.arange(across * block), width - 1)
    expected = np.clip(plane.astype(np.int64) - naive_upsample(grid, cell, height, width, cubic) + 128, 0,
                       255)[np.ix_(ys, xs)]
    expected = expected.reshape(down, block, across, block).transpose(0, 2, 1, 3).reshape(-1, block * block)
    first = top // block * across  # the blocks of rows top.. (whole blocks), as a band holds them
    tables = pixels.base_tables(height, width, cell, grid.shape, cubic)
    args = (plane[top // block * block :], top // block * block, height, grid.astype(np.int32), *tables, block)
    runs = np.zeros((len(expected) - first, block * block), dtype=np.uint8)
    bounds = [0, 1, across + 2, len(runs) // 2, len(runs)]
    for start, stop in zip(bounds, bounds[1:]):
        pixels.residual_blocks(start, stop, runs, first, np.empty(0, dtype=np.int64), *args)
    np.testing.assert_array_equal(runs, expected[first:])
    positions = rng.permutation(np.arange(first, len(expected)))
    sampled = np.zeros((len(positions), block * block), dtype=np.uint8)
    pixels.residual_blocks(0, len(positions), sampled, 0, positions, *args)
    np.testing.assert_array_equal(sampled, expected[positions])


@pytest.mark.parametrize("cubic", [False, True])
@pytest.mark.parametrize("block,height,width,left", [(2, 19, 30, 0), (2, 19, 31, 4), (2, 5, 1, 0), (3, 10, 17, 3),
                                                    (4, 9, 13, 8), (1, 6, 7, 2), (2, 40, 45, 6)])
def test_reconstruction_is_the_base_plus_each_block_codeword(block, height, width, left, cubic):
    """reconstruct_rows against the format's formula: the base plus the sample of the block's codeword less
    128, clipped to a byte, for a box from column `left` to the plane's edge (the last block cut there)."""
    rng = np.random.default_rng(block + width)
    cell = 8
    grid = rng.integers(0, 256, (-(-height // cell), -(-width // cell)))
    codebook = rng.integers(0, 256, (37, block * block)).astype(np.uint8)
    across = -(-(width - left) // block)
    indices = rng.integers(0, len(codebook), (-(-height // block), across)).astype(np.uint16)
    tables = pixels.base_tables(height, width, cell, grid.shape, cubic)
    out = np.zeros((height, width), dtype=np.uint8)
    pixels.reconstruct_rows(0, height, out, 0, left, width - left, grid.astype(np.int32), *tables, codebook, indices,
                            block)
    ys, xs = np.arange(height), np.arange(width - left)
    words = codebook[indices[ys[:, None] // block, xs[None, :] // block], (ys[:, None] % block) * block
                     + xs[None, :] % block].astype(np.int64)
    expected = np.clip(naive_upsample(grid, cell, height, width, cubic)[:, left:] + words - 128, 0, 255)
    np.testing.assert_array_equal(out[:, left:], expected)
    assert not out[:, :left].any()  # nothing written outside the box


@pytest.mark.parametrize("cubic", [False, True])
def test_the_base_of_a_constant_is_that_constant(cubic):
    assert np.unique(kernel_base(np.full((5, 6), 77), 8, 37, 45, cubic)).tolist() == [77]


def test_ycbcr_inverse_matches_the_format():
    rng = np.random.default_rng(1)
    y, cb, cr = (rng.integers(0, 256, (4, 6)).astype(np.uint8) for _ in range(3))
    rgb = planes.merge([y, cb, cr], "ycbcr444")
    for (r, c) in [(0, 0), (3, 5), (2, 1)]:
        Y, b, d = int(y[r, c]), int(cb[r, c]) - 128, int(cr[r, c]) - 128
        expected = [Y + ((91881 * d + 32768) >> 16), Y + ((-22554 * b - 46802 * d + 32768) >> 16),
                    Y + ((116130 * b + 32768) >> 16)]
        assert rgb[r, c].tolist() == [min(max(v, 0), 255) for v in expected]


@pytest.mark.parametrize(("height", "width", "cell"), [(9, 17, 8), (64, 3, 16), (1, 1, 8), (30, 31, 1)])
def test_cell_means_are_the_means_of_the_pixels_inside(height, width, cell):
    plane = np.random.default_rng(height).integers(0, 256, (height, width), dtype=np.uint8)
    means = planes.cell_means(plane, cell)
    expected = [[plane[r:r + cell, c:c + cell].mean() for c in range(0, width, cell)] for r in range(0, height, cell)]
    assert np.array_equal(means, np.array(expected))


def whole_image_planes(pixels, colour):
    """split and merge of the whole image at once, as the formulas read: the strips must give these."""
    rgb = pixels[:, :, :3].astype(np.float64)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    chroma = [128 - 0.168736 * r - 0.331264 * g + 0.5 * b, 128 + 0.5 * r - 0.418688 * g - 0.081312 * b]
    if colour == "ycbcr420":
        padded = [np.pad(c, ((0, c.shape[0] % 2), (0, c.shape[1] % 2)), mode="edge") for c in chroma]
        chroma = [c.reshape(c.shape[0] // 2, 2, c.shape[1] // 2, 2).mean(axis=(1, 3)) for c in padded]
    split = [np.clip(np.rint(c), 0, 255).astype(np.uint8) for c in [0.299 * r + 0.587 * g + 0.114 * b, *chroma]]
    split += [pixels[:, :, c] for c in range(3, pixels.shape[2])]
    height, width = pixels.shape[:2]
    cell = 2 if colour == "ycbcr420" else 1
    y = split[0].astype(np.int32)
    cb, cr = (naive_upsample(c, cell, height, width) - 128 for c in split[1:3])
    merged = [y + ((91881 * cr + 32768) >> 16), y + ((-22554 * cb - 46802 * cr + 32768) >> 16),
              y + ((116130 * cb + 32768) >> 16)]
    merged = np.stack([np.clip(c, 0, 255).astype(np.uint8) for c in merged] + split[3:], axis=2)
    return split, merged


@pytest.mark.parametrize("colour", ["ycbcr420", "ycbcr444"])
@pytest.mark.parametrize("shape", [(4 * planes.ROWS_PER_THREAD + 1, 7, 3), (2 * planes.ROWS_PER_THREAD + 3, 5, 4), (3, 1, 3)])
def test_colour_on_threads_is_the_whole_image_transform(colour, shape, monkeypatch):
    """Rows shared among threads (odd boundaries included) give the transform of the whole image."""
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 3)
    pixels = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    split, merged = whole_image_planes(pixels, colour)
    got = planes.split(pixels, colour)
    assert len(got) == len(split) and all(np.array_equal(a, b) for a, b in zip(got, split))
    assert np.array_equal(planes.merge(got, colour), merged)


@pytest.mark.parametrize("colour", ["planes", "ycbcr444"])
def test_colour_round_trips_as_far_as_it_claims(colour):
    """The channels as they are round-trip exactly; YCbCr 4:4:4 within its rounding (one or two levels)."""
    image = random_image(9, 11, 3, seed=4)
    back = planes.merge(planes.split(image, colour), colour)
    error = np.abs(back.astype(int) - image).max()
    assert error == 0 if colour == "planes" else error <= 2


def test_chroma_subsampling_halves_the_chroma_planes():
    image = gradient_image(9, 11, 4)
    parts = planes.split(image, "ycbcr420")
    assert [p.shape for p in parts] == [(9, 11), (5, 6), (5, 6), (9, 11)]
    assert np.array_equal(parts[3], image[:, :, 3])  # alpha as it is
    assert psnr(image[:, :, :3], planes.merge(parts, "ycbcr420")[:, :, :3]) > 35


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (40, 33)])
def test_means_round_trip_and_refuse_truncation(shape):
    grid = np.random.default_rng(sum(shape)).integers(0, 256, shape).astype(np.uint8)
    data = encode_means(grid, 64 * grid.size + 8)
    assert np.array_equal(decode_means(data, *shape), grid)
    with pytest.raises(FormatError):
        decode_means(data + b"\0", *shape)
    if data:  # a shorter stream is refused, or is another grid's: never this one
        try:
            assert not np.array_equal(decode_means(data[:-1], *shape), grid)
        except FormatError:
            pass


# --- the encoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_every_mode_round_trips_with_the_psnr_it_reports(mode):
    channels = {"L": None, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    image = gradient_image(37, 29, channels)
    encoded = vqcodec.encode(image)
    decoded = vqcodec.decode(encoded.data)
    assert encoded.header.version == 5 and decoded.pixels.shape == image.shape
    assert decoded.header == encoded.header
    assert encoded.psnr == pytest.approx(psnr(image, decoded.pixels))
    assert encoded.psnr > 35  # a smooth ramp is easy


def test_constant_alpha_stays_exact_and_costs_no_section():
    image = np.concatenate([random_image(16, 16, 3, seed=2), np.full((16, 16, 1), 200, np.uint8)], axis=2)
    encoded = vqcodec.encode(image, quality=10)
    alpha = encoded.header.planes[3]
    assert (alpha.k, alpha.fill, alpha.sections) == (0, 200, ())
    assert np.all(vqcodec.decode(encoded.data).pixels[:, :, 3] == 200)


def test_k_is_a_maximum_per_plane_and_b_is_kept():
    image = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:64, :64]
    header = vqcodec.encode(image, k=8, block=3, quality=90).header
    assert all(p.k <= 8 and p.block == 3 for p in header.planes)


def test_same_input_same_bytes():
    image = np.asarray(Image.open(SAMPLES / "camera-128.png"))
    assert vqcodec.encode(image, quality=55).data == vqcodec.encode(image, quality=55).data


def test_quality_is_monotone_in_size():
    image = np.asarray(Image.open(SAMPLES / "camera-128.png"))
    sizes = [len(vqcodec.encode(image, quality=q).data) for q in (0, 25, 50, 75, 100)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_classic_still_writes_plain_vq():
    with pytest.warns(VQCodecWarning, match="only 16 distinct block"):  # 16 blocks for the default K
        header = vqcodec.encode(gradient_image(16, 16), classic=True).header
    assert (header.version, header.k, header.block) == (2, 16, 4)


# --- the search for a target ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["camera-128.png", "chelsea.png"])
@pytest.mark.parametrize("goal", [28.0, 33.0])
def test_psnr_target_lands_within_0_3_db_above(name, goal):
    image = np.asarray(Image.open(SAMPLES / name))[:96, :128]
    encoded = vqcodec.encode(image, psnr=goal)
    assert goal <= encoded.psnr <= goal + 0.3


def test_a_search_holds_of_each_pass_only_what_it_gives_back_and_encodes_no_quality_twice():
    """Each pass of a search keeps its PSNR and size, not its indices or codebooks, and its file only
    while it may still be returned (on a large image, memory must not grow with the passes); the best
    pass's file is the one returned, not encoded again."""
    from vqcodec.images import rows
    from vqcodec.rd import search

    image = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:96, :128]
    state = search.Search(rows(image, None), EncodeOptions(psnr=33.0), None)
    values, _ = search._search(state)
    assert len(state.passes) > 1 and values["data"] == vqcodec.encode(image, psnr=33.0).data
    assert all(set(v) <= {"psnr", "size", "data", "header", "quality"} for _, v in state.passes)
    assert sum("data" in v for _, v in state.passes) <= 2  # the best and the closest failing: only they can win
    qualities = [q for q, _ in state.passes]
    assert len(set(qualities)) == len(qualities) and values["quality"] in qualities


@pytest.mark.parametrize("goal", [700, 2500])
def test_size_target_lands_within_3_percent_below(goal):
    image = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:96, :128]
    encoded = vqcodec.encode(image, size=goal)
    assert 0.97 * goal <= len(encoded.data) <= goal


def test_bpp_target_is_a_size():
    image = np.asarray(Image.open(SAMPLES / "camera-128.png"))
    encoded = vqcodec.encode(image, bpp=0.5)
    assert 0.97 * 0.5 <= encoded.bits_per_pixel <= 0.5


def test_out_of_reach_warns_or_fails_when_strict():
    image = np.asarray(Image.open(SAMPLES / "camera-128.png"))[:32, :32]
    with pytest.warns(VQCodecWarning, match="out of reach"):
        encoded = vqcodec.encode(image, size=10)
    assert len(encoded.data) > 10  # the closest file: the smallest one tried
    with pytest.raises(TargetError, match="out of reach"):
        vqcodec.encode(image, size=10, strict=True)


@pytest.mark.parametrize("fields", [dict(quality=50, psnr=30), dict(classic=True, psnr=30), dict(strict=True),
                                    dict(quality=101), dict(size=0), dict(fixed_rate=True, quality=3)])
def test_conflicting_or_bad_targets_are_refused(fields):
    with pytest.raises(OptionsError):
        EncodeOptions(**fields)


def test_cli_targets(tmp_path):
    src = SAMPLES / "camera-128.png"
    runner = CliRunner()
    result = runner.invoke(main, ["encode", str(src), "-o", str(tmp_path / "a.vqc"), "--psnr", "30"])
    assert result.exit_code == 0, result.output
    assert "quality" in result.output
    result = runner.invoke(main, ["encode", str(src), "-o", str(tmp_path / "b.vqc"), "--size", "1.5KB"])
    assert result.exit_code == 0 and (tmp_path / "b.vqc").stat().st_size <= 1500
    result = runner.invoke(main, ["encode", str(src), "-o", str(tmp_path / "c.vqc"), "--size", "5", "--strict"])
    assert result.exit_code == 1 and not (tmp_path / "c.vqc").exists()
    assert result.output.count("\n") == 1 and result.output.startswith("Error:")
    result = runner.invoke(main, ["encode", str(src), "-o", str(tmp_path / "d.vqc"), "--size", "12 parsecs"])
    assert result.exit_code == 2
    result = runner.invoke(main, ["info", str(tmp_path / "a.vqc")])
    assert result.exit_code == 0 and "version 5" in result.output and "means" in result.output and "tiles" in result.output


@pytest.mark.parametrize("pixels,fields", [
    (np.array([[10, 200]], np.uint8), {}), (random_image(8, 8, seed=3), {"k": 2}),
    (random_image(3, 3, 4, seed=5), {}), (random_image(20, 20, seed=6), {"block": 16}),
])
def test_tiny_planes_and_tiny_codebooks_encode(pixels, fields):
    """A plane of one block, or K = 2 (the zero codeword and one more), needs no trainer."""
    encoded = vqcodec.encode(pixels, **fields)
    assert vqcodec.decode(encoded.data).pixels.shape == pixels.shape
    assert all(p.k <= fields.get("k", 1 << 16) for p in encoded.header.planes)


def test_bpp_target_below_one_byte_is_out_of_reach_not_a_crash():
    with pytest.warns(VQCodecWarning, match="out of reach"):
        vqcodec.encode(np.full((1, 1), 5, np.uint8) + np.zeros((1, 2), np.uint8), bpp=1.0)


@pytest.mark.parametrize("fields,expected", [({}, 75), ({"quality": 40}, 40)])
def test_the_quality_used_is_reported(fields, expected):
    assert vqcodec.encode(gradient_image(16, 16), **fields).quality == expected


def test_constant_image_record_fits_the_schema(tmp_path):
    import json

    import jsonschema

    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "flat.png")
    result = CliRunner().invoke(main, ["encode", str(tmp_path / "flat.png"), "--json"])
    record = json.loads(result.stdout.splitlines()[0])
    schema = json.loads((DOCS / "batch.schema.json").read_text())
    jsonschema.validate(record, schema)
    assert (record["k"], record["block"]) == (0, 0)


def test_each_at_once_keeps_the_order_lets_work_nest_and_passes_errors_on(monkeypatch):
    """The planes decode on threads of their own pool: a plane's work may itself use the row pool."""
    from vqcodec.train import rows
    from vqcodec.train.nearest import nearest

    monkeypatch.setattr(rows.numba.config, "NUMBA_NUM_THREADS", 2)
    vectors = np.random.default_rng(0).integers(0, 256, (3 * rows.MIN_ROWS, 4), dtype=np.uint8)
    expected = [nearest(vectors, vectors[:k])[0] for k in (3, 5, 7)]
    got = rows.each_at_once(lambda k: nearest(vectors, vectors[:k])[0], [3, 5, 7])
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))

    def fails(item):
        raise FormatError(f"plane {item}")

    with pytest.raises(FormatError, match="plane 2"):
        rows.each_at_once(lambda item: fails(item) if item == 2 else item, [1, 2, 3])


def test_planes_decode_the_same_on_one_thread_and_on_two(tmp_path):
    data = vqcodec.encode(random_image(90, 70, 4, seed=3)).data
    (tmp_path / "a.vqc").write_bytes(data)
    code = "import sys, numpy, vqcodec; numpy.save(sys.argv[2], vqcodec.decode(sys.argv[1]).pixels)"
    decoded = []
    for threads in (1, 2):
        out = tmp_path / f"{threads}.npy"
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.vqc"), str(out)], check=True,
                       env={**os.environ, "NUMBA_NUM_THREADS": str(threads)})
        decoded.append(np.load(out))
    assert np.array_equal(decoded[0], decoded[1]) and np.array_equal(decoded[0], vqcodec.decode(data).pixels)


# --- effort -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("effort", [0, 10, 2.5, "x", True, None])
def test_effort_outside_1_to_9_is_refused_in_one_line(effort):
    with pytest.raises(OptionsError, match="^effort must be an integer from 1 to 9, got") as caught:
        EncodeOptions(effort=effort)
    assert "\n" not in str(caught.value)


def test_effort_is_for_the_rate_distortion_encoder():
    with pytest.raises(OptionsError, match="effort is for the rate-distortion encoder"):
        EncodeOptions(classic=True, effort=3)
    assert EncodeOptions(classic=True, effort=5).plain  # the default, said aloud


CHELSEA = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:96, :128]
CAMERA = np.asarray(Image.open(SAMPLES / "camera-128.png"))


@pytest.mark.parametrize("image,fields", [(CAMERA, {}), (CHELSEA, {"quality": 40, "tile": 64}),
                                          (CHELSEA, {"psnr": 33.0}), (CAMERA, {"size": 1500, "algo": "centnn"})])
def test_effort_5_is_the_default(image, fields):
    assert vqcodec.encode(image, effort=5, **fields).data == vqcodec.encode(image, **fields).data


@pytest.mark.parametrize("effort", [1, 9])
def test_every_effort_round_trips_with_the_psnr_it_reports(effort):
    encoded = vqcodec.encode(CHELSEA, effort=effort, quality=60)
    assert encoded.psnr == pytest.approx(psnr(CHELSEA, vqcodec.decode(encoded.data).pixels))
    assert encoded.data != vqcodec.encode(CHELSEA, quality=60).data  # the effort was used


@pytest.mark.parametrize("effort", [1, 9])
def test_targets_are_met_at_every_effort(effort):
    assert 33.0 <= vqcodec.encode(CHELSEA, psnr=33.0, effort=effort).psnr <= 33.3
    assert 0.97 * 2500 <= len(vqcodec.encode(CHELSEA, size=2500, effort=effort).data) <= 2500
    assert 0.97 * 0.5 <= vqcodec.encode(CAMERA, bpp=0.5, effort=effort).bits_per_pixel <= 0.5
