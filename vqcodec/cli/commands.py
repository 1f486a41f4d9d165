"""The vqcodec command line: parse options, call the library, print. No codec logic lives here.

Exit codes: 0 success, 1 every input failed (Error: ... for each), 2 usage
error (an unknown option, a value out of range), 3 some inputs failed and
the others succeeded, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""
import json
import os
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from .. import __version__
from ..errors import OptionsError, VQCodecError
from ..options import (ALGORITHMS, DEFAULT_ALGO, DEFAULT_EFFORT, DEFAULT_MAX_PIXELS, DEFAULT_PSNR_TOLERANCE,
                       DEFAULT_QUALITY, DEFAULT_TIME_TOLERANCE, SHARED_EFFORT, SHARED_QUALITIES, EncodeOptions)

EXIT_ERROR = 1  # every input failed (or the one input did)
EXIT_USAGE = 2  # what click itself uses for bad options
EXIT_SOME_FAILED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM


@contextmanager
def _reporting():
    """Turn library errors into one `Error:` line and warnings into `Warning:` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except VQCodecError as exc:
            _flush(caught)
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_USAGE if isinstance(exc, OptionsError) else EXIT_ERROR)
        except MemoryError:
            click.echo("Error: out of memory", err=True)
            sys.exit(EXIT_ERROR)
        except (KeyboardInterrupt, Exception) as exc:
            from .batch import interrupt_behind

            interrupt = interrupt_behind(exc)
            if interrupt is None:
                raise
            _exit_interrupted(interrupt)
        _flush(caught)


def _exit_interrupted(interrupt: KeyboardInterrupt):
    """Ctrl-C exits 130 and SIGTERM 143, as shells report them."""
    from .batch import Terminated

    terminated = isinstance(interrupt, Terminated)
    click.echo("Terminated" if terminated else "Interrupted", err=True)
    sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def _flush(caught) -> None:
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    caught.clear()


_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "KIB": 1024, "MIB": 1024**2}


def _byte_size(ctx, param, value):
    """A size such as 20000, 20KB, 1.5MB or 64KiB, in bytes."""
    if value is None:
        return None
    text = value.strip().upper()
    number = text.rstrip("KMIB")
    try:
        size = round(float(number) * _UNITS[text[len(number):].strip()])
    except (ValueError, KeyError):
        raise click.BadParameter(f"expected bytes, or a number with KB, MB, KiB or MiB, got {value!r}") from None
    if size < 1:
        raise click.BadParameter(f"must be at least 1 byte, got {value!r}")
    return size


def _max_pixels(value: int) -> int | None:
    return None if value == 0 else value


max_pixels_option = click.option(
    "--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, show_default=True,
    help="Refuse images with more pixels than this (0: no limit).",
)


def examples(*lines: str) -> str:
    """The end of a command's --help: real command lines, each run by the tests as written."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def batch_options(command):
    """The options encode and decode share: outputs, batches, messages."""
    options = [
        click.argument("inputs", nargs=-1, required=True, type=click.Path(allow_dash=True)),
        click.option("-o", "--output", type=click.Path(allow_dash=True),
                     help="Output file, or folder for several inputs (created if missing); - for standard output."),
        click.option("-r", "--recursive", is_flag=True, help="Take the files in folders given as inputs, and in their subfolders."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), help="Files processed at once [default: number of cores]."),
        click.option("-f", "--force", is_flag=True, help="Overwrite outputs that exist."),
        click.option("-u", "--update", is_flag=True, help="Skip inputs whose output is newer; overwrite older outputs."),
        click.option("--skip-existing", is_flag=True,
                     help="Skip inputs whose output exists (without this, --force or --update, an existing output is an error)."),
        max_pixels_option,
        click.option("-q", "--quiet", is_flag=True, help="Print errors only."),
        click.option("-v", "--verbose", is_flag=True, help="Print the plan and input sizes too."),
        click.option("--json", "json_lines", is_flag=True, help="Print one JSON record per input on stdout."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=examples(
    "vqcodec encode photo.png && vqcodec decode photo.vqc   # photo.vqc, then photo.vqc.png",
    "vqcodec encode -r photos/ -o vqc/ --skip-existing      # a folder; run again, it picks up where it stopped",
    "vqcodec encode - -o - < photo.png | vqcodec decode - -o - > copy.png",
))
@click.version_option(__version__, prog_name="vqcodec")
def main():
    """Vector-quantization image codec.

    Exit codes: 0 success, 1 every input failed (an output that exists
    counts as a failure unless --skip-existing, --update or --force says what
    to do), 2 usage error, 3 some inputs failed, 130 interrupted, 143
    terminated.
    """
    from . import program

    program.configure()


@main.command(epilog=examples(
    "vqcodec encode photo.png --psnr 35                # the smallest file reaching 35 dB",
    "vqcodec encode photo.png -o tile.vqc -k 512 -b 4 --classic",
    "vqcodec encode -r photos/ -o vqc/ -j 2 --update   # only what changed since the last run",
))
@batch_options
@click.option("--quality", type=click.FloatRange(0, 100), help=f"0 to 100, higher is better and larger (default {DEFAULT_QUALITY}).")
@click.option("--psnr", type=click.FloatRange(1, 99), help="Search for the smallest file with at least this PSNR (dB).")
@click.option("--size", callback=_byte_size, help="Search for the best file of at most this size: bytes, or with KB/MB/KiB/MiB.")
@click.option("--bpp", type=click.FloatRange(min=1e-6, max=64), help="Search for the best file of at most this many bits per pixel.")
@click.option("--strict", is_flag=True, help="A --psnr/--size/--bpp target out of reach fails (no file, exit 1) instead of warning.")
@click.option("-k", "k", type=int, help="Codebook size, 2 to 65536 (default: chosen by quality; 256 with --classic).")
@click.option("-b", "--block", type=int, help="Block side in pixels, 1 to 16 (default: 2; 4 with --classic).")
@click.option("--algo", type=click.Choice(ALGORITHMS), default=DEFAULT_ALGO, show_default=True,
              help="Codebook trainer; optimal is exact, for -b 1 on grey images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed; the same seed gives the same file.")
@click.option("--tile", type=int, help="Tile side in pixels, 32 to 4096 (default 256): larger tiles make a little smaller files, "
                                        "smaller ones faster region decodes.")
@click.option("--effort", type=int, default=DEFAULT_EFFORT, show_default=True,
              help="1 to 9: how hard the encoder searches; higher is slower, for smaller files.")
@click.option("--codebook", type=click.Path(dir_okay=False),
              help="A shared codebook (.vqcb, from `vqcodec train`): each plane codes with it where that costs less "
                   "than its own; decoding then needs it.")
@click.option("--classic", is_flag=True, help="Plain VQ of the pixels (.vqc version 2), without colour transform, means or rate control.")
@click.option("--fixed-rate", is_flag=True,
              help="Classic VQ with the codebook raw and the indices bit-packed at ceil(log2 K) bits: larger files, "
                   "but the size follows from K, b and the image size, and each block's index is at a known offset.")
def encode(inputs, output, recursive, jobs, force, update, skip_existing, max_pixels, quiet, verbose, json_lines, quality, psnr, size,
           bpp, strict, k, block, algo, seed, tile, effort, codebook, classic, fixed_rate):
    """Compress images (PNG, JPEG, WebP, TIFF, ...) into .vqc files.

    Each INPUT.ext becomes INPUT.vqc beside it, or in the folder -o names.
    Without a target, quality 75; --size and --bpp search for the best file
    that fits, --psnr for the smallest that reaches it.
    """
    from .batch import Settings

    with _reporting():
        options = EncodeOptions(k=k, block=block, algo=algo, seed=seed, fixed_rate=fixed_rate, classic=classic,
                                quality=quality, psnr=psnr, size=size, bpp=bpp, strict=strict, tile=tile,
                                effort=effort)
        settings = Settings("encode", options, max_pixels=_max_pixels(max_pixels), force=force, update=update,
                            skip_existing=skip_existing, codebook=_shared_codebook(codebook))
    _run_batch(inputs, output, recursive, settings, jobs, quiet, verbose, json_lines)


def _region(ctx, param, value):
    """X,Y,W,H: four whole numbers, the region's left, top, width and height."""
    if value is None:
        return None
    try:
        region = tuple(int(v) for v in value.split(","))
    except ValueError:
        region = ()
    if len(region) != 4 or min(region) < 0 or min(region[2:]) < 1:
        raise click.BadParameter(f"expected X,Y,W,H (four whole numbers; W and H at least 1), got {value!r}")
    return region


@main.command(epilog=examples(
    "vqcodec decode photo.vqc                  # writes photo.vqc.png",
    "vqcodec decode photo.vqc -o corner.png --crop 0,0,64,64",
    "vqcodec decode -r vqc/ -o small/ --thumbnail --skip-existing",
))
@batch_options
@click.option("--format", "image_format", default="png", show_default=True,
              help="Image format (a suffix: png, webp, tif, bmp, ...) for outputs named by vqcodec and for -o -.")
@click.option("--crop", callback=_region, metavar="X,Y,W,H",
              help="Decode only this region: left, top, width, height in pixels (a version-4 or -5 file decodes only the "
                   "tiles it touches).")
@click.option("--thumbnail", is_flag=True, help="Decode the image at 1/8 scale (from the means alone, in versions 3 to 5).")
@click.option("--codebook", type=click.Path(dir_okay=False),
              help="The shared codebook (.vqcb) the files were coded with; else one found in the folders "
                   "$VQCODEC_CODEBOOKS names.")
def decode(inputs, output, recursive, jobs, force, update, skip_existing, max_pixels, quiet, verbose, json_lines,
           image_format, crop, thumbnail, codebook):
    """Decompress .vqc files into images.

    Each INPUT.vqc becomes INPUT.vqc.png beside it (never the original's
    name), or in the folder -o names. A file given with -o gets the format
    of its suffix.
    """
    from .batch import Settings, check_image_format

    with _reporting():
        if crop and thumbnail:
            raise OptionsError("--crop and --thumbnail exclude each other")
        settings = Settings("decode", max_pixels=_max_pixels(max_pixels), force=force, update=update,
                            skip_existing=skip_existing, image_format=check_image_format(image_format), crop=crop,
                            thumbnail=thumbnail, codebook=_shared_codebook(codebook))
    _run_batch(inputs, output, recursive, settings, jobs, quiet, verbose, json_lines)


@main.command(epilog=examples(
    "vqcodec train -r tiles/ -o tiles.vqcb",
    "vqcodec encode -r tiles/ -o vqc/ --codebook tiles.vqcb",
    "vqcodec decode -r vqc/ -o png/ --codebook tiles.vqcb",
))
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The shared codebook to write (.vqcb).")
@click.option("-r", "--recursive", is_flag=True, help="Take the images in folders given as inputs, and in their subfolders.")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--algo", type=click.Choice(ALGORITHMS), default=DEFAULT_ALGO, show_default=True, help="Trainer of the starting codebooks.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed; the same seed gives the same file.")
@click.option("--effort", type=int, default=SHARED_EFFORT, show_default=True,
              help="1 to 9, as encode's: how hard each codebook is searched for (training runs once).")
@click.option("-b", "--block", type=int, help="Block side in pixels, 1 to 16 (default: 2, as encode's).")
@click.option("--qualities", default=",".join(map(str, SHARED_QUALITIES)), show_default=True,
              callback=lambda ctx, param, value: _number_list(ctx, param, value, int, "qualities"),
              help="The qualities to learn a codebook for, comma-separated; an encode takes the nearest.")
@max_pixels_option
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def train(inputs, output, recursive, force, algo, seed, effort, block, qualities, max_pixels, quiet):
    """Learn a shared codebook (.vqcb) from a collection of images.

    Small images (tiles, chunks, thumbnails) coded with `encode --codebook`
    then carry no codebook of their own, only the shared one's identity.
    Decoding them needs the same .vqcb: nothing else decodes them.
    """
    from .. import api, files
    from ..format.codebooks import KINDS
    from .batch import images_in
    from .progress import Progress

    with _reporting():
        options = EncodeOptions(algo=algo, seed=seed, effort=effort, block=block)
        if any(not 0 <= q <= 100 for q in qualities) or not qualities:
            raise OptionsError("--qualities must be one or more qualities from 0 to 100")
        sources = images_in(inputs, recursive)
        if not force and files.exists(output):
            raise files.exists_error(output)
        start = time.perf_counter()
        progress = Progress(len(sources), sys.stderr, not quiet and sys.stderr.isatty(), "reading")
        try:
            shared = api.train_shared(sources, options, sorted(set(qualities)), max_pixels=_max_pixels(max_pixels),
                                      progress=lambda done, total: progress.advance())
        finally:
            progress.close()
        files.write_file(output, shared.data, force)
    if not quiet:
        click.echo(f"{output}: shared codebook {shared.name}, {len(shared.data):,} bytes, from {len(sources):,} "
                   f"image{'s' if len(sources) > 1 else ''} in {time.perf_counter() - start:.1f} s", err=True)
        for kind in sorted({kind for kind, _, _ in shared.entries}):
            entries = [(quality, len(book)) for k, quality, book in shared.entries if k == kind]
            sizes = [size for _, size in entries]
            click.echo(f"  {KINDS[kind]}: {len(entries)} codebooks of {min(sizes)} to {max(sizes)} codewords, "
                       f"qualities {', '.join(str(quality) for quality, _ in entries)}", err=True)


def _bench_shared(images, qualities, tile_sizes, own_tiles, others, opts) -> None:
    """`vqcodec bench --shared`: the table of vqcodec.bench.shared."""
    from ..bench import anchors, shared

    if others:
        raise OptionsError(f"{opts[others[0]]} does not apply to --shared")
    if len(images) == 1 and not own_tiles:
        raise OptionsError("--shared needs two images or more (each one's codebook is learned from the others), "
                           "or --own-tiles")
    paths = [Path(p) for p in images] or anchors.photos()
    results = shared.run(paths, tile_sizes or shared.SIZES, qualities or shared.QUALITIES, own_tiles,
                         progress=_progress)
    click.echo(shared.table(results))
    if not own_tiles:
        click.echo()
        click.echo(shared.whole_table(shared.whole(paths, min(tile_sizes or shared.SIZES),
                                                   qualities or shared.QUALITIES, _progress)))


def _shared_codebook(path):
    """The shared codebook a --codebook option names, read and checked once for every job; None without one."""
    from .. import api

    return None if path is None else api.read_codebook(path)


def _run_batch(inputs, output, recursive, settings, jobs, quiet, verbose, json_lines) -> None:
    """Plan, run, report each input in the order given, and exit with the code that sums it up."""
    from . import batch, kernels, program
    from .progress import Progress

    batch.handle_sigterm()
    with _reporting():
        if json_lines and output == batch.STDIO:
            raise OptionsError("--json prints to standard output, so it cannot go with -o -")
        planned, notes = batch.plan(inputs, output, settings, recursive)
    for note in notes:
        if not quiet:
            click.echo(f"Warning: {note}", err=True)
    if not planned:
        return
    workers = min(jobs or batch.available_cores(), len(planned))
    say = None if quiet else (lambda line: click.echo(line, err=True))  # a terminal or not: a log says it too
    compiled = kernels.prepare(settings.command, settings.options, planned[0].source, workers == 1, say,
                               settings.max_pixels)
    if verbose:
        click.echo(f"{settings.command}: {len(planned)} input(s), {workers} at a time", err=True)
    first = "stdin" if planned[0].source == batch.STDIO else planned[0].source
    progress = Progress(len(planned), sys.stderr, enabled=not quiet and sys.stderr.isatty(),
                        label=f"{settings.command[:-1]}ing {first}")
    outcomes = [None] * len(planned)
    reported = 0
    start = time.perf_counter()
    try:
        for index, outcome in batch.run(planned, settings, workers, configure=program.configure):
            outcomes[index] = outcome
            progress.advance(outcome.status == batch.FAILED)
            while reported < len(planned) and outcomes[reported] is not None:
                _report(outcomes[reported], settings, progress, quiet, verbose, json_lines)
                reported += 1
    except KeyboardInterrupt as exc:
        for outcome in outcomes[reported:]:
            if outcome is not None:
                _report(outcome, settings, progress, quiet, verbose, json_lines)
        progress.close()
        _exit_interrupted(exc)
    finally:
        compiled()
    progress.close()
    failed = sum(o.status == batch.FAILED for o in outcomes)
    if len(planned) > 1 and not quiet:
        skipped = sum(o.status == batch.SKIPPED for o in outcomes)
        done = len(planned) - failed - skipped
        click.echo(f"{done} {settings.command}d, {skipped} skipped, {failed} failed "
                   f"in {time.perf_counter() - start:.2f} s", err=True)
    if failed:
        sys.exit(EXIT_ERROR if failed == len(planned) else EXIT_SOME_FAILED)


def _report(outcome, settings, progress, quiet, verbose, json_lines) -> None:
    from . import batch

    if json_lines:
        click.echo(json.dumps(outcome.record()))
    if outcome.status == batch.FAILED:
        progress.echo(f"Error: {outcome.message}")
    if quiet:
        return
    for warning in outcome.warnings:
        progress.echo(f"Warning: {warning}")
    if outcome.status == batch.SKIPPED:
        progress.echo(f"Skipped: {outcome.message}")
    elif outcome.status == batch.OK:
        progress.echo(_summary(outcome, settings, verbose))


def _summary(outcome, settings, verbose) -> str:
    h = outcome.header
    target = "stdout" if outcome.output == "-" else outcome.output
    if settings.command == "encode":
        text = (f"{outcome.input} -> {target}: {outcome.output_bytes:,} bytes, {h.bits_per_pixel:.3f} bpp, "
                f"{100 * outcome.output_bytes / h.raw_size:.1f} % of raw, PSNR {outcome.psnr:.2f} dB, "
                f"K={h.k} {h.trainer}, {h.block}x{h.block} blocks"
                + (f", quality {outcome.quality:.1f}" if outcome.quality is not None else ""))
    else:
        text = f"{outcome.input} -> {target}: {h.width}x{h.height} {h.mode}, {outcome.output_bytes:,} bytes"
    if verbose:
        text += f" (from {outcome.input_bytes:,} bytes)"
    return text + f", {outcome.seconds:.2f} s"


def _number_list(ctx, param, value, kind=float, what="numbers"):
    """Comma-separated numbers, each as `kind`; whole floats come back as int."""
    try:
        numbers = [kind(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated {what}, got {value!r}") from None
    return [int(n) if float(n).is_integer() else n for n in numbers] or None


def _int_list(ctx, param, value):
    return _number_list(ctx, param, value, int, "integers")


def _algo_list(ctx, param, value):
    algos = [v.strip() for v in value.split(",") if v.strip()]
    for algo in algos:
        if algo not in ALGORITHMS:
            raise click.BadParameter(f"unknown trainer {algo!r}; choose from {', '.join(ALGORITHMS)}")
    return algos


RD_ONLY = ("anchor_names", "plot_dir")  # bench options that need --rd
NOT_RD = ("ks", "block_sizes", "algos", "repeat", "seed", "preset", "csv_path", "baseline", "save_baseline",
          "psnr_tolerance", "time_tolerance", "no_timing_check", "classic")  # that --rd refuses
PRESET_SETS = ("ks", "block_sizes", "qualities", "algos")  # what --preset chooses itself


@main.command("bench", epilog=examples(
    "vqcodec bench photo.png --quality 50,75,90           # what `vqcodec encode` writes at these qualities",
    "vqcodec bench --classic photo.png -k 64,256 -b 2,4   # the trainers compared on plain VQ",
    "vqcodec bench --rd photo.png --anchors jpeg --json rd.json",
))
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("-k", "ks", default="", callback=_int_list,
              help="Codebook sizes, comma-separated [default: chosen by the quality; 256 with --classic].")
@click.option("-b", "--block", "block_sizes", default="", callback=_int_list,
              help="Block sides, comma-separated [default: chosen by the quality; 4 with --classic].")
@click.option("--quality", "--qualities", "qualities", default="", callback=_number_list,
              help=f"Qualities, comma-separated [default: {DEFAULT_QUALITY}; with --rd: 0,10,...,90].")
@click.option("--classic", is_flag=True, help="Measure plain VQ files, as `vqcodec encode --classic` writes them.")
@click.option("--algo", "algos", default="kmeans,centnn", show_default=True, callback=_algo_list,
              help="Trainers, comma-separated; optimal runs only where it applies (-b 1, grey).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per setting; the median and spread are reported.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--preset", type=click.Choice(["paper"]), help="paper: the two experiments of the CentNN article on camera-128.png (classic files).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False),
              help="Write the records as JSON (schema: docs/bench.schema.json; with --rd: docs/rd.schema.json).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the records as CSV.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False), help="Fail (exit 1) if a record regressed against this JSON.")
@click.option("--save-baseline", type=click.Path(dir_okay=False), help="Write the records as a baseline JSON.")
@click.option("--psnr-tolerance", type=float, default=DEFAULT_PSNR_TOLERANCE, show_default=True, help="dB a record's PSNR may drop below the baseline.")
@click.option("--time-tolerance", type=float, default=DEFAULT_TIME_TOLERANCE, show_default=True, help="Fraction by which encode time relative to the reference workload may grow.")
@click.option("--no-timing-check", is_flag=True, help="Compare only PSNR and size with the baseline, not time.")
@click.option("--montage", "montage_dir", type=click.Path(file_okay=False),
              help="Write side-by-side PNGs of original and reconstructions here; with --rd, of a detailed crop of each "
                   "codec's file at the size of vqcodec's at the default quality.")
@click.option("--rd", is_flag=True, help="Compare the rate-distortion encoder with JPEG, WebP and AVIF instead: curves and BD-rates.")
@click.option("--anchors", "anchor_names", default="jpeg,webp,avif", show_default=True, help="With --rd: the codecs to compare with.")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="With --rd: write one plot per image here, PSNR and SSIM against bpp (needs matplotlib).")
@click.option("--shared", is_flag=True,
              help="Measure shared codebooks instead: each image's tiles coded with a codebook learned from the other "
                   "images' tiles, against their own codebooks, JPEG and WebP (BD-rates).")
@click.option("--tile-sizes", "tile_sizes", default="", callback=_int_list,
              help="With --shared: the tile sides, comma-separated [default: 64,128,256].")
@click.option("--own-tiles", "own_tiles", is_flag=True,
              help="With --shared: learn each image's codebook from its own other tiles (a checkerboard's other colour), "
                   "as for the chunks of one large image.")
def bench_command(images, ks, block_sizes, qualities, classic, algos, repeat, seed, preset, json_path, csv_path,
                  baseline, save_baseline, psnr_tolerance, time_tolerance, no_timing_check, montage_dir, rd,
                  anchor_names, plot_dir, shared, tile_sizes, own_tiles):
    """Measure what `vqcodec encode` writes, through real encode/decode runs: the rate-distortion encoder,
    or plain VQ with --classic (where the trainers are compared). With --rd, vqcodec against JPEG, WebP
    and AVIF instead.

    Without IMAGES, the bundled samples. --baseline fails (exit 1) on a
    regression against a saved run, for CI.
    """
    from click.core import ParameterSource

    from ..bench import anchors, paper, runs

    with _reporting():
        ctx = click.get_current_context()
        given = {name for name in ctx.params if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
        opts = {param.name: param.opts[-1] for param in ctx.command.params}
        if (tile_sizes or own_tiles) and not shared:
            raise OptionsError(f"{'--tile-sizes' if tile_sizes else '--own-tiles'} needs --shared")
        if shared:
            _bench_shared(images, qualities, tile_sizes, own_tiles,
                          sorted(given - {"images", "qualities", "shared", "tile_sizes", "own_tiles"}), opts)
            return
        misplaced = sorted(given & set(NOT_RD if rd else RD_ONLY))
        if misplaced:
            raise OptionsError(f"{opts[misplaced[0]]} {'does not apply to' if rd else 'needs'} --rd")
        preset_sets = sorted(given & set(PRESET_SETS)) if preset else []
        if preset_sets:
            raise OptionsError(f"{opts[preset_sets[0]]} does not apply to --preset {preset}, which sets it")
        if rd:
            report = anchors.run([Path(p) for p in images] or anchors.photos(), qualities or anchors.DEFAULT_QUALITIES,
                                 [n.strip() for n in anchor_names.split(",") if n.strip()], _progress, plot_dir,
                                 montage_dir)
            click.echo(anchors.table(report))
            if json_path:
                runs.write_json(json_path, anchors.document(report))
            return
        paths = [Path(p) for p in images] or runs.bundled_samples()
        if preset == "paper":
            paths = [p for p in runs.bundled_samples() if p.name == paper.IMAGE]
            settings, algos, classic = paper.settings(), list(paper.TRAINERS), True
        else:
            settings = runs.settings(ks or [None], block_sizes or [None], qualities or [None], classic)
        if montage_dir:
            Path(montage_dir).mkdir(parents=True, exist_ok=True)
        jit = runs.warm_up(algos, classic)
        reference = runs.reference_seconds()
        records = runs.run(paths, settings, algos, seed, repeat, reference, progress=_progress, montage_dir=montage_dir)
        options = {"classic": classic, "settings": [{"quality": o.quality, "k": o.k, "block": o.block} for o in settings],
                   "algo": algos, "repeat": repeat, "seed": seed, "preset": preset}
        doc = runs.document(records, reference, jit, repeat, options)
        click.echo(runs.table(records))
        if preset == "paper":
            click.echo("\n" + paper.table(records))
        click.echo(
            "\nJIT warm-up, excluded from the timings: "
            + ", ".join(f"{algo} {seconds:.2f} s" for algo, seconds in jit.items())
            + f"; reference workload {1000 * reference:.1f} ms"
        )
        for path, write in ((json_path, runs.write_json), (save_baseline, runs.write_json), (csv_path, runs.write_csv)):
            if path:
                write(path, doc)
        if baseline:
            problems = runs.compare(records, reference, runs.load_baseline(baseline), psnr_tolerance,
                                    None if no_timing_check else time_tolerance)
            for line in problems:
                click.echo(f"Regression: {line}", err=True)
            if problems:
                click.echo(f"Error: {len(problems)} regression(s) against {baseline}", err=True)
                sys.exit(EXIT_ERROR)
            click.echo(f"Baseline {baseline}: no regression in {len(records)} records", err=True)


def _info_rows(name: str, h) -> list[tuple[str, str]]:
    """What `vqcodec info` shows of a header: the image, the codebook, and where the bytes go."""
    from ..format.container import CODINGS, PLANES_VERSION, TILED

    def cost(length: int, what: str, share: str = "") -> str:
        return f"{f'{length:,} bytes{what}':<28} {h.rate(length):>8.3f} bits/pixel" + (f"   {share}" if share else "")

    if h.version in (PLANES_VERSION, *TILED):
        return _plane_rows(name, h, cost)
    fixed_names = {"codebook": "raw", "indices": f"{h.index_bits}-bit packed"}
    rows = [
        ("file", f"{name} (version {h.version})"),
        ("image", f"{h.width} x {h.height}, {h.mode}"),
        ("blocks", f"{h.block} x {h.block}, {h.block_count:,} of them ({h.codeword_size} value"
                   f"{'s' if h.codeword_size > 1 else ''} per codeword)"),
        ("codewords", f"{h.k:,}" + (f" of {h.requested_k:,} asked for" if h.k < h.requested_k else "")
                      + f" (trained by {h.trainer})"),
    ]
    for s in h.sections:
        fixed = s.coding == CODINGS[s.kind][0]
        share = "" if fixed else f"{s.length / h.fixed_length(s.kind):.0%} of {fixed_names[s.kind]}"
        rows.append((s.kind, cost(s.length, f", {s.coding}", share)))
    rows.append(("header", cost(h.header_size + 4, " with the checksum")))
    rows.append(("total", cost(h.file_size, "", f"{h.file_size / h.raw_size:.1%} of the raw pixels")))
    return rows


def _plane_rows(name: str, h, cost) -> list[tuple[str, str]]:
    """Versions 3 to 5: the image, then each plane and what its sections cost (the tiles' summed)."""
    from ..format.container import CUBIC, EXTENDED, SHARED_BOOK

    rows = [("file", f"{name} (version {h.version})"), ("image", f"{h.width} x {h.height}, {h.mode}, planes {h.colour}")]
    if h.codebook:
        rows.append(("codebook", f"shared codebook {h.codebook.hex()} (decoding needs it)"))
    for n, p in enumerate(h.planes):
        if p.k == 0:
            rows.append((f"plane {n}", f"{p.width} x {p.height}, every sample {p.fill}"))
            continue
        shared = (" (shared, and some of its own)" if p.tools & EXTENDED else " (shared)" if p.tools & SHARED_BOOK
                  else "")
        rows.append((f"plane {n}", f"{p.width} x {p.height}, {p.block} x {p.block} blocks, {p.k:,} codewords{shared}, "
                                   f"means of {p.cell} x {p.cell} cells in steps of {p.step}"
                                   + (", a cubic base" if p.tools & CUBIC else "")
                                   + (f", {p.tiles:,} tiles of {p.tile} x {p.tile}" if p.tile else "")))
        rows += [(f"  {s.kind}", cost(s.length, "")) for s in p.sections]
    rows.append(("header", cost(h.header_size + 4, " with the checksum")))
    rows.append(("total", cost(h.file_size, "", f"{h.file_size / h.raw_size:.1%} of the raw pixels")))
    return rows


def _progress(i: int, total: int, text: str) -> None:
    click.echo(f"[{i}/{total}] {text}", err=True)


@main.command(epilog=examples(
    "vqcodec info photo.vqc",
    "vqcodec info --json vqc/*.vqc   # one JSON record per file",
))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--json", "json_lines", is_flag=True, help="Print one JSON record per file (schema: docs/info.schema.json).")
def info(inputs, json_lines):
    """Show what .vqc files hold, after checking them (- reads standard input)."""
    from .. import api

    failed = 0
    for n, input in enumerate(inputs):
        name = "stdin" if input == "-" else input
        try:
            h = api.info(sys.stdin.buffer if input == "-" else input)
        except VQCodecError as exc:
            message = f"{'stdin: ' if input == '-' else ''}{exc}"
            click.echo(f"Error: {message}", err=True)
            if json_lines:
                click.echo(json.dumps({"input": name, "status": "failed", "error": message}))
            failed += 1
            continue
        if json_lines:
            click.echo(json.dumps({"input": name, "status": "ok", "error": None, **h.record()}))
            continue
        if n:
            click.echo()
        rows = _info_rows(name, h)
        width = max(11, *(len(row) for row, _ in rows))  # "  refinement" is the longest
        for row, value in rows:
            click.echo(f"{row:<{width}} {value}")
    if failed:
        sys.exit(EXIT_ERROR if failed == len(inputs) else EXIT_SOME_FAILED)


@main.command(epilog=examples(
    "vqcodec warmup",
    "vqcodec warmup && vqcodec encode photo.png   # the encode starts at once",
))
def warmup():
    """Compile every kernel now, so that the first real encode or decode does not wait for it.

    Numba keeps the machine code in its cache (beside the installed sources, or
    under NUMBA_CACHE_DIR), so this is needed once per install; later runs load it.
    """
    from . import kernels

    with _reporting():
        click.echo(f"vqcodec's kernels are ready ({kernels.warm_up():.1f} s).", err=True)


def run() -> None:
    """The `vqcodec` program: `main`, then an exit without Python's teardown.

    With Numba loaded, the interpreter's shutdown (freeing modules and the
    compiler's objects) takes about a quarter of a second, a quarter of a
    warm encode, and a shell loop over thousands of files pays it for each.
    By the time `main` returns, every output is whole and in place and every
    worker process has ended, so nothing is left for the teardown to do but
    flushing the standard streams.
    """
    try:
        main(prog_name="vqcodec")
        code = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # sys.exit("message"): said on stderr, exit 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what was said is lost either way
            pass
    os._exit(code or 0)
