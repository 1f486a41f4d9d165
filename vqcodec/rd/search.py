"""The rate-distortion encoder as the API runs it: at a quality, or searching the quality for a
PSNR or a size (a few bounded passes, as cwebp's -psnr and -size do)."""
import math
from dataclasses import dataclass, field

from ..errors import TargetError
from ..images import Rows
from ..options import DEFAULT_QUALITY, EncodeOptions
from ..pipeline import Stage
from .encode import ENCODE
from .settings import settings_for

MAX_PASSES = 10  # encodes a search may run, the first included; cwebp allows up to 10 too


@dataclass
class Search:
    """A search's state: the image, the starting codebooks trained so far, and every pass."""

    image: Rows
    options: EncodeOptions
    codebook: object  # a SharedCodebook, or None
    means: dict = field(default_factory=dict)  # (colour, cells) -> the planes' cell means
    starts: dict = field(default_factory=dict)  # (colour, blocks and Ks) -> the trained starting codebooks
    passes: list = field(default_factory=list)  # (quality, values) in the order run


def encode(source, options: EncodeOptions, max_pixels, codebook=None) -> tuple[dict, str | None]:
    """The rate-distortion pipeline's values for the options, and a warning if a target was out of reach.

    With a psnr, size or bpp target, qualities are tried (at most MAX_PASSES,
    each guessed by interpolating between the nearest passes on either side of
    the target) and the best file meeting the target is kept: for a PSNR the
    smallest at or above it, for a size the largest within it. Training runs
    once per setting tier, not once per pass.
    """
    image = ENCODE.span("read", "read").run(source=source, max_pixels=max_pixels)["image"]
    with image:
        return _search(Search(image, options, codebook))


def _search(search: "Search") -> tuple[dict, str | None]:
    options, (height, width) = search.options, search.image.shape[:2]
    if options.target is None:
        return _finish(search, _run(search, options.quality if options.quality is not None else DEFAULT_QUALITY)), None
    name, goal = options.target
    if name == "bpp":
        name, goal = "size", max(1, int(goal * height * width / 8))
    measure = _psnr if name == "psnr" else _size
    meets = (lambda v: v >= goal) if name == "psnr" else (lambda v: v <= goal)
    fails, meets_at = (0.0, 100.0) if name == "psnr" else (100.0, 0.0)  # the bracket, from its two ends
    q = DEFAULT_QUALITY
    for _ in range(MAX_PASSES):
        value = measure(_run(search, q))
        _forget_losers(search, name, meets)
        if meets(value):
            meets_at = q
        else:
            fails = q
        if _close_enough(name, value, goal) or abs(meets_at - fails) < 0.05:
            break
        q = _guess(search, name, goal, fails, meets_at)
    return _best(search, name, meets)


def _run(search: Search, quality: float | None) -> dict:
    """One pass at a quality: what the API gives back of it (the file, its header and its PSNR), the
    rest let go as soon as no stage needs it. Every pass codes its file, beside the PSNR's measure, so
    that the best is never encoded twice. The cell means depend only on the colour and cells, and the
    trained starting codebooks on the colour, block and K, so passes share them."""
    settings = settings_for(search.options, search.image.shape[2], quality)
    values = {"image": search.image, "settings": settings, "options": search.options, "codebook": search.codebook}
    key = (settings.colour, tuple(s.cell for s in settings.planes))
    if key not in search.means:
        search.means[key] = ENCODE.span("means", "means").run(image=search.image, settings=settings)["means"]
    values["means"] = search.means[key]
    stages = ENCODE.span("grids", "container")
    tier = (settings.colour, tuple((s.block, s.k) for s in settings.planes))
    if tier in search.starts:
        stages = stages.replace("train", Stage("train", lambda: {"starts": search.starts[tier]}, ("starts",)))
    values = stages.run(keep=("data", "header", "psnr", "starts"), **values)
    values["size"] = len(values["data"])
    search.starts.setdefault(tier, values.pop("starts"))
    search.passes.append((quality, values))
    return values


def _psnr(values: dict) -> float:
    return values["psnr"]


def _size(values: dict) -> int:
    return values["size"]


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


def _candidates(search: Search, name: str, meets) -> tuple[tuple | None, tuple | None]:
    """(values, measure) of the best pass meeting the target and of the closest one failing it, or None:
    the only passes a search can still return, whatever passes follow."""
    measured = [(v, _psnr(v) if name == "psnr" else _size(v)) for _, v in search.passes]
    good = [m for m in measured if meets(m[1])]
    bad = [m for m in measured if not meets(m[1])]
    best_of, closest_of = (min, max) if name == "psnr" else (max, min)  # the least PSNR above the goal or
    # the largest size below it; on the wrong side, the most PSNR or the least size
    return ((best_of(good, key=lambda m: m[1]) if good else None),
            (closest_of(bad, key=lambda m: m[1]) if bad else None))


def _forget_losers(search: Search, name: str, meets) -> None:
    """The files of the passes that can no longer be returned go: a search holds two at most."""
    kept = [m[0] for m in _candidates(search, name, meets) if m is not None]
    for _, values in search.passes:
        if all(values is not k for k in kept):
            values.pop("data", None)
            values.pop("header", None)


def _best(search: Search, name: str, meets) -> tuple[dict, str | None]:
    """The best pass meeting the target, or, if none does, the closest, with a warning."""
    best, closest = _candidates(search, name, meets)
    if best is not None:
        return _finish(search, best[0]), None
    values, value = closest
    what = f"PSNR {value:.2f} dB" if name == "psnr" else f"{value:,} bytes"
    warning = f"the target is out of reach: the closest file has {what}"
    if search.options.strict:
        raise TargetError(warning)
    return _finish(search, values), warning


def _finish(search: Search, values: dict) -> dict:
    values["quality"] = next(q for q, v in search.passes if v is values)
    return values
