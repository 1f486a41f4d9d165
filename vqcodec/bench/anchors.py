"""vqcodec against the established codecs ("anchors"): rate-distortion curves and BD-rates.

A file size or a PSNR alone says nothing about a codec; a curve of PSNR
against bits per pixel does, and the Bjøntegaard rate difference (BD-rate)
sums up the gap between two curves in one number: how many percent more or
fewer bits one codec needs than the other for the same PSNR. The same is
done on SSIM of the luma, so that a codec cannot win by blurring, which
costs little PSNR but much SSIM. The anchors are
JPEG (optimized Huffman tables), WebP (method 6, its best) and AVIF (speed 6,
libavif's default) as Pillow runs them in memory, with their default 4:2:0
chroma subsampling for colour, so anyone with Pillow gets the same figures.
"""
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import PIL
from PIL import Image, features

from .. import __version__, api, files, images
from ..errors import DependencyError, ImageError, OptionsError, OutputError
from ..metrics import psnr, ssim
from ..options import EncodeOptions
from . import paper
from .montage import montage
from .runs import bundled_samples, json_number

SCHEMA = "vqcodec-rd/2"
VQCODEC = "vqcodec"
DEFAULT_QUALITIES = tuple(range(0, 100, 10))  # vqcodec's quality sweep
ANCHOR_QUALITIES = tuple(range(5, 100, 5))  # Pillow's quality sweep for every anchor


class Point(NamedTuple):
    """One encode: bits per pixel of the file, PSNR in dB of its decoded image over all channels, and
    SSIM of its luma (None below 11 x 11 pixels)."""

    bpp: float
    psnr: float
    ssim: float | None


def ssim_decibels(value: float | None) -> float:
    """SSIM as -10 log10(1 - SSIM), the scale BD-rates on SSIM are taken on: like PSNR it keeps spreading
    as quality nears perfect, where raw SSIM crowds below 1. inf at 1; NaN without an SSIM."""
    if value is None:
        return math.nan
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


class Measure(NamedTuple):
    """A measure of quality BD-rates are taken on: a point's value in dB (not finite where there is none
    to rate), and the names the table's columns and the plots' axes give it."""

    decibels: Callable[[Point], float]
    column: str  # formatted with the anchor's label
    axis: str


MEASURES = {
    "psnr": Measure(lambda p: p.psnr, "vs {}", "PSNR (dB)"),
    "ssim": Measure(lambda p: ssim_decibels(p.ssim), "SSIM vs {}", "SSIM as -10 log10(1 - SSIM) (dB)"),
}


@dataclass(frozen=True)
class Anchor:
    """An established codec as Pillow saves it: format, save() settings beside quality, and how grey is coded."""

    label: str
    format: str
    feature: str  # Pillow's name for it in PIL.features
    settings: dict = field(default_factory=dict)
    grey: str = ""  # how a grey image is coded


ANCHORS = {
    "jpeg": Anchor("JPEG", "JPEG", "jpg", {"optimize": True}, "grey (one component)"),
    # libwebp codes YUV only, so Pillow hands it grey as RGB: the chroma planes are flat and cost
    # next to nothing, and the decoded RGB is converted back to L before PSNR is measured.
    "webp": Anchor("WebP", "WEBP", "webp", {"method": 6}, "RGB with equal channels, decoded back to L"),
    "avif": Anchor("AVIF", "AVIF", "avif", {"speed": 6}, "monochrome (4:0:0)"),
}


def anchor(name: str) -> Anchor:
    """The registered anchor, refused before any work if unknown or if this Pillow lacks its encoder."""
    if name not in ANCHORS:
        raise OptionsError(f"unknown anchor {name!r}; choose from {', '.join(ANCHORS)}")
    found = ANCHORS[name]
    if not features.check(found.feature):
        raise DependencyError(f"this Pillow has no {found.label} encoder; install a Pillow build with {found.feature}")
    return found


def photos() -> list[Path]:
    """The bundled photos without camera-128.png, which is camera.png reduced and would count one photo twice in a mean."""
    return [p for p in bundled_samples() if p.name != paper.IMAGE]


def _pixels(image) -> np.ndarray:
    """(H, W, C) uint8 pixels; alpha is refused because JPEG cannot code it, so the curves would not compare."""
    pixels = images.load(image, None)
    if pixels.shape[2] in (2, 4):
        name = image if isinstance(image, (str, Path)) else "image"
        raise ImageError(f"{name}: has alpha; the codec comparison takes grey and RGB images only")
    return pixels


def point(size: int, pixels: np.ndarray, decoded: np.ndarray) -> Point:
    """The point of a file of `size` bytes that decodes `pixels` to `decoded` (of the same shape)."""
    return Point(8 * size / (pixels.shape[0] * pixels.shape[1]), psnr(pixels, decoded), ssim(pixels, decoded))


def curve(pixels, codec_name: str, qualities=None) -> list[Point]:
    """An anchor's points, one per quality (default ANCHOR_QUALITIES), in that order.

    `pixels` is anything vqcodec reads (path, PIL image, uint8 array). Each
    encode and decode is done in memory by Pillow.
    """
    found = anchor(codec_name)
    pixels = _pixels(pixels)
    original = images.to_pil(pixels)
    return [point(len(data), pixels, decoded) for data, decoded in
            (_anchor_file(original, pixels.shape, found, quality)
             for quality in (ANCHOR_QUALITIES if qualities is None else qualities))]


def _anchor_file(original: Image.Image, shape: tuple, found: Anchor, quality: int) -> tuple[bytes, np.ndarray]:
    """The file an anchor writes at a quality, and its pixels decoded back (of `shape`)."""
    buf = io.BytesIO()
    original.save(buf, format=found.format, quality=quality, **found.settings)
    with Image.open(buf) as decoded:
        return buf.getvalue(), np.asarray(decoded.convert(original.mode)).reshape(shape)


def vqcodec_curve(pixels, qualities) -> list[Point]:
    """vqcodec's points, one per quality, in that order, measured on the file decoded back."""
    pixels = _pixels(pixels)
    points = []
    for quality in qualities:
        data = api.encode(pixels, quality=quality, max_pixels=None).data
        points.append(point(len(data), pixels, api.decode(data, max_pixels=None).pixels.reshape(pixels.shape)))
    return points


def pareto(points, measure: str = "psnr") -> list[Point]:
    """The points no other point beats, by increasing rate: each has a higher quality (PSNR, or the
    `measure` of MEASURES) than every cheaper one.

    A point is dropped when another costs no more and reaches at least its quality;
    so quality rises strictly along the front, and log-rate is a function of it.
    Lossless points (infinite PSNR, SSIM 1) are dropped too: there is no interval to integrate up to.
    """
    quality = MEASURES[measure].decibels
    front = []
    for p in sorted((p for p in points if math.isfinite(quality(p))), key=lambda p: (p.bpp, -quality(p))):
        if not front or quality(p) > quality(front[-1]):
            front.append(p)
    return front


def bd_rate(reference, test, measure: str = "psnr") -> float | None:
    """Bjøntegaard rate difference of `test` against `reference`, in percent (negative: `test` needs fewer bits),
    at equal PSNR, or at equal SSIM in dB with measure="ssim".

    Method (Bjøntegaard, VCEG-M33, 2001, with the piecewise-cubic interpolation
    of the later JVET and AOM common test conditions): each curve is reduced
    to its Pareto front; log(bits per pixel) is interpolated as a function
    of PSNR by the monotone piecewise-cubic Hermite interpolant (PCHIP, the
    slopes of Fritsch and Butland, as scipy's PchipInterpolator), which
    passes through every point and never overshoots, unlike the original's
    single cubic fitted over four points. Both interpolants are integrated
    exactly over the PSNR interval both fronts cover, and the mean difference
    of log-rates d gives (exp(d) - 1) * 100. None when a front has fewer than
    two points or the intervals do not overlap: extrapolating would invent rates.
    SSIM takes PSNR's place as -10 log10(1 - SSIM) dB (`ssim_decibels`).
    """
    quality = MEASURES[measure].decibels
    ref, tst = pareto(reference, measure), pareto(test, measure)
    if len(ref) < 2 or len(tst) < 2:
        return None
    low, high = max(quality(ref[0]), quality(tst[0])), min(quality(ref[-1]), quality(tst[-1]))
    if low >= high:
        return None
    mean_difference = (_integral(tst, quality, low, high) - _integral(ref, quality, low, high)) / (high - low)
    return (math.exp(mean_difference) - 1) * 100


def _integral(front: list[Point], quality: Callable[[Point], float], low: float, high: float) -> float:
    """Integral of the front's PCHIP log-rate from low to high quality. Simpson's rule is exact for a
    cubic, so it is applied between consecutive knots, where the interpolant is one cubic."""
    x = np.array([quality(p) for p in front])
    y = np.log([p.bpp for p in front])
    slopes = _pchip_slopes(x, y)

    def value(t):
        i = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
        h = x[i + 1] - x[i]
        s = (t - x[i]) / h
        return ((1 + 2 * s) * (1 - s) ** 2 * y[i] + s * (1 - s) ** 2 * h * slopes[i]
                + s * s * (3 - 2 * s) * y[i + 1] + s * s * (s - 1) * h * slopes[i + 1])

    knots = np.concatenate(([low], x[(x > low) & (x < high)], [high]))
    a, b = knots[:-1], knots[1:]
    return float(np.sum((b - a) / 6 * (value(a) + 4 * value((a + b) / 2) + value(b))))


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Butland slopes for data rising strictly in x and y (as a Pareto front's log-rate does):
    weighted harmonic means of the neighbouring secants inside, the shape-preserving
    three-point formula at the ends."""
    h, secant = np.diff(x), np.diff(y) / np.diff(x)
    if len(x) == 2:
        return np.full(2, secant[0])
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    inner = (w1 + w2) / (w1 / secant[:-1] + w2 / secant[1:])

    def end(h0, h1, s0, s1):
        return max(0.0, ((2 * h0 + h1) * s0 - h0 * s1) / (h0 + h1))

    return np.concatenate(([end(h[0], h[1], secant[0], secant[1])], inner,
                           [end(h[-1], h[-2], secant[-1], secant[-2])]))


def _figure_class():
    """matplotlib's Figure, without pyplot, so no GUI backend or global state is involved."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise DependencyError("plots need matplotlib: pip install 'vqcodec[plot]'") from None
    return Figure


def plot(curves: dict[str, list[Point]], path, title: str) -> None:
    """PSNR and SSIM (in dB, as its BD-rates take it) against bits per pixel side by side, one line per
    codec through its points by rate, written as a PNG."""
    figure = _figure_class()(figsize=(12, 5), layout="constrained")
    for axes, measure in zip(figure.subplots(1, len(MEASURES)), MEASURES.values()):
        for name, points in curves.items():
            shown = sorted((p.bpp, measure.decibels(p)) for p in points if math.isfinite(measure.decibels(p)))
            axes.plot([bpp for bpp, _ in shown], [value for _, value in shown], marker="o", markersize=3,
                      label=ANCHORS[name].label if name in ANCHORS else name)
        axes.set(xlabel="bits per pixel", ylabel=measure.axis)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=100)
    files.write_file(path, buf.getvalue(), force=True)


@dataclass(frozen=True)
class Comparison:
    """One image: each codec's curve (in the order of its qualities) and vqcodec's BD-rates against each anchor."""

    image: str
    width: int
    height: int
    mode: str
    curves: dict[str, list[Point]]
    bd_rates: dict[str, dict[str, float | None]]  # by measure, then anchor


@dataclass(frozen=True)
class Report:
    """A whole comparison: what was run, and on which images; `table` and `document` present it."""

    qualities: tuple  # vqcodec's; the anchors use ANCHOR_QUALITIES
    anchors: tuple[str, ...]
    comparisons: list[Comparison]

    def mean(self, name: str, measure: str = "psnr") -> float | None:
        """The arithmetic mean BD-rate over the images where it is defined, as the common test conditions average."""
        rates = [c.bd_rates[measure][name] for c in self.comparisons if c.bd_rates[measure][name] is not None]
        return sum(rates) / len(rates) if rates else None


def run(paths, qualities=DEFAULT_QUALITIES, names=tuple(ANCHORS), progress=None, plot_dir=None,
        montage_dir=None) -> Report:
    """vqcodec's and each anchor's curve on every image, and the BD-rates on each measure; with plot_dir,
    one PNG per image; with montage_dir, one montage per image (write_montage).

    Every option is checked before the first encode. `progress(i, total, text)` is told before each curve.
    """
    qualities, names = tuple(qualities), tuple(names)
    if not qualities or not names:
        raise OptionsError("the comparison needs at least one quality and one anchor")
    for quality in qualities:
        EncodeOptions(quality=quality)  # refuses values out of range
    for name in names:
        anchor(name)
    if plot_dir is not None:
        _figure_class()
    for folder in (plot_dir, montage_dir):
        try:
            if folder is not None:
                Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None
    total = len(paths) * (1 + len(names))
    comparisons = []
    for path in map(Path, paths):
        pixels = _pixels(path)
        curves = {}
        for name in (VQCODEC, *names):
            if progress:
                progress(len(comparisons) * (1 + len(names)) + len(curves) + 1, total, f"{path.name} {name}")
            curves[name] = vqcodec_curve(pixels, qualities) if name == VQCODEC else curve(pixels, name)
        height, width, channels = pixels.shape
        found = Comparison(path.name, width, height, images.NATIVE[channels - 1], curves,
                           {measure: {name: bd_rate(curves[name], curves[VQCODEC], measure) for name in names}
                            for measure in MEASURES})
        comparisons.append(found)
        if plot_dir is not None:
            plot(curves, Path(plot_dir) / f"{path.stem}-rd.png", f"{path.name}, {width} x {height} {found.mode}")
        if montage_dir is not None:
            write_montage(pixels, names, Path(montage_dir) / f"{path.stem}-montage.png")
    return Report(qualities, names, comparisons)


MONTAGE_SIDE = 128  # pixels of the crops a montage shows, each at twice its size


class Panel(NamedTuple):
    """One codec's file in a montage: who wrote it, at which quality, its bytes and its pixels decoded back."""

    codec: str
    quality: int
    size: int
    pixels: np.ndarray


def equal_size(pixels: np.ndarray, names) -> list[Panel]:
    """vqcodec's file at its default quality, then each anchor's largest file that is no larger (the
    highest quality whose file fits, found by bisection: an anchor's size grows with its quality), or
    its smallest when none fits."""
    encoded = api.encode(pixels, max_pixels=None)
    budget = len(encoded.data)
    panels = [Panel(VQCODEC, int(encoded.quality), budget, api.decode(encoded.data, max_pixels=None).pixels
                    .reshape(pixels.shape))]
    original = images.to_pil(pixels)
    for name in names:
        found = anchor(name)
        low, high = 1, 100  # the highest quality that fits is in low..high, or there is none
        best = None
        while low <= high:
            middle = (low + high) // 2
            data, decoded = _anchor_file(original, pixels.shape, found, middle)
            if len(data) <= budget:
                best, low = (middle, data, decoded), middle + 1
            else:
                high = middle - 1
        quality, data, decoded = best or (1, *_anchor_file(original, pixels.shape, found, 1))
        panels.append(Panel(found.label, quality, len(data), decoded))
    return panels


def detailed_window(pixels: np.ndarray, side: int) -> tuple[int, int]:
    """(top, left) of the side x side window, on a grid of steps of side / 4, with the most detail (the sum
    over its pixels of the luma's gradient magnitude, in which one strong edge weighs as much as its
    length, no more): where codecs differ."""
    luma = pixels.astype(np.float64) @ ([0.299, 0.587, 0.114] if pixels.shape[2] == 3 else [1.0])
    detail = np.zeros_like(luma)
    detail[:, 1:] += np.diff(luma, axis=1) ** 2
    detail[1:, :] += np.diff(luma, axis=0) ** 2
    detail = np.sqrt(detail)  # an edge's strength counts once, not squared
    height, width = luma.shape
    step = max(1, side // 4)
    windows = [(top, left) for top in range(0, max(1, height - side + 1), step)
               for left in range(0, max(1, width - side + 1), step)]
    return max(windows, key=lambda w: detail[w[0] : w[0] + side, w[1] : w[1] + side].sum())


def write_montage(pixels: np.ndarray, names, path) -> list[Panel]:
    """A PNG of the most detailed crop of the original and of each codec's file at equal size
    (equal_size), labelled with quality, bytes, PSNR and SSIM of the whole image."""
    panels = equal_size(pixels, names)
    side = min(MONTAGE_SIDE, pixels.shape[0], pixels.shape[1])
    top, left = detailed_window(pixels, side)

    def crop(image: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(image[top : top + side, left : left + side], 2, axis=0), 2, axis=1)

    def label(panel: Panel) -> str:
        measured = point(panel.size, pixels, panel.pixels)
        similarity = "" if measured.ssim is None else f", SSIM {measured.ssim:.3f}"
        return (f"{panel.codec} q{panel.quality}\n{panel.size:,} bytes, {measured.bpp:.2f} bpp\n"
                f"{measured.psnr:.2f} dB{similarity}")

    picture = montage(crop(pixels), [(label(panel), crop(panel.pixels)) for panel in panels])
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    files.write_file(path, buf.getvalue(), force=True)
    return panels


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def table(report: Report) -> str:
    """A Markdown table, aligned for the terminal too: vqcodec's BD-rates against each anchor, on PSNR and
    then on SSIM, per image and mean."""
    columns = [(measure, name) for measure in MEASURES for name in report.anchors]
    head = ["image", *(MEASURES[m].column.format(ANCHORS[n].label) for m, n in columns)]
    rows = [[f"{c.image} ({c.width}x{c.height} {c.mode})", *(_percent(c.bd_rates[m][n]) for m, n in columns)]
            for c in report.comparisons]
    rows.append(["mean", *(_percent(report.mean(n, m)) for m, n in columns)])
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    note = ("BD-rate: the bits vqcodec needs at equal PSNR, relative to the anchor (negative: fewer); "
            "SSIM columns: at equal SSIM, taken in dB as -10 log10(1 - SSIM); "
            "-: no PSNR (SSIM) range common to both curves.")
    return "\n".join([line(head), rule, *map(line, rows), "", note])


def document(report: Report) -> dict:
    """The JSON document `vqcodec bench --rd --json` writes; docs/rd.schema.json is its schema."""
    qualities = {VQCODEC: list(report.qualities), **{name: list(ANCHOR_QUALITIES) for name in report.anchors}}

    def points(name, curve_points):
        return [{"quality": q, "bpp": p.bpp, "psnr": json_number(p.psnr), "ssim": p.ssim}
                for q, p in zip(qualities[name], curve_points)]

    return {
        "schema": SCHEMA, "vqcodec": __version__, "pillow": PIL.__version__,
        "anchors": {name: {"format": ANCHORS[name].format, "settings": ANCHORS[name].settings,
                           "grey": ANCHORS[name].grey, "qualities": qualities[name]} for name in report.anchors},
        "qualities": list(report.qualities),
        "images": [
            {"image": c.image, "width": c.width, "height": c.height, "mode": c.mode,
             "curves": {name: points(name, pts) for name, pts in c.curves.items()},
             "bd_rate": c.bd_rates["psnr"], "bd_rate_ssim": c.bd_rates["ssim"]}
            for c in report.comparisons
        ],
        "mean_bd_rate": {name: report.mean(name) for name in report.anchors},
        "mean_bd_rate_ssim": {name: report.mean(name, "ssim") for name in report.anchors},
    }
