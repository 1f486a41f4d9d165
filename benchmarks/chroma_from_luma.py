"""How much of the chroma residual a chroma-from-luma scale could predict: an upper bound, before building it.

    python benchmarks/chroma_from_luma.py              # from the original luma
    python benchmarks/chroma_from_luma.py --quality 50 # from the luma of the photo coded at quality 50

For each bundled colour photo in 4:2:0, the residual of each chroma plane
against its base (8 x 8 cell means, interpolated as the decoder does) and
the luma's residual against its own base, averaged over 2 x 2 pixels; then
for each block of B x B chroma samples the scale that predicts the first
from the second best (least squares, rounded to 1/8 in -2 .. 2), and the
share of the chroma residual's energy it removes. A bound: it reads the
original luma (with --quality, the luma of the photo as vqcodec decodes it
at that quality, as a decoder would read it) and counts nothing for the
scales' bits. Prints a Markdown table.
"""
import argparse

import numpy as np

import vqcodec
from vqcodec import images
from vqcodec.bench import anchors
from vqcodec.rd import pixels, planes

CELL = 8
BLOCKS = (4, 8, 16)


def base(plane: np.ndarray) -> np.ndarray:
    """The plane's cell means, interpolated between cell centres (in floating point, unquantized)."""
    means = planes.cell_means(plane, CELL)
    rows, columns = (pixels.axis(n, CELL, cells) for n, cells in zip(plane.shape, means.shape))
    u, v = rows[2][:, None] / (2 * CELL), columns[2][None, :] / (2 * CELL)
    top = (1 - v) * means[rows[0]][:, columns[0]] + v * means[rows[0]][:, columns[1]]
    bottom = (1 - v) * means[rows[1]][:, columns[0]] + v * means[rows[1]][:, columns[1]]
    return (1 - u) * top + u * bottom


def removed(luma: np.ndarray, chroma: np.ndarray, block: int) -> float:
    """The share of the chroma residual's energy that a scale of the luma residual per block removes."""
    rows, columns = chroma.shape[0] // block * block, chroma.shape[1] // block * block
    shape = (rows // block, block, columns // block, block)
    x, t = luma[:rows, :columns].reshape(shape), chroma[:rows, :columns].reshape(shape)
    scale = (x * t).sum(axis=(1, 3)) / np.maximum((x * x).sum(axis=(1, 3)), 1e-9)
    scale = np.clip(np.round(scale * 8) / 8, -2, 2)[:, None, :, None]
    return 1 - ((t - scale * x) ** 2).sum() / (t ** 2).sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", type=float, help="read the luma of the photo coded at this quality")
    args = parser.parse_args()
    print("| photo | plane | residual energy per sample | " + " | ".join(f"removed, {b} x {b}" for b in BLOCKS) + " |")
    print("|---|---|---|" + "---|" * len(BLOCKS))
    for path in anchors.photos():
        image = images.load(path, None)
        if image.ndim == 2 or image.shape[2] < 3:
            continue
        y, cb, cr = planes.split(image[:, :, :3], "ycbcr420")
        if args.quality is not None:
            decoded = vqcodec.decode(vqcodec.encode(image[:, :, :3], quality=args.quality).data).pixels
            y = planes.split(decoded, "ycbcr420")[0]
        luma = y - base(y.astype(np.float64))
        h, w = cb.shape
        luma = np.pad(luma, ((0, 2 * h - luma.shape[0]), (0, 2 * w - luma.shape[1])), mode="edge")
        luma = luma.reshape(h, 2, w, 2).mean(axis=(1, 3))
        for name, plane in (("Cb", cb), ("Cr", cr)):
            residual = plane - base(plane.astype(np.float64))
            shares = " | ".join(f"{100 * removed(luma, residual, b):.0f} %" for b in BLOCKS)
            print(f"| {path.name} | {name} | {np.mean(residual ** 2):.1f} | {shares} |")


if __name__ == "__main__":
    main()
