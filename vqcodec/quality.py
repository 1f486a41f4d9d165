"""From what a user asks for to encoder settings: the quality scale, and the search for a
PSNR or a size (a few bounded passes, as cwebp's -psnr and -size do)."""
import math
from dataclasses import dataclass, field

import numpy as np

from . import rd
from .errors import TargetError
from .options import DEFAULT_QUALITY, EncodeOptions
from .rd import PlaneSettings, Settings

BLOCK = 2  # 2 x 2 residual blocks: README, "What each tool brought"
CELL = 8  # side of a block-mean cell: means of 8 x 8 pixels, interpolated between cell centres
CHROMA_LAMBDA = 0.35  # chroma errors move RGB PSNR less than luma's: measured best near 0.25-0.5


def lam_of(quality: float) -> float:
    """Lambda (squared error per bit) halves every 10.8 quality points: about 4200 at 0, 34 at 75, 7 at 100."""
    return 2.0 ** ((130 - quality) / 10.8)


def k_of(lam: float) -> int:
    """Codewords to start from: 256 down to lambda 50, then growing smoothly (so that size and PSNR
    have no jumps for a search to fall into) to 1024. Entropy-constrained training prunes 256 well
    below that at a large lambda; at a small one, 256 would cap the quality."""
    return int(min(1024, max(256, round(256 * math.sqrt(50 / lam)))))


def settings_for(options: EncodeOptions, channels: int, quality: float | None = None) -> Settings:
    """The settings for a quality (default: the options' own, else DEFAULT_QUALITY); -k and -b, when
    given, are kept as they are."""
    q = quality if quality is not None else options.quality if options.quality is not None else DEFAULT_QUALITY
    lam = lam_of(q)
    block = options.block or BLOCK
    k = options.k or k_of(lam)
    step = max(1, min(16, round(math.sqrt(lam) / 4)))
    colour = "planes" if channels < 3 else "ycbcr444" if lam < 8 else "ycbcr420"
    luma = PlaneSettings(block, k, CELL, step, lam)
    chroma = PlaneSettings(block, k, CELL, step, lam * CHROMA_LAMBDA)
    per_plane = [luma, chroma, chroma] if colour != "planes" else [luma, luma, luma]
    return Settings(colour, tuple(per_plane[:3] + [luma] * (channels - 3))[:channels])


MAX_PASSES = 10  # encodes a search may run, the first included; cwebp allows up to 10 too


@dataclass
class Search:
    """A search's state: the image, the starting codebooks trained so far, and every pass."""

    pixels: np.ndarray
    options: EncodeOptions
    starts: dict = field(default_factory=dict)  # (colour, blocks and Ks) -> the trained starting codebooks
    passes: list = field(default_factory=list)  # (quality, values) in the order run


def encode(source, options: EncodeOptions, max_pixels) -> tuple[dict, str | None]:
    """The rate-distortion pipeline's values for the options, and a warning if a target was out of reach.

    With a psnr, size or bpp target, qualities are tried (at most MAX_PASSES,
    each guessed by interpolating between the nearest passes on either side of
    the target) and the best file meeting the target is kept: for a PSNR the
    smallest at or above it, for a size the largest within it. Training runs
    once per setting tier, not once per pass.
    """
    pixels = rd.ENCODE.span("read", "read").run(source=source, max_pixels=max_pixels)["pixels"]
    search = Search(pixels, options)
    if options.target is None:
        return _finish(search, _run(search, options.quality if options.quality is not None else DEFAULT_QUALITY,
                                    final=True)), None
    name, goal = options.target
    if name == "bpp":
        name, goal = "size", max(1, int(goal * pixels.shape[0] * pixels.shape[1] / 8))
    measure = _psnr if name == "psnr" else _size
    meets = (lambda v: v >= goal) if name == "psnr" else (lambda v: v <= goal)
    fails, meets_at = (0.0, 100.0) if name == "psnr" else (100.0, 0.0)  # the bracket, from its two ends
    q = DEFAULT_QUALITY
    for _ in range(MAX_PASSES):
        value = measure(_run(search, q, final=name == "size"))
        if meets(value):
            meets_at = q
        else:
            fails = q
        if _close_enough(name, value, goal) or abs(meets_at - fails) < 0.05:
            break
        q = _guess(search, name, goal, fails, meets_at)
    return _best(search, name, goal, meets)


def _run(search: Search, quality: float | None, final: bool) -> dict:
    """One pass at a quality: through the PSNR, and through the container when `final`. The
    trained starting codebooks depend only on the colour, block and K, so passes share them."""
    settings = settings_for(search.options, search.pixels.shape[2], quality)
    values = {"pixels": search.pixels, "settings": settings, "options": search.options}
    values.update(_span("colour", "residuals", values))
    tier = (settings.colour, tuple((s.block, s.k) for s in settings.planes))
    if tier not in search.starts:
        search.starts[tier] = _span("train", "train", values)["starts"]
    values["starts"] = search.starts[tier]
    values.update(_span("ecvq", "container" if final else "measure", values))
    search.passes.append((quality, values))
    return values


def _span(first: str, last: str, values: dict) -> dict:
    stages = rd.ENCODE.span(first, last)
    return stages.run(**{name: values[name] for name in stages.given})


def _psnr(values: dict) -> float:
    return values["psnr"]


def _size(values: dict) -> int:
    return len(values["data"])


def _close_enough(name: str, value: float, goal: float) -> bool:
    """The tolerances the README promises: PSNR up to 0.3 dB above, size up to 3 % below."""
    return goal <= value <= goal + 0.2 if name == "psnr" else 0.98 * goal <= value <= goal


def _guess(search: Search, name: str, goal: float, low: float, high: float) -> float:
    """The next quality: interpolated between the passes at the ends of the bracket (PSNR linear in
    quality, size log-linear), kept inside the bracket; the middle when an end has no pass."""
    measure = _psnr if name == "psnr" else lambda v: math.log(_size(v))
    goal = goal if name == "psnr" else math.log(goal)
    at = {q: measure(v) for q, v in search.passes}
    if low in at and high in at and at[high] != at[low]:
        q = low + (goal - at[low]) * (high - low) / (at[high] - at[low])
    else:
        q = (low + high) / 2
    lo, hi = min(low, high), max(low, high)
    margin = 0.1 * (hi - lo)
    return min(max(q, lo + margin), hi - margin)


def _best(search: Search, name: str, goal: float, meets) -> tuple[dict, str | None]:
    """The best pass meeting the target, or, if none does, the closest, with a warning."""
    measured = [(q, v, _psnr(v) if name == "psnr" else _size(v)) for q, v in search.passes]
    good = [m for m in measured if meets(m[2])]
    if good:
        q, values, _ = min(good, key=lambda m: m[2]) if name == "psnr" else max(good, key=lambda m: m[2])
        warning = None
    else:
        q, values, value = max(measured, key=lambda m: m[2]) if name == "psnr" else min(measured, key=lambda m: m[2])
        what = f"PSNR {value:.2f} dB" if name == "psnr" else f"{value:,} bytes"
        warning = f"the target is out of reach: the closest file has {what}"
        if search.options.strict:
            raise TargetError(warning)
    if "data" not in values:
        values = _run(search, q, final=True)
    return _finish(search, values), warning


def _finish(search: Search, values: dict) -> dict:
    values["quality"] = next(q for q, v in search.passes if v is values)
    return values
