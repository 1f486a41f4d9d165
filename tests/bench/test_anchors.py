"""The comparison with JPEG, WebP and AVIF: BD-rate arithmetic, the anchors' curves, plots and `bench --rd`."""
import io
import json
import sys

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from helpers import DOCS, SAMPLES
from vqcodec.bench import anchors
from vqcodec.bench import runs
from vqcodec import api
from vqcodec.bench.anchors import Point, bd_rate, pareto
from vqcodec.cli.commands import main
from vqcodec.errors import DependencyError, ImageError, OptionsError
from vqcodec.metrics import psnr

SCHEMA = json.loads((DOCS / "rd.schema.json").read_text())
CURVE = [Point(0.25, 28.0), Point(0.5, 31.5), Point(1.0, 35.0), Point(2.0, 39.2), Point(3.1, 42.0)]


def test_a_curve_against_itself_is_zero():
    assert bd_rate(CURVE, CURVE) == 0


@pytest.mark.parametrize("factor, expected", [(0.5, -50.0), (2.0, 100.0)])
def test_scaling_every_rate_scales_the_bd_rate(factor, expected):
    scaled = [Point(p.bpp * factor, p.psnr) for p in CURVE]
    assert bd_rate(CURVE, scaled) == pytest.approx(expected, abs=1e-6)


def test_more_psnr_at_the_same_rates_needs_fewer_bits():
    better = [Point(p.bpp, p.psnr + 1.0) for p in CURVE]
    assert bd_rate(CURVE, better) < 0 < bd_rate(better, CURVE)


def test_two_point_curves_give_the_hand_computed_value():
    """Two points: log-rate is linear in PSNR, ln 4 per 10 dB; 2 dB better costs 4 ** -0.2 times the bits."""
    assert bd_rate([Point(1, 30), Point(4, 40)], [Point(1, 32), Point(4, 42)]) == pytest.approx(100 * (4 ** -0.2 - 1))


def test_pchip_matches_scipy():
    """-4.033742155549513 is what scipy 1.17's PchipInterpolator, integrated over the common PSNR interval, gives."""
    reference = [Point(0.21, 27.9), Point(0.45, 31.2), Point(0.8, 34.6), Point(1.7, 39.8), Point(3.0, 44.1)]
    test = [Point(0.3, 29.5), Point(0.5, 31.9), Point(1.1, 37.0), Point(2.2, 42.3)]
    assert bd_rate(reference, test) == pytest.approx(-4.033742155549513, abs=1e-9)


@pytest.mark.parametrize("test", [
    [Point(5.0, 50.0), Point(6.0, 55.0)],  # above the reference's PSNR range
    [Point(0.5, 31.5)],  # one point spans no interval
    [Point(0.1, 20.0), Point(0.2, 28.0)],  # touches the reference's range at one PSNR only
])
def test_curves_without_a_common_psnr_interval_give_none(test):
    assert bd_rate(CURVE, test) is None


def test_pareto_drops_beaten_points():
    points = [Point(2.0, 30.0), Point(1.0, 31.0), Point(3.0, 36.0), Point(3.0, 35.0), Point(4.0, 36.0),
              Point(5.0, float("inf")), Point(0.5, 29.0)]
    assert pareto(points) == [Point(0.5, 29.0), Point(1.0, 31.0), Point(3.0, 36.0)]
    assert bd_rate(CURVE, [*CURVE, Point(1.5, 30.0), Point(4.0, 41.0)]) == 0


@pytest.fixture(scope="module")
def camera():
    return np.asarray(Image.open(SAMPLES / "camera-128.png"))


@pytest.mark.parametrize("name", list(anchors.ANCHORS))
def test_anchor_rate_and_psnr_rise_with_quality(camera, name):
    points = anchors.curve(camera, name)
    assert len(points) == len(anchors.ANCHOR_QUALITIES)
    assert all(a.bpp < b.bpp and a.psnr < b.psnr for a, b in zip(points, points[1:]))


def test_anchor_point_is_the_file_size_and_the_decoded_psnr(camera):
    out = io.BytesIO()
    Image.fromarray(camera).save(out, format="JPEG", quality=50, optimize=True)
    decoded = np.asarray(Image.open(io.BytesIO(out.getvalue())))
    assert anchors.curve(camera, "jpeg", [50]) == [Point(8 * len(out.getvalue()) / 128**2, psnr(camera, decoded))]


@pytest.mark.parametrize("name", list(anchors.ANCHORS))
def test_anchors_code_rgb_images(name):
    pixels = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:64, :96]
    (point,) = anchors.curve(pixels, name, [80])
    assert 0 < point.bpp < 24 and 25 < point.psnr < 60


def test_alpha_and_unknown_anchors_are_refused(camera):
    with pytest.raises(ImageError, match="alpha"):
        anchors.curve(np.dstack([camera, camera]), "jpeg")
    with pytest.raises(OptionsError, match="unknown anchor 'png'"):
        anchors.curve(camera, "png")


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "rd.png"
    anchors.plot({"vqcodec": CURVE, "jpeg": [Point(p.bpp * 1.3, p.psnr) for p in CURVE]}, path, "test")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 300


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(DependencyError, match=r"pip install 'vqcodec\[plot\]'"):
        anchors.plot({"vqcodec": CURVE}, tmp_path / "rd.png", "test")


def test_the_bundled_photos_are_credited_and_exclude_the_reduced_camera():
    names = [p.name for p in anchors.photos()]
    assert names == ["astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png"]
    credits = (SAMPLES / "ATTRIBUTION.md").read_text()
    assert all(f"| {p.name} |" in credits for p in runs.bundled_samples())


def test_cli_rd_prints_the_bd_rate_table_and_writes_json_and_plots(tmp_path, camera):
    args = ["bench", "--rd", str(SAMPLES / "camera-128.png"), "--qualities", "0,20",
            "--json", str(tmp_path / "rd.json"), "--plot", str(tmp_path / "plots")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [cell.strip() for cell in lines[0].split("|")[1:-1]] == ["image", "vs JPEG", "vs WebP", "vs AVIF"]
    assert lines[2].startswith("| camera-128.png (128x128 L) |") and lines[3].startswith("| mean ")
    assert lines[2].count("%") == 3
    doc = json.loads((tmp_path / "rd.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    first = doc["images"][0]["curves"]["vqcodec"][0]
    assert first["quality"] == 0 and first["bpp"] == 8 * len(api.encode(camera, quality=0).data) / 128**2
    assert list(doc["mean_bd_rate"]) == ["jpeg", "webp", "avif"]
    with Image.open(tmp_path / "plots" / "camera-128-rd.png") as im:
        assert im.format == "PNG"


@pytest.mark.parametrize("args, message", [
    (["--rd", "-k", "64"], "Error: -k does not apply to --rd"),
    (["--plot", "x"], "Error: --plot needs --rd"),
    (["--rd", "--qualities", "101"], "Error: quality"),
    (["--rd", "--anchors", "jpeg,png"], "Error: unknown anchor 'png'"),
])
def test_cli_rd_refuses_bad_options_before_any_work(args, message):
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2 and result.stderr.startswith(message)
