import ast
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import (BOTH_ENCODERS, GOLDEN, GOLDEN_CODEBOOK, SAMPLES, assert_refused, classic_flag, corrupt_tiff_bytes, gradient_image,
                     huge_single_codeword_vqc, huge_width_bmp_bytes, listing, random_image, save_png)
from PIL import Image

import vqcodec
from vqcodec import files
from vqcodec.cli.commands import main


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current folder holding lena.png (32 x 32 RGB, 64 blocks of 4 x 4)."""
    monkeypatch.chdir(tmp_path)
    image = gradient_image(32, 32, 3)
    image[::3, ::5] = 17  # some texture, so that K = 16 is lossy
    save_png(image, Path("lena.png"))
    return tmp_path


def run(runner, *args):
    return runner.invoke(main, [str(a) for a in args])


def hidden(folder: Path) -> list[str]:
    return sorted(name for name in listing(folder) if name.startswith("."))


def assert_ok(result):
    assert result.exit_code == 0, result.output
    assert result.exception is None
    assert "Traceback" not in result.output


@pytest.fixture(params=[True, False], ids=["classic", "rd"])
def encoded(request, runner, workdir):
    """workdir after `encode lena.png -k 16 -b 4 --algo centnn` (CentNN: the faster trainer here),
    with --classic (a version 2 file) and without (version 4)."""
    assert_ok(run(runner, "encode", "lena.png", "-k", 16, "-b", 4, "--algo", "centnn", *classic_flag(request.param)))
    return workdir


@pytest.fixture
def encoded_classic(runner, workdir):
    """workdir after `encode lena.png -k 16 -b 4 --algo centnn --classic`: a version 2 file."""
    assert_ok(run(runner, "encode", "lena.png", "-k", 16, "-b", 4, "--algo", "centnn", "--classic"))
    return workdir


# --- the main round trip -------------------------------------------------------------------


@BOTH_ENCODERS
def test_encode_then_decode(runner, workdir, classic):
    original = Path("lena.png").read_bytes()
    result = run(runner, "encode", "lena.png", "-k", 16, "-b", 4, *classic_flag(classic))
    assert_ok(result)
    assert Path("lena.vqc").is_file()
    assert result.stdout == ""
    assert "lena.vqc" in result.stderr and "bpp" in result.stderr and "PSNR" in result.stderr
    header = vqcodec.info(Path("lena.vqc"))
    assert (header.width, header.height, header.channels, header.requested_k, header.block) == (32, 32, 3, 16, 4)
    if classic:
        assert (header.version, header.k) == (2, 16)
    else:  # -k is what each plane may use at most; the header's k is the sum over the planes
        assert header.version == 5 and all(1 <= p.k <= 16 for p in header.planes)

    result = run(runner, "decode", "lena.vqc")
    assert_ok(result)
    with Image.open("lena.vqc.png") as im:
        assert im.format == "PNG" and im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), vqcodec.decode(Path("lena.vqc")).pixels)
    assert Path("lena.png").read_bytes() == original
    assert listing(workdir) == {"lena.png", "lena.vqc", "lena.vqc.png"}


@BOTH_ENCODERS
def test_encode_options_reach_the_file(runner, workdir, classic):
    assert_ok(run(runner, "encode", "lena.png", "-o", "c.vqc", "-k", 8, "--block", 2, "--algo", "centnn", "--seed", 3,
                  *classic_flag(classic)))
    header = vqcodec.info(Path("c.vqc"))
    assert (header.requested_k, header.block, header.trainer) == (8, 2, "centnn")
    if classic:
        assert (header.version, header.k) == (2, 8)
    else:
        assert header.version == 5 and all(p.block == 2 and 1 <= p.k <= 8 for p in header.planes)


@BOTH_ENCODERS
def test_same_seed_same_file(runner, workdir, classic):
    for name in ("a.vqc", "b.vqc"):
        assert_ok(run(runner, "encode", "lena.png", "-o", name, "-k", 16, "--seed", 7, *classic_flag(classic)))
    assert Path("a.vqc").read_bytes() == Path("b.vqc").read_bytes()


# --- never clobber without --force, never pass over an existing output in silence -----------


@pytest.mark.parametrize(
    ("command", "target"),
    [(("encode", "lena.png", "-k", 16, "--algo", "centnn"), "lena.vqc"), (("decode", "lena.vqc"), "lena.vqc.png")],
)
def test_existing_output_fails_unless_forced_or_skipped(runner, encoded, command, target):
    Path(target).write_bytes(b"precious")
    result = run(runner, *command)
    assert result.exit_code == 1  # as gzip and zstd: `decode a.vqc -o a.png && use a.png` must not use a stale a.png
    assert result.stderr == f"Error: {target} exists; use --force to overwrite it, or --skip-existing to keep it\n"
    assert Path(target).read_bytes() == b"precious"
    result = run(runner, *command, "--skip-existing")
    assert_ok(result)
    assert result.stderr == f"Skipped: {target} exists\n"
    assert Path(target).read_bytes() == b"precious"
    for flag in ("--force", "-f"):
        Path(target).write_bytes(b"precious")
        assert_ok(run(runner, *command, flag))
        assert Path(target).read_bytes() != b"precious"
    if target.endswith(".vqc"):
        vqcodec.info(Path(target))  # a valid file again
    else:
        Image.open(target).verify()
    assert hidden(encoded) == []


@pytest.mark.parametrize("flags", [("--force", "--update"), ("-f", "--skip-existing"), ("-u", "--skip-existing")])
def test_overwrite_flags_exclude_each_other(runner, workdir, flags):
    result = run(runner, "encode", "lena.png", "-k", 16, *flags)
    assert result.exit_code == 2 and result.stderr.startswith("Error: choose one of") and "Traceback" not in result.output
    assert not Path("lena.vqc").exists()


@pytest.mark.parametrize("flags,message", [
    (("--effort", "0"), "Error: effort must be an integer from 1 to 9, got 0\n"),
    (("--effort", "10"), "Error: effort must be an integer from 1 to 9, got 10\n"),
    (("--effort", "3", "--classic"), "Error: effort is for the rate-distortion encoder, not --classic or --fixed-rate\n"),
    (("--effort", "2.5"), None), (("--effort", "x"), None),
])
def test_a_bad_effort_is_a_usage_error(runner, workdir, flags, message):
    result = run(runner, "encode", "lena.png", *flags)
    assert result.exit_code == 2 and "Traceback" not in result.output and not Path("lena.vqc").exists()
    if message:  # not an integer at all: click's own usage error, as for -k x
        assert result.stderr == message


def test_effort_is_passed_on(runner, workdir):
    assert_ok(run(runner, "encode", "lena.png", "-o", "9.vqc", "--effort", "9"))
    assert Path("9.vqc").read_bytes() == vqcodec.encode("lena.png", effort=9).data


# --- output formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "lossless"),
    [("out.png", "PNG", True), ("out.bmp", "BMP", True), ("out.tif", "TIFF", True), ("out.webp", "WEBP", False), ("out.jpg", "JPEG", False)],
)
def test_decode_output_format_follows_the_suffix(runner, encoded, name, fmt, lossless):
    assert_ok(run(runner, "decode", "lena.vqc", "-o", name))
    with Image.open(name) as im:
        assert im.format == fmt and im.size == (32, 32)
        if lossless:
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), vqcodec.decode(Path("lena.vqc")).pixels)


def test_decode_rgba_to_jpeg_is_refused(runner, workdir):
    save_png(random_image(16, 16, 4), Path("alpha.png"))
    assert_ok(run(runner, "encode", "alpha.png", "-k", 4, "-b", 4))
    result = run(runner, "decode", "alpha.vqc", "-o", "x.jpg")
    assert_refused(result, "x.jpg")
    assert not Path("x.jpg").exists()
    assert hidden(workdir) == []


def test_decode_unknown_suffix_is_refused(runner, encoded):
    assert_refused(run(runner, "decode", "lena.vqc", "-o", "out.nosuchformat"), "suffix")
    assert not Path("out.nosuchformat").exists()


def test_decode_into_a_missing_folder_is_refused(runner, encoded):
    assert_refused(run(runner, "decode", "lena.vqc", "-o", "nowhere/out.png"), "cannot write")
    assert listing(encoded) == {"lena.png", "lena.vqc"}


# --- hostile or missing inputs -------------------------------------------------------------


def make_bad_input(kind: str) -> str:
    data = Path("lena.vqc").read_bytes()
    if kind == "corrupted":
        middle = len(data) // 2
        Path("bad.vqc").write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif kind == "truncated":
        Path("bad.vqc").write_bytes(data[:-10])
    elif kind == "empty":
        Path("bad.vqc").write_bytes(b"")
    elif kind == "not-vqc":
        Path("bad.vqc").write_bytes(Path("lena.png").read_bytes())
    elif kind == "trailing":
        Path("bad.vqc").write_bytes(data + b"\x00")
    elif kind != "missing":
        raise AssertionError(kind)
    return "bad.vqc"


BAD_INPUTS = {
    "corrupted": "checksum",
    "truncated": "truncated",
    "empty": "empty",
    "not-vqc": "magic",
    "trailing": "trailing",
    "missing": "no such file",
}


@pytest.mark.parametrize("kind", BAD_INPUTS)
@pytest.mark.parametrize("explicit_output", [False, True])
def test_decode_refuses_bad_input(runner, encoded, kind, explicit_output):
    name = make_bad_input(kind)
    before = listing(encoded)
    args = ["decode", name] + (["-o", "out.png"] if explicit_output else [])
    assert_refused(run(runner, *args), BAD_INPUTS[kind])
    assert listing(encoded) == before  # no output file, no temporary file


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_info_refuses_bad_input(runner, encoded, kind):
    assert_refused(run(runner, "info", make_bad_input(kind)), BAD_INPUTS[kind])


@pytest.mark.parametrize("kind", ["text", "missing", "empty"])
def test_encode_refuses_bad_input(runner, workdir, kind):
    if kind == "text":
        Path("in.png").write_text("hello\n")
    elif kind == "empty":
        Path("in.png").write_bytes(b"")
    before = listing(workdir)
    assert_refused(run(runner, "encode", "in.png"), "in.png")
    assert listing(workdir) == before


def test_encode_refuses_a_directory(runner, workdir):
    Path("folder.png").mkdir()
    result = run(runner, "encode", "folder.png")
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "folder.png" in result.output
    assert not Path("folder.vqc").exists()


@pytest.mark.parametrize(
    ("args", "make"),
    [
        pytest.param(("encode", "in.tif"), corrupt_tiff_bytes, id="encode-corrupt-tiff"),
        pytest.param(("encode", "in.bmp", "--max-pixels", 0), huge_width_bmp_bytes, id="encode-huge-bmp-no-cap"),
        pytest.param(("decode", "in.vqc", "--max-pixels", 0), huge_single_codeword_vqc, id="decode-huge-vqc-no-cap"),
    ],
)
def test_malformed_inputs_give_an_error_line_not_a_traceback(runner, workdir, args, make):
    # README: "Every refusal is one line on stderr starting with `Error:`; no traceback".
    Path(args[1]).write_bytes(make())
    result = run(runner, *args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.splitlines()[-1].startswith("Error: ")


# --- info, options, pixel cap ------------------------------------------------------------


def test_info(runner, encoded_classic):
    result = run(runner, "info", "lena.vqc")
    assert_ok(result)
    h = vqcodec.info(Path("lena.vqc"))
    rows = {line.split()[0]: line.split(None, 1)[1] for line in result.stdout.splitlines()}
    assert rows["file"] == "lena.vqc (version 2)" and rows["image"] == "32 x 32, RGB"
    assert rows["codewords"] == f"{h.k} (trained by centnn)"
    for section in h.sections:  # each section's size, coding and share of the bits
        assert rows[section.kind].startswith(f"{section.length:,} bytes, {section.coding}")
        assert f"{8 * section.length / (32 * 32):.3f} bits/pixel" in rows[section.kind]
    assert rows["total"].startswith(f"{Path('lena.vqc').stat().st_size:,} bytes")
    assert f"{h.bits_per_pixel:.3f} bits/pixel" in rows["total"]


def test_info_of_a_refined_file_lists_its_refinement_in_the_same_columns(runner):
    path = GOLDEN / "v4-refine-grey-70x75-t32.vqc"
    result = run(runner, "info", str(path))
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert len({re.match(r" *(?:plane \d+|\S+) +", line).end() for line in lines}) == 1, lines
    (refinement,) = [line for line in lines if line.startswith("  refinement ")]
    assert refinement.split()[1] == f"{vqcodec.info(path).section('refinement').length:,}"


@pytest.mark.parametrize(("golden", "cubic"), [("v4-cubic-rgb420-75x67-t32", True), ("v4-rgb420-75x67-t32", False)])
def test_info_says_which_planes_have_a_cubic_base(runner, golden, cubic):
    result = run(runner, "info", str(GOLDEN / f"{golden}.vqc"))
    assert_ok(result)
    planes = [line for line in result.stdout.splitlines() if line.startswith("plane ")]
    assert len(planes) == 3 and all(line.endswith("tiles of 32 x 32") for line in planes)
    assert all((", a cubic base," in line) == cubic for line in planes)


def test_fixed_rate_writes_raw_codebook_and_packed_indices(runner, workdir):
    save_png(gradient_image(32, 32, 3), Path("g.png"))
    assert_ok(run(runner, "encode", "g.png", "-k", 16, "-b", 4, "--fixed-rate"))
    assert_ok(run(runner, "encode", "g.png", "-o", "small.vqc", "-k", 16, "-b", 4, "--classic"))
    fixed, small = vqcodec.info(Path("g.vqc")), vqcodec.info(Path("small.vqc"))
    assert [s.coding for s in fixed.sections] == ["raw", "packed"]
    assert fixed.file_size == 25 + 20 + fixed.k * 48 + fixed.block_count * 4 // 8 + 4
    assert small.file_size < fixed.file_size
    np.testing.assert_array_equal(vqcodec.decode(Path("g.vqc")).pixels, vqcodec.decode(Path("small.vqc")).pixels)
    result = run(runner, "info", "g.vqc")
    assert "raw" in result.stdout and "packed" in result.stdout


def test_info_shows_a_shrunk_codebook(runner, workdir):
    save_png(np.full((8, 8), 99, np.uint8), Path("flat.png"))
    result = run(runner, "encode", "flat.png", "-k", 32, "-b", 2, "--classic")
    assert_ok(result)
    assert "Warning: " in result.stderr and "distinct" in result.stderr
    result = run(runner, "info", "flat.vqc")
    assert_ok(result)
    assert "codewords   1 of 32 asked for" in result.stdout


@pytest.mark.parametrize(
    ("options", "word"),
    [
        (("-k", 1), "K"),
        (("-k", 70000), "K"),
        (("-b", 0), "block"),
        (("-b", 17), "block"),
        (("--algo", "nope"), "nope"),
        (("--seed", -1), "seed"),
        (("-k", "many"), "many"),
    ],
)
def test_invalid_options(runner, workdir, options, word):
    result = run(runner, "encode", "lena.png", *options)
    assert result.exit_code in (1, 2)
    assert "Traceback" not in result.output
    assert "Error" in result.stderr and word in result.stderr
    assert not Path("lena.vqc").exists()


def test_max_pixels(runner, workdir):
    save_png(random_image(16, 16), Path("small.png"))
    assert_refused(run(runner, "encode", "small.png", "-k", 4, "--max-pixels", 10), "max-pixels")
    assert not Path("small.vqc").exists()
    assert_ok(run(runner, "encode", "small.png", "-k", 4, "--max-pixels", 256))
    assert_refused(run(runner, "decode", "small.vqc", "--max-pixels", 10), "max-pixels")
    assert not Path("small.vqc.png").exists()
    assert_ok(run(runner, "decode", "small.vqc", "--max-pixels", 0))
    assert Path("small.vqc.png").exists()
    assert hidden(workdir) == []


def test_version(runner):
    result = run(runner, "--version")
    assert_ok(result)
    assert vqcodec.__version__ in result.output


@pytest.mark.parametrize("command", [(), ("encode",), ("decode",), ("info",), ("bench",), ("warmup",)])
def test_help_ends_with_examples_that_work(runner, tmp_path, monkeypatch, command):
    """Each example runs as written, in order, in a folder holding what they name: photo.png, photos/,
    and for decode and info photo.vqc and vqc/. Shell syntax runs in a real shell."""
    result = run(runner, *command, "--help")
    assert_ok(result)
    lines = result.output.rstrip("\n").splitlines()
    examples = [re.sub(r"\s+#.*", "", line).strip() for line in lines[lines.index("  Examples:") + 1:]]
    assert 2 <= len(examples) <= 3 and all(e.startswith("vqcodec ") for e in examples), lines
    monkeypatch.chdir(tmp_path)
    shutil.copy(SAMPLES / "camera-128.png", "photo.png")
    Path("photos").mkdir()
    save_png(gradient_image(24, 16, 3), Path("photos/a.png"))
    save_png(random_image(16, 16), Path("photos/b.png"))
    if command in (("decode",), ("info",)):
        assert_ok(run(runner, "encode", "photo.png"))
        assert_ok(run(runner, "encode", "-r", "photos", "-o", "vqc"))
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    for example in examples:
        if re.search(r"[|<>&;]", example):
            done = subprocess.run(["bash", "-c", example], capture_output=True, text=True, timeout=300,
                                  env={**os.environ, "PATH": path}, check=False)
            assert done.returncode == 0, (example, done.stderr)
        else:
            args = [match for arg in shlex.split(example)[1:] for match in (sorted(glob.glob(arg)) or [arg])]
            result = run(runner, *args)
            assert_ok(result)
            assert "Error:" not in result.stderr, (example, result.stderr)


def test_python_dash_m():
    result = subprocess.run(
        [sys.executable, "-m", "vqcodec", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "encode" in result.stdout and "decode" in result.stdout


# --- files.write_file: failures leave no temporary file ------------------------------------


def test_write_file_race_does_not_clobber(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    monkeypatch.setattr(files, "exists", lambda path: False)  # the file "appears" after the check
    with pytest.raises(vqcodec.OutputError, match="exists"):
        files.write_file(target, b"new")
    assert target.read_bytes() == b"old"
    assert hidden(tmp_path) == []


def test_write_file_failed_rename_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(vqcodec.OutputError, match="cannot write"):
        files.write_file(target, b"new", force=True)
    assert target.read_bytes() == b"old"
    assert hidden(tmp_path) == []


def test_write_file_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        files.write_file(tmp_path / "out.bin", "not bytes")
    assert listing(tmp_path) == set()


def test_write_file_refuses_a_directory(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(vqcodec.OutputError, match="directory"):
        files.write_file(tmp_path / "d", b"x", force=True)


def test_default_names():
    assert files.encoded_name("a/lena.png") == Path("a/lena.vqc")
    assert files.decoded_name("a/lena.vqc") == Path("a/lena.vqc.png")


def test_help_does_not_import_numpy_or_numba():
    """`vqcodec --help` must start fast: the heavy modules load only when a command needs them."""
    code = "import sys; from vqcodec.cli.commands import main; print(sorted(m for m in ('numpy', 'numba', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- compiled kernels: warm-up, the first-run message, threads ---------------------------------------------


def test_warmup_compiles_or_loads_every_kernel(runner):
    from vqcodec.cli import kernels

    from vqcodec.options import ALGORITHMS, SCALAR_ONLY, EncodeOptions

    result = runner.invoke(main, ["warmup"])
    assert result.exit_code == 0 and "kernels are ready" in result.output
    for algo in ALGORITHMS:
        for classic in (True, False):
            options = EncodeOptions(algo=algo, classic=classic, block=1 if algo in SCALAR_ONLY else None)
            assert not kernels.cold(kernels.needed("encode", options)), options
    for golden in ("v2-rgb-61x43-b3-k40", "v3-rgb-61x43-q60"):
        assert not kernels.cold(kernels.needed("decode", None, vqcodec.info(GOLDEN / f"{golden}.vqc")))


def test_cold_sees_a_kernel_missing_from_the_cache(tmp_path, monkeypatch):
    from vqcodec.cli import kernels
    from vqcodec.train import centnn

    monkeypatch.setattr(centnn._epoch._cache._cache_file, "_index_path", str(tmp_path / "gone.nbi"))
    assert kernels.cold(["train.centnn._epoch"]) and not kernels.cold(["format.order._walk"])


@pytest.mark.parametrize("cold", [True, False])
def test_a_first_run_is_told_when_kernels_compile(cold, monkeypatch):
    from vqcodec.cli import batch, kernels

    monkeypatch.setattr(kernels, "cold", lambda names: cold)
    said = []
    kernels.prepare("encode", batch.Settings().options, "a.png", here=False, say=said.append)()
    assert bool(said) == cold and all("happens once" in line for line in said)


@pytest.mark.parametrize(("uncached", "options", "told"), [
    ("train.kmeans", {"algo": "kmeans"}, True), ("train.kmeans", {"algo": "centnn"}, False),
    ("train.centnn", {"algo": "park"}, True), ("train.centnn", {"algo": "optimal", "block": 1}, False),
    ("format.entropy", {"classic": True}, True), ("format.entropy", {"classic": True, "fixed_rate": True}, False)])
def test_a_first_run_counts_only_the_kernels_its_options_use(monkeypatch, uncached, options, told):
    """An encode never compiles the kernels of an option it does not take (K-Means' with --algo centnn,
    the entropy coders' with --fixed-rate): counting them would announce a compile on every such run."""
    from vqcodec.cli import kernels
    from vqcodec.options import EncodeOptions

    monkeypatch.setattr(kernels, "_uncached", lambda kernel: kernel.__module__ == f"vqcodec.{uncached}")
    said = []
    kernels.prepare("encode", EncodeOptions(**options), "a.png", here=False, say=said.append)()
    assert len(said) == told


@pytest.mark.parametrize(("cores", "here", "started"), [(2, True, True), (1, True, False), (2, False, False)])
def test_a_second_process_compiles_only_beside_work_here_on_a_free_core(monkeypatch, cores, here, started):
    from vqcodec.cli import batch, kernels

    asked = []
    monkeypatch.setattr(kernels, "cold", lambda names: True)
    monkeypatch.setattr(kernels, "compile_aside", lambda jobs: asked.append(tuple(jobs)) or (lambda: None))
    monkeypatch.setattr(batch, "available_cores", lambda: cores)
    kernels.prepare("encode", batch.Settings().options, "a.png", here=here, say=None)()
    assert asked == [kernels.aside("encode", batch.Settings().options) if started else ()]


COLD_RUN = """
import json, sys
from click.testing import CliRunner
from vqcodec.cli import kernels
from vqcodec.cli.commands import main
from vqcodec.options import EncodeOptions

import vqcodec

taken = set()
class Claims(kernels._Claims):
    def take(self, job):
        mine = super().take(job)
        if mine:
            taken.add(job)
        return mine
kernels._Claims = Claims
result = CliRunner().invoke(main, sys.argv[1:])
algo = sys.argv[sys.argv.index("--algo") + 1] if "--algo" in sys.argv else "kmeans"
header = vqcodec.info(sys.argv[2]) if sys.argv[1] == "decode" else None
jobs = [[job, [[sum(k._cache_hits.values()), sum(k._cache_misses.values())]  # loaded, compiled here
               for name in kernels.JOBS[job][1] for k in [kernels._dispatcher(name)]]]
        for job in kernels.aside(sys.argv[1], EncodeOptions(algo=algo), header)]
print(json.dumps([result.exit_code, jobs, sorted(taken)]))
"""


@pytest.mark.parametrize("command", ["decode", "kmeans", "centnn"])
def test_a_first_run_has_a_second_process_compile_the_kernels_it_needs_last(tmp_path, command):
    """From an empty cache, the kernels of the jobs this process did not take are loaded from the
    cache, not compiled here; the last job is the other process's, which starts with it; and the
    output is what a warm run writes."""
    v3, photo = GOLDEN / "v3-grey-47x33-q40.vqc", SAMPLES / "camera-128.png"
    out = tmp_path / ("d.png" if command == "decode" else "e.vqc")
    args = ["decode", str(v3), "-o", str(out)] if command == "decode" else \
        ["encode", str(photo), "-o", str(out), "--algo", command]
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", COLD_RUN, *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    code, jobs, taken = json.loads(result.stdout)
    assert code == 0 and jobs and jobs[-1][0] not in taken, (jobs, taken)
    for job, loads in jobs:  # each kernel compiled once at most (the filter only where it pays), here only if
        # this process took its job
        assert all(loaded + compiled <= 1 and (job in taken or compiled == 0) for loaded, compiled in loads), jobs
    assert all(loaded == 1 for loaded, _ in jobs[-1][1]), jobs
    if command == "decode":
        assert np.array_equal(np.asarray(Image.open(out)), vqcodec.decode(v3).pixels)
    else:
        assert out.read_bytes() == vqcodec.encode(photo, algo=command).data


COMPILING = "Compiling vqcodec's kernels for this machine"


@pytest.mark.parametrize("quiet", [False, True])
def test_the_compile_message_goes_to_stderr_once_terminal_or_not_but_not_with_quiet(runner, workdir, monkeypatch,
                                                                                      quiet):
    """CliRunner's stderr is no terminal: a log of a first run says why it took long too; standard
    output carries the data alone (here the --json record)."""
    from vqcodec.cli import kernels

    monkeypatch.setattr(kernels, "cold", lambda names: True)
    monkeypatch.setattr(kernels, "compile_aside", lambda jobs: lambda: None)
    quieted = ["-q"] if quiet else []
    result = run(runner, "encode", "lena.png", "-k", 16, "-b", 4, "--algo", "centnn", "--json", *quieted)
    assert_ok(result)
    assert json.loads(result.stdout)["status"] == "ok" and COMPILING not in result.stdout
    assert result.stderr.count(COMPILING) == (0 if quiet else 1), result.stderr


def test_a_first_run_in_the_checkout_has_the_second_process_import_the_installed_vqcodec(tmp_path):
    """`pip install . && vqcodec encode samples/...` in the checkout, as the README has it, from an empty
    cache: the console script imports the installed vqcodec, while the current folder holds the source
    tree, which `python -m` would put first for the second process. The kernels given to that process
    must be loaded here from the cache it fills (Numba's cache log says which, on standard output), not
    compiled here; and the compile message is said once on stderr, a pipe. The installed package is a
    copy, elsewhere, of the one the tests import, so that it differs from the checkout's files even in an
    editable install (where the installed package is the source tree)."""
    from vqcodec.cli import kernels
    from vqcodec.options import EncodeOptions

    script, checkout = Path(sys.executable).parent / "vqcodec", Path(__file__).resolve().parents[2]
    if not script.is_file():
        pytest.skip("no vqcodec console script beside the interpreter")
    assert (checkout / "vqcodec" / "__init__.py").is_file()
    installed = tmp_path / "site-packages"
    shutil.copytree(Path(vqcodec.__file__).parent, installed / "vqcodec", ignore=shutil.ignore_patterns("__pycache__"))
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONSAFEPATH")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_DEBUG_CACHE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(installed), os.environ.get("PYTHONPATH")])))
    out = tmp_path / "camera.vqc"
    result = subprocess.run([sys.executable, str(script), "encode", "samples/camera-128.png", "-o", str(out), "--json"],
                            cwd=checkout, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert list((installed / "vqcodec" / "cli" / "__pycache__").glob("commands.*.pyc"))  # the copy ran the command
    loaded, saved, data = {}, {}, []
    for line in result.stdout.splitlines():
        words = re.fullmatch(r"\[cache\] (data loaded from|data saved to|index loaded from|index saved to) (.+)", line)
        if words is None:
            data.append(line)
        elif words[1].startswith("data"):  # a file named module.kernel-line.pyXY.N.nbc
            kernel = Path(ast.literal_eval(words[2])).name.split("-")[0]
            tally = loaded if words[1] == "data loaded from" else saved
            tally[kernel] = tally.get(kernel, 0) + 1
    last = [name.split(".", 1)[1] for name in kernels.JOBS[kernels.aside("encode", EncodeOptions())[-1]][1]]
    assert saved, (loaded, saved)  # the kernels needed first compiled here
    assert all(loaded.get(name, 0) >= 1 and name not in saved for name in last), (last, loaded, saved)
    assert len(data) == 1 and json.loads(data[0])["status"] == "ok" and out.is_file(), result.stdout
    lines = result.stderr.splitlines()
    assert result.stderr.count(COMPILING) == 1 and lines[0].startswith(COMPILING), result.stderr


def test_no_second_process_when_every_kernel_is_cached(monkeypatch):
    from vqcodec.cli import kernels

    kernels.warm_up()
    monkeypatch.setattr(kernels.subprocess, "Popen", None)  # calling it would fail
    kernels.compile_aside(list(kernels.JOBS))()


def test_without_an_interpreter_to_start_everything_compiles_here(monkeypatch):
    from vqcodec.cli import kernels
    from vqcodec.format.entropy import _index_kernel

    def refuse(*args, **kwargs):
        raise OSError("no interpreter")

    monkeypatch.setattr(kernels, "_uncached", lambda kernel: True)
    monkeypatch.setattr(kernels.subprocess, "Popen", refuse)
    cache = _index_kernel._cache
    kernels.compile_aside(["context_indices"])()
    assert _index_kernel._cache is cache


def test_a_kernel_of_a_job_the_second_process_took_is_loaded_once_cached_there_or_once_that_process_ends(
        tmp_path):
    """Loaded as soon as the other process has cached it; if it never does (it failed), loaded once it
    has ended, which finds nothing, and the kernel compiles here as it would have."""
    from vqcodec.cli import kernels

    class Cache:
        calls = 0
        other = "passed through"

        def load_overload(self, *args):
            self.calls += 1
            return args if self.calls == 3 else None

    theirs = kernels._Claims(str(tmp_path))
    assert theirs.take("job") and not kernels._Claims(str(tmp_path)).take("job")  # taken once only
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        awaited = kernels._Awaited(Cache(), process, kernels._Claims(str(tmp_path)), "job")
        assert awaited.load_overload("signature", "target") == ("signature", "target")
        assert process.poll() is None and awaited.other == "passed through"
    finally:
        process.kill()
        process.wait()
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3); raise SystemExit(3)"])
    never = Cache()
    never.calls = -10**9  # never the third call
    assert kernels._Awaited(never, process, kernels._Claims(str(tmp_path)), "job").load_overload("signature") is None
    assert process.returncode == 3


def test_a_kernel_of_a_job_nobody_took_is_taken_and_compiled_here_without_waiting(tmp_path):
    """The second process then skips the job; this process's later kernels of it do not wait either."""
    from vqcodec.cli import kernels

    class Cache:
        def load_overload(self, *args):
            return None

    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        claims = kernels._Claims(str(tmp_path))
        start = time.monotonic()
        for _ in range(2):
            assert kernels._Awaited(Cache(), process, claims, "job").load_overload("signature") is None
        assert time.monotonic() - start < 1 and process.poll() is None and claims.mine == {"job"}
        assert not kernels._Claims(str(tmp_path)).take("job")
    finally:
        process.kill()
        process.wait()


def test_each_job_compiles_its_kernels_as_the_codec_calls_them():
    """A job that compiled another signature than the codec's would have this process wait for a
    cache entry that never comes, then compile it anyway: after the codec has run every kind of
    encode and decode, the jobs add no signature to any kernel."""
    from vqcodec.cli import kernels

    kernels.warm_up()
    for path in GOLDEN.glob("*.vqc"):
        vqcodec.decode(path, codebook=GOLDEN_CODEBOOK)
    signatures = {name: len(kernels._dispatcher(name).signatures) for job in kernels.JOBS.values() for name in job[1]}
    for call, _ in kernels.JOBS.values():
        call()
    assert {name: len(kernels._dispatcher(name).signatures) for name in signatures} == signatures
    assert all(signatures.values())


def test_every_job_stays_within_its_arrays(tmp_path):
    """Each job's call with Numba's bounds checks on, in a process of its own with a cache of its own: a
    job that wrote past the end of an array it made corrupted the heap of whatever process ran it (the
    tests' own, through `vqcodec warmup`), and crashed it later, far from the cause."""
    code = "from vqcodec.cli import kernels\nfor call, _ in kernels.JOBS.values():\n    call()"
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(("how", "imported"), [("command", False), ("library", True)])
def test_the_command_keeps_numba_from_importing_scipy(tmp_path, how, imported):
    """Numba imports SciPy (if installed) as it is imported, and SciPy's linear algebra as it loads its
    first kernel; the command spares that time. A stand-in SciPy package tells whether it was imported."""
    (tmp_path / "scipy" / "linalg").mkdir(parents=True)
    (tmp_path / "scipy" / "__init__.py").write_text(
        "import pathlib; pathlib.Path(__file__).with_name('imported').touch(); __version__ = '1.99'\n")
    (tmp_path / "scipy" / "linalg" / "__init__.py").write_text(
        "import pathlib; pathlib.Path(__file__).with_name('imported').touch()\n")
    source, out = SAMPLES / "camera-128.png", tmp_path / "a.vqc"
    code = {"command": "from vqcodec.cli.commands import main; main(['encode', sys.argv[1], '-o', sys.argv[2]])",
            "library": "import vqcodec; vqcodec.encode(sys.argv[1]).save(sys.argv[2])"}[how]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", "import sys; " + code, str(source), str(out)], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "scipy" / "imported").exists() == (tmp_path / "scipy" / "linalg" / "imported").exists() == imported
    assert out.read_bytes() == vqcodec.encode(source).data


LIGHT_LOAD = """
import sys
import numpy as np
from numba import njit
from vqcodec.cli.commands import main
main(["decode", sys.argv[1], "-o", sys.argv[2], "-q"], standalone_mode=False)
print("numba.np.polynomial.polynomial_core" in sys.modules)  # only the lowering tables import it

@njit
def compiled_after(x):  # a new kernel, compiled: NumPy's reductions need the lowering tables
    return np.sum(np.sqrt(x))

print(compiled_after(np.full(4, 4.0)), "numba.np.polynomial.polynomial_core" in sys.modules)
"""


def test_the_command_loads_cached_kernels_without_the_lowering_tables_and_still_compiles(tmp_path):
    """Numba imports the implementations of everything it can compile before it loads a cached kernel;
    the command loads its cached kernels without them, and a compilation after that still finds them."""
    source, out = tmp_path / "a.vqc", tmp_path / "a.png"
    encoded = vqcodec.encode(SAMPLES / "chelsea.png")
    encoded.save(source)
    expected = vqcodec.decode(source).pixels  # and the kernels are in the cache
    result = subprocess.run([sys.executable, "-c", LIGHT_LOAD, str(source), str(out)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False", "8.0", "True"]
    np.testing.assert_array_equal(np.asarray(Image.open(out)), expected)


COMMON_PLUGINS = """
import sys
import numpy as np
from vqcodec import images
from vqcodec.cli.batch import check_image_format
pixels = np.zeros((4, 4, 3), np.uint8)
check_image_format("png")
bmp = images.encode_as(pixels, "a.bmp")
print(bmp[:2] == b"BM", "PIL.PdfImagePlugin" in sys.modules)
print(images.encode_as(pixels, "a.webp")[:4] == b"RIFF", "PIL.PdfImagePlugin" in sys.modules)
"""


def test_writing_a_common_format_loads_only_the_common_plugins():
    """Loading every Pillow plugin is a noticeable part of a short decode: a PNG or BMP is written with the
    plugins Pillow loads first, and another format still finds its plugin."""
    result = subprocess.run([sys.executable, "-c", COMMON_PLUGINS], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["True", "False", "True", "True"]


@pytest.mark.parametrize("cut", [None, 100])
def test_decode_reads_a_pipe_given_as_a_path(runner, tmp_path, cut):
    """`vqcodec decode <(cat a.vqc)`: a pipe has no size to check the header against, so it is read
    as a stream (nothing peeked at beforehand), and a cut one is refused like a cut file."""
    import threading

    data = (GOLDEN / "v3-grey-47x33-q40.vqc").read_bytes()[:cut]
    pipe, out = tmp_path / "pipe", tmp_path / "a.png"
    os.mkfifo(pipe)
    writer = threading.Thread(target=lambda: pipe.write_bytes(data))
    writer.start()
    result = runner.invoke(main, ["decode", str(pipe), "-o", str(out)])
    writer.join()
    if cut is None:
        assert result.exit_code == 0, result.output
        assert np.array_equal(np.asarray(Image.open(out)), vqcodec.decode(data).pixels)
    else:
        assert_refused(result, "truncated")
        assert not out.exists()


def test_the_program_exits_with_mains_code_and_every_byte_it_wrote(tmp_path):
    """`vqcodec` leaves without Python's teardown: the exit code, standard output and the error line
    must still be those of main."""
    def program(*args):
        return subprocess.run([sys.executable, "-m", "vqcodec", *args], capture_output=True, timeout=300)

    encoded = program("encode", str(SAMPLES / "camera-128.png"), "-o", "-", "-q")
    assert encoded.returncode == 0 and encoded.stdout == vqcodec.encode(SAMPLES / "camera-128.png").data
    listed = program("info", "--json", str(tmp_path / "missing.vqc"))
    assert listed.returncode == 1 and json.loads(listed.stdout)["status"] == "failed"
    assert listed.stderr.decode().count("\n") == 1 and listed.stderr.startswith(b"Error: ")
    assert program("--no-such-option").returncode == 2
    assert program("--version").stdout.decode().startswith("vqcodec, version")


@pytest.mark.parametrize("flags", [("--algo", "kmeans"), ("--algo", "centnn"), ("--effort", "1"), ("--effort", "9")])
def test_one_and_two_threads_write_the_same_file(tmp_path, flags):
    outputs = []
    for threads in (1, 2):
        out = tmp_path / f"{threads}.vqc"
        env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
        subprocess.run([sys.executable, "-m", "vqcodec", "encode", str(SAMPLES / "camera-128.png"), "-o", str(out),
                        *flags, "-q"], check=True, env=env)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
