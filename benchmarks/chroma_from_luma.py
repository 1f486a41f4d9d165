"""How much of the chroma residual a chroma-from-luma scale could predict, and what it would save.

    python benchmarks/chroma_from_luma.py              # from the original luma
    python benchmarks/chroma_from_luma.py --quality 50 # from the luma of the photo coded at quality 50
    python benchmarks/chroma_from_luma.py --simulate   # BD-rate, simulated through the encoder
    python benchmarks/chroma_from_luma.py --simulate --from codewords  # from what a decoder has first

For each bundled colour photo in 4:2:0, the residual of each chroma plane
against its base (8 x 8 cell means, interpolated as the decoder does) and
the luma's residual against its own base, averaged over 2 x 2 pixels; then
for each block of B x B chroma samples the scale that predicts the first
from the second best (least squares, rounded to 1/8 in -2 .. 2), and the
share of the chroma residual's energy it removes. A bound: it reads the
original luma (with --quality, the luma of the photo as vqcodec decodes it
at that quality, as a decoder would read it) and counts nothing for the
scales' bits. Prints a Markdown table.

With --simulate, the tool as an encoder and decoder would run it, without a
format for it: for each photo and quality the scales are chosen per block
by squared error plus the chroma plane's lambda times their bits (order-0
code lengths, found again three times), from the luma of the photo as
decoded without the tool; the encoder then codes each chroma plane less
its prediction (clipped to a byte), the decoded chroma gets the prediction
added back, and the file counts the scales' empirical entropy plus a byte
for each value used. Prints the BD-rate (PSNR and luma SSIM) against the
encoder as it is, at qualities 20 to 90, per photo and block size, and once
with the scales' bits left out, to show what they cost.

With --from codewords, the luma residual is that of its codewords alone
(each luma block's codeword less 128, without the filter and the
refinement), averaged over 2 x 2 pixels: what a decoder knows of the luma
as soon as its indices are decoded, so that a chroma tile need wait only
for the indices of the luma tile beside it, not for its samples. The 8 x 8
variant is then replaced by 32 x 32, and the scales are always counted.
"""
import argparse
import contextlib

import numpy as np

import vqcodec
from vqcodec import api, images
from vqcodec.bench import anchors
from vqcodec.format import container, tiles
from vqcodec.rd import decode, encode, pixels, planes, settings

CELL = 8
BLOCKS = (4, 8, 16)
SCALES = np.arange(-16, 17)  # in eighths: -2 .. 2
SIMULATED = {"decoded": ((8, True), (16, True), (8, False)),  # block side, whether the scales' bits are counted
             "codewords": ((16, True), (32, True))}
QUALITIES = (20, 35, 50, 65, 80, 90)  # 4:2:0 at all of them


def base(plane: np.ndarray) -> np.ndarray:
    """The plane's cell means, interpolated between cell centres (in floating point, unquantized)."""
    means = planes.cell_means(plane, CELL)
    rows, columns = (pixels.axis(n, CELL, cells) for n, cells in zip(plane.shape, means.shape))
    u, v = rows[2][:, None] / (2 * CELL), columns[2][None, :] / (2 * CELL)
    top = (1 - v) * means[rows[0]][:, columns[0]] + v * means[rows[0]][:, columns[1]]
    bottom = (1 - v) * means[rows[1]][:, columns[0]] + v * means[rows[1]][:, columns[1]]
    return (1 - u) * top + u * bottom


def at_chroma(luma: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A luma plane averaged over 2 x 2 pixels, as 4:2:0 chroma samples it (the last row and column repeated
    where the image has an odd size)."""
    h, w = shape
    luma = np.pad(luma, ((0, 2 * h - luma.shape[0]), (0, 2 * w - luma.shape[1])), mode="edge")
    return luma.reshape(h, 2, w, 2).mean(axis=(1, 3))


def removed(luma: np.ndarray, chroma: np.ndarray, block: int) -> float:
    """The share of the chroma residual's energy that a scale of the luma residual per block removes."""
    rows, columns = chroma.shape[0] // block * block, chroma.shape[1] // block * block
    shape = (rows // block, block, columns // block, block)
    x, t = luma[:rows, :columns].reshape(shape), chroma[:rows, :columns].reshape(shape)
    scale = (x * t).sum(axis=(1, 3)) / np.maximum((x * x).sum(axis=(1, 3)), 1e-9)
    scale = np.clip(np.round(scale * 8) / 8, -2, 2)[:, None, :, None]
    return 1 - ((t - scale * x) ** 2).sum() / (t ** 2).sum()


def by_block(plane: np.ndarray, block: int) -> np.ndarray:
    """The plane as (rows, block, columns, block), padded with zeros to whole blocks."""
    h, w = plane.shape
    padded = np.pad(plane, ((0, -h % block), (0, -w % block)))
    return padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block)


def chosen_scales(luma: np.ndarray, residual: np.ndarray, block: int, lam: float, counted: bool) -> np.ndarray:
    """Each block's scale (eighths, SCALES) of least squared error plus lambda times its bits."""
    x, t = by_block(luma, block), by_block(residual, block)
    xx, xt, tt = ((a * b).sum(axis=(1, 3))[..., None] for a, b in ((x, x), (x, t), (t, t)))
    error = tt - 2 * (SCALES / 8) * xt + (SCALES / 8) ** 2 * xx
    bits = np.where(SCALES == 0, 1.0, 5.0) if counted else np.zeros(len(SCALES))
    for _ in range(3 if counted else 1):
        choice = np.argmin(error + lam * bits, axis=2)
        counts = np.bincount(choice.ravel(), minlength=len(SCALES)) + 0.1
        bits = -np.log2(counts / counts.sum())
    return SCALES[choice]


def scale_bits(scales: np.ndarray) -> float:
    """The scales' empirical entropy, plus a byte for each value used (a table a stream would start with)."""
    counts = np.unique(scales, return_counts=True)[1]
    return float(-(counts * np.log2(counts / counts.sum())).sum()) + 8 * len(counts)


def codeword_residual(data: bytes) -> np.ndarray:
    """The luma plane's codewords less 128, block by block, without its means, filter and refinement."""
    values = api.decoder(container.read_header(data, None).version).until("shared").run(data=data, max_pixels=None, crop=None, codebook=None)
    luma = decode._plane_decoders(values["header"], values["payloads"])[0]
    luma.grid[:] = 128  # a base of 128 everywhere: the samples are the codewords themselves
    luma.weights = luma.refinement = None
    tiles.ended(luma.indices(decode._pool(), 0, 0, luma.p.height, luma.p.width))
    return luma.plane.astype(np.float64) - 128


@contextlib.contextmanager
def predicted(prediction: list):
    """The encoder codes each plane less its prediction (None: the plane as it is), clipped to a byte, and
    the decoder adds it back: a tool without a format for it (the encoder's own PSNR still leaves it out)."""
    bands, merge = encode._bands, decode.merge

    def less(image, plane_settings):
        for top, bottom, coded, tops in bands(image, plane_settings):
            for n, rows in enumerate(prediction):
                if rows is not None:
                    rows = rows[tops[n] : tops[n] + len(coded[n])]
                    coded[n] = np.clip(coded[n] - rows, 0, 255).astype(np.uint8)
            yield top, bottom, coded, tops

    def plus(decoded, colour, *rest):
        decoded = [p if rows is None else np.clip(p + rows, 0, 255).astype(np.uint8)
                   for p, rows in zip(decoded, prediction)]
        return merge(decoded, colour, *rest)

    encode._bands, decode.merge = less, plus
    try:
        yield
    finally:
        encode._bands, decode.merge = bands, merge


def coded(image: np.ndarray, quality: float, extra_bits: float = 0.0) -> tuple[anchors.Point, np.ndarray]:
    """The point of the photo coded at a quality, with `extra_bits` counted in its size, and its pixels."""
    data = vqcodec.encode(image, quality=quality).data
    decoded = vqcodec.decode(data, max_pixels=None).pixels.reshape(image.shape)
    return anchors.point(round(len(data) + extra_bits / 8), image, decoded), decoded


def simulate(source: str) -> None:
    variants = SIMULATED[source]
    names = [f"{b} x {b}" + ("" if counted else ", scales not counted") for b, counted in variants]
    print("| photo | " + " | ".join(f"{name}: PSNR / SSIM" for name in names) + " |")
    print("|---|" + "---|" * len(names))
    rates = []  # per photo, per variant: (PSNR, SSIM)
    for path in anchors.photos():
        image = images.load(path, None)
        if image.ndim == 2 or image.shape[2] < 3:
            continue
        image = image[:, :, :3]
        chroma = planes.split(image, "ycbcr420")[1:]
        residuals = [c - base(c.astype(np.float64)) for c in chroma]
        plain, curves = [], [[] for _ in variants]
        for q in QUALITIES:
            point, decoded = coded(image, q)
            plain.append(point)
            if source == "codewords":
                luma = at_chroma(codeword_residual(vqcodec.encode(image, quality=q).data), chroma[0].shape)
            else:
                y = planes.split(decoded, "ycbcr420")[0].astype(np.float64)
                luma = at_chroma(y - base(y), chroma[0].shape)
            lam = settings.lam_of(q) * settings.CHROMA_LAMBDA * settings.BLOCK ** 2 / 16  # per bit, as the encoder
            for curve, (block, counted) in zip(curves, variants):
                scales = [chosen_scales(luma, r, block, lam, counted) for r in residuals]
                h, w = luma.shape
                prediction = [np.rint(np.kron(s, np.ones((block, block)))[:h, :w] / 8 * luma).astype(np.int32)
                              for s in scales]
                with predicted([None, *prediction]):
                    curve.append(coded(image, q, sum(scale_bits(s) for s in scales) if counted else 0.0)[0])
        rates.append([(anchors.bd_rate(plain, c), anchors.bd_rate(plain, c, "ssim")) for c in curves])
        print(f"| {path.name} | " + " | ".join(f"{a:+.1f} % / {b:+.1f} %" for a, b in rates[-1]) + " |", flush=True)
    means = np.mean(rates, axis=0)
    print("| mean | " + " | ".join(f"{a:+.1f} % / {b:+.1f} %" for a, b in means) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quality", type=float, help="read the luma of the photo coded at this quality")
    parser.add_argument("--simulate", action="store_true", help="the BD-rate of the tool, simulated through the encoder")
    parser.add_argument("--from", dest="source", choices=sorted(SIMULATED), default="decoded",
                        help="with --simulate: predict from the decoded luma or from its codewords alone")
    args = parser.parse_args()
    if args.simulate:
        simulate(args.source)
        return
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
        luma = at_chroma(y - base(y.astype(np.float64)), cb.shape)
        for name, plane in (("Cb", cb), ("Cr", cr)):
            residual = plane - base(plane.astype(np.float64))
            shares = " | ".join(f"{100 * removed(luma, residual, b):.0f} %" for b in BLOCKS)
            print(f"| {path.name} | {name} | {np.mean(residual ** 2):.1f} | {shares} |")


if __name__ == "__main__":
    main()
