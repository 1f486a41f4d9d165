"""Planes of a version-3 image: the colour transform, chroma subsampling and the smooth mean image.

Everything the decoder computes here is integer arithmetic that docs/format.md
spells out, so every platform reconstructs the same pixels. The forward
transforms are the encoder's choice and use floating point.
"""
import numpy as np

from ..format.container import shapes

# JPEG's YCbCr (ITU-R BT.601, full range) in 16.16 fixed point, as libjpeg rounds it
_CR_R, _CB_G, _CR_G, _CB_B = 91881, 22554, 46802, 116130
STRIP = 256  # rows converted at a time (even, for 4:2:0): whole-image temporaries of a 4096 x 4096 photo
# took a gigabyte, and a strip gives the same numbers


def split(pixels: np.ndarray, colour: str) -> list[np.ndarray]:
    """The uint8 planes of an (H, W, C) image."""
    if colour == "planes":
        return [np.ascontiguousarray(pixels[:, :, c]) for c in range(pixels.shape[2])]
    height, width = pixels.shape[:2]
    planes = [np.empty(shape, dtype=np.uint8) for shape in shapes(colour, 3, height, width)]
    cell = 2 if colour == "ycbcr420" else 1
    for top in range(0, height, STRIP):
        rgb = pixels[top : top + STRIP, :, :3].astype(np.float64)
        r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
        cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
        if cell == 2:
            cb, cr = _halve(cb), _halve(cr)
        for plane, values, at in zip(planes, (y, cb, cr), (top, top // cell, top // cell)):
            plane[at : at + len(values)] = _to_uint8(values)
    return planes + [np.ascontiguousarray(pixels[:, :, c]) for c in range(3, pixels.shape[2])]


def merge(planes: list[np.ndarray], colour: str) -> np.ndarray:
    """The (H, W, C) uint8 image of decoded planes: split's inverse, up to its rounding."""
    if colour == "planes":
        return np.stack(planes, axis=2)
    height, width = planes[0].shape
    cell = 2 if colour == "ycbcr420" else 1
    image = np.empty((height, width, len(planes)), dtype=np.uint8)
    for top in range(0, height, STRIP):
        rows = slice(top, min(top + STRIP, height))
        y = planes[0][rows].astype(np.int32)
        cb = upsample(planes[1], cell, height, width, rows) - 128
        cr = upsample(planes[2], cell, height, width, rows) - 128
        r = y + ((_CR_R * cr + 32768) >> 16)
        g = y + ((-_CB_G * cb - _CR_G * cr + 32768) >> 16)
        b = y + ((_CB_B * cb + 32768) >> 16)
        for c, values in enumerate((r, g, b)):
            image[rows, :, c] = np.clip(values, 0, 255)
    for c in range(3, len(planes)):
        image[:, :, c] = planes[c]
    return image


def _halve(plane: np.ndarray) -> np.ndarray:
    """Mean of each 2 x 2 cell (edge cells repeat their last row or column)."""
    h, w = plane.shape
    plane = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2).mean(axis=(1, 3))


def _to_uint8(plane: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(plane), 0, 255).astype(np.uint8)


def cell_means(plane: np.ndarray, cell: int) -> np.ndarray:
    """Mean of each cell x cell square over the pixels inside the plane (float64)."""
    h, w = plane.shape
    band = cell * max(1, STRIP // cell)  # rows at a time: reduceat widens its whole input to int64
    sums = np.concatenate([np.add.reduceat(np.add.reduceat(plane[top : top + band], np.arange(0, w, cell), axis=1,
                                                           dtype=np.int64), np.arange(0, min(band, h - top), cell), axis=0)
                           for top in range(0, h, band)])  # exact integers
    counts = np.outer(np.bincount(np.arange(h) // cell), np.bincount(np.arange(w) // cell))
    return sums / counts


def _axis(n: int, cell: int, cells: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each of n pixel positions: the cell before it, the cell after it, and the weight of the
    one after in 1/(2 cell) units. Cell i's centre is at pixel cell*i + (cell-1)/2; positions
    before the first centre or after the last take that cell alone."""
    t = 2 * np.arange(n, dtype=np.int64) - (cell - 1)  # twice the distance from cell 0's centre
    before = np.floor_divide(t, 2 * cell)
    weight = t - 2 * cell * before
    weight[t < 0] = 0
    before = np.clip(before, 0, cells - 1)
    weight[before == cells - 1] = 0
    after = np.minimum(before + 1, cells - 1)
    return before, after, weight


def upsample(grid: np.ndarray, cell: int, height: int, width: int, rows: slice = slice(None)) -> np.ndarray:
    """Bilinear interpolation of a grid of values at cell centres to a height x width plane (or those
    `rows` of it), rounded half up: (sum of weight x value + 2 cell^2) // (4 cell^2), in int32."""
    r0, r1, wr = (a[rows] for a in _axis(height, cell, grid.shape[0]))
    c0, c1, wc = _axis(width, cell, grid.shape[1])
    g = grid.astype(np.int32)
    two = 2 * cell
    rows = g[r0] * (two - wr)[:, None].astype(np.int32) + g[r1] * wr[:, None].astype(np.int32)
    out = rows[:, c0] * (two - wc)[None, :].astype(np.int32) + rows[:, c1] * wc[None, :].astype(np.int32)
    return (out + 2 * cell * cell) // (4 * cell * cell)
