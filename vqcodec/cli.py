"""The vqcodec command line: parse options, call the library, print. No codec logic lives here.

Exit codes: 0 success, 1 the input or output was refused (Error: ...),
2 usage error (an unknown option, a value out of range), 130 interrupted.
"""
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__, files
from .errors import OptionsError, VQCodecError
from .options import (ALGORITHMS, DEFAULT_ALGO, DEFAULT_BLOCK, DEFAULT_K, DEFAULT_MAX_PIXELS, DEFAULT_PSNR_TOLERANCE,
                      DEFAULT_TIME_TOLERANCE, check_block, check_k)

EXIT_ERROR = 1
EXIT_USAGE = 2  # what click itself uses for bad options
EXIT_INTERRUPTED = 130


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
        except KeyboardInterrupt:
            click.echo("Interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        _flush(caught)


def _flush(caught) -> None:
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    caught.clear()


def _max_pixels(value: int) -> int | None:
    return None if value == 0 else value


max_pixels_option = click.option(
    "--max-pixels", type=click.IntRange(min=0), default=DEFAULT_MAX_PIXELS, show_default=True,
    help="Refuse images with more pixels than this (0: no limit).",
)
force_option = click.option("--force", "-f", is_flag=True, help="Overwrite the output if it exists.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vqcodec")
def main():
    """Vector-quantization image codec.

    \b
      vqcodec encode photo.png -k 512 -b 4    # writes photo.vqc
      vqcodec decode photo.vqc                # writes photo.vqc.png
      vqcodec info photo.vqc
    """


@main.command()
@click.argument("input", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output file [default: INPUT with suffix .vqc].")
@click.option("-k", "k", type=int, default=DEFAULT_K, show_default=True, help="Codebook size, 2 to 65536.")
@click.option("-b", "--block", type=int, default=DEFAULT_BLOCK, show_default=True, help="Block side in pixels, 1 to 16 (1: scalar quantization).")
@click.option("--algo", type=click.Choice(ALGORITHMS), default=DEFAULT_ALGO, show_default=True,
              help="Codebook trainer; optimal is exact, for -b 1 on grey images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed; the same seed gives the same file.")
@force_option
@max_pixels_option
def encode(input, output, k, block, algo, seed, force, max_pixels):
    """Compress an image (PNG, JPEG, WebP, TIFF, ...) into a .vqc file.

    \b
      vqcodec encode lena.png -k 512 -b 4
      vqcodec encode scan.tif -o scan.vqc --algo centnn -k 64
    """
    from . import codec

    output = output or files.encoded_name(input)
    with _reporting():
        if not force and files.exists(output):  # refuse before spending time on training
            raise files.exists_error(output)
        start = time.perf_counter()
        result = codec.encode(input, k=k, block=block, algo=algo, seed=seed, max_pixels=_max_pixels(max_pixels))
        result.save(output, force)
        seconds = time.perf_counter() - start
    h = result.header
    click.echo(
        f"{output}: {len(result.data):,} bytes, {result.bits_per_pixel:.3f} bpp, "
        f"{100 * len(result.data) / result.raw_size:.1f} % of raw, PSNR {result.psnr:.2f} dB, "
        f"K={h.k} {h.trainer}, {h.block}x{h.block} blocks, {seconds:.2f} s",
        err=True,
    )


@main.command()
@click.argument("input", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output image; its suffix picks the format [default: INPUT.png].")
@force_option
@max_pixels_option
def decode(input, output, force, max_pixels):
    """Decompress a .vqc file into an image.

    \b
      vqcodec decode lena.vqc              # writes lena.vqc.png
      vqcodec decode lena.vqc -o lena.webp
    """
    from . import codec, images

    output = output or files.decoded_name(input)
    with _reporting():
        if not force and files.exists(output):
            raise files.exists_error(output)
        pixels = codec.decode(input, max_pixels=_max_pixels(max_pixels))
        files.write_file(output, images.encode_as(pixels, output), force)


def _int_list(ctx, param, value):
    try:
        return [int(v) for v in value.split(",") if v.strip()] or None
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}") from None


def _algo_list(ctx, param, value):
    algos = [v.strip() for v in value.split(",") if v.strip()]
    for algo in algos:
        if algo not in ALGORITHMS:
            raise click.BadParameter(f"unknown trainer {algo!r}; choose from {', '.join(ALGORITHMS)}")
    return algos


@main.command("bench")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("-k", "ks", default="256", show_default=True, callback=_int_list, help="Codebook sizes, comma-separated.")
@click.option("-b", "--block", "block_sizes", default="4", show_default=True, callback=_int_list, help="Block sides, comma-separated.")
@click.option("--algo", "algos", default="kmeans,centnn", show_default=True, callback=_algo_list,
              help="Trainers, comma-separated; optimal runs only where it applies (-b 1, grey).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Runs per setting; the median and spread are reported.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--preset", type=click.Choice(["paper"]), help="paper: the two experiments of the CentNN article on camera-128.png.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the records as JSON (docs/BENCH.md).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the records as CSV.")
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False), help="Fail (exit 1) if a record regressed against this JSON.")
@click.option("--save-baseline", type=click.Path(dir_okay=False), help="Write the records as a baseline JSON.")
@click.option("--psnr-tolerance", type=float, default=DEFAULT_PSNR_TOLERANCE, show_default=True, help="dB a record's PSNR may drop below the baseline.")
@click.option("--time-tolerance", type=float, default=DEFAULT_TIME_TOLERANCE, show_default=True, help="Fraction by which encode time relative to the reference workload may grow.")
@click.option("--no-timing-check", is_flag=True, help="Compare only PSNR and size with the baseline, not time.")
@click.option("--montage", "montage_dir", type=click.Path(file_okay=False), help="Write side-by-side PNGs of original and reconstructions here.")
def bench_command(images, ks, block_sizes, algos, repeat, seed, preset, json_path, csv_path, baseline,
                  save_baseline, psnr_tolerance, time_tolerance, no_timing_check, montage_dir):
    """Compare trainers and settings on real encode/decode runs.

    \b
      vqcodec bench                                  # bundled samples
      vqcodec bench photo.png -k 64,256,512 -b 2,4 --repeat 3
      vqcodec bench --preset paper                   # the CentNN article's experiments
      vqcodec bench --baseline bench/baseline.json --no-timing-check
    """
    from . import bench

    with _reporting():
        paths = [Path(p) for p in images] or bench.bundled_samples()
        if preset == "paper":
            paths = [p for p in bench.bundled_samples() if p.name == bench.PAPER_IMAGE]
            settings = list(bench.PAPER)
            algos = list(ALGORITHMS)
        else:
            settings = bench.grid(ks or [DEFAULT_K], block_sizes or [DEFAULT_BLOCK])
        for k, block in settings:
            check_k(k)
            check_block(block)
        if montage_dir:
            Path(montage_dir).mkdir(parents=True, exist_ok=True)
        jit = bench.warm_up(algos)
        reference = bench.reference_seconds()
        records = bench.run(paths, settings, algos, seed, repeat, reference, progress=_progress, montage_dir=montage_dir)
        options = {"settings": [list(s) for s in settings], "algo": algos, "repeat": repeat, "seed": seed, "preset": preset}
        doc = bench.document(records, reference, jit, repeat, options)
        click.echo(bench.table(records))
        if preset == "paper":
            click.echo("\n" + bench.paper_table(records))
        click.echo(
            "\nJIT warm-up, excluded from the timings: "
            + ", ".join(f"{algo} {seconds:.2f} s" for algo, seconds in jit.items())
            + f"; reference workload {1000 * reference:.1f} ms"
        )
        for path, write in ((json_path, bench.write_json), (save_baseline, bench.write_json), (csv_path, bench.write_csv)):
            if path:
                write(path, doc)
        if baseline:
            problems = bench.compare(records, reference, bench.load_baseline(baseline), psnr_tolerance,
                                     None if no_timing_check else time_tolerance)
            for line in problems:
                click.echo(f"Regression: {line}", err=True)
            if problems:
                click.echo(f"Error: {len(problems)} regression(s) against {baseline}", err=True)
                sys.exit(EXIT_ERROR)
            click.echo(f"Baseline {baseline}: no regression in {len(records)} records", err=True)


def _progress(i: int, total: int, text: str) -> None:
    click.echo(f"[{i}/{total}] {text}", err=True)


@main.command()
@click.argument("input", type=click.Path(dir_okay=False))
def info(input):
    """Show what a .vqc file holds, after checking it.

    \b
      vqcodec info lena.vqc
    """
    from . import codec
    from .container import CRC, HEADER

    with _reporting():
        h = codec.info(input)
    rows = [
        ("file", input),
        ("image", f"{h.width} x {h.height}, {h.mode}"),
        ("block", f"{h.block} x {h.block} ({h.codeword_size} values per codeword)"),
        ("codebook", f"{h.k} codewords" + (f" (asked for {h.requested_k}; the image has no more distinct blocks)" if h.k < h.requested_k else "")),
        ("trainer", h.trainer),
        ("indices", f"{h.block_count} x {h.index_bits} bits"),
        ("bytes", f"{h.file_size} = header {HEADER.size} + codebook {h.codebook_bytes} + indices {h.index_bytes} + checksum {CRC.size}"),
        ("bits/pixel", f"{8 * h.file_size / (h.width * h.height):.3f}"),
    ]
    for name, value in rows:
        click.echo(f"{name:<11} {value}")
