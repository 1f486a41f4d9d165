"""vqcodec bench: its figures are those of real encode/decode runs, and its baseline check bites."""
import hashlib
import json

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import DOCS
from PIL import Image

import vqcodec
from vqcodec import metrics
from vqcodec.bench import runs
from vqcodec.cli.commands import main

SCHEMA = json.loads((DOCS / "bench.schema.json").read_text())


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:24, 0:30]
    pixels = np.stack([x * 8, y * 10, (x * y) % 256], axis=2) + rng.integers(0, 20, (24, 30, 3))
    path = tmp_path_factory.mktemp("bench") / "tile.png"
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


CLASSIC_GRID = runs.settings([8, 4], [2, 3], classic=True)  # K=8 b=2, K=8 b=3, K=4 b=2, K=4 b=3


@pytest.fixture(scope="module")
def records(image_path):
    return runs.run([image_path], CLASSIC_GRID[::3], ["kmeans", "centnn"], seed=1, repeat=2, reference=0.01)


@pytest.fixture(scope="module")
def rd_records(image_path):
    settings = runs.settings(qualities=[30, 80]) + runs.settings([16], [4], [60])
    return runs.run([image_path], settings, ["kmeans"], seed=2, reference=0.01)


def test_records_agree_with_separate_encode_and_decode(image_path, records, rd_records):
    original = np.asarray(Image.open(image_path))
    assert len(records) == 4 and len(rd_records) == 3
    for rec in records + rd_records:
        classic = rec.encoder == "classic"
        result = vqcodec.encode(image_path, k=rec.k, block=rec.block, algo=rec.algo, seed=rec.seed, classic=classic,
                                quality=None if classic else rec.quality)
        assert hashlib.sha256(result.data).hexdigest() == rec.sha256
        assert len(result.data) == rec.bytes
        assert rec.psnr == pytest.approx(metrics.psnr(original, vqcodec.decode(result.data).pixels), abs=1e-12)
        assert rec.psnr == pytest.approx(result.psnr, abs=1e-12)
        assert rec.bpp == pytest.approx(8 * rec.bytes / (30 * 24))
        h = result.header
        assert (rec.version, rec.codewords) == (h.version, h.k)
        assert rec.bytes == h.header_size + rec.means_bytes + rec.codebook_bytes + rec.index_bytes + rec.filter_bytes + 4
        assert rec.codebook_bytes > 0 and rec.index_bytes > 0


def test_records_say_what_they_measured(records, rd_records):
    assert {(r.encoder, r.version, r.quality, r.means_bytes) for r in records} == {("classic", 2, None, 0)}
    assert [(r.encoder, r.version, r.quality, r.k, r.block) for r in rd_records] == [
        ("rd", 5, 30, None, None), ("rd", 5, 80, None, None), ("rd", 5, 60, 16, 4)]
    assert all(r.means_bytes > 0 for r in rd_records)
    assert [r.setting for r in records[:2] + rd_records] == ["K=8 b=2", "K=8 b=2", "q=30", "q=80", "q=60 K=16 b=4"]


@pytest.mark.parametrize("options", [[], ["--quality", "40", "-k", "64", "-b", "4"], ["--classic", "-k", "8", "-b", "2"]],
                         ids=["default", "rd-options", "classic"])
def test_bench_measures_the_file_encode_writes(image_path, tmp_path, options):
    """The same options on both commands: the record is the file `vqcodec encode` writes, and the PSNR its
    summary line reports."""
    runner = CliRunner()
    out, doc_path = tmp_path / "cli.vqc", tmp_path / "bench.json"
    encoded = runner.invoke(main, ["encode", str(image_path), "-o", str(out), *options])
    assert encoded.exit_code == 0, encoded.output
    benched = runner.invoke(main, ["bench", str(image_path), "--algo", "kmeans", "--json", str(doc_path), *options])
    assert benched.exit_code == 0, benched.output
    (record,) = json.loads(doc_path.read_text())["records"]
    data = out.read_bytes()
    assert (record["sha256"], record["bytes"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert f"PSNR {record['psnr']:.2f} dB" in encoded.stderr
    assert record["encoder"] == ("classic" if "--classic" in options else "rd")


def test_json_document_matches_the_schema(records, rd_records):
    doc = runs.document(records + rd_records, 0.01, {"kmeans": 0.5}, 2,
                         {"classic": True, "settings": [{"quality": None, "k": 8, "block": 2}], "algo": ["kmeans"],
                          "repeat": 2, "seed": 1, "preset": None})
    jsonschema.validate(json.loads(json.dumps(doc)), SCHEMA)


def test_schema_rejects_a_record_without_psnr_or_encoder(records):
    options = {"classic": True, "settings": [], "algo": [], "repeat": 1, "seed": 0, "preset": None}
    for field in ("psnr", "encoder"):
        doc = json.loads(json.dumps(runs.document(records, 0.01, {}, 1, options)))
        del doc["records"][0][field]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, SCHEMA)


def _baseline(records, **changes):
    doc = json.loads(json.dumps(runs.document(records, 0.01, {}, 1, {})))
    doc["records"][0].update(changes)
    return doc


def test_unchanged_records_pass_the_baseline(records, rd_records):
    assert runs.compare(records + rd_records, 0.01, _baseline(records + rd_records)) == []


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda r: {"psnr": r.psnr + 0.06}, "PSNR"),
        (lambda r: {"bpp": r.bpp - 0.001}, "bits per pixel"),
        (lambda r: {"encode_relative": r.encode_relative / 2}, "encode time"),
    ],
)
def test_a_worse_record_fails_the_baseline(records, change, words):
    problems = runs.compare(records, 0.01, _baseline(records, **change(records[0])), time_tolerance=0.5)
    assert len(problems) == 1
    assert words in problems[0] and "tile.png K=8 b=2 kmeans" in problems[0]


def test_a_record_the_baseline_lacks_fails_it(records, rd_records):
    """A grid that no longer matches its baseline (a renamed setting, another encoder) cannot pass unseen."""
    problems = runs.compare(records + rd_records[:1], 0.01, _baseline(records))
    assert len(problems) == 1 and "tile.png q=30 kmeans" in problems[0] and "not in the baseline" in problems[0]


def test_psnr_within_tolerance_and_timing_switched_off_pass(records):
    doc = _baseline(records, psnr=records[0].psnr + 0.04, encode_relative=records[0].encode_relative / 10)
    assert runs.compare(records, 0.01, doc, psnr_tolerance=0.05, time_tolerance=None) == []


def test_cli_baseline_round_trip_and_regression(image_path, tmp_path):
    runner = CliRunner()
    base = tmp_path / "base.json"
    grid = [str(image_path), "-k", "4", "-b", "2", "--algo", "kmeans", "--classic"]
    saved = runner.invoke(main, ["bench", *grid, "--save-baseline", str(base), "--csv", str(tmp_path / "b.csv")])
    assert saved.exit_code == 0, saved.output
    assert "tile.png" in saved.stdout and "PSNR" in saved.stdout
    assert (tmp_path / "b.csv").read_text().splitlines()[0].startswith("image,width,height,mode,encoder,quality")
    ok = runner.invoke(main, ["bench", *grid, "--baseline", str(base), "--no-timing-check"])
    assert ok.exit_code == 0 and "no regression" in ok.stderr
    other = runner.invoke(main, ["bench", *grid[:-1], "--baseline", str(base), "--no-timing-check"])
    assert other.exit_code == 1 and "not in the baseline" in other.stderr  # the rd encoder's records
    doc = json.loads(base.read_text())
    doc["records"][0]["psnr"] += 1.0
    base.write_text(json.dumps(doc))
    bad = runner.invoke(main, ["bench", *grid, "--baseline", str(base), "--no-timing-check"])
    assert bad.exit_code == 1
    assert "Regression: tile.png K=4 b=2 kmeans" in bad.stderr


@pytest.mark.parametrize("options, pictures", [
    (["--classic", "-k", "4,8", "-b", "2"], ["tile-k4-b2.png", "tile-k8-b2.png"]),
    (["--quality", "20,70"], ["tile-q20.png", "tile-q70.png"]),
])
def test_cli_montage_writes_one_picture_per_setting(image_path, tmp_path, options, pictures):
    result = CliRunner().invoke(main, ["bench", str(image_path), *options, "--montage", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == pictures
    with Image.open(tmp_path / "m" / pictures[0]) as im:
        assert im.width > 3 * 30  # original and two trainers side by side


def test_cli_paper_preset_reports_the_article_beside_our_numbers():
    result = CliRunner().invoke(main, ["bench", "--preset", "paper"])
    assert result.exit_code == 0, result.output
    assert "camera-128.png" in result.stdout
    for claimed in ("47.53", "46.35", "36.78", "32.57"):
        assert claimed in result.stdout


@pytest.mark.parametrize("args, words", [
    (["-k", "a,b"], "integers"),
    (["--quality", "x"], "numbers"),
    (["--algo", "kmeans,nope"], "unknown trainer"),
    (["-k", "1"], "codebook size"),
    (["--quality", "101"], "quality"),
    (["--classic", "--quality", "50"], "--classic"),
    (["--preset", "paper", "-k", "64"], "--preset paper"),
    (["--rd", "--classic"], "--rd"),
    (["--plot", "plots"], "--rd"),
])
def test_cli_bench_refuses_bad_options_before_any_run(args, words):
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output

