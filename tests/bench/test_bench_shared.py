"""The shared-codebook benchmark: tiles of one photo coded with a codebook learned elsewhere, and `bench --shared`."""
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from helpers import SAMPLES, save_png
from vqcodec.bench import shared
from vqcodec.cli.commands import main

QUALITIES = (20, 40, 60)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two crops of 128 x 128: four tiles of 64 each."""
    folder = tmp_path_factory.mktemp("photos")
    for name, (top, left) in {"coffee.png": (100, 150), "chelsea.png": (60, 120)}.items():
        pixels = np.asarray(Image.open(SAMPLES / name))[top : top + 128, left : left + 128]
        save_png(pixels, folder / name)
    return [folder / "coffee.png", folder / "chelsea.png"]


def test_tiles_are_the_whole_ones_row_by_row():
    pixels = np.arange(5 * 7).reshape(5, 7).astype(np.uint8)
    tiles = shared.tiles_of(pixels, 2)
    assert len(tiles) == 2 * 3
    np.testing.assert_array_equal(tiles[4], pixels[2:4, 2:4])


def test_each_photo_is_measured_with_a_codebook_learned_from_the_others(photos):
    results = shared.run(photos, (64,), QUALITIES)
    assert [(r.photo, r.size, r.tiles) for r in results] == [(str(p), 64, 4) for p in photos]
    for r in results:
        assert r.shared_vs_own is not None and r.shared_vs_own < 0  # 4 tiles of 64 x 64: the codebook is most of a file
        assert r.own_vs_jpeg is not None and r.shared_vs_jpeg < r.own_vs_jpeg
        assert r.codebook_bytes > 0 and r.train_seconds > 0 and r.encode_seconds > 0 and r.shared_encode_ratio > 0
    table = shared.table(results)
    assert table.splitlines()[0].startswith("| photo") and "| mean" in table.splitlines()[-1]


def test_whole_photos_are_measured_with_and_without_a_codebook(photos):
    results = shared.whole(photos, 64, QUALITIES)
    assert [r.photo for r in results] == [str(p) for p in photos]
    for r in results:
        assert r.bd_rate is not None and r.planes == 3 * len(QUALITIES) and 0 <= r.planes_shared <= r.planes
    assert shared.whole_table(results).count("\n") == 3


def test_own_tiles_learn_from_the_other_colour_of_a_checkerboard(photos):
    results = shared.run(photos[:1], (64,), QUALITIES, own=True)
    assert [(r.photo, r.tiles) for r in results] == [(str(photos[0]), 2)]


def test_cli_bench_shared_prints_the_table(photos):
    result = CliRunner().invoke(main, ["bench", "--shared", "--tile-sizes", "64", "--qualities", "20,40,60",
                                       *map(str, photos)])
    assert result.exit_code == 0, result.output
    assert "vs own codebooks" in result.stdout and result.stdout.count("| 64 ") == 3
    assert "with a shared codebook vs without" in result.stdout  # the whole images too


@pytest.mark.parametrize("args, message", [
    (["--tile-sizes", "64"], "Error: --tile-sizes needs --shared"),
    (["--own-tiles"], "Error: --own-tiles needs --shared"),
    (["--shared", "--rd"], "Error: --rd does not apply to --shared"),
    (["--shared", "-k", "64"], "Error: -k does not apply to --shared"),
    (["--shared", "{image}"], "Error: --shared needs two images or more"),
])
def test_cli_bench_shared_refuses_bad_options_before_any_work(args, message, photos):
    result = CliRunner().invoke(main, ["bench", *(a.format(image=photos[0]) for a in args)])
    assert result.exit_code == 2 and result.stderr.startswith(message), result.output
