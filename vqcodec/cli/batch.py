"""Many inputs at once: folders, pipes and parallel jobs, one outcome per input.

`plan` turns command-line inputs into jobs (input -> output) and `run` carries
them out, in worker processes when asked to. A failing input becomes a
failed Outcome; it never stops the others. Outputs go through
`files.write_file`, so an interrupted job leaves neither half a file nor a
temporary one.
"""
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .. import files
from ..errors import ImageError, OptionsError, OutputError, VQCodecError, naming
from ..format.container import Header
from ..options import DEFAULT_MAX_PIXELS, EncodeOptions
from ..pipeline import request_stop, stop_requested

STDIO = "-"  # the name of standard input or output on the command line
STDIN_NAME = "stdin"
COMMANDS = ("encode", "decode")
OK, SKIPPED, FAILED, INTERRUPTED = "ok", "skipped", "failed", "interrupted"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT raises KeyboardInterrupt, so both clean up the same way."""


def _raise_terminated(signum, frame):
    raise Terminated()


def handle_sigterm() -> None:
    """Let SIGTERM unwind like Ctrl-C does, removing temporary files on its way."""
    signal.signal(signal.SIGTERM, _raise_terminated)


@dataclass(frozen=True)
class Settings:
    """What every job of one command shares."""

    command: str = "encode"
    options: EncodeOptions = EncodeOptions()  # how to encode; decode ignores it
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    force: bool = False  # overwrite outputs that exist
    update: bool = False  # overwrite outputs older than their input, skip the others
    skip_existing: bool = False  # leave outputs that exist alone, and say so; without one of these three, a failure
    image_format: str = "png"  # what decode writes when no output suffix says
    crop: tuple[int, int, int, int] | None = None  # decode: the region (x, y, width, height) to write, or all
    thumbnail: bool = False  # decode: write the image at 1/8 scale
    codebook: object = None  # the shared codebook (a SharedCodebook) to encode with, or that files need

    def __post_init__(self):
        chosen = [name for name in ("force", "update", "skip_existing") if getattr(self, name)]
        if len(chosen) > 1:
            raise OptionsError("choose one of --force, --update and --skip-existing")


@dataclass(frozen=True)
class Job:
    """One input and where its output goes; `problem` is a failure known before running."""

    source: str
    output: str | None
    problem: str | None = None
    in_folder: bool = False  # the output goes into a folder that is created if missing


@dataclass
class Outcome:
    """What happened to one input; `record()` is its --json form."""

    input: str
    output: str | None
    status: str
    message: str = ""  # the error, or why the input was skipped
    seconds: float = 0.0
    input_bytes: int | None = None
    output_bytes: int | None = None
    header: Header | None = None  # of the .vqc written or read
    psnr: float | None = None  # known when encoding
    quality: float | None = None  # the rate-distortion encoder's quality, when encoding
    warnings: list[str] = field(default_factory=list)

    def record(self) -> dict:
        h = self.header
        return {
            "input": self.input,
            "output": self.output,
            "status": self.status,
            "error": self.message if self.status in (FAILED, INTERRUPTED) else None,
            "reason": self.message if self.status == SKIPPED else None,
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
            "width": h and h.width,
            "height": h and h.height,
            "channels": h and h.channels,
            "block": h and h.block,
            "k": h and h.k,
            "trainer": h and h.trainer,
            "bpp": h and h.bits_per_pixel,
            "psnr": self.psnr,
            "quality": self.quality,
            "seconds": round(self.seconds, 4),
            "warnings": self.warnings,
        }


# --- planning --------------------------------------------------------------------------------


def readable_suffixes() -> set[str]:
    """Suffixes of the image formats Pillow can open: what `-r` picks up when encoding."""
    from PIL import Image

    extensions = Image.registered_extensions()  # loads every plugin, filling Image.OPEN
    return {ext for ext, fmt in extensions.items() if fmt in Image.OPEN}


def check_image_format(name: str) -> str:
    """A format for decoded images, given as a suffix (png, webp, tif, ...)."""
    from .. import images

    name = name.lower().lstrip(".")
    if images.writer_of("." + name) is None:
        raise OptionsError(f"cannot write images as {name!r}; use png, webp, tif, bmp, ...")
    return name


def _walk(folder: str, suffixes: set[str]) -> list[str]:
    """Files under folder with one of the suffixes, sorted, hidden files and folders left out."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, n) for n in sorted(names)
                     if not n.startswith(".") and os.path.splitext(n)[1].lower() in suffixes)
    return found


def images_in(inputs, recursive: bool = False) -> list[str]:
    """The image files the inputs name, in order: files as given, and with `recursive` the images in folders."""
    found = []
    for given in map(os.fspath, inputs):
        if not os.path.isdir(given):
            found.append(given)
        elif not recursive:
            raise OptionsError(f"{given}: is a folder; use -r to take the images in it")
        else:
            found += _walk(given, readable_suffixes() - {files.VQC_SUFFIX})
    if not found:
        raise OptionsError("no images found in " + ", ".join(map(os.fspath, inputs)))
    return found


def _output_name(relative: str, settings: Settings) -> Path:
    if settings.command == "encode":
        return files.encoded_name(relative)
    return files.decoded_name(relative, "." + settings.image_format)


def plan(inputs, output: str | None, settings: Settings, recursive: bool = False) -> tuple[list[Job], list[str]]:
    """Jobs for the inputs, in order, and notes worth telling the user.

    Outputs land next to their inputs, or in the folder `output`, which is
    created if missing; files found with `recursive` keep their path relative
    to the folder given. `output` is a folder when it is one already, ends
    with a slash, or there are several inputs or a folder to walk; otherwise
    it is the one output file (`-`: standard output).
    """
    if settings.command not in COMMANDS:
        raise OptionsError(f"unknown command {settings.command!r}")
    inputs = [os.fspath(i) for i in inputs]
    if not inputs:
        raise OptionsError("no input given")
    if STDIO in inputs and len(inputs) > 1:
        raise OptionsError("- (standard input) must be the only input")
    suffixes = readable_suffixes() - {files.VQC_SUFFIX} if settings.command == "encode" else {files.VQC_SUFFIX}
    found: list[tuple[str, str | None, str | None]] = []  # (source, path relative to the output folder, problem)
    notes = []
    for given in inputs:
        if given != STDIO and os.path.isdir(given):
            if not recursive:
                found.append((given, None, "is a folder; use -r to take the files in it"))
                continue
            listed = _walk(given, suffixes)
            if not listed:
                notes.append(f"{given}: no {'images' if settings.command == 'encode' else '.vqc files'} found")
            found.extend((path, os.path.relpath(path, given), None) for path in listed)
        else:
            found.append((given, os.path.basename(given), None))
    to_folder = output not in (None, STDIO) and (
        os.path.isdir(output) or output.endswith(("/", os.sep)) or len(found) > 1 or recursive
    )
    if output == STDIO and len(found) > 1:
        raise OptionsError("-o - (standard output) takes a single input")
    if to_folder and os.path.lexists(output) and not os.path.isdir(output):
        raise OptionsError(f"-o {output}: several outputs need a folder, and this is a file")
    jobs = []
    claimed: dict[str, str] = {}
    for source, relative, problem in found:
        if problem:
            jobs.append(Job(source, None, problem))
            continue
        if source == STDIO:
            target = output or STDIO
        elif to_folder:
            target = os.path.join(output, _output_name(relative, settings))
        elif output:
            target = output
        else:
            target = os.fspath(_output_name(source, settings))
        key = os.path.abspath(target) if target != STDIO else STDIO
        if source != STDIO and key == os.path.abspath(source):
            jobs.append(Job(source, target, "the output would replace the input itself"))
            continue
        if key in claimed:
            jobs.append(Job(source, target, f"its output {target} is also the output of {claimed[key]}"))
            continue
        claimed[key] = source
        jobs.append(Job(source, target, in_folder=to_folder))
    return jobs, notes


# --- running ---------------------------------------------------------------------------------


def _display(source: str) -> str:
    return STDIN_NAME if source == STDIO else source


def _skip_reason(job: Job, settings: Settings) -> str | None:
    """Why an existing output is left alone as asked, or None to write it.

    An output that exists and was not asked to be kept is an OutputError, as
    gzip and zstd fail: `decode a.vqc -o a.png && use a.png` must not go on
    with a stale a.png.
    """
    if job.output == STDIO or settings.force or not files.exists(job.output):
        return None
    if settings.update:
        if job.source == STDIO or os.stat(job.output).st_mtime < os.stat(job.source).st_mtime:
            return None
        return f"{job.output} is up to date"
    if settings.skip_existing:
        return f"{job.output} exists"
    raise OutputError(f"{job.output} exists; use --force to overwrite it, or --skip-existing to keep it")


def _read_stdin(limit: int | None) -> bytes:
    data = sys.stdin.buffer.read() if limit is None else sys.stdin.buffer.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise ImageError(f"{STDIN_NAME}: more than {limit} bytes, larger than any image under the pixel cap")
    return data


def _write(job: Job, data: bytes, settings: Settings) -> None:
    if job.output != STDIO:
        if job.in_folder:
            try:
                os.makedirs(os.path.dirname(job.output), exist_ok=True)
            except OSError as exc:
                raise OutputError(f"{job.output}: cannot create its folder ({exc.strerror or exc})") from None
        files.write_file(job.output, data, settings.force or settings.update)
        return
    out = sys.stdout.buffer
    if out.isatty():
        raise OutputError("refusing to write binary data to a terminal; redirect standard output or use -o FILE")
    try:
        out.write(data)
        out.flush()
    except BrokenPipeError:
        raise OutputError("standard output was closed before everything was written") from None


def _encode(job: Job, settings: Settings, outcome: Outcome) -> bytes:
    from .. import api

    if job.source == STDIO:
        # Room for an uncompressed 16-bit RGBA image at the cap: no real image is larger.
        source = io.BytesIO(_read_stdin(None if settings.max_pixels is None else 8 * settings.max_pixels + (1 << 20)))
        source.name = STDIN_NAME
        outcome.input_bytes = len(source.getbuffer())
    else:
        source = job.source
    result = api.encode(source, settings.options, max_pixels=settings.max_pixels, codebook=settings.codebook)
    if job.source != STDIO:
        outcome.input_bytes = os.path.getsize(job.source)
    outcome.header, outcome.psnr, outcome.quality = result.header, result.psnr, result.quality
    return result.data


def _decode(job: Job, settings: Settings, outcome: Outcome) -> bytes:
    from .. import api, images

    decoded = api.decode(sys.stdin.buffer if job.source == STDIO else job.source, max_pixels=settings.max_pixels,
                         crop=settings.crop, thumbnail=settings.thumbnail, codebook=settings.codebook)
    outcome.header = decoded.header
    outcome.input_bytes = decoded.header.file_size
    name = job.output if job.output != STDIO else f"{STDIO}.{settings.image_format}"
    return images.encode_as(decoded.pixels, name)


def run_one(job: Job, settings: Settings) -> Outcome:
    """Carry out one job; every refusal becomes a failed Outcome, never an exception."""
    outcome = Outcome(_display(job.source), job.output, OK)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if job.problem:
                raise VQCodecError(f"{_display(job.source)}: {job.problem}")
            reason = _skip_reason(job, settings)
            if reason:
                outcome.status, outcome.message = SKIPPED, reason
            else:
                data = (_encode if settings.command == "encode" else _decode)(job, settings, outcome)
                _write(job, data, settings)
                outcome.output_bytes = len(data)
        except VQCodecError as exc:
            outcome.status, outcome.message = FAILED, _named(str(exc), job)
        except MemoryError:
            outcome.status, outcome.message = FAILED, f"{_display(job.source)}: out of memory"
        except Exception as exc:  # a bug, but one input must not stop the batch
            interrupt = interrupt_behind(exc)
            if interrupt:
                raise interrupt from None
            outcome.status = FAILED
            outcome.message = f"{_display(job.source)}: unexpected {type(exc).__name__}: {exc} (please report this)"
        finally:
            outcome.seconds = time.perf_counter() - start
            outcome.warnings = [_named(str(w.message), job) for w in caught]
    return outcome


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that caused exc, if any: when a signal arrives during
    a compiled Numba call, it comes back wrapped in SystemErrors."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _named(message: str, job: Job) -> str:
    """The message, saying which input (or output) it is about."""
    return naming(message, _display(job.source), *([job.output] if job.output not in (None, STDIO) else []))


def _start_worker(threads: int, configure) -> None:
    """A worker ignores Ctrl-C while idle (no tracebacks), uses `threads` threads unless
    the user chose otherwise (results do not depend on the thread count) and runs the
    program's `configure`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
    if configure:
        configure()


@contextmanager
def stopping_between_stages():
    """While a job runs in the main thread: Ctrl-C and SIGTERM ask its pipelines to stop before their next
    stage (vqcodec.pipeline.request_stop) rather than raise wherever the thread is, which inside a
    compiled kernel can leave a lock of Numba's held and the threads waiting for it hung. A request that
    no stage met is raised when the job ends, its output whole. Elsewhere (a Dask thread), nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGINT, lambda signum, frame: request_stop(KeyboardInterrupt))
    signal.signal(signal.SIGTERM, lambda signum, frame: request_stop(Terminated))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    if stop_requested():
        raise stop_requested()()


def _run_in_worker(job: Job, settings: Settings) -> Outcome:
    """run_one, interruptible while it works: Ctrl-C or SIGTERM stop it and its temporary file goes. Once
    asked to stop, a worker stops every job it is given after."""
    try:
        with stopping_between_stages():
            return run_one(job, settings)
    except KeyboardInterrupt:
        return Outcome(_display(job.source), job.output, INTERRUPTED, "interrupted")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run(jobs: list[Job], settings: Settings, workers: int = 1, configure=None):
    """Yield (index, Outcome) for every job as it finishes, running up to `workers` at once.

    With one worker (or one job) everything runs in this process. Otherwise
    worker processes are started fresh ("spawn": Numba's threads do not
    survive a fork), each with an equal share of the cores, and each calls
    `configure()` (a picklable function, such as vqcodec.cli.program.configure) first.
    """
    if workers <= 1 or len(jobs) <= 1:
        for index, job in enumerate(jobs):
            with stopping_between_stages():
                outcome = run_one(job, settings)
            yield index, outcome
        return
    workers = min(workers, len(jobs))
    threads = max(1, available_cores() // workers)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(threads, configure))
    try:
        pending = {pool.submit(_run_in_worker, job, settings): index for index, job in enumerate(jobs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                try:
                    yield index, future.result()
                except BrokenProcessPool:
                    job = jobs[index]
                    yield index, Outcome(_display(job.source), job.output, FAILED,
                                         f"{_display(job.source)}: the worker process died (out of memory?)")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
