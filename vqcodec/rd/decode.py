"""The version-3 decoder: each plane's means, codebook and indices to samples, then the planes to pixels.

A plane is its smooth base (the means grid interpolated) plus, for every
block, its codeword less 128, clipped to a byte: integer arithmetic that
docs/format.md spells out, so every platform decodes the same pixels. The
encoder reconstructs with the same functions to measure what it wrote.
"""
import numpy as np

from ..format import blocks, container
from ..pipeline import Pipeline, Stage
from .planes import merge, upsample

ZERO = 128  # a codeword sample of 128 adds nothing to the base


def base_of(grid: np.ndarray, step: int, cell: int, height: int, width: int, rows: slice = slice(None)) -> np.ndarray:
    """The smooth base image (int32) of a plane's quantized means, or those `rows` of it:
    min(mean x step, 255), interpolated."""
    return upsample(np.minimum(grid.astype(np.int32) * step, 255), cell, height, width, rows)


def reconstruct(grid: np.ndarray, s, codebook: np.ndarray, indices: np.ndarray, height: int, width: int) -> np.ndarray:
    """A plane's samples from its means grid, coded with `s` (step, cell, block): base + codeword - 128,
    clipped to a byte. A band of rows at a time, so that no int32 copy of a whole plane is made."""
    plane = np.empty((height, width), dtype=np.uint8)
    for top, band in blocks.bands(codebook, indices, height, width, s.block):
        rows = slice(top, top + len(band))
        base = base_of(grid, s.step, s.cell, height, width, rows)
        plane[rows] = np.clip(base + band[:, :, 0].astype(np.int32) - ZERO, 0, 255)
    return plane


def _decode_planes(header, payloads):
    """Each plane on its own: the planes at once, on as many threads as Numba may use."""
    from ..train.rows import each_at_once

    parts = iter(payloads)
    jobs = [(p, tuple(bytes(next(parts)) for _ in container.PLANE_KINDS) if p.k else ()) for p in header.planes]
    return {"planes": each_at_once(_decode_plane, jobs)}


def _decode_plane(job) -> np.ndarray:
    from ..format.entropy import decode_codebook, decode_indices, decode_means

    p, sections = job
    if p.k == 0:
        return np.full((p.height, p.width), p.fill, dtype=np.uint8)
    means, book, labels = sections
    grid = decode_means(means, *p.cells)
    codebook = decode_codebook(book, p.k, p.block, 1)
    indices = decode_indices(labels, p.block_count, p.blocks_x, p.k)
    return reconstruct(grid, p, codebook, indices, p.height, p.width)


def _merge(header, planes):
    image = merge(planes, header.colour)
    return {"pixels": image[:, :, 0] if header.channels == 1 else image}


DECODE = Pipeline(("header", "payloads"), (
    Stage("planes", _decode_planes, ("planes",)),
    Stage("pixels", _merge, ("pixels",)),
))
