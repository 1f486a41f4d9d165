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
from vqcodec.bench.anchors import Point, bd_rate, pareto, ssim_decibels
from vqcodec.cli.commands import main
from vqcodec.errors import DependencyError, ImageError, OptionsError
from vqcodec.metrics import psnr, ssim

SCHEMA = json.loads((DOCS / "rd.schema.json").read_text())
MEASURES = list(anchors.MEASURES)


def at(bpp: float, decibels: float, ssim_db: float | None = None) -> Point:
    """A point of PSNR `decibels` and of SSIM 1 - 10 ** (-dB / 10), the same dB unless `ssim_db` is given."""
    return Point(bpp, decibels, 1 - 10 ** (-(decibels if ssim_db is None else ssim_db) / 10))


def shifted(points, measure: str, decibels: float) -> list[Point]:
    """The points at the same rates, `decibels` better on `measure` only."""
    if measure == "psnr":
        return [p._replace(psnr=p.psnr + decibels) for p in points]
    return [p._replace(ssim=1 - (1 - p.ssim) * 10 ** (-decibels / 10)) for p in points]


CURVE = [at(0.25, 28.0, 8.1), at(0.5, 31.5, 10.9), at(1.0, 35.0, 13.8), at(2.0, 39.2, 17.0), at(3.1, 42.0, 19.6)]


def test_ssim_is_taken_in_decibels():
    assert ssim_decibels(0.9) == pytest.approx(10.0)
    assert ssim_decibels(0.99) == pytest.approx(20.0)
    assert ssim_decibels(1.0) == float("inf")
    assert np.isnan(ssim_decibels(None))


@pytest.mark.parametrize("measure", MEASURES)
def test_a_curve_against_itself_is_zero(measure):
    assert bd_rate(CURVE, CURVE, measure) == 0


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("factor, expected", [(0.5, -50.0), (2.0, 100.0)])
def test_scaling_every_rate_scales_the_bd_rate(factor, expected, measure):
    scaled = [p._replace(bpp=p.bpp * factor) for p in CURVE]
    assert bd_rate(CURVE, scaled, measure) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("measure", MEASURES)
def test_more_quality_at_the_same_rates_needs_fewer_bits(measure):
    better = shifted(CURVE, measure, 1.0)
    assert bd_rate(CURVE, better, measure) < 0 < bd_rate(better, CURVE, measure)


def test_each_measure_sees_only_its_own_quality():
    """Sharper at the same PSNR: fewer bits on SSIM, the same on PSNR; and the other way round."""
    sharper, less_noisy = shifted(CURVE, "ssim", 1.0), shifted(CURVE, "psnr", 1.0)
    assert bd_rate(CURVE, sharper) == 0 and bd_rate(CURVE, sharper, "ssim") < 0
    assert bd_rate(CURVE, less_noisy, "ssim") == 0 and bd_rate(CURVE, less_noisy) < 0


@pytest.mark.parametrize("measure", MEASURES)
def test_two_point_curves_give_the_hand_computed_value(measure):
    """Two points: log-rate is linear in dB, ln 4 per 10 dB; 2 dB better costs 4 ** -0.2 times the bits.
    On SSIM that is 0.9 and 0.99 against 1 - 10 ** -1.2 and 1 - 10 ** -2.2."""
    reference, test = [at(1, 10), at(4, 20)], [at(1, 12), at(4, 22)]
    assert bd_rate(reference, test, measure) == pytest.approx(100 * (4 ** -0.2 - 1))


def test_pchip_matches_scipy():
    """-4.033742155549513 is what scipy 1.17's PchipInterpolator, integrated over the common PSNR interval, gives."""
    reference = [at(0.21, 27.9), at(0.45, 31.2), at(0.8, 34.6), at(1.7, 39.8), at(3.0, 44.1)]
    test = [at(0.3, 29.5), at(0.5, 31.9), at(1.1, 37.0), at(2.2, 42.3)]
    assert bd_rate(reference, test) == pytest.approx(-4.033742155549513, abs=1e-9)
    assert bd_rate(reference, test, "ssim") == pytest.approx(-4.033742155549513, abs=1e-9)


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("test", [
    [at(5.0, 50.0, 50.0), at(6.0, 55.0, 55.0)],  # above the reference's range
    [at(0.5, 31.5, 10.9)],  # one point spans no interval
    [at(0.1, 20.0, 5.0), at(0.2, 28.0, 8.1)],  # touches the reference's range at one value only
])
def test_curves_without_a_common_interval_give_none(test, measure):
    assert bd_rate(CURVE, test, measure) is None


def test_images_without_ssim_have_no_bd_rate_on_it():
    """Below 11 x 11 pixels there is no SSIM; PSNR still rates."""
    tiny = [p._replace(ssim=None) for p in CURVE]
    assert bd_rate(tiny, tiny, "ssim") is None and bd_rate(tiny, tiny) == 0


def test_pareto_drops_beaten_points():
    points = [at(2.0, 30.0), at(1.0, 31.0), at(3.0, 36.0), at(3.0, 35.0), at(4.0, 36.0),
              at(5.0, float("inf")), at(0.5, 29.0)]
    assert pareto(points) == [at(0.5, 29.0), at(1.0, 31.0), at(3.0, 36.0)]
    assert bd_rate(CURVE, [*CURVE, at(1.5, 30.0), at(4.0, 41.0)]) == 0


def test_pareto_on_ssim_ranks_by_ssim():
    """The point beaten on PSNR but not on SSIM stays on SSIM's front; SSIM 1 (lossless) leaves it."""
    points = [at(1.0, 30.0, 12.0), at(2.0, 29.0, 14.0), at(3.0, 35.0, float("inf"))]
    assert pareto(points) == [points[0], points[2]]
    assert pareto(points, "ssim") == points[:2]


@pytest.fixture(scope="module")
def camera():
    return np.asarray(Image.open(SAMPLES / "camera-128.png"))


@pytest.mark.parametrize("name", list(anchors.ANCHORS))
def test_anchor_rate_and_quality_rise_with_quality(camera, name):
    points = anchors.curve(camera, name)
    assert len(points) == len(anchors.ANCHOR_QUALITIES)
    assert all(a.bpp < b.bpp and a.psnr < b.psnr for a, b in zip(points, points[1:]))
    assert points[0].ssim < points[len(points) // 2].ssim < points[-1].ssim < 1


def test_anchor_point_is_the_file_size_and_the_decoded_psnr_and_ssim(camera):
    out = io.BytesIO()
    Image.fromarray(camera).save(out, format="JPEG", quality=50, optimize=True)
    decoded = np.asarray(Image.open(io.BytesIO(out.getvalue())))
    expected = Point(8 * len(out.getvalue()) / 128**2, psnr(camera, decoded), ssim(camera, decoded))
    assert anchors.curve(camera, "jpeg", [50]) == [expected]


def test_vqcodec_point_is_the_file_size_the_encoders_psnr_and_the_decoded_ssim(camera):
    result = api.encode(camera, quality=50)
    decoded = api.decode(result.data).pixels
    expected = Point(8 * len(result.data) / 128**2, result.psnr, ssim(camera, decoded))
    assert anchors.vqcodec_curve(camera, [50]) == [expected]


@pytest.mark.parametrize("name", list(anchors.ANCHORS))
def test_anchors_code_rgb_images(name):
    pixels = np.asarray(Image.open(SAMPLES / "chelsea.png"))[:64, :96]
    (point,) = anchors.curve(pixels, name, [80])
    assert 0 < point.bpp < 24 and 25 < point.psnr < 60 and 0.5 < point.ssim < 1


def test_alpha_and_unknown_anchors_are_refused(camera):
    with pytest.raises(ImageError, match="alpha"):
        anchors.curve(np.dstack([camera, camera]), "jpeg")
    with pytest.raises(OptionsError, match="unknown anchor 'png'"):
        anchors.curve(camera, "png")


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "rd.png"
    anchors.plot({"vqcodec": CURVE, "jpeg": [p._replace(bpp=p.bpp * 1.3, ssim=None) for p in CURVE]}, path, "test")
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
    args = ["bench", "--rd", str(SAMPLES / "camera-128.png"), "--qualities", "0,40",
            "--json", str(tmp_path / "rd.json"), "--plot", str(tmp_path / "plots")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [cell.strip() for cell in lines[0].split("|")[1:-1]] == [
        "image", "vs JPEG", "vs WebP", "vs AVIF", "SSIM vs JPEG", "SSIM vs WebP", "SSIM vs AVIF"]
    assert lines[2].startswith("| camera-128.png (128x128 L) |") and lines[3].startswith("| mean ")
    assert lines[2].count("%") == 6
    doc = json.loads((tmp_path / "rd.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    image = doc["images"][0]
    first = image["curves"]["vqcodec"][0]
    data = api.encode(camera, quality=0).data
    assert first["quality"] == 0 and first["bpp"] == 8 * len(data) / 128**2
    assert first["ssim"] == ssim(camera, api.decode(data).pixels)
    curves = {name: [Point(p["bpp"], p["psnr"], p["ssim"]) for p in points] for name, points in image["curves"].items()}
    assert image["bd_rate_ssim"] == {name: bd_rate(curves[name], curves["vqcodec"], "ssim") for name in anchors.ANCHORS}
    assert list(doc["mean_bd_rate"]) == list(doc["mean_bd_rate_ssim"]) == ["jpeg", "webp", "avif"]
    assert image["bd_rate_ssim"] == doc["mean_bd_rate_ssim"] != image["bd_rate"]
    with Image.open(tmp_path / "plots" / "camera-128-rd.png") as im:
        assert im.format == "PNG"


def test_an_image_below_one_ssim_window_is_rated_on_psnr_only(tmp_path):
    path = tmp_path / "tiny.png"
    Image.fromarray(np.arange(80, dtype=np.uint8).reshape(8, 10) * 3).save(path)
    report = anchors.run([path], [0, 90], ["jpeg"])
    (comparison,) = report.comparisons
    assert {p.ssim for points in comparison.curves.values() for p in points} == {None}
    assert comparison.bd_rates["ssim"] == {"jpeg": None} and report.mean("jpeg", "ssim") is None
    assert anchors.table(report).splitlines()[2].endswith(" - |")
    jsonschema.validate(anchors.document(report), SCHEMA)


@pytest.mark.parametrize("args, message", [
    (["--rd", "-k", "64"], "Error: -k does not apply to --rd"),
    (["--plot", "x"], "Error: --plot needs --rd"),
    (["--rd", "--qualities", "101"], "Error: quality"),
    (["--rd", "--anchors", "jpeg,png"], "Error: unknown anchor 'png'"),
])
def test_cli_rd_refuses_bad_options_before_any_work(args, message):
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2 and result.stderr.startswith(message)


@pytest.mark.parametrize("name", list(anchors.ANCHORS))
def test_at_equal_size_each_anchor_takes_its_highest_quality_that_fits(camera, name):
    """vqcodec's file at the default quality sets the size; the anchor's file is no larger, and one quality
    more would be (unless it is at 100 already)."""
    panels = anchors.equal_size(camera[..., None], [name])
    budget = panels[0].size
    assert panels[0].codec == "vqcodec" and panels[0].quality == 75
    assert budget == len(api.encode(camera).data)
    assert np.array_equal(panels[0].pixels[..., 0], api.decode(api.encode(camera).data).pixels)
    (panel,) = panels[1:]
    assert panel.size <= budget and panel.pixels.shape == (128, 128, 1)
    if panel.quality < 100:
        found = anchors.ANCHORS[name]
        bigger, _ = anchors._anchor_file(Image.fromarray(camera), (128, 128, 1), found, panel.quality + 1)
        assert len(bigger) > budget


def test_the_montage_crop_is_where_the_detail_is_not_where_one_edge_is():
    image = np.full((96, 160, 1), 40, dtype=np.uint8)
    image[:, 20:] = 220  # one strong edge on the left
    image[32:64, 112:144, 0] = np.random.default_rng(0).integers(0, 256, (32, 32))  # texture on the right
    top, left = anchors.detailed_window(image, 32)
    assert (top, left) == (32, 112)


def test_cli_rd_montage_shows_each_codec_at_equal_size(tmp_path):
    args = ["bench", "--rd", str(SAMPLES / "camera-128.png"), "--qualities", "40,80", "--anchors", "jpeg,webp",
            "--montage", str(tmp_path / "m")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "m" / "camera-128-montage.png") as im:
        assert im.format == "PNG" and im.width > 4 * 256  # the original and three files, crops at twice their size
