"""Shared codebooks measured: the tiles of a photo coded with a codebook learned from other photos'
tiles, against the same tiles each coded with its own codebooks, and against JPEG and WebP, by BD-rate
on PSNR over all the tiles together (their bits summed, their squared errors summed).

A photo is never in the set its codebook is learned from: that set is the tiles of every other photo
given. With own=True it is the photo's own other tiles instead, as for the chunks of one large image:
its tiles in a checkerboard, learned from one colour and measured on the other.
"""
import math
import time
from dataclasses import dataclass

import numpy as np

from .. import api, images
from ..format import container
from ..options import SHARED_EFFORT, EncodeOptions
from . import anchors

SIZES = (64, 128, 256)
QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
MAX_TILES = 64  # tiles measured per photo and size, evenly spread: enough for a stable mean


@dataclass(frozen=True)
class Result:
    """One photo at one tile size: BD-rates (percent; None where the curves do not overlap) of the shared
    codebook against per-file codebooks, JPEG and WebP, and of per-file codebooks against those two."""

    photo: str
    size: int
    tiles: int
    shared_vs_own: float | None
    shared_vs_jpeg: float | None
    shared_vs_webp: float | None
    own_vs_jpeg: float | None
    own_vs_webp: float | None
    codebook_bytes: int
    train_seconds: float
    encode_seconds: float  # of the training tiles, once each at the default quality: what training should not pass
    shared_encode_ratio: float  # the test tiles' encode time with the shared codebook, against with their own


def tiles_of(pixels: np.ndarray, side: int) -> list[np.ndarray]:
    """The whole side x side tiles of an image, row by row."""
    rows, columns = pixels.shape[0] // side, pixels.shape[1] // side
    return [np.ascontiguousarray(pixels[side * i : side * i + side, side * j : side * j + side])
            for i in range(rows) for j in range(columns)]


def _spread(items: list, count: int) -> list:
    return items if len(items) <= count else [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def _pooled(points_per_tile: list[list[tuple[float, float]]], pixels: int, samples: int) -> list[anchors.Point]:
    """One point per quality from (bits, squared error) of every tile at it."""
    points = []
    for at_quality in zip(*points_per_tile):
        bits, error = sum(b for b, _ in at_quality), sum(e for _, e in at_quality)
        psnr = 10 * math.log10(255 ** 2 * samples / error) if error else 99.0
        points.append(anchors.Point(bits / pixels, psnr, None))
    return points


def _vqcodec(tile: np.ndarray, qualities, codebook, seconds: list) -> list[tuple[float, float]]:
    """(bits, squared error) at each quality; the encode time is added to seconds[0]."""
    out = []
    for q in qualities:
        start = time.perf_counter()
        data = api.encode(tile, quality=q, codebook=codebook, max_pixels=None).data
        seconds[0] += time.perf_counter() - start
        decoded = api.decode(data, codebook=codebook, max_pixels=None).pixels.reshape(tile.shape)
        out.append((8 * len(data), float(np.sum((tile.astype(np.int64) - decoded) ** 2))))
    return out


def _anchor(tile: np.ndarray, name: str) -> list[tuple[float, float]]:
    samples = tile.size
    return [(p.bpp * tile.shape[0] * tile.shape[1], samples * 255 ** 2 / 10 ** (p.psnr / 10))
            for p in anchors.curve(tile, name)]


def measure(photo: str, tests: list[np.ndarray], training: list[np.ndarray], size: int, qualities=QUALITIES,
            seed: int = 0) -> Result:
    """One photo's tiles `tests` coded with a codebook learned from `training`, and every comparison."""
    start = time.perf_counter()
    shared = api.train_shared(training, EncodeOptions(seed=seed, effort=SHARED_EFFORT),  # as `vqcodec train`
                              max_pixels=None)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for tile in training:
        api.encode(tile, max_pixels=None)
    encode_seconds = time.perf_counter() - start
    pixels = sum(t.shape[0] * t.shape[1] for t in tests)
    samples = sum(t.size for t in tests)
    own_seconds, shared_seconds = [0.0], [0.0]
    own = _pooled([_vqcodec(t, qualities, None, own_seconds) for t in tests], pixels, samples)
    with_shared = _pooled([_vqcodec(t, qualities, shared, shared_seconds) for t in tests], pixels, samples)
    jpeg = _pooled([_anchor(t, "jpeg") for t in tests], pixels, samples)
    webp = _pooled([_anchor(t, "webp") for t in tests], pixels, samples)
    return Result(photo, size, len(tests), anchors.bd_rate(own, with_shared), anchors.bd_rate(jpeg, with_shared),
                  anchors.bd_rate(webp, with_shared), anchors.bd_rate(jpeg, own), anchors.bd_rate(webp, own),
                  len(shared.data), train_seconds, encode_seconds, shared_seconds[0] / own_seconds[0])


def run(paths, sizes=SIZES, qualities=QUALITIES, own=False, progress=None) -> list[Result]:
    """Every photo at every tile size: learned from the other photos' tiles, or with `own` from its own other
    tiles (a checkerboard's other colour)."""
    photos = {str(p): images.load(p, None) for p in paths}
    jobs = [(name, size) for size in sizes for name in photos]
    results = []
    for n, (name, size) in enumerate(jobs, 1):
        every = tiles_of(photos[name], size)
        if own:
            columns = photos[name].shape[1] // size
            tests = [t for i, t in enumerate(every) if (i // columns + i % columns) % 2]
            training = [t for i, t in enumerate(every) if not (i // columns + i % columns) % 2]
        else:
            tests = every
            training = [t for other, pixels in photos.items() if other != name for t in tiles_of(pixels, size)]
        if progress:
            progress(n, len(jobs), f"{name}, tiles of {size} x {size}")
        if tests and training:
            results.append(measure(name, _spread(tests, MAX_TILES), training, size, qualities))
    return results


@dataclass(frozen=True)
class Whole:
    """One whole photo coded with a codebook learned from the other photos' tiles, against without it:
    BD-rate (percent) and how many of its planes took an entry, over every quality."""

    photo: str
    bd_rate: float | None
    planes_shared: int
    planes: int


def whole(paths, side: int = 64, qualities=QUALITIES, progress=None) -> list[Whole]:
    """Every photo whole, with and without a codebook learned from the other photos' tiles of `side`."""
    photos = {str(p): images.load(p, None) for p in paths}
    results = []
    for n, (name, pixels) in enumerate(photos.items(), 1):
        if progress:
            progress(n, len(photos), f"{name}, whole")
        training = [t for other, p in photos.items() if other != name for t in tiles_of(p, side)]
        if not training:
            continue
        shared = api.train_shared(training, max_pixels=None)
        samples = pixels.size
        points, taken, planes = {}, 0, 0
        for label, codebook in (("own", None), ("shared", shared)):
            points[label] = []
            for q in qualities:
                encoded = api.encode(pixels, quality=q, codebook=codebook, max_pixels=None)
                decoded = api.decode(encoded.data, codebook=codebook, max_pixels=None).pixels.reshape(pixels.shape)
                error = float(np.sum((pixels.astype(np.int64) - decoded) ** 2))
                points[label].append(anchors.Point(8 * len(encoded.data) / (pixels.shape[0] * pixels.shape[1]),
                                                   10 * math.log10(255 ** 2 * samples / error) if error else 99.0,
                                                   None))
                if codebook is not None:
                    taken += sum(1 for p in encoded.header.planes if p.tools & container.SHARED_BOOK)
                    planes += len(encoded.header.planes)
        results.append(Whole(name, anchors.bd_rate(points["own"], points["shared"]), taken, planes))
    return results


def whole_table(results: list[Whole]) -> str:
    lines = ["| photo | with a shared codebook vs without | planes that took an entry |", "|---|---|---|"]
    lines += [f"| {r.photo.rsplit('/', 1)[-1]} | {_percent(r.bd_rate)} | {r.planes_shared} of {r.planes} |"
              for r in results]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def table(results: list[Result]) -> str:
    """A Markdown table: a row per photo and tile size, and the mean of each size."""
    head = ["photo", "tile", "tiles", "vs own codebooks", "vs JPEG", "vs WebP", "own vs JPEG", "own vs WebP",
            ".vqcb bytes", "train / encode s", "encode time with / without"]
    rows = []
    for size in sorted({r.size for r in results}):
        of_size = [r for r in results if r.size == size]
        for r in of_size:
            rows.append([r.photo.rsplit("/", 1)[-1], f"{size}", f"{r.tiles}", _percent(r.shared_vs_own),
                         _percent(r.shared_vs_jpeg), _percent(r.shared_vs_webp), _percent(r.own_vs_jpeg),
                         _percent(r.own_vs_webp), f"{r.codebook_bytes:,}",
                         f"{r.train_seconds:.1f} / {r.encode_seconds:.1f}", f"{r.shared_encode_ratio:.2f} x"])

        def mean(field):
            values = [getattr(r, field) for r in of_size if getattr(r, field) is not None]
            return sum(values) / len(values) if values else None

        rows.append(["mean", f"{size}", "", *(_percent(mean(f)) for f in ("shared_vs_own", "shared_vs_jpeg",
                                                                          "shared_vs_webp", "own_vs_jpeg",
                                                                          "own_vs_webp")), "", "", ""])
    widths = [max(len(head[i]), *(len(row[i]) for row in rows)) for i in range(len(head))]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    return "\n".join(lines)
