"""The rate-distortion encoder (.vqc version 5) as a pipeline of stages: `ENCODE`.

Each plane (luma and chroma, or the channels as they are, and alpha) is coded
on its own: a grid of block means, quantized and predicted, interpolated into
a smooth base image; then the residual against that base is vector-quantized
in b x b blocks with an entropy-constrained codebook learned from a sample of
the plane's blocks. Smooth areas cost little more than their means, and the
codebook only holds detail. The image is read a band of rows at a time, every
pass over it, so that memory follows the band rather than the image; the
planes' tiles are coded on every core.
"""
import dataclasses
import itertools
import math

import numpy as np

from .. import images
from ..format import container, tiles
from ..format.container import Header, Plane, Section, shapes
from ..options import MAX_K
from ..pipeline import Pipeline, Stage
from .planes import chroma_rows, split
from .settings import plane_kind, settings_for

ECVQ_SAMPLE = 1 << 18  # blocks the entropy-constrained rounds see (docs/performance.md: what it costs)
BAND_ROWS = 128  # image rows read at a time, at least: rounded up to whole blocks and cells of every plane
BAND_BLOCKS = 1 << 16  # indices renumbered at a time
MEASURE_ROWS = 64  # image rows decoded at a time to measure: beside the coders, so few
THREAD_ROWS = 16  # rows of a plane a thread decodes at least, to measure


# --- the image, a band at a time ---------------------------------------------------------------


def _bands(image, settings):
    """(top, bottom, the planes' rows for image rows top..bottom-1, each plane's first row) for the
    image's bands, in order. A band is whole blocks and cells of every plane."""
    height = image.shape[0]
    multiple = 2 * math.lcm(*(math.lcm(s.block, s.cell) for s in settings.planes))
    rows = -(-BAND_ROWS // multiple) * multiple
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        planes = split(np.ascontiguousarray(image.rows(top, bottom)), settings.colour)
        yield top, bottom, planes, [top // 2 if _halved(settings, n) else top for n in range(len(planes))]


def _halved(settings, n: int) -> bool:
    """Whether plane n has half the image's rows and columns: 4:2:0 chroma."""
    return settings.colour == "ycbcr420" and n in (1, 2)


def _plane_shapes(image, settings) -> list[tuple[int, int]]:
    height, width, channels = image.shape
    return shapes(settings.colour, channels, height, width)


# --- the encoder's stages --------------------------------------------------------------------


def _read(source, max_pixels):
    return {"image": images.rows(source, max_pixels)}


def _settings(image, options):
    return {"settings": settings_for(options, image.shape[2])}


def _means(image, settings):
    """Each plane's cell means (float64), or its value when every sample has it (a constant plane)."""
    sizes = _plane_shapes(image, settings)
    sums = [np.zeros((-(-h // s.cell), -(-w // s.cell)), dtype=np.int64) for (h, w), s in zip(sizes, settings.planes)]
    low, high = [255] * len(sizes), [0] * len(sizes)
    for _, _, planes, tops in _bands(image, settings):
        for n, (plane, top, s) in enumerate(zip(planes, tops, settings.planes)):
            cells = np.add.reduceat(np.add.reduceat(plane, np.arange(0, plane.shape[1], s.cell), axis=1,
                                                    dtype=np.int64), np.arange(0, len(plane), s.cell), axis=0)
            sums[n][top // s.cell : top // s.cell + len(cells)] = cells
            low[n], high[n] = min(low[n], int(plane.min())), max(high[n], int(plane.max()))
    means = []
    for total, (h, w), s, a, b in zip(sums, sizes, settings.planes, low, high):
        counts = np.outer(np.bincount(np.arange(h) // s.cell), np.bincount(np.arange(w) // s.cell))
        means.append(a if a == b else total / counts)
    return {"means": means}


def _grids(means, settings):
    """Each plane's quantized cell means; None for a constant plane."""
    return {"grids": [None if isinstance(m, int) else np.clip(np.rint(m / s.step), 0, 255).astype(np.uint8)
                      for m, s in zip(means, settings.planes)]}


def _sample(image, grids, settings, options):
    """Each plane's residual blocks for training: at most ECVQ_SAMPLE, drawn with the seed."""
    from .pixels import residual_blocks

    sizes = _plane_shapes(image, settings)
    positions = [None if grid is None else _drawn(_blocks(size, s.block), options.seed)
                 for size, grid, s in zip(sizes, grids, settings.planes)]
    samples = [None if p is None else np.empty((len(p), s.block ** 2), dtype=np.uint8)
               for p, s in zip(positions, settings.planes)]
    for _, _, planes, tops in _bands(image, settings):
        for plane, top, grid, chosen, vectors, size, s in zip(planes, tops, grids, positions, samples, sizes,
                                                              settings.planes):
            if grid is None:
                continue
            first, last = _band_blocks(top, len(plane), size, s.block)
            at = np.searchsorted(chosen, [first, last])
            _residuals(residual_blocks, vectors[at[0] : at[1]], 0, chosen[at[0] : at[1]], plane, top, size[0], grid, s)
    return {"samples": samples}


def _drawn(count: int, seed: int) -> np.ndarray:
    """Block numbers below `count` for the sample, in order: all of them, or ECVQ_SAMPLE drawn with the seed.
    A block in each of ECVQ_SAMPLE equal runs, so that the draw takes memory in proportion to the sample, not
    to the plane (a draw among all blocks without replacement takes a permutation of them)."""
    if count <= ECVQ_SAMPLE:
        return np.arange(count)
    starts = np.arange(ECVQ_SAMPLE, dtype=np.int64) * count // ECVQ_SAMPLE
    lengths = np.diff(np.append(starts, count))
    return starts + (np.random.default_rng(seed).random(ECVQ_SAMPLE) * lengths).astype(np.int64)


def _blocks(size: tuple[int, int], block: int) -> int:
    return -(-size[0] // block) * -(-size[1] // block)


def _band_blocks(top: int, rows: int, size: tuple[int, int], block: int) -> tuple[int, int]:
    """The plane's block numbers first..last-1 in a band of its rows top..top+rows-1 (whole blocks)."""
    across = -(-size[1] // block)
    return top // block * across, -(-(top + rows) // block) * across


def _residuals(kernel, vectors, first, positions, plane, top, height, grid, s) -> None:
    """The residuals of blocks into `vectors`, on threads: blocks `positions` of the plane, or first..
    when there are none; `plane` holds the plane's rows from `top` on."""
    from ..train.rows import over_rows
    from .decode import means_of
    from .pixels import base_tables

    tables = base_tables(height, plane.shape[1], s.cell, grid.shape, s.cubic)
    over_rows(kernel, len(vectors), vectors, first, positions, plane, top, height, means_of(grid, s.step), *tables,
              s.block)


def _train(samples, settings, options):
    """A starting codebook per plane from the trainer, with the zero residual added as codeword 0:
    at most k in all."""
    from ..train import train_codebook
    from .pixels import ZERO

    books = []
    for v, s in zip(samples, settings.planes):
        if v is None:
            books.append(None)
            continue
        wanted = min(s.k - 1, len(v))  # k with the zero codeword
        if wanted >= 2:
            trained = train_codebook(_subsample(v, settings.effort.train_rows * s.k, options.seed),
                                     options.replace(k=wanted), refined=settings.effort.refined)
        else:  # no trainer takes K = 1: one codeword is the mean
            trained = v.mean(axis=0, keepdims=True)
        trained = np.clip(np.rint(trained), 0, 255).astype(np.uint8)
        zero = np.full((1, v.shape[1]), ZERO, dtype=np.uint8)
        books.append(np.concatenate([zero, trained[np.any(trained != ZERO, axis=1)]]))
    return {"starts": books}


def _subsample(vectors: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """At most `rows` of the vectors, drawn with the seed."""
    if len(vectors) <= rows:
        return vectors
    return vectors[np.sort(np.random.default_rng(seed).choice(len(vectors), rows, replace=False))]


def _ecvq(samples, starts, settings):
    """Each plane's codebook and its codewords' code lengths, from entropy-constrained rounds on the sample."""
    from .ecvq import refine

    books, lengths = [], []
    for v, start, s in zip(samples, starts, settings.planes):
        book, bits = refine(v, start, _lambda(s), settings.effort.rounds, fixed=1) if v is not None else (None, None)
        books.append(book)
        lengths.append(bits)
    return {"books": books, "lengths": lengths}


def _share(image, samples, books, lengths, settings, options, codebook):
    """For each plane, the codebook it codes with when it takes the shared codebook's entry, as (entry
    number, codebook, code lengths), or None for its own: of the choices _entry_choices gives and its
    own codebook, the one of least cost, the squared error plus lambda times the bits of the indices
    (measured on at most SHARE_SAMPLE blocks of the plane's sample and scaled to all its blocks) plus
    lambda times the bits of its codebook section."""
    from ..train.nearest import nearest

    shared = [None] * len(samples)
    if codebook is None:
        return {"shared": shared}
    for n, (v, book, bits, size, s) in enumerate(zip(samples, books, lengths, _plane_shapes(image, settings),
                                                     settings.planes)):
        entry = codebook.entry_for(plane_kind(settings.colour, n), settings.quality)
        if v is None or entry is None or s.block != codebook.block:
            continue
        v, lam = _subsample(v, SHARE_SAMPLE, options.seed), _lambda(s)
        scale = _blocks(size, s.block) / len(v)
        least = scale * nearest(v, book, lam * bits)[1].sum() + lam * 8 * _codebook_bytes(book, s.block)
        for candidate, candidate_bits, costs, section_bytes in _entry_choices(v, codebook.entries[entry][2], s,
                                                                               settings, options):
            cost = scale * costs.sum() + lam * 8 * section_bytes
            if cost < least:
                least, shared[n] = cost, (entry, candidate, candidate_bits)
    return {"shared": shared}


SHARE_SAMPLE = 1 << 13  # blocks of a plane's sample that choose among them and learn its own codewords
EXTRA_ROUNDS = 4  # entropy-constrained rounds for its own codewords, at most (docs/shared-codebooks.md: what more buy)


def _entry_choices(v, entry, s, settings, options):
    """For a shared codebook's entry alone, then followed by each number of codewords of the plane's own
    that the effort tries, most first: the codebook, its code lengths, each block's squared error plus
    lambda times its bits, and the bytes of the codebook section. The plane's own codewords start from
    the trainer on the blocks of `v` the entry serves worst, and go through entropy-constrained rounds
    (at most EXTRA_ROUNDS) that leave the entry's codewords as they are; each smaller number starts from
    the most used of the last."""
    from ..train import train_codebook
    from ..train.nearest import nearest
    from .ecvq import refine

    lam, rounds, fixed = _lambda(s), settings.effort.rounds, len(entry)
    book, bits = refine(v, entry, lam, rounds, fixed=fixed)
    costs = nearest(v, book, lam * bits)[1]
    yield book, bits, costs, 1
    numbers = sorted((m for m in settings.effort.extra_codewords if m < len(v) and fixed + m <= MAX_K), reverse=True)
    if not numbers:
        return
    worst = v[np.sort(np.argsort(-costs, kind="stable")[: 8 * numbers[0]])]
    own = np.clip(np.rint(train_codebook(worst, options.replace(k=numbers[0]), refined=False)), 0, 255).astype(np.uint8)
    for extra in numbers:
        book, bits = refine(v, np.concatenate([entry, own[:extra]]), lam, min(rounds, EXTRA_ROUNDS), fixed=fixed)
        own = book[fixed:][np.argsort(bits[fixed:], kind="stable")]  # the most used first
        if len(own):
            yield book, bits, nearest(v, book, lam * bits)[1], 1 + _codebook_bytes(own, s.block)


def _codebook_bytes(book: np.ndarray, block: int) -> int:
    """The bytes of a codebook's coded section (the coder's bound is never reached)."""
    from ..format.entropy import encode_codebook

    return len(encode_codebook(book, block, 1, container.SYMBOL_BYTES * book.size + 9))


def _lambda(s) -> float:
    return s.lam * s.block ** 2 / 16  # lambda is set for 4 x 4 blocks' squared error


def _assign(image, grids, books, lengths, shared, settings):
    """Every block of every plane to its codeword of least error plus lambda times its length, a band
    at a time; then unused codewords dropped and the rest ordered, but for a plane with a shared
    codebook, which is kept as it is. A plane's indices are a grid of uint16, a block each."""
    from ..format.order import ordered
    from ..train.nearest import nearest
    from .choice import MAX_CONTEXT_K, Model
    from .pixels import residual_blocks

    sizes = _plane_shapes(image, settings)
    labels = [None if grid is None else np.empty(_blocks(size, s.block), dtype=np.uint16)
              for grid, size, s in zip(grids, sizes, settings.planes)]
    books = [book if choice is None else choice[1] for book, choice in zip(books, shared)]
    lengths = [bits if choice is None else choice[2] for bits, choice in zip(lengths, shared)]
    penalties = [None if bits is None else (_lambda(s) * bits).astype(np.float32)
                 for bits, s in zip(lengths, settings.planes)]
    models = [Model(book) if book is not None and settings.effort.contexts and len(book) <= MAX_CONTEXT_K
              else None for book in books]
    for _, _, planes, tops in _bands(image, settings):
        for n, (plane, top, grid, size, s) in enumerate(zip(planes, tops, grids, sizes, settings.planes)):
            if grid is None:
                continue
            first, last = _band_blocks(top, len(plane), size, s.block)
            vectors = np.empty((last - first, s.block ** 2), dtype=np.uint8)
            _residuals(residual_blocks, vectors, first, np.empty(0, dtype=np.int64), plane, top, size[0], grid, s)
            if models[n] is None:
                labels[n][first:last] = nearest(vectors, books[n], penalties[n])[0]
            else:
                models[n] = _chosen(vectors, books[n], penalties[n], labels[n], first, last, size, s, models[n])
    codebooks, indices = [], []
    for book, grid, plane_labels, size, choice, s in zip(books, grids, labels, sizes, shared, settings.planes):
        if grid is None:
            codebooks.append(None)
            indices.append(None)
            continue
        if choice is not None:
            codebooks.append(book)
            indices.append(plane_labels.reshape(-1, -(-size[1] // s.block)))
            continue
        chunks = [slice(first, first + BAND_BLOCKS) for first in range(0, len(plane_labels), BAND_BLOCKS)]
        counts = sum(np.bincount(plane_labels[chunk], minlength=len(book)) for chunk in chunks)  # (bincount
        # widens what it counts to int64: a chunk at a time, not the whole plane's)
        book, number = ordered(book, counts)
        number = number.astype(np.uint16)
        for chunk in chunks:  # renumbered in place, not copied whole
            plane_labels[chunk] = number[plane_labels[chunk]]
        codebooks.append(book)
        indices.append(plane_labels.reshape(-1, -(-size[1] // s.block)))
    return {"codebooks": codebooks, "indices": indices}


def _chosen(vectors, book, penalty, labels, first, last, size, s, model):
    """The band's blocks (first..last-1 of the plane's) chosen in coding order under the model of the
    index coder (vqcodec.rd.choice), the columns of tiles on threads; returns the model with the band
    counted. The first band, with nothing counted yet, is chosen from the statistics of its plain choice."""
    from ..train.nearest import nearest
    from ..train.rows import over_rows
    from .choice import LAMBDA, choose_rows

    across = -(-size[1] // s.block)
    grid = labels.reshape(-1, across)
    top, bottom = first // across, last // across
    plain = nearest(vectors, book, penalty)[0]
    if not model.counts.any():
        labels[first:last] = plain
        model.add(grid, top, bottom)
        costs, model = model.costs(), model.emptied()
    else:
        costs = model.costs()
    columns = s.tile // s.block
    over_rows(choose_rows, -(-across // columns), vectors, plain, book.astype(np.float32), model.near,
              LAMBDA * _lambda(s), grid, top, columns, *costs, minimum=1)
    model.add(grid, top, bottom)
    return model


def _filters(image, grids, codebooks, indices, settings):
    """Each coded plane's restoration filter: weights for each unit (a quarter of a tile) by least squares
    from sums over the image a band at a time, kept where they lower the unit's error; None for a plane
    where what they lower does not pay for its weights' bytes at the plane's lambda (it goes without the
    tool)."""
    from ..train.rows import each_at_once
    from .pixels import filter_statistics

    sizes = _plane_shapes(image, settings)
    coded = [None if grid is None else _Decodable(size, grid, book, labels, s)
             for size, grid, book, labels, s in zip(sizes, grids, codebooks, indices, settings.planes)]
    stats = [None if d is None else np.zeros((*units(d.p), 15), dtype=np.int64) for d in coded]
    for _, _, planes, tops in _bands(image, settings):
        for plane, top, decodable, sums in zip(planes, tops, coded, stats):
            if decodable is None:
                continue
            first, source = decodable.unfiltered(max(top - 1, 0), min(top + len(plane) + 1, decodable.p.height))
            original = plane.view()
            original.flags.writeable = False  # one specialisation of the kernel, whether the plane is the image's
            unit = decodable.p.unit
            cuts = [0, *range(unit - top % unit, len(plane), unit), len(plane)]  # at units' edges: a thread's
            # rows add to their own units' sums
            each_at_once(lambda rows: filter_statistics(sums, source, first, original[rows[0] : rows[1]], top + rows[0],
                                                        decodable.p.height, unit, decodable.p.tile),
                         itertools.pairwise(cuts))
    filters = []
    for d, sums, s in zip(coded, stats, settings.planes):
        weights, gain = (None, 0.0) if d is None else chosen_weights(sums, d.p)
        pays = gain > s.lam * 8 * container.FILTER_BYTES * d.p.tiles if d is not None else False
        filters.append(weights if pays else None)
    return {"filters": filters}


def units(p: Plane) -> tuple[int, int]:
    """Rows and columns of a plane's filter units: two of each tile's sides."""
    rows, columns = p.tile_grid
    return 2 * rows, 2 * columns


def chosen_weights(sums: np.ndarray, p: Plane) -> tuple[np.ndarray, float]:
    """Each unit's weights (int8) from its sums (filter_statistics): least squares, rounded, kept when the
    squared error they predict, plus the rounding's (1/12 a sample), is below the error without them; and
    by how much they lower the plane's squared error in all, so predicted."""
    from .pixels import WEIGHT_ONE

    upper = np.array([0, 1, 2, 3, 1, 4, 5, 6, 2, 5, 7, 8, 3, 6, 8, 9])  # sums[..., 0:10] as a 4 x 4 matrix
    a = sums[..., upper].reshape(*sums.shape[:-1], 4, 4).astype(np.float64)
    b = sums[..., 10:14].astype(np.float64)
    ridge = 1e-6 * (np.trace(a, axis1=-2, axis2=-1) + 1.0)[..., None, None] * np.eye(4)
    exact = WEIGHT_ONE * np.linalg.solve(a + ridge, b[..., None])[..., 0]
    w = np.clip(np.rint(exact), -128, 127)
    gain = 2 * np.einsum("...i,...i", w, b) / WEIGHT_ONE - np.einsum("...i,...ij,...j", w, a, w) / WEIGHT_ONE ** 2
    unit = p.unit
    heights = np.clip(p.height - unit * np.arange(sums.shape[0]), 0, unit)
    widths = np.clip(p.width - unit * np.arange(sums.shape[1]), 0, unit)
    gain -= np.outer(heights, widths) / 12
    kept = gain > 0
    return np.where(kept[..., None], w, 0).astype(np.int8), float(np.sum(gain[kept]))


def filter_section(weights: np.ndarray) -> bytes:
    """A plane's filter section: each tile's units' weights (2 x 2 units of 4), tiles in row order."""
    rows, columns = weights.shape[0] // 2, weights.shape[1] // 2
    return weights.reshape(rows, 2, columns, 2, 4).transpose(0, 2, 1, 3, 4).astype(np.int8).tobytes()


def _refinements(image, grids, codebooks, indices, filters, settings):
    """Each coded plane's refinement: a stream per tile, tiles in row order, each the step of least error
    plus the plane's refinement lambda times its bits among a few (empty where none pays); a row of tiles
    at a time, its tiles on every core. None for a plane without a refinement lambda, or where what the
    streams lower does not pay for their lengths in the tile table."""
    from ..train.rows import each_at_once

    sizes = _plane_shapes(image, settings)
    coded = [None if grid is None or not s.refine else _Decodable(size, grid, book, labels, s, weights)
             for size, grid, book, labels, weights, s in zip(sizes, grids, codebooks, indices, filters,
                                                             settings.planes)]
    if not any(coded):  # below the refinement's qualities: the image's bands need not be read
        return {"refinements": [None] * len(coded)}
    tiles_done = [[] for _ in coded]  # (stream, gain) of each tile coded, in row order
    pending = [None] * len(coded)  # (first row, original rows, decoded rows) short of a whole row of tiles
    for _, _, planes, tops in _bands(image, settings):
        for n, (plane, top, d, s) in enumerate(zip(planes, tops, coded, settings.planes)):
            if d is None:
                continue
            first, decoded = d.rows(top, top + len(plane))
            start, original, decoded = top, plane, decoded[top - first :]
            if pending[n] is not None:
                start = pending[n][0]
                original, decoded = np.concatenate([pending[n][1], original]), np.concatenate([pending[n][2], decoded])
            end, t = start + len(original), d.p.tile
            done = end if end == d.p.height else end // t * t
            for row_top in range(start, done, t):
                rows = slice(row_top - start, min(row_top + t, done) - start)
                blocks = d.levels[d.labels[row_top // s.block : -(-(row_top + t) // s.block)]]  # the tile row's
                tiles_done[n].extend(each_at_once(
                    lambda left, rows=rows, o=original, dec=decoded, s=s, t=t, blocks=blocks: _refined_tile(
                        o[rows, left : left + t], dec[rows, left : left + t],
                        blocks[:, left // s.block : (left + t) // s.block], s, settings.effort),
                    range(0, d.p.width, t)))
            pending[n] = (None if done == end
                          else (done, original[done - start :].copy(), decoded[done - start :].copy()))
    refinements = []
    for d, done, s in zip(coded, tiles_done, settings.planes):
        gain = sum(g for _, g in done)
        pays = d is not None and gain > s.refine * 8 * container.LENGTH.size * d.p.tiles
        refinements.append([stream for stream, _ in done] if pays else None)
    return {"refinements": refinements}


def _refined_tile(original: np.ndarray, decoded: np.ndarray, levels: np.ndarray, s, effort) -> tuple[bytes, float]:
    """(a tile's refinement stream, by how much it lowers the tile's error plus the refinement's lambda
    times bits): the best of the steps the effort tries, or b"" and 0 when none lowers it. `levels`: its
    blocks' codewords' levels."""
    from ..format.entropy import encode_refinement, refinement_grid
    from .pixels import quantize_residuals
    from .settings import refinement_steps

    original = np.array(original, order="C")  # a copy: writable, whether the plane is the image's, for one
    decoded, levels = np.ascontiguousarray(decoded), np.ascontiguousarray(levels)  # specialisation of the kernel
    lam = s.refine
    difference = original.astype(np.int64) - decoded
    unrefined = float(np.sum(difference * difference))
    best, stream = unrefined, b""
    limit = container.SYMBOL_BYTES * original.size + 10  # past any tile's refinement bound
    for step in refinement_steps(lam, effort.refinement_steps):
        q = refinement_grid(*original.shape)
        error = quantize_residuals(original, decoded, step, lam, q)
        if error >= best:  # its bits can only add to that
            continue
        data = encode_refinement(q, levels, s.block, step, limit)
        if data is not None and error + lam * 8 * len(data) < best:
            best, stream = error + lam * 8 * len(data), data
    return stream, unrefined - best


def _measure(image, means, grids, codebooks, indices, filters, refinements, settings):
    """PSNR of the image the file decodes to, decoded a band of rows at a time as the decoder would."""
    from ..metrics import psnr_of_error, squared_error

    height, width, channels = image.shape
    sizes = _plane_shapes(image, settings)
    coded = [means[n] if grid is None else _Decodable(sizes[n], grid, book, labels, s, weights, refinement)
             for n, (grid, book, labels, weights, refinement, s) in enumerate(zip(grids, codebooks, indices, filters,
                                                                                  refinements, settings.planes))]
    error = 0
    for top in range(0, height, MEASURE_ROWS):
        bottom = min(height, top + MEASURE_ROWS)
        error += squared_error(image.rows(top, bottom), _decoded_band(top, bottom, sizes, coded, settings.colour))
    return {"psnr": psnr_of_error(error, height * width * channels)}


class _Decodable:
    """What the decoder will make of a coded plane, ready to decode any of its rows."""

    def __init__(self, size, grid, book, labels, s, weights=None, refinement=None):
        from ..format.entropy import codeword_levels
        from .decode import axes, means_of

        self.p = Plane(*size, s.block, s.cell, s.step, 0, len(book), tile=s.tile,
                       tools=container.CUBIC if s.cubic else 0)
        self.means, self.tables, self.book, self.labels = means_of(grid, s.step), axes(self.p), book, labels
        self.weights = None if weights is None else weights.astype(np.int32)
        self.refinement = refinement  # each tile's refinement stream, tiles in row order
        self.levels = codeword_levels(book)  # for the refinement's contexts
        self.residuals = {}  # (row, column) -> (step, refinement grid) of the tiles decoded, in the last row

    def unfiltered(self, top: int, bottom: int) -> tuple[int, np.ndarray]:
        """(first row, the rows first..bottom-1 before the filter), the first row at or above `top` that
        starts a block."""
        from ..train.rows import over_rows
        from .pixels import reconstruct_rows

        p = self.p
        top -= top % p.block
        band = np.empty((bottom - top, p.width), dtype=np.uint8)
        over_rows(reconstruct_rows, len(band), band, top, 0, p.width, self.means, *self.tables, self.book,
                  self.labels[top // p.block : -(-bottom // p.block)], p.block, minimum=THREAD_ROWS)
        return top, band

    def rows(self, top: int, bottom: int) -> tuple[int, np.ndarray]:
        """(first row, the decoded rows first..bottom-1), the first row at or above `top` that starts a block,
        or with a filter `top` itself."""
        from ..train.rows import over_rows
        from .pixels import filter_rows

        if self.weights is None:
            first, band = self.unfiltered(top, bottom)
        else:
            source_top, source = self.unfiltered(max(top - 1, 0), min(bottom + 1, self.p.height))
            first, band = top, np.empty((bottom - top, self.p.width), dtype=np.uint8)
            over_rows(filter_rows, len(band), band, top, source, source_top, self.p.height, 0, self.p.width,
                      self.weights, self.p.unit, self.p.tile, minimum=THREAD_ROWS)
        if self.refinement is not None:
            self._refine(first, band)
        return first, band

    def _refine(self, first: int, band: np.ndarray) -> None:
        """The refinement added to the rows of `band` (the plane's from `first` on), each tile's stream
        decoded once while the rows asked for are in its row of tiles."""
        from ..format.entropy import decode_refinement
        from .pixels import refine_box

        p = self.p
        last = first + len(band)
        for row in range(first // p.tile, (last - 1) // p.tile + 1):
            self.residuals = {key: value for key, value in self.residuals.items() if key[0] >= row}
            for column in range(p.tile_grid[1]):
                stream = self.refinement[row * p.tile_grid[1] + column]
                if not stream:
                    continue
                y, x, height, width = p.tile_box(row, column)
                if (row, column) not in self.residuals:
                    levels = self.levels[self.labels[y // p.block : -(-(y + height) // p.block),
                                                     x // p.block : -(-(x + width) // p.block)]]
                    self.residuals[row, column] = decode_refinement(stream, levels, p.block, height, width)
                step, q = self.residuals[row, column]
                refine_box(band, first, max(y, first), x, min(y + height, last), x + width, q, y, x, step)


def _decoded_band(top, bottom, sizes, coded, colour) -> np.ndarray:
    """The decoded pixels of image rows top..bottom-1."""
    from .pixels import axis
    from .planes import merge

    height, width = sizes[0]
    bands, tops = [], []
    for n, ((h, w), decodable) in enumerate(zip(sizes, coded)):
        first, last = top, bottom
        if colour != "planes" and n in (1, 2):  # the chroma rows the colour transform reads (with 4:4:4 too,
            # whose cells of one sample read the next row with a weight of 0)
            rows = axis(height, 2 if colour == "ycbcr420" else 1, chroma_rows(colour, height))
            first, last = int(rows[0, top]), int(rows[1, bottom - 1]) + 1
        if isinstance(decodable, int):  # a constant plane
            band = np.full((last - first, w), decodable, dtype=np.uint8)
        else:  # from `first` on: the colour transform takes one first row for both chroma planes, and a plane
            # with a filter starts where one without starts a block
            start, band = decodable.rows(first, last)
            band = band[first - start :]
        bands.append(band)
        tops.append(first)
    return merge(bands, colour, (0, top, width, bottom - top), (height, width), tops)


class _Models:
    """A plane's tile models, handed from tile to tile together."""

    def __init__(self, index, means):
        self.index, self.means = index, means

    def copy(self) -> "_Models":
        return _Models(self.index.copy(), self.means.copy())


def _code(image, means, grids, codebooks, indices, shared, filters, refinements, settings, options, codebook):
    """Each plane's codebook, then its tiles' means and indices, the columns of tiles on every core."""
    import numba

    from ..format.entropy import IndexModel, MeansModel, encode_codebook, encode_tile_indices, encode_tile_means

    pool = tiles.pool(numba.config.NUMBA_NUM_THREADS)
    coded = []
    for size, mean, grid, book, labels, choice, weights, refinement, s in zip(
            _plane_shapes(image, settings), means, grids, codebooks, indices, shared, filters, refinements,
            settings.planes):
        if grid is None:
            coded.append((Plane(*size, 0, 0, 0, mean, 0), None, (), None, None, None))
            continue
        entry = 0 if choice is None else len(codebook.entries[choice[0]][2])  # the codewords the entry gives
        p = Plane(*size, s.block, s.cell, s.step, 0, len(book), tile=s.tile,
                  tools=(0 if weights is None else container.FILTER) | (0 if refinement is None else container.REFINE)
                  | (0 if choice is None else container.SHARED_BOOK)
                  | (container.EXTENDED if entry and len(book) > entry else 0) | (container.CUBIC if s.cubic else 0))
        streams, limits = {}, p.tile_bounds() + 1

        def code(row, column, models, p=p, grid=grid, labels=labels, streams=streams, limits=limits):
            top, left, height, width = p.tile_box(row, column)
            cells = grid[top // p.cell : -(-(top + height) // p.cell), left // p.cell : -(-(left + width) // p.cell)]
            blocks = labels[top // p.block : -(-(top + height) // p.block),
                            left // p.block : -(-(left + width) // p.block)]
            limit, seed = limits[row * p.tile_grid[1] + column], tiles.side(row, column)
            streams[row, column] = (encode_tile_means(cells, models.means, int(limit[0]), seed),
                                    encode_tile_indices(blocks, models.index, int(limit[1]), seed))

        rows, columns = p.tile_grid
        futures = tiles.chains(pool, tiles.needed(rows - 1, 0, columns - 1),
                               lambda p=p: _Models(IndexModel(p.k), MeansModel()), code)
        if choice is not None:  # the shared codebook's entry, and the plane's own codewords after it
            extras = book[entry:]
            own = encode_codebook(extras, s.block, 1, p.bounds()["codebook"]) if len(extras) else b""
            book = None if own is None else bytes([choice[0]]) + own
        else:
            book = encode_codebook(book, s.block, 1, p.bounds()["codebook"] + 1)
        coded.append((p, streams, futures, book, weights, refinement))
    records, payloads = [], []
    tiles.ended([future for _, _, futures, *_ in coded for future in futures])
    for p, streams, futures, book, weights, refinement in coded:
        if streams is None:
            records.append(p)
            continue
        if book is None:
            raise OverflowError("a codebook exceeded its bound")  # cannot happen: the bound is a worst case
        ordered = [streams[key] for key in sorted(streams)]  # tiles in row order
        parts = [book, b"".join(means for means, _ in ordered), b"".join(labels for _, labels in ordered)]
        lengths = [[len(means), len(labels)] for means, labels in ordered]
        sections = [Section(kind, container.CODED, len(part)) for kind, part in zip(("codebook", "means", "indices"), parts)]
        if weights is not None:
            parts.append(filter_section(weights))
            sections.append(Section("filter", "raw", len(parts[-1])))
        if refinement is not None:
            lengths = [tile + [len(stream)] for tile, stream in zip(lengths, refinement)]
            parts.append(b"".join(refinement))
            sections.append(Section("refinement", container.CODED, len(parts[-1])))
        table = np.array(lengths, dtype="<u4").tobytes()
        records.append(dataclasses.replace(p, table=table, sections=tuple(sections)))
        payloads.extend(parts)
    height, width, channels = image.shape
    named = any(choice is not None for choice in shared)
    header = Header(width, height, channels, records[0].block, sum(p.k for p in records), options.k or 0,
                    options.algo, container.COMPACT_VERSION, tuple(x for p in records for x in p.sections),
                    settings.colour, tuple(records), container.SHARED if named else 0,
                    codebook.identity if named else b"")
    return {"header": header, "payloads": tuple(payloads)}


def _build(header, payloads):
    return {"data": container.build(header, payloads)}


ENCODE = Pipeline(("source", "max_pixels", "options", "codebook"), (  # codebook: a SharedCodebook, or None
    Stage("read", _read, ("image",)),
    Stage("settings", _settings, ("settings",)),
    Stage("means", _means, ("means",)),
    Stage("grids", _grids, ("grids",)),
    Stage("sample", _sample, ("samples",)),
    Stage("train", _train, ("starts",)),
    Stage("ecvq", _ecvq, ("books", "lengths")),
    Stage("share", _share, ("shared",)),
    Stage("assign", _assign, ("codebooks", "indices")),
    Stage("filter", _filters, ("filters",)),
    Stage("refine", _refinements, ("refinements",)),
    Stage("measure", _measure, ("psnr",), background=True),
    Stage("code", _code, ("header", "payloads")),
    Stage("container", _build, ("data",)),
))
