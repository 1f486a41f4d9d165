"""The rate-distortion encoder (.vqc version 3) as a pipeline of stages: `ENCODE`.

Each plane (luma and chroma, or the channels as they are, and alpha) is coded
on its own: a grid of block means, quantized and predicted, interpolated into
a smooth base image; then the residual against that base is vector-quantized
in b x b blocks with an entropy-constrained codebook learned from the plane.
Smooth areas cost little more than their means, and the codebook only holds
detail.
"""
import numpy as np

from .. import images
from ..format import blocks, container
from ..format.container import Header, Plane, Section
from ..metrics import psnr
from ..pipeline import Pipeline, Stage
from .decode import ZERO, base_of, reconstruct
from .planes import STRIP, cell_means, merge, split
from .settings import settings_for

TRAIN_ROWS_PER_CODEWORD = 32  # the trainer only gives a start: the entropy-constrained rounds see every block


# --- the encoder's stages --------------------------------------------------------------------


def _read(source, max_pixels):
    return {"pixels": images.load(source, max_pixels)}


def _settings(pixels, options):
    return {"settings": settings_for(options, pixels.shape[2])}


def _split(pixels, settings):
    return {"planes": split(pixels, settings.colour)}


def _means(planes, settings):
    """Each plane's quantized cell means; None for a constant plane."""
    grids = []
    for plane, s in zip(planes, settings.planes):
        if plane.min() == plane.max():
            grids.append(None)
            continue
        grids.append(np.clip(np.rint(cell_means(plane, s.cell) / s.step), 0, 255).astype(np.uint8))
    return {"grids": grids}


def _residuals(planes, grids, settings):
    """The residual against the base the means interpolate to, offset by 128 and clipped to a byte,
    cut into blocks. The base is made a band of rows at a time, never whole."""
    vectors = []
    for plane, grid, s in zip(planes, grids, settings.planes):
        if grid is None:
            vectors.append(None)
            continue
        height, width = plane.shape
        residual = np.empty_like(plane)
        for top in range(0, height, STRIP):
            rows = slice(top, min(top + STRIP, height))
            base = base_of(grid, s.step, s.cell, height, width, rows)
            residual[rows] = np.clip(plane[rows].astype(np.int32) - base + ZERO, 0, 255)
        vectors.append(blocks.to_vectors(residual[:, :, None], s.block))
    return {"vectors": vectors}


def _train(vectors, settings, options):
    """A starting codebook per plane from the trainer, with the zero residual added as codeword 0:
    at most k in all."""
    from ..train import train_codebook

    books = []
    for v, s in zip(vectors, settings.planes):
        if v is None:
            books.append(None)
            continue
        wanted = min(s.k - 1, len(v))  # k with the zero codeword
        if wanted >= 2:
            trained = train_codebook(_sample(v, TRAIN_ROWS_PER_CODEWORD * s.k, options.seed), options.replace(k=wanted))
        else:  # no trainer takes K = 1: one codeword is the mean
            trained = v.mean(axis=0, keepdims=True)
        trained = np.clip(np.rint(trained), 0, 255).astype(np.uint8)
        zero = np.full((1, v.shape[1]), ZERO, dtype=np.uint8)
        books.append(np.concatenate([zero, trained[np.any(trained != ZERO, axis=1)]]))
    return {"starts": books}


def _sample(vectors: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """At most `rows` of the vectors, drawn with the seed."""
    if len(vectors) <= rows:
        return vectors
    return vectors[np.sort(np.random.default_rng(seed).choice(len(vectors), rows, replace=False))]


def _ecvq(vectors, starts, settings):
    from ..format.order import prune_and_order
    from .ecvq import refine

    books, indices = [], []
    for v, start, s in zip(vectors, starts, settings.planes):
        if v is None:
            books.append(None)
            indices.append(None)
            continue
        book, labels = prune_and_order(*refine(v, start, s.lam * s.block ** 2 / 16, keep=0))
        books.append(book)
        indices.append(labels)
    return {"codebooks": books, "indices": indices}


def _measure(pixels, grids, codebooks, indices, settings):
    decoded = merge([_plane(p, g, b, i, s) for p, g, b, i, s
                            in zip(_split(pixels, settings)["planes"], grids, codebooks, indices, settings.planes)],
                           settings.colour)
    return {"psnr": psnr(pixels, decoded)}


def _plane(plane, grid, codebook, indices, s):
    if grid is None:
        return plane
    return reconstruct(grid, s, codebook, indices, *plane.shape)


def _code(pixels, planes, grids, codebooks, indices, settings, options):
    from ..format.entropy import encode_codebook, encode_indices, encode_means

    height, width, channels = pixels.shape
    records, payloads = [], []
    for plane, grid, book, labels, s in zip(planes, grids, codebooks, indices, settings.planes):
        h, w = plane.shape
        if grid is None:
            records.append(Plane(h, w, 0, 0, 0, int(plane[0, 0]), 0))
            continue
        p = Plane(h, w, s.block, s.cell, s.step, 0, len(book))
        bounds = p.bounds()
        parts = (encode_means(grid, bounds["means"]), encode_codebook(book, s.block, 1, bounds["codebook"] + 1),
                 encode_indices(labels, p.blocks_x, len(book), bounds["indices"] + 1))
        if any(part is None for part in parts):
            raise OverflowError("a section exceeded its bound")  # cannot happen: the bounds are worst cases
        sections = tuple(Section(kind, container.CODED, len(part)) for kind, part in zip(container.PLANE_KINDS, parts))
        records.append(Plane(h, w, s.block, s.cell, s.step, 0, len(book), sections))
        payloads.extend(parts)
    header = Header(width, height, channels, records[0].block, sum(p.k for p in records), options.k or 0,
                    options.algo, container.PLANES_VERSION, tuple(x for p in records for x in p.sections),
                    settings.colour, tuple(records))
    return {"header": header, "payloads": tuple(payloads)}


def _build(header, payloads):
    return {"data": container.build(header, payloads)}


ENCODE = Pipeline(("source", "max_pixels", "options"), (
    Stage("read", _read, ("pixels",)),
    Stage("settings", _settings, ("settings",)),
    Stage("colour", _split, ("planes",)),
    Stage("means", _means, ("grids",)),
    Stage("residuals", _residuals, ("vectors",)),
    Stage("train", _train, ("starts",)),
    Stage("ecvq", _ecvq, ("codebooks", "indices")),
    Stage("measure", _measure, ("psnr",), background=True),
    Stage("code", _code, ("header", "payloads")),
    Stage("container", _build, ("data",)),
))
