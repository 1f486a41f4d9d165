"""Two-stage residual VQ, simulated through the encoder: a 4 x 4 codeword per unit, then the 2 x 2 codewords.

    python benchmarks/two_stage.py
    python benchmarks/two_stage.py --sizes 16,64 --lambdas 4,16

Larger blocks through two-stage VQ are what a quadtree could still bring
where the detail is (benchmarks/block_sizes.py estimates one block size or
the other). Here every unit of 4 x 4 samples takes a codeword of a first,
4 x 4 codebook, and the encoder as it is codes what that leaves. For each
bundled photo and quality, each plane's residual over its base (the
default file's means, interpolated) is cut into units; a 4 x 4 codebook of
the size given, with the zero residual as codeword 0, is learned from them
by K-Means and entropy-constrained rounds at the plane's lambda times the
factor given, and each unit takes its codeword of least error plus lambda
times its length. The encoder then codes each plane less that first stage
(clipped to a byte) and the decoder adds it back
(chroma_from_luma.predicted). The file counts, besides its own bytes, the
first stage's codebook section and its indices at the ideal code length
of adaptive models in the contexts of whether the left and the upper unit
took codeword 0. Prints the BD-rate (PSNR and luma SSIM) against the
encoder as it is, per photo and setting.
"""
import argparse
import math

import numpy as np
from chroma_from_luma import coded, predicted
from numba import njit
from transform_residual import base_of

from vqcodec import EncodeOptions, images
from vqcodec.bench import anchors
from vqcodec.rd.ecvq import refine
from vqcodec.rd.encode import ENCODE, _codebook_bytes
from vqcodec.rd.pixels import ZERO
from vqcodec.rd.planes import split
from vqcodec.train import train_codebook
from vqcodec.train.nearest import nearest

UNIT = 4  # samples a side of a first-stage unit
QUALITIES = (10, 20, 35, 50, 65, 80)
ROUNDS = 8  # entropy-constrained rounds, as the default effort's


@njit(cache=True)
def index_bits(labels, across: int, k: int) -> float:
    """The ideal code length of the units' indices (raster order, `across` a row) under adaptive
    frequencies (each count starting at 1/2) in three contexts: how many of the left and upper units
    took a codeword other than 0."""
    counts = np.full((3, k), 0.5)
    totals = np.full(3, 0.5 * k)
    bits = 0.0
    for i in range(len(labels)):
        y, x = i // across, i % across
        context = (x > 0 and labels[i - 1] != 0) + (y > 0 and labels[i - across] != 0)
        bits -= math.log2(counts[context, labels[i]] / totals[context])
        counts[context, labels[i]] += 1
        totals[context] += 1
    return bits


def first_stage(plane: np.ndarray, base: np.ndarray, lam: float, size: int, seed: int) -> tuple[np.ndarray, float]:
    """(the first stage's samples, int32 of the plane's shape; its bits, codebook and indices)."""
    h, w = plane.shape
    residual = np.clip(plane.astype(np.int32) - base + ZERO, 0, 255).astype(np.uint8)
    padded = np.pad(residual, ((0, -h % UNIT), (0, -w % UNIT)), mode="edge")
    rows, columns = padded.shape[0] // UNIT, padded.shape[1] // UNIT
    units = np.ascontiguousarray(padded.reshape(rows, UNIT, columns, UNIT).transpose(0, 2, 1, 3)
                                 .reshape(rows * columns, UNIT * UNIT))
    drawn = units[np.sort(np.random.default_rng(seed).permutation(len(units))[: 64 * size])]
    start = np.clip(np.rint(train_codebook(drawn, EncodeOptions(k=size - 1, seed=seed), refined=False)), 0, 255)
    book = np.concatenate([np.full((1, UNIT * UNIT), ZERO), start]).astype(np.uint8)
    book, lengths = refine(units, book, lam, ROUNDS, fixed=1)
    labels = nearest(units, book, lam * lengths)[0].astype(np.int64)
    bits = index_bits(labels, columns, len(book)) + 8 * _codebook_bytes(book, UNIT)
    samples = (book[labels].astype(np.int32) - ZERO).reshape(rows, columns, UNIT, UNIT).transpose(0, 2, 1, 3)
    return samples.reshape(rows * UNIT, columns * UNIT)[:h, :w], bits


def curves(pixels: np.ndarray, settings_tried) -> tuple[list, list[list]]:
    """The encoder's points at each quality, and each setting's (size, lambda factor) with the first stage."""
    plain, simulated = [], [[] for _ in settings_tried]
    for quality in QUALITIES:
        values = ENCODE.run(source=pixels, max_pixels=None, options=EncodeOptions(quality=quality), codebook=None)
        settings, header = values["settings"], values["header"]
        plain.append(coded(pixels, quality)[0])
        planes = split(np.ascontiguousarray(pixels), settings.colour)
        for curve, (size, factor) in zip(simulated, settings_tried):
            stages, bits = [], 0.0
            for plane, grid, s, p in zip(planes, values["grids"], settings.planes, header.planes):
                if grid is None:
                    stages.append(None)
                    continue
                samples, plane_bits = first_stage(plane, base_of(p, grid, s).astype(np.int32), factor * s.lam,
                                                  size, 0)
                stages.append(samples)
                bits += plane_bits
            with predicted(stages):
                curve.append(coded(pixels, quality, bits)[0])
    return plain, simulated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,64,256", help="first-stage codebook sizes (default: %(default)s)")
    parser.add_argument("--lambdas", default="1,4,16", help="first-stage lambda, in the plane's (default: %(default)s)")
    args = parser.parse_args()
    tried = [(int(k), float(f)) for k in args.sizes.split(",") for f in args.lambdas.split(",")]
    names = [f"K {k}, lambda x {f:g}" for k, f in tried]
    print("| photo | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    rates = []
    for path in anchors.photos():
        pixels = images.load(path, None)
        plain, simulated = curves(pixels, tried)
        rates.append([(anchors.bd_rate(plain, c), anchors.bd_rate(plain, c, "ssim")) for c in simulated])
        print(f"| {path.stem} | " + " | ".join(f"{a:+.1f} % / {b:+.1f} %" for a, b in rates[-1]) + " |", flush=True)
    print("| mean | " + " | ".join(f"{a:+.1f} % / {b:+.1f} %" for a, b in np.mean(rates, axis=0)) + " |")


if __name__ == "__main__":
    main()
