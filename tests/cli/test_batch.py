"""Batches, folders and pipes: many inputs, -o folders, -j workers, stdin/stdout, exit codes.

The README promises: one bad file never stops the batch, each failure is one
line naming the file, the exit code sums it up, the output does not depend on
-j, and an interrupt leaves no partial or temporary file.
"""
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import BOTH_ENCODERS, DOCS, GOLDEN, SAMPLES, classic_flag, gradient_image, random_image, save_png
from PIL import Image

import vqcodec
from vqcodec import EncodeOptions
from vqcodec.cli import batch
from vqcodec.cli.batch import Job, Settings, plan
from vqcodec.cli.commands import main
from vqcodec.cli.progress import Progress

SCHEMA = json.loads((DOCS / "batch.schema.json").read_text())
INFO_SCHEMA = json.loads((DOCS / "info.schema.json").read_text())
ENCODE = Settings("encode", EncodeOptions(k=8, block=4))
DECODE = Settings("decode")


def run(*args, stdin: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin)


def hidden_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*")]


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error: ")]


@pytest.fixture
def mixed(tmp_path, monkeypatch):
    """photos/: three good images (one in a subfolder), two broken ones, a hidden file and a text file."""
    monkeypatch.chdir(tmp_path)
    photos = Path("photos")
    (photos / "trip").mkdir(parents=True)
    save_png(gradient_image(24, 20, 3), photos / "a.png")
    save_png(random_image(16, 16), photos / "trip" / "b.png")
    Image.fromarray(gradient_image(8, 12)).save(photos / "c.bmp")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    good = (photos / "a.png").read_bytes()
    (photos / "cut.png").write_bytes(good[: len(good) // 2])
    (photos / ".hidden.png").write_bytes(good)
    (photos / "notes.txt").write_text("not an image, and not picked up by -r\n")
    return photos


# --- planning ----------------------------------------------------------------------------------


def test_plan_names_outputs_next_to_inputs(tmp_path):
    jobs, notes = plan(["x/a.png", "b.jpg"], None, ENCODE)
    assert [(j.source, j.output, j.problem) for j in jobs] == [("x/a.png", "x/a.vqc", None), ("b.jpg", "b.vqc", None)]
    assert notes == []
    jobs, _ = plan(["x/a.vqc"], None, Settings("decode", image_format="webp"))
    assert jobs[0].output == "x/a.vqc.webp"


def test_plan_mirrors_folders_under_the_output_folder(mixed):
    jobs, _ = plan(["photos", "lone.png"], "out", ENCODE, recursive=True)
    assert [(j.source, j.output) for j in jobs] == [
        ("photos/a.png", "out/a.vqc"),
        ("photos/broken.png", "out/broken.vqc"),
        ("photos/c.bmp", "out/c.vqc"),
        ("photos/cut.png", "out/cut.vqc"),
        ("photos/trip/b.png", "out/trip/b.vqc"),
        ("lone.png", "out/lone.vqc"),
    ]
    assert all(j.in_folder for j in jobs)


def test_plan_single_input_output_is_a_file_unless_it_is_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert plan(["a.png"], "x.vqc", ENCODE)[0][0].output == "x.vqc"
    assert plan(["a.png"], "new/", ENCODE)[0][0].output == os.path.join("new/", "a.vqc")
    Path("there").mkdir()
    assert plan(["a.png"], "there", ENCODE)[0][0].output == os.path.join("there", "a.vqc")


def test_plan_refuses_a_folder_without_r_and_same_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("dir").mkdir()
    jobs, _ = plan(["dir", "a.png", "a.jpg", "a.png"], None, ENCODE)
    assert "use -r" in jobs[0].problem
    assert jobs[1].problem is None
    assert "also the output of a.png" in jobs[2].problem and "also the output" in jobs[3].problem


def test_plan_never_writes_over_an_input(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "replace the input" in plan(["x.vqc"], None, ENCODE)[0][0].problem  # x.vqc -> x.vqc
    assert "replace the input" in plan(["a.png"], "a.png", ENCODE)[0][0].problem
    result = run("encode", "x.vqc", "--force")
    assert result.exit_code == 1 and result.stderr == "Error: x.vqc: the output would replace the input itself\n"


def test_plan_notes_a_folder_without_inputs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("empty").mkdir()
    jobs, notes = plan(["empty"], None, DECODE, recursive=True)
    assert jobs == [] and notes == ["empty: no .vqc files found"]


@pytest.mark.parametrize(
    ("inputs", "output", "word"),
    [
        (["a.png", "b.png"], "-", "single input"),
        (["-", "a.png"], None, "only input"),
        ([], None, "no input"),
        (["a.png", "b.png"], "file.txt", "file"),
    ],
)
def test_plan_usage_errors(tmp_path, monkeypatch, inputs, output, word):
    monkeypatch.chdir(tmp_path)
    Path("file.txt").write_text("x")
    with pytest.raises(vqcodec.OptionsError, match=word):
        plan(inputs, output, ENCODE)


def test_image_format_is_checked():
    assert batch.check_image_format(".WEBP") == "webp"
    with pytest.raises(vqcodec.OptionsError, match="nosuch"):
        batch.check_image_format("nosuch")


# --- a batch of good and broken files -----------------------------------------------------------


@pytest.mark.parametrize("jobs", [1, 2])
def test_mixed_folder_reports_exactly_the_broken_files(mixed, jobs):
    result = run("encode", "-r", "photos", "-o", "out", "-k", 8, "-j", jobs)
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 2
    assert "photos/broken.png" in errors[0] and "photos/cut.png" in errors[1]
    written = sorted(str(p) for p in Path("out").rglob("*") if p.is_file())
    assert written == ["out/a.vqc", "out/c.vqc", "out/trip/b.vqc"]
    assert hidden_files(Path("out")) == []
    assert result.stderr.splitlines()[-1].startswith("3 encoded, 0 skipped, 2 failed in ")
    for path in written:
        vqcodec.info(path)


def test_outputs_do_not_depend_on_the_number_of_jobs(mixed):
    for jobs in (1, 2):
        run("encode", "-r", "photos", "-o", f"out{jobs}", "-k", 8, "-j", jobs)
    one = {p.relative_to("out1"): p.read_bytes() for p in Path("out1").rglob("*.vqc")}
    two = {p.relative_to("out2"): p.read_bytes() for p in Path("out2").rglob("*.vqc")}
    assert len(one) == 3 and one == two


def test_decode_a_folder(mixed):
    assert run("encode", "-r", "photos", "-o", "vqc", "-k", 8).exit_code == 3
    result = run("decode", "-r", "vqc", "-o", "png", "-j", 2)
    assert result.exit_code == 0, result.output
    for name in ("a", "c", "trip/b"):
        with Image.open(f"png/{name}.vqc.png") as im:
            np.testing.assert_array_equal(np.asarray(im), vqcodec.decode(Path(f"vqc/{name}.vqc")).pixels)


@BOTH_ENCODERS
def test_json_records_one_per_input_in_order(mixed, classic):
    result = run("encode", "-r", "photos", "-o", "out", "-k", 8, "-j", 2, "--json", *classic_flag(classic))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    for record in records:
        jsonschema.validate(record, SCHEMA)
    assert [r["input"] for r in records] == ["photos/a.png", "photos/broken.png", "photos/c.bmp", "photos/cut.png",
                                             "photos/trip/b.png"]
    assert [r["status"] for r in records] == ["ok", "failed", "ok", "failed", "ok"]
    a = records[0]
    assert a["output_bytes"] == Path("out/a.vqc").stat().st_size
    assert a["input_bytes"] == Path("photos/a.png").stat().st_size
    assert (a["width"], a["height"], a["channels"]) == (20, 24, 3)
    if classic:
        assert (a["k"], a["block"], a["quality"]) == (8, 4, None)
    else:  # the file's codewords (up to -k 8 in each plane, summed) and block side (2 unless -b says otherwise)
        header = vqcodec.info(Path("out/a.vqc"))
        assert header.version == 5 and all(p.k <= 8 for p in header.planes)
        assert (a["k"], a["block"]) == (header.k, header.block) == (header.k, 2)
    assert a["bpp"] == pytest.approx(8 * a["output_bytes"] / (20 * 24))
    assert a["psnr"] > 20 and a["error"] is None
    assert "broken.png" in records[1]["error"] and records[1]["output_bytes"] is None

    again = [json.loads(line) for line in
             run("encode", "-r", "photos", "-o", "out", "--json", "--skip-existing").stdout.splitlines()]
    assert [r["status"] for r in again] == ["skipped", "failed", "skipped", "failed", "skipped"]
    assert again[0]["reason"] == "out/a.vqc exists" and again[0]["error"] is None


@BOTH_ENCODERS
def test_decode_json_record(mixed, classic):
    run("encode", "photos/a.png", "-k", 8, *classic_flag(classic))
    record = json.loads(run("decode", "photos/a.vqc", "--json").stdout)
    jsonschema.validate(record, SCHEMA)
    assert record["status"] == "ok" and record["output"] == "photos/a.vqc.png"
    assert record["psnr"] is None and record["bpp"] == pytest.approx(8 * record["input_bytes"] / (20 * 24))
    assert record["quality"] is None


# --- exit codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "code"),
    [
        (["photos/a.png", "photos/c.bmp"], 0),
        (["photos/broken.png", "photos/cut.png", "missing.png"], 1),
        (["photos/a.png", "photos/broken.png"], 3),
        (["photos"], 1),  # a folder without -r
    ],
)
def test_exit_codes(mixed, inputs, code):
    result = run("encode", *inputs, "-k", 8)
    assert result.exit_code == code, result.output
    assert len(error_lines(result.stderr)) == sum(not i.endswith(("a.png", "c.bmp")) for i in inputs)


def test_usage_errors_exit_2(mixed):
    for args in (["encode", "photos/a.png", "-k", 1], ["encode", "photos/a.png", "photos/c.bmp", "-o", "-"],
                 ["encode", "-", "-o", "-", "--json"], ["decode", "x.vqc", "--format", "nosuch"], ["encode"]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output


def test_existing_outputs_fail_unless_skipped_and_update_rewrites_stale_ones(mixed):
    assert run("encode", "photos/a.png", "photos/c.bmp", "-k", 8).exit_code == 0
    a, c = Path("photos/a.vqc"), Path("photos/c.vqc")
    result = run("encode", "photos/a.png", "photos/c.bmp", "-k", 8)
    assert result.exit_code == 1
    assert len(error_lines(result.stderr)) == 2 and "0 encoded, 0 skipped, 2 failed" in result.stderr
    c.unlink()
    result = run("encode", "photos/a.png", "photos/c.bmp", "-k", 8, "--json")
    assert result.exit_code == 3  # one written, one refused: a mixed batch
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["failed", "ok"]
    result = run("encode", "photos/a.png", "photos/c.bmp", "-k", 8, "--skip-existing")
    assert result.exit_code == 0
    assert result.stderr.count("Skipped: ") == 2 and "0 encoded, 2 skipped, 0 failed" in result.stderr

    now = time.time()
    os.utime(a, (now - 100, now - 100))  # a.vqc is older than a.png: out of date
    os.utime("photos/a.png", (now - 50, now - 50))
    a.write_bytes(b"stale")
    os.utime(a, (now - 100, now - 100))
    result = run("encode", "photos/a.png", "photos/c.bmp", "-k", 8, "--update")
    assert result.exit_code == 0, result.output
    assert "Skipped: photos/c.vqc is up to date" in result.stderr
    vqcodec.info(a)  # rewritten

    c.write_bytes(b"junk")
    assert run("encode", "photos/c.bmp", "-k", 8, "--force").exit_code == 0
    vqcodec.info(c)


def test_quiet_prints_only_errors_and_verbose_prints_more(mixed):
    result = run("encode", "photos/a.png", "photos/broken.png", "-k", 8, "-q")
    assert result.exit_code == 3
    assert result.stderr.splitlines() == error_lines(result.stderr) and len(error_lines(result.stderr)) == 1
    result = run("decode", "photos/a.vqc", "-v")
    assert result.exit_code == 0
    assert "decode: 1 input(s), 1 at a time" in result.stderr and "(from " in result.stderr


def test_no_progress_bar_when_stderr_is_not_a_terminal(mixed):
    result = run("encode", "photos/a.png", "photos/c.bmp", "-k", 8)
    assert "\r" not in result.stderr and "[#" not in result.stderr


def test_progress_bar_draws_and_keeps_messages_above_it():
    out = io.StringIO()
    bar = Progress(4, out, enabled=True)
    bar.advance()
    bar.echo("Error: x.png: broken")
    bar.advance(failed=True)
    assert "[" in bar.line() and "2/4, 1 failed" in bar.line() and "left" in bar.line()
    bar.close()
    text = out.getvalue()
    assert "\rError: " not in text and "\r\x1b[KError: x.png: broken\n" in text
    assert text.count("\r") >= 4


def test_a_single_long_file_shows_its_name_and_time():
    out = io.StringIO()
    bar = Progress(1, out, enabled=True, label="encoding big.png", interval=0.01)
    assert out.getvalue() == ""  # nothing for a file that finishes quickly
    deadline = time.monotonic() + 10
    while "encoding big.png, 0:0" not in out.getvalue():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    bar.close()
    drawn = out.getvalue()
    time.sleep(0.05)
    assert out.getvalue() == drawn and drawn.endswith("\r\x1b[K")  # the ticker stopped and the line is cleared


def test_a_worker_bug_fails_one_input_only(mixed, monkeypatch):
    from vqcodec import api

    real = api.encode

    def flaky(source, *args, **kwargs):
        if "c.bmp" in str(source):
            raise RuntimeError("boom")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(api, "encode", flaky)
    outcomes = [o for _, o in batch.run([Job("photos/a.png", "a.vqc"), Job("photos/c.bmp", "c.vqc")], ENCODE)]
    assert [o.status for o in outcomes] == ["ok", "failed"]
    assert "c.bmp" in outcomes[1].message and "RuntimeError: boom" in outcomes[1].message


# --- pipes --------------------------------------------------------------------------------------


def test_pipe_round_trip_through_stdin_and_stdout(mixed):
    png = Path("photos/a.png").read_bytes()
    encoded = run("encode", "-", "-o", "-", "-k", 8, stdin=png)
    assert encoded.exit_code == 0, encoded.stderr
    assert "stdin -> stdout" in encoded.stderr
    vqc = encoded.stdout_bytes
    assert vqc == vqcodec.encode("photos/a.png", k=8).data
    decoded = run("decode", "-", stdin=vqc)  # a standard input goes to standard output by default
    assert decoded.exit_code == 0, decoded.stderr
    with Image.open(io.BytesIO(decoded.stdout_bytes)) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), vqcodec.decode(vqc).pixels)
    webp = run("decode", "-", "-o", "-", "--format", "webp", stdin=vqc)
    assert Image.open(io.BytesIO(webp.stdout_bytes)).format == "WEBP"
    assert list(Path(".").glob("*.vqc")) == []


@pytest.mark.parametrize(("command", "stdin", "word"), [
    ("encode", b"", "stdin"), ("encode", b"not an image", "stdin"), ("decode", b"\x89VQC", "stdin: ")])
def test_bad_standard_input_is_one_error_line(mixed, command, stdin, word):
    result = run(command, "-", "-o", "-", stdin=stdin)
    assert result.exit_code == 1
    assert result.stdout_bytes == b""
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1 and word in result.stderr


def test_decode_reads_no_more_of_a_stream_than_the_header_declares():
    data = vqcodec.encode(gradient_image(8, 8), k=4, block=2).data
    stream = io.BytesIO(data + b"x" * 10_000)
    with pytest.raises(vqcodec.FormatError, match="trailing"):
        vqcodec.api.read_vqc(stream)
    assert stream.tell() == len(data) + 1
    assert vqcodec.api.read_vqc(io.BytesIO(data)) == data
    with pytest.raises(vqcodec.FormatError, match="truncated"):
        vqcodec.api.read_vqc(io.BytesIO(data[:-1]))


def test_shell_pipeline(tmp_path):
    """The README's pipe, through a real shell."""
    command = (f"{sys.executable} -m vqcodec encode - -o - -k 16 < {SAMPLES / 'camera-128.png'} "
               f"| {sys.executable} -m vqcodec decode - -o - > {tmp_path / 'b.png'}")
    result = subprocess.run(["sh", "-c", "set -e; " + command], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "b.png") as im:
        assert im.size == (128, 128)


# --- interruption -----------------------------------------------------------------------------------


def start_batch(folder: Path, *extra: str) -> subprocess.Popen:
    """A batch slow enough to interrupt: six photos, CentNN at K=256, in its own process group, with
    Ctrl-C's default action even where the tests run in the background (a shell starts background jobs
    with SIGINT ignored, which Python and the command then rightly keep)."""
    for i in range(6):
        (folder / f"p{i}.png").write_bytes((SAMPLES / "chelsea.png").read_bytes())
    return subprocess.Popen(
        [sys.executable, "-m", "vqcodec", "encode", "-r", str(folder), "-o", str(folder / "out"), "-k", "256",
         "--algo", "centnn", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_first_output(process: subprocess.Popen, out: Path, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not list(out.glob("*.vqc")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(("sig", "code", "word", "jobs"), [
    (signal.SIGINT, 130, "Interrupted", "2"), (signal.SIGTERM, 143, "Terminated", "1")])
def test_interrupt_leaves_no_partial_or_temporary_file(tmp_path, sig, code, word, jobs):
    process = start_batch(tmp_path, "-j", jobs)
    out = tmp_path / "out"
    wait_for_first_output(process, out)
    os.killpg(process.pid, sig)  # what a terminal's Ctrl-C does: the whole process group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert stderr.splitlines()[-1] == word
    assert "Traceback" not in stderr
    assert hidden_files(out) == []
    written = sorted(out.glob("*.vqc"))
    assert 1 <= len(written) < 6
    for path in written:
        vqcodec.decode(path)


def test_info_takes_many_inputs_and_standard_input(mixed):
    run("encode", "photos/a.png", "photos/c.bmp", "-k", 8, "--classic")  # version 2: one codebook section each
    result = run("info", "photos/a.vqc", "photos/c.vqc")
    assert result.exit_code == 0
    assert result.stdout.count("\ncodebook ") == 2 and "\n\nfile " in result.stdout
    result = run("info", "-", "missing.vqc", stdin=Path("photos/a.vqc").read_bytes())
    assert result.exit_code == 3
    assert "file        stdin" in result.stdout
    assert result.stderr == "Error: missing.vqc: no such file\n"
    result = run("info", "-", stdin=b"nonsense")
    assert result.exit_code == 1 and result.stderr.startswith("Error: stdin: ")


def test_info_json_one_record_per_file_as_the_schema_says(mixed):
    golden = sorted(GOLDEN.glob("*.vqc"))
    result = run("info", "--json", *golden, "-", "missing.vqc", stdin=b"nonsense")
    assert result.exit_code == 3  # some files refused, the others described
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == len(golden) + 2
    for record in records:
        jsonschema.validate(record, INFO_SCHEMA)
    for path, record in zip(golden, records):
        h = vqcodec.info(path)
        assert record["input"] == str(path) and record["status"] == "ok" and record["error"] is None
        assert (record["version"], record["width"], record["height"], record["mode"], record["k"]) == (
            h.version, h.width, h.height, h.mode, h.k)
        assert record["file_bytes"] == path.stat().st_size == record["header_bytes"] + sum(
            s["bytes"] for s in record["sections"] + [s for p in record["planes"] for s in p["sections"]])
        assert len(record["planes"]) == (h.channels if h.version >= 3 else 0)  # versions 3 to 5 list their planes...
        assert len(record["sections"]) == (0 if h.version >= 3 else 2)  # ...versions 1 and 2 their two sections
    stdin, missing = records[-2:]
    assert stdin["input"] == "stdin" and stdin["status"] == "failed" and stdin["error"].startswith("stdin: ")
    assert missing == {"input": "missing.vqc", "status": "failed", "error": "missing.vqc: no such file"}
    assert error_lines(result.stderr) == [f"Error: {stdin['error']}", f"Error: {missing['error']}"]


def test_standard_input_is_read_no_further_than_the_cap_allows(mixed):
    """8 bytes per pixel of the cap plus 1 MiB: beyond that no image could be under the cap."""
    result = run("encode", "-", "-o", "-", "--max-pixels", 16, stdin=b"\0" * ((1 << 20) + 8 * 16 + 1))
    assert result.exit_code == 1 and result.stderr.startswith("Error: stdin: more than ")
