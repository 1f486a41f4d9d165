"""vqcodec bench: its figures are those of real encode/decode runs, and its baseline check bites."""
import hashlib
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vqcodec
from vqcodec import bench, metrics
from vqcodec.cli import main

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "bench.schema.json").read_text())


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:24, 0:30]
    pixels = np.stack([x * 8, y * 10, (x * y) % 256], axis=2) + rng.integers(0, 20, (24, 30, 3))
    path = tmp_path_factory.mktemp("bench") / "tile.png"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def records(image_path):
    return bench.run([image_path], [(8, 2), (4, 3)], ["kmeans", "centnn"], seed=1, repeat=2, reference=0.01)


def test_records_agree_with_separate_encode_and_decode(image_path, records):
    original = np.asarray(Image.open(image_path))
    assert len(records) == 4
    for rec in records:
        result = vqcodec.encode(image_path, k=rec.k, block=rec.block, algo=rec.algo, seed=rec.seed, classic=True)
        assert hashlib.sha256(result.data).hexdigest() == rec.sha256
        assert len(result.data) == rec.bytes
        assert rec.psnr == pytest.approx(metrics.psnr(original, vqcodec.decode(result.data).pixels), abs=1e-12)
        assert rec.bpp == pytest.approx(8 * rec.bytes / (30 * 24))
        h = result.header
        assert rec.codewords == h.k <= rec.k
        assert (rec.codebook_bytes, rec.index_bytes) == (h.section("codebook").length, h.section("indices").length)
        assert rec.bytes == h.header_size + rec.codebook_bytes + rec.index_bytes + 4


def test_records_agree_with_the_cli(image_path, records, tmp_path):
    rec = records[1]
    out = tmp_path / "cli.vqc"
    args = ["encode", str(image_path), "-o", str(out), "-k", str(rec.k), "-b", str(rec.block), "--algo", rec.algo, "--seed", "1", "--classic"]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert hashlib.sha256(out.read_bytes()).hexdigest() == rec.sha256


def test_json_document_matches_the_schema(records):
    doc = bench.document(records, 0.01, {"kmeans": 0.5}, 2, {"settings": [[8, 2]], "algo": ["kmeans"], "repeat": 2, "seed": 1, "preset": None})
    jsonschema.validate(json.loads(json.dumps(doc)), SCHEMA)


def test_schema_rejects_a_record_without_psnr(records):
    doc = bench.document(records, 0.01, {}, 1, {"settings": [], "algo": [], "repeat": 1, "seed": 0, "preset": None})
    del doc["records"][0]["psnr"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def _baseline(records, **changes):
    doc = json.loads(json.dumps(bench.document(records, 0.01, {}, 1, {})))
    doc["records"][0].update(changes)
    return doc


def test_unchanged_records_pass_the_baseline(records):
    assert bench.compare(records, 0.01, _baseline(records)) == []


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda r: {"psnr": r.psnr + 0.06}, "PSNR"),
        (lambda r: {"bpp": r.bpp - 0.001}, "bits per pixel"),
        (lambda r: {"encode_relative": r.encode_relative / 2}, "encode time"),
    ],
)
def test_a_worse_record_fails_the_baseline(records, change, words):
    problems = bench.compare(records, 0.01, _baseline(records, **change(records[0])), time_tolerance=0.5)
    assert len(problems) == 1
    assert words in problems[0] and "tile.png K=8 b=2 kmeans" in problems[0]


def test_psnr_within_tolerance_and_timing_switched_off_pass(records):
    doc = _baseline(records, psnr=records[0].psnr + 0.04, encode_relative=records[0].encode_relative / 10)
    assert bench.compare(records, 0.01, doc, psnr_tolerance=0.05, time_tolerance=None) == []


def test_cli_baseline_round_trip_and_regression(image_path, tmp_path):
    runner = CliRunner()
    base = tmp_path / "base.json"
    grid = [str(image_path), "-k", "4", "-b", "2", "--algo", "kmeans"]
    saved = runner.invoke(main, ["bench", *grid, "--save-baseline", str(base), "--csv", str(tmp_path / "b.csv")])
    assert saved.exit_code == 0, saved.output
    assert "tile.png" in saved.stdout and "PSNR" in saved.stdout
    assert (tmp_path / "b.csv").read_text().splitlines()[0].startswith("image,width,height")
    ok = runner.invoke(main, ["bench", *grid, "--baseline", str(base), "--no-timing-check"])
    assert ok.exit_code == 0 and "no regression" in ok.stderr
    doc = json.loads(base.read_text())
    doc["records"][0]["psnr"] += 1.0
    base.write_text(json.dumps(doc))
    bad = runner.invoke(main, ["bench", *grid, "--baseline", str(base), "--no-timing-check"])
    assert bad.exit_code == 1
    assert "Regression: tile.png K=4 b=2 kmeans" in bad.stderr


def test_cli_montage_writes_one_picture_per_setting(image_path, tmp_path):
    result = CliRunner().invoke(main, ["bench", str(image_path), "-k", "4,8", "-b", "2", "--montage", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    pictures = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert pictures == ["tile-k4-b2.png", "tile-k8-b2.png"]
    with Image.open(tmp_path / "m" / pictures[0]) as im:
        assert im.width > 3 * 30  # original and two trainers side by side


def test_cli_paper_preset_reports_the_article_beside_our_numbers():
    result = CliRunner().invoke(main, ["bench", "--preset", "paper"])
    assert result.exit_code == 0, result.output
    assert "camera-128.png" in result.stdout
    for claimed in ("47.53", "46.35", "36.78", "32.57"):
        assert claimed in result.stdout


def test_cli_bench_rejects_bad_lists():
    runner = CliRunner()
    assert runner.invoke(main, ["bench", "-k", "a,b"]).exit_code == 2
    assert runner.invoke(main, ["bench", "--algo", "kmeans,nope"]).exit_code == 2
    result = runner.invoke(main, ["bench", "-k", "1"])
    assert result.exit_code == 2 and result.stderr.startswith("Error: codebook size")


def test_ssim_matches_scikit_image():
    """0.9267936312488263 is what scikit-image 0.26's structural_similarity (gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=255) gives for this pair."""
    y, x = np.mgrid[0:24, 0:32]
    a = ((x * 7 + y * 3) % 256).astype(np.uint8)
    b = ((x * 7 + y * 3 + (x * y) % 13) % 256).astype(np.uint8)
    assert metrics.ssim(a, b) == pytest.approx(0.9267936312488263, abs=1e-12)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a[:10], b[:10]) is None
