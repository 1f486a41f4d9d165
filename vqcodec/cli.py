"""The vqcodec command line: parse options, call the library, print. No codec logic lives here.

Exit codes: 0 success, 1 the input or output was refused (Error: ...),
2 usage error, 130 interrupted.
"""
import sys
import time
import warnings
from contextlib import contextmanager

import click

from . import __version__, codec, files, images
from .container import CRC, DEFAULT_MAX_PIXELS, HEADER
from .errors import VQCodecError
from .train import ALGORITHMS

EXIT_ERROR = 1
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
            sys.exit(EXIT_ERROR)
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
@click.option("-k", "k", type=int, default=codec.DEFAULT_K, show_default=True, help="Codebook size, 2 to 65536.")
@click.option("-b", "--block", type=int, default=codec.DEFAULT_BLOCK, show_default=True, help="Block side in pixels, 1 to 16 (1: scalar quantization).")
@click.option("--algo", type=click.Choice(ALGORITHMS), default=codec.DEFAULT_ALGO, show_default=True, help="Codebook trainer.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed; the same seed gives the same file.")
@force_option
@max_pixels_option
def encode(input, output, k, block, algo, seed, force, max_pixels):
    """Compress an image (PNG, JPEG, WebP, TIFF, ...) into a .vqc file.

    \b
      vqcodec encode lena.png -k 512 -b 4
      vqcodec encode scan.tif -o scan.vqc --algo centnn -k 64
    """
    output = output or files.encoded_name(input)
    with _reporting():
        if not force and files.exists(output):  # refuse before spending time on training
            raise files.exists_error(output)
        start = time.perf_counter()
        result = codec.encode(input, k=k, block=block, algo=algo, seed=seed, max_pixels=_max_pixels(max_pixels))
        files.write_file(output, result.data, force)
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
    output = output or files.decoded_name(input)
    with _reporting():
        if not force and files.exists(output):
            raise files.exists_error(output)
        pixels = codec.decode(input, max_pixels=_max_pixels(max_pixels))
        files.write_file(output, images.encode_as(pixels, output), force)


@main.command()
@click.argument("input", type=click.Path(dir_okay=False))
def info(input):
    """Show what a .vqc file holds, after checking it.

    \b
      vqcodec info lena.vqc
    """
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
