"""The rate-distortion codec's decoders: versions 3 to 5, whole images, regions and thumbnails.

A plane is its smooth base (its grid of means interpolated) plus, for every
block, its codeword less 128, clipped to a byte; the image is the planes
through the inverse colour transform (vqcodec.rd.pixels). Version 3 codes
each plane whole; versions 4 and 5 in tiles, decoded on threads, so that a region
needs only the tiles it touches and those their models come from. A
thumbnail is the means alone: one value per cell of 8 x 8 pixels.
"""
import threading
from concurrent.futures import wait

import numpy as np

from ..errors import FormatError
from ..format import container, tiles
from ..pipeline import Pipeline, Stage
from ..train.rows import over_rows
from . import pixels
from .planes import merge, thumbnail_of


def means_of(grid: np.ndarray, step: int) -> np.ndarray:
    """The means a grid of quantized means stands for: min(q x step, 255), as int32."""
    return np.minimum(grid.astype(np.int32) * step, 255)


def axes(p: container.Plane) -> tuple:
    """The plane's base interpolation, as the kernels take it (pixels.base_tables)."""
    return pixels.base_tables(p.height, p.width, p.cell, p.cells, bool(p.tools & container.CUBIC))


def reconstruct(out: np.ndarray, p: container.Plane, box: tuple[int, int, int, int], means: np.ndarray,
                codebook: np.ndarray, indices: np.ndarray, tables) -> None:
    """The samples of `box` (top, left, height, width; whole blocks of the plane from its top left) into
    `out`, the plane: from the plane's means and the box's block indices."""
    top, left, height, width = box
    view = out[top : top + height]  # whole rows: a C-contiguous array, one specialisation of the kernel
    pixels.reconstruct_rows(0, height, view, top, left, width, means, *tables, codebook, indices, p.block)


# --- version 3 ----------------------------------------------------------------------------------


def _decode_planes(header, payloads, region):
    """Each plane whole (version 3 has no tiles), the planes at once."""
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
    grid = means_of(decode_means(means, *p.cells), p.step)
    codebook = decode_codebook(book, p.k, p.block, 1)
    indices = decode_indices(labels, p.block_count, p.blocks_x, p.k).reshape(-1, p.blocks_x)
    plane = np.empty((p.height, p.width), dtype=np.uint8)
    over_rows(_reconstruct_band, -(-p.height // p.block), plane, p, grid, codebook, indices, axes(p))
    return plane


def _reconstruct_band(start, stop, plane, p, grid, codebook, indices, tables):
    """Block rows start..stop-1 of a whole plane."""
    top, bottom = start * p.block, min(stop * p.block, p.height)
    reconstruct(plane, p, (top, 0, bottom - top, p.width), grid, codebook, indices[start:stop], tables)


# --- versions 4 and 5 ----------------------------------------------------------------------------


def _decode_tiles(header, payloads, region, shared):
    """The samples each plane needs for the region, tile by tile: first the means of every tile the
    region's base reads, then the indices and samples of the tiles it touches, the columns of tiles at
    once. Planes are made whole-sized, but only those tiles are written."""
    decoders = _plane_decoders(header, payloads, shared)
    pool = _pool()
    for wave in ("means", "indices"):
        futures = []
        try:  # a plane's codebook is decoded before its jobs start: it may fail while another plane's run
            for n, d in decoders.items():
                futures += getattr(d, wave)(pool, *_samples_needed(header, n, region))
        finally:
            wait(futures)
        tiles.ended(futures)
    return {"planes": [decoders[n].plane if n in decoders else np.full((p.height, p.width), p.fill, dtype=np.uint8)
                       for n, p in enumerate(header.planes)]}


def _plane_decoders(header, payloads, shared=None) -> dict:
    """A _PlaneDecode for each coded plane; `shared`: the shared codebook the file names, when its
    indices are to be decoded."""
    parts, decoders = iter(payloads), {}
    for n, p in enumerate(header.planes):
        if p.k:
            decoders[n] = _PlaneDecode(p, [bytes(next(parts)) for _ in p.sections], shared)
    return decoders


def shared_entry(p: container.Plane, section: bytes, shared) -> np.ndarray:
    """The entry of the shared codebook that a plane with the SHARED_BOOK tool takes, which its codebook
    section's first byte names: it must have the plane's k codewords of b x b, or with EXTENDED fewer,
    the plane's own codewords following (plane_codebook)."""
    entry = section[0]
    if entry >= len(shared.entries):
        raise FormatError(f"the plane takes entry {entry} of shared codebook {shared.name}, which has "
                          f"{len(shared.entries)}")
    book = shared.entries[entry][2]
    extended = p.tools & container.EXTENDED
    if (len(book) >= p.k if extended else len(book) != p.k) or shared.block != p.block:
        raise FormatError(f"the plane takes entry {entry} of shared codebook {shared.name}, of {len(book)} "
                          f"codewords of {shared.block} x {shared.block}, where it has {p.k} of {p.block} x {p.block}"
                          + (" with its own after them" if extended else ""))
    return book


def plane_codebook(p: container.Plane, section: bytes, entry: np.ndarray | None) -> np.ndarray:
    """A plane's codebook: its own, the shared entry it takes, or with EXTENDED that entry followed by
    the plane's own codewords, coded after the entry number."""
    from ..format.entropy import decode_codebook

    if entry is None:
        return decode_codebook(section, p.k, p.block, 1)
    if not p.tools & container.EXTENDED:
        return entry
    return np.concatenate([entry, decode_codebook(section[1:], p.k - len(entry), p.block, 1)])


def _pool():
    import numba

    return tiles.pool(numba.config.NUMBA_NUM_THREADS)


class _PlaneDecode:
    """One version-4 plane: its means grid and its samples, decoded for the tiles a box of samples needs."""

    def __init__(self, p: container.Plane, sections: list[bytes], shared=None):
        self.p, self.sections = p, sections  # the codebook, every tile's means and indices, weights, refinement
        self.shared = shared_entry(p, sections[0], shared) if shared is not None and p.tools & container.SHARED_BOOK \
            else None  # a shared codebook's entry
        lengths = p.tile_lengths()
        self.ends = np.cumsum(lengths, axis=0)  # where each tile's means and index streams end in their section
        self.starts = self.ends - lengths
        self.tables = axes(p)
        self.grid = np.zeros(p.cells, dtype=np.int32)
        self.plane = np.empty((p.height, p.width), dtype=np.uint8)
        self.weights = unit_weights(p, sections[3]) if p.tools & container.FILTER else None
        self.refinement = sections[-1] if p.tools & container.REFINE else None
        self._buffers = threading.local()  # each thread's unfiltered samples of the tile it filters

    def _tiles(self, top, left, bottom, right) -> dict[int, list[int]]:
        """The tiles that hold samples top..bottom-1 x left..right-1, and those their models come from."""
        t = self.p.tile
        return tiles.needed((bottom - 1) // t, left // t, (right - 1) // t)

    def _stream(self, kind: int, row: int, column: int) -> bytes:
        """Tile (row, column)'s means (kind 0), index (kind 1) or refinement (kind 2) stream."""
        at = row * self.p.tile_grid[1] + column
        return (self.sections[1 + kind] if kind < 2 else self.refinement)[self.starts[at, kind] : self.ends[at, kind]]

    def means(self, pool, top, left, bottom, right):
        """Decode the means of every tile holding a cell the base of those samples reads (the cells on
        both sides of each: the tables say which), and with a filter of the samples one beyond them."""
        from ..format.entropy import MeansModel, decode_tile_means

        (rows, columns), cell = self.tables[:2], self.p.cell
        if self.weights is not None:
            top, left = max(top - 1, 0), max(left - 1, 0)
            bottom, right = min(bottom + 1, self.p.height), min(right + 1, self.p.width)

        def code(row, column, model):
            y, x, height, width = self.p.tile_box(row, column)
            shape = (-(-height // cell), -(-width // cell))
            grid = decode_tile_means(self._stream(0, row, column), *shape, model, tiles.side(row, column))
            self.grid[y // cell : y // cell + shape[0], x // cell : x // cell + shape[1]] = means_of(grid, self.p.step)

        cells = self._tiles(rows[0, top] * cell, columns[0, left] * cell,
                            (pixels.last_cell(rows, bottom - 1) + 1) * cell,
                            (pixels.last_cell(columns, right - 1) + 1) * cell)
        return tiles.chains(pool, cells, MeansModel, code)

    def indices(self, pool, top, left, bottom, right):
        """Decode the indices of every tile holding one of those samples (and of the tiles their models
        come from), and put those samples in place, from the first whole block that holds one."""
        from ..format.entropy import IndexModel, codeword_levels, decode_tile_indices

        codebook = plane_codebook(self.p, self.sections[0], self.shared)
        levels = codeword_levels(codebook) if self.refinement is not None else None
        b = self.p.block

        def code(row, column, model):
            y, x, height, width = self.p.tile_box(row, column)
            indices = decode_tile_indices(self._stream(1, row, column), -(-height // b), -(-width // b), model,
                                          tiles.side(row, column))
            box = max(y, top), max(x, left), min(y + height, bottom), min(x + width, right)  # what the box needs
            if box[0] < box[2] and box[1] < box[3]:
                self._samples((y, x, height, width), box, codebook, indices)
                if self.refinement is not None:
                    self._refine(row, column, box, levels[indices])

        return tiles.chains(pool, self._tiles(top, left, bottom, right), lambda: IndexModel(self.p.k), code)

    def _samples(self, tile, box, codebook, indices) -> None:
        """The samples of `box` (top, left, bottom, right) inside `tile` (top, left, height, width), from
        the first whole block that holds one; with a filter, from the samples one beyond it on every side
        that the tile holds, before the filter."""
        p, b = self.p, self.p.block
        y, x, height, width = tile
        top, left, bottom, right = box
        if self.weights is None:
            y0, x0 = top // b * b, left // b * b
            reconstruct(self.plane, p, (y0, x0, bottom - y0, right - x0), self.grid, codebook,
                        np.ascontiguousarray(indices[(y0 - y) // b :, (x0 - x) // b :]), self.tables)
            return
        y0, x0 = max(top - 1, y) // b * b, max(left - 1, x) // b * b
        y1, x1 = min(bottom + 1, y + height), min(right + 1, x + width)
        source = getattr(self._buffers, "source", None)
        if source is None:  # a thread's own, kept: a tile's rows as wide as the plane
            source = self._buffers.source = np.empty((p.tile + b, p.width), dtype=np.uint8)
        source = source[: y1 - y0]
        pixels.reconstruct_rows(0, y1 - y0, source, y0, x0, x1 - x0, self.grid, *self.tables, codebook,
                                np.ascontiguousarray(indices[(y0 - y) // b :, (x0 - x) // b :]), b)
        pixels.filter_rows(0, bottom - top, self.plane[top:bottom], top, source, y0, p.height, left, right,
                           self.weights, p.unit, p.tile)

    def _refine(self, row, column, box, levels) -> None:
        """The tile's refinement added to the samples of `box` (top, left, bottom, right) inside it; `levels`:
        those of its blocks' codewords."""
        from ..format.entropy import decode_refinement

        stream = self._stream(2, row, column)
        if stream:
            y, x, height, width = self.p.tile_box(row, column)
            step, q = decode_refinement(stream, levels, self.p.block, height, width)
            pixels.refine_box(self.plane, 0, *box, q, y, x, step)


def unit_weights(p: container.Plane, section: bytes) -> np.ndarray:
    """A filter section's weights by unit: (2 x tile rows, 2 x tile columns, 4) int32."""
    rows, columns = p.tile_grid
    weights = np.frombuffer(section, dtype=np.int8).reshape(rows, columns, 2, 2, 4)
    return weights.transpose(0, 2, 1, 3, 4).reshape(2 * rows, 2 * columns, 4).astype(np.int32)


def _samples_needed(header, n, region) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of plane n's samples that the region's pixels read."""
    left, top, width, height = region
    p = header.planes[n]
    if (p.height, p.width) == (header.height, header.width):
        return top, left, top + height, left + width
    rows = pixels.axis(header.height, 2, p.height)  # 4:2:0 chroma: cells of 2 x 2 pixels
    columns = pixels.axis(header.width, 2, p.width)
    return (int(rows[0, top]), int(columns[0, left]), int(rows[1, top + height - 1]) + 1,
            int(columns[1, left + width - 1]) + 1)


# --- both ----------------------------------------------------------------------------------------


def _merge(header, planes, region):
    image = merge(planes, header.colour, region)
    return {"pixels": image[:, :, 0] if header.channels == 1 else image}


DECODE = Pipeline(("header", "payloads", "region"), (  # version 3
    Stage("planes", _decode_planes, ("planes",)),
    Stage("pixels", _merge, ("pixels",)),
))
DECODE_TILES = Pipeline(("header", "payloads", "region", "shared"), (  # versions 4 and 5; shared: the SharedCodebook
    # the file names, or None
    Stage("planes", _decode_tiles, ("planes",)),
    Stage("pixels", _merge, ("pixels",)),
))


def thumbnail(header: container.Header, payloads) -> np.ndarray:
    """The image at 1/8 scale from the means alone: ceil(W/8) x ceil(H/8) pixels (H x W x C, or H x W
    for grey), each from the means of the cells at its centre."""
    from ..format.entropy import decode_means

    grids = [None] * len(header.planes)
    if header.version == container.PLANES_VERSION:
        parts = iter(payloads)
        for n, p in enumerate(header.planes):
            sections = [bytes(next(parts)) for _ in p.sections]
            if p.k:
                grids[n] = means_of(decode_means(sections[0], *p.cells), p.step)
    else:
        decoders, pool = _plane_decoders(header, payloads), _pool()
        tiles.ended([f for d in decoders.values() for f in d.means(pool, 0, 0, d.p.height, d.p.width)])
        for n, d in decoders.items():
            grids[n] = d.grid
    image = thumbnail_of(header, grids)
    return image[:, :, 0] if header.channels == 1 else image
