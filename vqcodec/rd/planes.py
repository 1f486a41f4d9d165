"""Planes of a rate-distortion image: the colour transform both ways, and the grid of cell means.

The arithmetic runs in the kernels of vqcodec.rd.pixels, on threads over
bands of rows; what the decoder computes is the integer arithmetic that
docs/format.md spells out, so every platform reconstructs the same pixels.
The forward transform is the encoder's choice and uses floating point.
"""
import numpy as np

from ..format.container import shapes
from ..train.rows import over_rows
from . import pixels

ROWS_PER_THREAD = 64  # pixel rows a thread takes at least: a hand-off costs tens of microseconds


def split(image: np.ndarray, colour: str) -> list[np.ndarray]:
    """The uint8 planes of an (H, W, C) image."""
    if colour == "planes":
        return [np.ascontiguousarray(image[:, :, c]) for c in range(image.shape[2])]
    height, width = image.shape[:2]
    planes = [np.empty(shape, dtype=np.uint8) for shape in shapes(colour, 3, height, width)]
    over_rows(pixels.split_rows, height, image, *planes, colour == "ycbcr420", minimum=ROWS_PER_THREAD)
    return planes + [np.ascontiguousarray(image[:, :, c]) for c in range(3, image.shape[2])]


def merge(planes: list[np.ndarray], colour: str, region=None, size=None, tops=None) -> np.ndarray:
    """The (h, w, C) uint8 pixels of decoded planes in `region` (left, top, width, height; default the
    whole image): split's inverse, up to its rounding. The planes may be bands of rows: then `size`
    is the image's (height, width) and `tops` the first row each band holds."""
    height, width = size or planes[0].shape
    tops = tops or [0] * len(planes)
    left, top, w, h = region or (0, 0, width, height)
    if colour == "planes":
        return np.stack([p[top - t : top - t + h, left : left + w] for p, t in zip(planes, tops)], axis=2)
    image = np.empty((h, w, len(planes)), dtype=np.uint8)
    cell = 2 if colour == "ycbcr420" else 1
    cb, cr = planes[1], planes[2]
    tables = pixels.base_tables(height, width, cell, (chroma_rows(colour, height), cb.shape[1]), False)
    rgb = image[:, :, :3] if len(planes) == 3 else np.empty((h, w, 3), dtype=np.uint8)
    over_rows(pixels.merge_rows, h, rgb, top, left, planes[0], cb, cr, *tables, tops[0], tops[1],
              minimum=ROWS_PER_THREAD)
    if len(planes) == 4:
        image[:, :, :3] = rgb
        image[:, :, 3] = planes[3][top - tops[3] : top - tops[3] + h, left : left + w]
    return image


def chroma_rows(colour: str, height: int) -> int:
    """Rows of a chroma plane of an image `height` rows high."""
    return -(-height // 2) if colour == "ycbcr420" else height


def cell_means(plane: np.ndarray, cell: int) -> np.ndarray:
    """Mean of each cell x cell square over the pixels inside the plane (float64)."""
    h, w = plane.shape
    band = cell * max(1, 256 // cell)  # rows at a time: reduceat widens its whole input to int64
    sums = np.concatenate([np.add.reduceat(np.add.reduceat(plane[top : top + band], np.arange(0, w, cell), axis=1,
                                                           dtype=np.int64), np.arange(0, min(band, h - top), cell), axis=0)
                           for top in range(0, h, band)])  # exact integers
    counts = np.outer(np.bincount(np.arange(h) // cell), np.bincount(np.arange(w) // cell))
    return sums / counts


def thumbnail_of(header, grids: list) -> np.ndarray:
    """The (ceil(H/8), ceil(W/8), C) image of the planes' means (int32 grids, None for a constant
    plane): each pixel the base of each plane (the means, interpolated as a full decode does) at the
    centre of its 8 x 8 pixels, through the inverse colour transform."""
    height, width = -(-header.height // 8), -(-header.width // 8)
    centre_y = np.minimum(8 * np.arange(height) + 4, header.height - 1)
    centre_x = np.minimum(8 * np.arange(width) + 4, header.width - 1)
    planes = []
    for n, (p, grid) in enumerate(zip(header.planes, grids)):
        if grid is None:
            planes.append(np.full((height, width), p.fill, dtype=np.uint8))
            continue
        scale = 2 if header.colour == "ycbcr420" and n in (1, 2) else 1  # 4:2:0 chroma: a sample per 2 x 2 pixels
        i0, i1, u = pixels.axis(p.height, p.cell, grid.shape[0])[:, centre_y // scale, None].astype(np.int64)
        j0, j1, v = pixels.axis(p.width, p.cell, grid.shape[1])[:, None, centre_x // scale].astype(np.int64)
        m, g2 = grid.astype(np.int64), 2 * p.cell
        total = ((g2 - u) * ((g2 - v) * m[i0, j0] + v * m[i0, j1]) + u * ((g2 - v) * m[i1, j0] + v * m[i1, j1])
                 + 2 * p.cell ** 2)
        planes.append((total // (4 * p.cell ** 2)).astype(np.uint8))
    if header.colour == "planes":
        return np.stack(planes, axis=2)
    full = [planes[0], planes[1], planes[2]]  # the chroma already sampled at each pixel's centre: cell 1
    image = merge(full, "ycbcr444")
    return np.concatenate([image] + [p[:, :, None] for p in planes[3:]], axis=2)
