"""What a larger block could save in textured areas: one 4 x 4 codeword where four 2 x 2 codewords go today.

    python benchmarks/block_sizes.py
    python benchmarks/block_sizes.py --qualities 20,80 --sizes 32,256

Adaptive block sizes (a quadtree of 4 x 4 and 2 x 2 blocks) promise that a
texture costs one index where it costs four today. Flat areas have nothing
left to give (benchmarks/flat_regions.py), so this measures, before anything
is built, what a second codebook of 4 x 4 residual codewords could save
where the detail is.

For each bundled photo and quality, the default encoder's codebooks and
indices. In each plane, a unit is 2 x 2 blocks (4 x 4 samples). Its cost
today is its blocks' squared error plus lambda times their bits under the
model of the index coder that the codeword choice uses (vqcodec.rd.choice),
scaled so that the plane's blocks add up to its index bytes in the file.
The alternative: one codeword of a 4 x 4 codebook learned from the plane's
units with entropy-constrained rounds (at the same lambda per bit), costing
its order-0 code length. Each unit takes whichever costs less, then the 4 x 4
codebook is learned again from the units that took it, three times. The
saving counts, against it, the 4 x 4 codebook's coded bytes and a flag per
unit (its empirical entropy in the contexts of the left and upper units'
flags). Each plane takes the size of 4 x 4 codebook (or none) that saves
most. Printed as rate: the saved squared error divided by lambda plus the
saved bits, a share of the file's bits, as benchmarks/flat_regions.py
prints its bounds. It is an estimate, not a bound: a 4 x 4 index coded in
contexts would cost less than its order-0 length, and the 2 x 2 blocks
beside a 4 x 4 unit would lose neighbours their contexts read.
"""
import argparse

import numpy as np
from flat_regions import block_bits, flag_bits

from vqcodec import EncodeOptions, images
from vqcodec.bench import anchors
from vqcodec.rd.choice import Model
from vqcodec.rd.ecvq import refine
from vqcodec.rd.encode import ENCODE, _codebook_bytes, _lambda, _residuals
from vqcodec.rd.pixels import ZERO, residual_blocks
from vqcodec.rd.planes import split
from vqcodec.train import train_codebook
from vqcodec.train.nearest import nearest

CHOICES = 3  # times the units choose and the 4 x 4 codebook is learned again from those that took it
ROUNDS = 8  # entropy-constrained rounds each time, as the default effort's


def unit_costs(plane, grid, book, labels, s, index_bits: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(each whole unit's cost today, in squared error; the units' 4 x 4 residual vectors, uint8; lambda)."""
    vectors = np.empty((labels.size, s.block ** 2), dtype=np.uint8)
    _residuals(residual_blocks, vectors, 0, np.empty(0, dtype=np.int64), plane, 0, len(plane), grid, s)
    model = Model(book)
    model.add(labels, 0, len(labels))
    bits = block_bits(labels, model)
    bits *= index_bits / bits.sum()
    lam = _lambda(s)
    errors = ((vectors.astype(np.int64) - book[labels.ravel()]) ** 2).sum(axis=1).reshape(labels.shape)
    rows, columns = len(labels) // 2 * 2, labels.shape[1] // 2 * 2
    costs = (errors + lam * bits)[:rows, :columns].reshape(rows // 2, 2, columns // 2, 2).sum(axis=(1, 3))
    quads = vectors.reshape(*labels.shape, -1)[:rows, :columns].reshape(rows // 2, 2, columns // 2, 2, -1)
    return costs, quads.transpose(0, 2, 1, 3, 4).reshape(rows // 2 * columns // 2, -1), lam


def saving(costs: np.ndarray, units: np.ndarray, lam: float, size: int, options) -> tuple[float, float]:
    """(bits saved, negative when the 4 x 4 codebook costs more than it saves; share of units that take it)."""
    drawn = units[np.sort(np.random.default_rng(options.seed).permutation(len(units))[: 64 * size])]
    start = np.clip(np.rint(train_codebook(drawn, options.replace(k=size - 1), refined=False)), 0, 255)
    book = np.concatenate([np.full((1, units.shape[1]), ZERO), start]).astype(np.uint8)
    taken = np.ones(len(units), dtype=bool)
    for _ in range(CHOICES):
        book, lengths = refine(units[taken], book, lam, ROUNDS, fixed=1)
        alternative = nearest(units, book, lam * lengths)[1].reshape(costs.shape)
        p = min(max(taken.mean(), 1e-6), 1 - 1e-6)
        taken = (alternative + lam * -np.log2(p) < costs + lam * -np.log2(1 - p)).ravel()
        if taken.sum() < size:
            return -np.inf, 0.0
    took = taken.reshape(costs.shape)
    saved = np.sum((costs - alternative)[took]) / lam
    return saved - flag_bits(took) - 8 * _codebook_bytes(book, 4), float(took.mean())


def measure(pixels: np.ndarray, quality: float, sizes: list[int]) -> tuple[float, list[str]]:
    """The file's saving as a share of its bits, and for each plane the 4 x 4 codebook size it took."""
    options = EncodeOptions(quality=quality)
    values = ENCODE.run(source=pixels, max_pixels=None, options=options, codebook=None)
    settings = values["settings"]
    planes = split(np.ascontiguousarray(pixels), settings.colour)
    total, chosen = 0.0, []
    for plane, grid, book, labels, record, s in zip(planes, values["grids"], values["codebooks"], values["indices"],
                                                    values["header"].planes, settings.planes):
        if labels is None:
            continue
        costs, units, lam = unit_costs(plane, grid, book, labels, s, 8 * record.tile_lengths()[:, 1].sum())
        found = {size: saving(costs, units, lam, size, options) for size in sizes if 64 * size <= len(units)}
        best = max(found, key=lambda size: found[size][0], default=None)
        if best is None or found[best][0] <= 0:
            chosen.append("none")
            continue
        total += found[best][0]
        chosen.append(f"{best} ({found[best][1]:.0%})")
    return total / (8 * len(values["data"])), chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qualities", default="20,35,50,65,80", help="qualities (default: %(default)s)")
    parser.add_argument("--sizes", default="16,32,64,128,256", help="4 x 4 codebook sizes (default: %(default)s)")
    args = parser.parse_args()
    qualities = [float(q) for q in args.qualities.split(",")]
    sizes = [int(k) for k in args.sizes.split(",")]
    print("| photo | quality | saving, of the file | 4 x 4 codewords each plane took (share of units) |")
    print("|---|---|---|---|")
    for path in anchors.photos():
        pixels = images.load(path, None)
        for q in qualities:
            share, chosen = measure(pixels, q, sizes)
            print(f"| {path.stem} | {q:g} | {share:.1%} | {' / '.join(chosen)} |", flush=True)


if __name__ == "__main__":
    main()
