"""What skip flags on flat regions could save: the index bits the blocks of flat regions take today.

    python benchmarks/flat_regions.py
    python benchmarks/flat_regions.py --qualities 20,50

Adaptive block sizes (a quadtree, or a skip flag for a larger block) promise
that flat areas cost almost nothing. The tile index coder already codes a
block that repeats its left or upper neighbour for a fraction of a bit, so
this measures, before anything is built, how much is left to win there.

For each bundled photo and quality, the default encoder's indices; in each
plane, a region is a means cell (8 x 8 samples). It is flat when every
block in it takes the codeword nearest to no residual at all, and uniform
when every block takes the same codeword, whichever (a larger block). Each block's
bits are its cost under the model of the index coder that the codeword
choice uses (vqcodec.rd.choice), with the statistics of the whole plane:
an estimate, printed beside the index bytes the file really has. A skip
flag per region would save at most the bits of the flat regions' blocks,
less what the flags cost: their empirical entropy in the contexts of the
left and upper regions' flags; a flag for a uniform region would save at
most the bits of its blocks but the first, less its flags. Prints a
Markdown table: those bounds, as shares of the whole file.
"""
import argparse

import numpy as np

from vqcodec import EncodeOptions, images
from vqcodec.bench import anchors
from vqcodec.rd.choice import Model
from vqcodec.rd.encode import ENCODE


def _shifted(grid: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """grid[r + dy, c + dx] at each (r, c), -1 outside the grid."""
    out = np.full(grid.shape, -1, dtype=np.int64)
    h, w = grid.shape
    out[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = \
        grid[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    return out


def block_bits(grid: np.ndarray, model: Model) -> np.ndarray:
    """Each block's bits under the model: its "same as" flags in their contexts, then a new index at the
    mean of its costs after the left and the upper neighbour (the choice's own costs, in NumPy)."""
    same, differ, follows = model.costs()
    x = grid.astype(np.int64)
    left, above = _shifted(x, 0, -1), _shifted(x, -1, 0)
    above_left, above_right = _shifted(x, -1, -1), _shifted(x, -1, 1)
    has_left = left >= 0
    left_context = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
    bits = np.where(has_left, np.where(x == left, same[0, left_context], differ[0, left_context]), 0.0)
    asks_above = (above >= 0) & (above != left) & (x != left)
    above_context = (above_left == above) + 2 * (above_right == above) + 4 * ~has_left
    bits += np.where(asks_above, np.where(x == above, same[1, above_context], differ[1, above_context]), 0.0)
    new = (x != left) & (x != above)
    ref_left = np.where(has_left, left, np.maximum(above, 0))
    ref_above = np.where(above >= 0, above, ref_left)
    return bits + np.where(new, 0.5 * (follows[ref_left, x] + follows[ref_above, x]), 0.0)


def flag_bits(flat: np.ndarray) -> float:
    """The empirical entropy of the regions' flags in the contexts of the left and upper regions' flags."""
    context = 2 * (_shifted(flat.astype(np.int64), 0, -1) == 1) + (_shifted(flat.astype(np.int64), -1, 0) == 1)
    total = 0.0
    for c in range(4):
        n, k = np.sum(context == c), np.sum(flat[context == c])
        for part in (k, n - k):
            if part:
                total -= part * np.log2(part / n)
    return total


def measure(pixels: np.ndarray, quality: float) -> dict:
    values = ENCODE.run(source=pixels, max_pixels=None, options=EncodeOptions(quality=quality), codebook=None)
    out = dict.fromkeys(("index bits", "model bits", "regions"), 0) | {"file bits": 8 * len(values["data"])}
    for kind in ("flat", "uniform"):
        out |= {f"{kind} regions": 0, f"{kind} bits": 0.0, f"{kind} flag bits": 0.0}
    for book, grid, s, record in zip(values["codebooks"], values["indices"], values["settings"].planes,
                                     values["header"].planes):
        if grid is None:
            continue
        model = Model(book)
        model.add(grid, 0, len(grid))
        bits = block_bits(grid, model)
        zero = int(np.argmin(((book.astype(np.int64) - 128) ** 2).sum(axis=1)))
        f = s.cell // s.block  # blocks a side of a region
        rows, columns = len(grid) // f * f, grid.shape[1] // f * f  # whole regions only
        regions = grid[:rows, :columns].reshape(rows // f, f, columns // f, f)
        region_bits = bits[:rows, :columns].reshape(rows // f, f, columns // f, f)
        totals = region_bits.sum(axis=(1, 3))
        saved = {"flat": totals, "uniform": totals - region_bits[:, 0, :, 0]}  # the first block codes the codeword
        found = {"flat": (regions == zero).all(axis=(1, 3)),
                 "uniform": (regions == regions[:, :1, :, :1]).all(axis=(1, 3))}
        for kind, taken in found.items():
            out[f"{kind} regions"] += int(taken.sum())
            out[f"{kind} bits"] += float(saved[kind][taken].sum())
            out[f"{kind} flag bits"] += flag_bits(taken)
        out["index bits"] += 8 * int(record.tile_lengths()[:, 1].sum())
        out["model bits"] += float(bits.sum())
        out["regions"] += regions.shape[0] * regions.shape[2]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qualities", default="10,20,35,50,65,80", help="qualities (default: %(default)s)")
    args = parser.parse_args()
    qualities = [float(q) for q in args.qualities.split(",")]
    print("| photo | quality | index bits by the model / in the file | flat regions | their blocks' bits "
          "| their flags' bits | bound | uniform regions | their blocks' bits but the first | their flags' bits "
          "| bound |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in anchors.photos():
        pixels = images.load(path, None)
        for q in qualities:
            m = measure(pixels, q)
            cells = [path.stem, f"{q:g}", f"{m['model bits'] / m['index bits']:.2f}"]
            for kind in ("flat", "uniform"):
                bits, flags = m[f"{kind} bits"] / m["file bits"], m[f"{kind} flag bits"] / m["file bits"]
                cells += [f"{m[f'{kind} regions'] / m['regions']:.0%}", f"{bits:.1%}", f"{flags:.1%}",
                          f"{bits - flags:+.1%}"]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
