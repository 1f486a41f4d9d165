"""What a transform could do where the codewords are: each plane's residual over its base as DCT coefficients.

    python benchmarks/transform_residual.py
    python benchmarks/transform_residual.py --side 4 --qualities 20,50,80
    python benchmarks/transform_residual.py --over decoded   # as a layer over the codewords
    python benchmarks/transform_residual.py --filter         # then through the restoration filter

The default encoder codes a plane as its smooth base (the interpolated 8 x 8
means) plus a 2 x 2 codeword per block. WebP and AVIF code what prediction
leaves with transforms. This measures, before anything is built, how a
plain transform coder of the same residual would compare: the default
encoder's files at each quality keep their header and means, and every
plane's codebook, indices, filter and refinement are replaced by the
residual over the base (original samples less base) in side x side blocks
(edges repeated to whole blocks) of the orthonormal DCT, quantized
with a step (rounding offset 1/3, as H.264's encoders round intra
coefficients; chroma's step sqrt(CHROMA_LAMBDA) times luma's, as its
lambda is), and the samples base plus the inverse DCT, rounded and clipped.
Each quality tries each step; the points of all of them make one curve,
whose Pareto front is compared with the real files' (BD-rate, as
`vqcodec bench --rd` computes it) and with WebP's. With `--over decoded`
the transform codes instead what the decoded planes leave, in the
refinement layer's place, and the real files' points join its curve, as
an encoder could leave the layer out.

The coefficients' bits are the ideal code lengths of adaptive binary and
multi-symbol models, which an arithmetic coder that shared the models would
come within a fraction of a per cent of: per block, the position of its
last nonzero coefficient in zigzag order (contexts: whether the left and
the upper block have any); per coefficient before it, whether it is
nonzero (contexts: its position, how many of the left and upper blocks'
coefficients at that position are, and whether the coefficient before it
was) and whether its magnitude exceeds one; the rest of the magnitude in
Exp-Golomb codes of adaptive prefixes; the sign a raw bit. Models halve
their counts every 4096 blocks. Left out, all to the transform's
disadvantage: rate-distortion choice of the quantized values, a step per
region, and without `--filter` the restoration filter.
"""
import argparse
import math

import numpy as np
from numba import njit

from vqcodec import EncodeOptions, api, images
from vqcodec.bench import anchors
from vqcodec.format import container
from vqcodec.rd.decode import axes, means_of, reconstruct
from vqcodec.rd.encode import ENCODE, chosen_weights, units
from vqcodec.rd.pixels import filter_rows, filter_statistics
from vqcodec.rd.planes import merge, split
from vqcodec.rd.settings import CHROMA_LAMBDA

QUALITIES = (10, 20, 35, 50, 65, 80)
STEPS = {"base": (2, 3, 4, 6, 8, 11, 16, 22, 32, 45),  # luma's, each tried at each quality
         "decoded": (3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90)}
HALVING = 4096  # blocks between halvings of the models' counts


def dct_matrix(n: int) -> np.ndarray:
    k, i = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m


def zigzag(n: int) -> np.ndarray:
    """Positions of an n x n block (row-major) in JPEG's zigzag order."""
    order = sorted(((i, j) for i in range(n) for j in range(n)),
                   key=lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1]))
    return np.array([i * n + j for i, j in order])


@njit(cache=True)
def _cost(p0, p1) -> float:
    return -math.log2(p0 / (p0 + p1))


@njit(cache=True)
def coefficient_bits(q, across) -> float:
    """The bits of the blocks' quantized coefficients `q` (blocks in raster order, `across` a row;
    coefficients in zigzag order) under the adaptive models of the module's docstring."""
    blocks, n = q.shape
    last = np.ones((3, n + 1))
    significant = np.ones((n, 3, 2, 2))
    above_one = np.ones((n, 3, 2))
    prefix = np.ones((3, 24, 2))
    ends = np.zeros(blocks, dtype=np.int64)
    bits = 0.0
    for b in range(blocks):
        y, x = b // across, b % across
        context = (x > 0 and ends[b - 1] > 0) + (y > 0 and ends[b - across] > 0)
        end = 0
        for i in range(n):
            if q[b, i] != 0:
                end = i + 1
        bits -= math.log2(last[context, end] / last[context].sum())
        last[context, end] += 1
        ends[b] = end
        before = 0
        for i in range(end):
            v = abs(q[b, i])
            near = (x > 0 and q[b - 1, i] != 0) + (y > 0 and q[b - across, i] != 0)
            nonzero = 1 if v else 0
            if i < end - 1:  # the last one is known to be nonzero
                c = significant[i, near, before]
                bits += _cost(c[nonzero], c[1 - nonzero])
                c[nonzero] += 1
            before = nonzero
            if not nonzero:
                continue
            bits += 1  # the sign
            c = above_one[i, near]
            more = 1 if v > 1 else 0
            bits += _cost(c[more], c[1 - more])
            c[more] += 1
            if more:
                band, r, k = 0 if i == 0 else (1 if i < 6 else 2), v - 2, 0
                while r >= (1 << (k + 1)) - 1:
                    bits += _cost(prefix[band, k, 1], prefix[band, k, 0])
                    prefix[band, k, 1] += 1
                    k += 1
                bits += _cost(prefix[band, k, 0], prefix[band, k, 1]) + k
                prefix[band, k, 0] += 1
        if b % HALVING == HALVING - 1:
            last[:] = last * 0.5 + 0.5
            significant[:] = significant * 0.5 + 0.5
            above_one[:] = above_one * 0.5 + 0.5
            prefix[:] = prefix * 0.5 + 0.5
    return bits


def transformed(residual: np.ndarray, side: int, matrix: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The residual's side x side blocks' coefficients in zigzag order, a block a row (raster order)."""
    h, w = residual.shape
    padded = np.pad(residual, ((0, -h % side), (0, -w % side)), mode="edge")
    rows, columns = padded.shape[0] // side, padded.shape[1] // side
    blocks = padded.reshape(rows, side, columns, side).transpose(0, 2, 1, 3)
    return (matrix @ blocks @ matrix.T).reshape(rows * columns, side * side)[:, order]


def restored(q: np.ndarray, step: float, shape, side: int, matrix: np.ndarray, order: np.ndarray) -> np.ndarray:
    """The residual the quantized coefficients give back, cut to `shape`."""
    rows, columns = -(-shape[0] // side), -(-shape[1] // side)
    coefficients = np.empty_like(q, dtype=np.float64)
    coefficients[:, order] = q * step
    blocks = matrix.T @ coefficients.reshape(rows, columns, side, side) @ matrix
    return blocks.transpose(0, 2, 1, 3).reshape(rows * side, columns * side)[: shape[0], : shape[1]]


def base_of(p, grid: np.ndarray, s) -> np.ndarray:
    """A plane's base: its means interpolated (every block's codeword the zero residual)."""
    plane = np.empty((p.height, p.width), dtype=np.uint8)
    zero = np.full((1, s.block ** 2), 128, dtype=np.uint8)
    indices = np.zeros((-(-p.height // s.block), -(-p.width // s.block)), dtype=np.uint16)
    reconstruct(plane, p, (0, 0, p.height, p.width), means_of(grid, s.step), zero, indices, axes(p))
    return plane


def points(pixels: np.ndarray, quality: float, side: int, over: str,
           filtered: bool) -> tuple[anchors.Point, list[anchors.Point]]:
    """The default file's point at a quality, and the transform's at each step: over each plane's base
    in the codewords' place, or over the decoded plane in the refinement's; with `filtered`, each plane
    then through the codec's restoration filter where it pays, as the encoder decides."""
    values = ENCODE.run(source=pixels, max_pixels=None, options=EncodeOptions(quality=quality), codebook=None)
    data, header, settings = values["data"], values["header"], values["settings"]
    real = anchors.point(len(data), pixels, _decoded(data, pixels))
    planes = split(np.ascontiguousarray(pixels), settings.colour)
    if over == "base":
        starts = [None if grid is None else base_of(p, grid, s)
                  for grid, s, p in zip(values["grids"], settings.planes, header.planes)]
        replaced = {"codebook", "indices", "filter", "refinement"}
    else:
        starts, replaced = decoded_planes(data), {"refinement"}
    kept = len(data) - sum(s.length for p in header.planes for s in p.sections if s.kind in replaced)
    matrix, order = dct_matrix(side), zigzag(side)
    found = []
    for step in STEPS[over]:
        decoded, bits = [], 0.0
        for n, (plane, start, p, s) in enumerate(zip(planes, starts, header.planes, settings.planes)):
            if start is None:
                decoded.append(np.full(plane.shape, p.fill, dtype=np.uint8))
                continue
            start = start.astype(np.float64)
            coefficients = transformed(plane - start, side, matrix, order)
            plane_step = step * (math.sqrt(CHROMA_LAMBDA) if settings.colour != "planes" and n in (1, 2) else 1)
            q = (np.sign(coefficients) * np.floor(np.abs(coefficients) / plane_step + 1 / 3)).astype(np.int64)
            bits += coefficient_bits(q, -(-plane.shape[1] // side))
            residual = restored(q, plane_step, plane.shape, side, matrix, order)
            decoded.append(np.clip(np.rint(start + residual), 0, 255).astype(np.uint8))
            if filtered:
                decoded[-1], weight_bytes = restoration_filtered(plane, decoded[-1], p, s.lam)
                bits += 8 * weight_bytes
        image = merge(decoded, settings.colour).reshape(pixels.shape)
        found.append(anchors.point(kept + math.ceil(bits / 8), pixels, image))
    return real, found


def restoration_filtered(original: np.ndarray, plane: np.ndarray, p, lam: float) -> tuple[np.ndarray, int]:
    """(the plane through the restoration filter, the bytes of its weights), or (the plane, 0) where the
    filter does not pay at lambda: the encoder's own choice (vqcodec.rd.encode._filters) on a whole plane."""
    sums = np.zeros((*units(p), 15), dtype=np.int64)
    filter_statistics(sums, plane, 0, original, 0, p.height, p.unit, p.tile)
    weights, gain = chosen_weights(sums, p)
    if gain <= lam * 8 * container.FILTER_BYTES * p.tiles:
        return plane, 0
    out = np.empty_like(plane)
    filter_rows(0, p.height, out, 0, plane, 0, p.height, 0, p.width, weights.astype(np.int32), p.unit, p.tile)
    return out, container.FILTER_BYTES * p.tiles


def decoded_planes(data: bytes) -> list[np.ndarray | None]:
    """A file's planes as the decoder makes them, before the colour transform; None for a plane not coded."""
    header = container.read_header(data, None)
    planes = api.decoder(header.version).until("planes").run(data=data, max_pixels=None, crop=None,
                                                             codebook=None)["planes"]
    return [plane if p.k else None for plane, p in zip(planes, header.planes)]


def _decoded(data: bytes, pixels: np.ndarray) -> np.ndarray:
    return api.decode(data, max_pixels=None).pixels.reshape(pixels.shape)


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8, help="side of the transform's blocks (default: 8)")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="default: %(default)s")
    parser.add_argument("--over", choices=("base", "decoded"), default="base",
                        help="code the residual over the base, in the codewords' place (default), or over the "
                             "decoded planes, in the refinement layer's")
    parser.add_argument("--filter", action="store_true", help="then each plane through the restoration filter")
    args = parser.parse_args()
    qualities = [float(q) for q in args.qualities.split(",")]
    tool = f"{args.side} x {args.side} DCT " + ("for the codewords" if args.over == "base" else "over the decoded planes") \
        + (" and filter" if args.filter else "")
    print(f"| photo | {tool} against vqcodec: PSNR / SSIM | vqcodec against WebP | {tool} against WebP |")
    print("|---|---|---|---|")
    means = []
    for path in anchors.photos():
        pixels = images.load(path, None)
        real, transform = [], []
        for quality in qualities:
            point, found = points(pixels, quality, args.side, args.over, args.filter)
            real.append(point)
            transform += found
        if args.over == "decoded":  # a layer the encoder may leave out
            transform += real
        webp = anchors.curve(pixels, "webp")
        rates = [anchors.bd_rate(real, transform, m) for m in ("psnr", "ssim")] + \
                [anchors.bd_rate(webp, real, m) for m in ("psnr", "ssim")] + \
                [anchors.bd_rate(webp, transform, m) for m in ("psnr", "ssim")]
        means.append(rates)
        print(f"| {path.stem} | " + " | ".join(f"{_percent(rates[i])} / {_percent(rates[i + 1])}" for i in (0, 2, 4))
              + " |", flush=True)
    mean = [sum(r[i] for r in means if r[i] is not None) / max(1, sum(r[i] is not None for r in means))
            for i in range(6)]
    print("| mean | " + " | ".join(f"{_percent(mean[i])} / {_percent(mean[i + 1])}" for i in (0, 2, 4)) + " |")


if __name__ == "__main__":
    main()
