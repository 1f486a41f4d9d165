"""Shared codebooks learned from a collection of images (a .vqcb, vqcodec.format.codebooks).

At each quality of a ladder, the residual blocks the encoder would code are
drawn from every image, pooled by kind of plane (luma and grey, or chroma),
and made into one codebook by the encoder's own stages: the trainer, then
the entropy-constrained rounds at that quality's lambda. An encoder at any
quality then takes the entry nearest it.
"""
import dataclasses

import numpy as np

from ..errors import ImageError
from ..format import codebooks
from ..format.order import ordered
from ..options import SHARED_QUALITIES, EncodeOptions
from ..train.nearest import nearest
from .encode import ECVQ_SAMPLE, ENCODE, _lambda, _subsample
from .settings import plane_kind, settings_for


def train_shared(sources, options: EncodeOptions | None = None, qualities=SHARED_QUALITIES, max_pixels=None,
                 progress=None) -> codebooks.SharedCodebook:
    """A shared codebook learned from the images (paths, arrays, ...): an entry per kind of plane the
    images have and per quality. `options` gives the trainer, seed, effort and block side (2 by default);
    `progress(done, total)` is told after each image. Deterministic for a seed."""
    options = EncodeOptions.of(options)
    sources = list(sources)
    if not sources:
        raise ValueError("no images to learn a shared codebook from")
    share = max(1, ECVQ_SAMPLE // len(sources))  # blocks each image gives each pool, at most
    pools = {}  # (kind, quality) -> [samples]
    plane_settings = {}  # (kind, quality) -> the PlaneSettings of that kind at that quality
    for done, source in enumerate(sources, 1):
        image = ENCODE.span("read", "read").run(source=source, max_pixels=max_pixels)["image"]
        with image:
            for q in qualities:
                values = ENCODE.span("settings", "sample").run(image=image, options=options.replace(quality=q))
                settings = values["settings"]
                for n, (v, s) in enumerate(zip(values["samples"], settings.planes)):
                    if v is None:
                        continue
                    kind = plane_kind(settings.colour, n)
                    pools.setdefault((kind, q), []).append(_subsample(v, share, options.seed + done))
                    plane_settings.setdefault((kind, q), s)
        if progress:
            progress(done, len(sources))
    if not pools:
        raise ImageError("the images have no detail to learn a codebook from: every plane of every one is flat")
    entries = []
    for (kind, q), parts in sorted(pools.items()):
        s = plane_settings[kind, q]
        settings = dataclasses.replace(settings_for(options.replace(quality=q), 1, q), planes=(s,))
        samples = [_subsample(np.concatenate(parts), ECVQ_SAMPLE, options.seed)]
        values = ENCODE.span("train", "ecvq").run(samples=samples, settings=settings,
                                                   options=options.replace(quality=q))
        book, bits = values["books"][0], values["lengths"][0]
        counts = np.bincount(nearest(samples[0], book, _lambda(s) * bits)[0], minlength=len(book))
        entries.append((kind, q, ordered(book, counts)[0]))  # as the encoder orders its own: the index
        # model learns faster when similar codewords have near numbers
    return codebooks.build(next(iter(plane_settings.values())).block, entries)
