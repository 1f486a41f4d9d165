"""Benchmark runs: every figure comes from the same encode and decode the command runs.

A run encodes an image file to a .vqc on disk with the options given, as
`vqcodec encode` does with the same options (the rate-distortion encoder, or
plain VQ with classic=True), decodes that file back as `vqcodec decode`
does, and measures the decoded pixels against the input: a record's bytes
and PSNR are those of the file the command writes. Timings exclude Numba's
compilation: each trainer is warmed up once first, and that warm-up time is
reported on its own. Speed is also expressed as a ratio to a fixed NumPy
workload timed in the same run, so baselines compare across machines.
"""
import hashlib
import io
import json
import math
import os
import platform
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from .. import __version__, api, files, images
from ..errors import OptionsError
from ..metrics import psnr, ssim
from ..options import (DEFAULT_BLOCK, DEFAULT_K, DEFAULT_PSNR_TOLERANCE, DEFAULT_QUALITY, DEFAULT_TIME_TOLERANCE,
                       SCALAR_ONLY, EncodeOptions)
from .montage import montage

SCHEMA = "vqcodec-bench/4"
KEY = ("image", "encoder", "quality", "k", "block", "algo", "seed")
RD, CLASSIC = "rd", "classic"  # which encoder a record measured


@dataclass(frozen=True)
class Record:
    """One image x setting x trainer, measured on the file `vqcodec encode` writes with those options."""

    image: str
    width: int
    height: int
    mode: str
    encoder: str  # RD or CLASSIC
    quality: float | None  # the rate-distortion encoder's quality; None for classic files
    k: int | None  # asked for; None: chosen by the quality
    block: int | None  # asked for; None: chosen by the quality
    algo: str
    seed: int
    version: int  # of the .vqc written
    codewords: int  # in the file, every plane's
    bytes: int
    means_bytes: int
    codebook_bytes: int
    index_bytes: int
    filter_bytes: int
    bpp: float
    ratio_raw: float
    ratio_png: float
    psnr: float
    ssim: float | None
    encode_seconds: float
    encode_spread: float
    decode_seconds: float
    decode_spread: float
    encode_relative: float
    sha256: str

    @property
    def key(self) -> tuple:
        return tuple(getattr(self, name) for name in KEY)

    @property
    def setting(self) -> str:
        return label(self.encoder == CLASSIC, self.quality, self.k, self.block)


def label(classic: bool, quality: float | None, k: int | None, block: int | None) -> str:
    """A setting as the tables and messages show it: "K=256 b=4" (classic), "q=75", "q=75 K=512 b=4"."""
    parts = [] if classic else [f"q={quality:g}"]
    return " ".join(parts + [f"{name}={value}" for name, value in (("K", k), ("b", block)) if value is not None])


def settings(ks=(None,), blocks=(None,), qualities=(None,), classic: bool = False) -> list[EncodeOptions]:
    """Every combination of the K, block sides and qualities given, as `vqcodec encode` takes them:
    unset ones are the command's defaults (chosen by the quality, or 256 and 4 with classic).
    Refuses what encode would refuse, before any run."""
    if classic:
        if any(q is not None for q in qualities):
            raise OptionsError("--quality is for the rate-distortion encoder, not --classic")
        ks = [k or DEFAULT_K for k in ks]
        blocks = [b or DEFAULT_BLOCK for b in blocks]
    else:
        qualities = [DEFAULT_QUALITY if q is None else q for q in qualities]
    return [EncodeOptions(k=k, block=block, quality=None if classic else q, classic=classic)
            for q in qualities for k in ks for block in blocks]


def bundled_samples() -> list[Path]:
    folder = resources.files("vqcodec") / "samples"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".png"))


def reference_seconds(repeat: int = 5) -> float:
    """Median time of a fixed NumPy workload (float32 matrix products plus an argmin)."""
    rng = np.random.default_rng(0)
    x = rng.random((8192, 16), dtype=np.float32)
    c = rng.random((256, 16), dtype=np.float32)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(4):
            np.argmin(x @ c.T, axis=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def warm_up(algos, classic: bool = False) -> dict[str, float]:
    """Compile (or load from cache) the kernels of each trainer and encoder on a tiny image; seconds per
    trainer."""
    tiny = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)  # grey, so every trainer applies
    out = {}
    for algo in algos:
        start = time.perf_counter()
        api.decode(api.encode(tiny, k=4, block=1, algo=algo, classic=classic).data)
        out[algo] = time.perf_counter() - start
    return out


def _median_spread(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), max(times) - min(times)


def measure(path: Path, options: EncodeOptions, repeat: int, reference: float, png_size: int,
            original: np.ndarray) -> tuple[Record, np.ndarray]:
    """Encode and decode one configuration `repeat` times through a file on disk; the record and the decoded
    pixels."""
    encode_times, decode_times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.vqc"
        for _ in range(repeat):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a shrunk codebook is visible in the record itself
                result = api.encode(path, options, max_pixels=None)
            result.save(out, force=True)
            encode_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            decoded = api.decode(out, max_pixels=None)
            decode_times.append(time.perf_counter() - start)
        data = out.read_bytes()
    header = decoded.header
    decoded = decoded.pixels.reshape(original.shape)
    encode_seconds, encode_spread = _median_spread(encode_times)
    decode_seconds, decode_spread = _median_spread(decode_times)
    return Record(
        image=path.name, width=header.width, height=header.height, mode=header.mode,
        encoder=CLASSIC if options.plain else RD, quality=result.quality, k=options.k, block=options.block,
        algo=options.algo, seed=options.seed, version=header.version, codewords=header.k, bytes=len(data),
        means_bytes=header.bytes_of("means"), codebook_bytes=header.bytes_of("codebook"),
        index_bytes=header.bytes_of("indices"), filter_bytes=header.bytes_of("filter"), bpp=header.bits_per_pixel,
        ratio_raw=original.size / len(data), ratio_png=png_size / len(data),
        psnr=psnr(original, decoded), ssim=ssim(original, decoded),
        encode_seconds=encode_seconds, encode_spread=encode_spread,
        decode_seconds=decode_seconds, decode_spread=decode_spread,
        encode_relative=encode_seconds / reference,
        sha256=hashlib.sha256(data).hexdigest(),
    ), decoded


def applies(algo: str, options: EncodeOptions, channels: int) -> bool:
    """Whether a trainer applies: the optimal scalar quantizer only to -b 1 on grey images."""
    return algo not in SCALAR_ONLY or (options.block == 1 and channels == 1)


def run(paths, settings, algos, seed=0, repeat=1, reference=None, progress=None, montage_dir=None) -> list[Record]:
    """Measure every image x setting (EncodeOptions) x trainer.

    `progress(i, total, text)` is told before each run. With `montage_dir`, one
    PNG per image and setting shows the original beside each trainer's result.
    """
    if repeat < 1:
        raise OptionsError("--repeat must be at least 1")
    reference = reference or reference_seconds()
    total = len(paths) * len(settings) * len(algos)  # an upper bound: scalar-only trainers may be skipped
    records = []
    for path in map(Path, paths):
        original = images.load(path, None)
        png = io.BytesIO()
        images.to_pil(original).save(png, format="PNG")
        for options in settings:
            name = label(options.plain, options.quality, options.k, options.block)
            panels = []
            for algo in algos:
                if not applies(algo, options, original.shape[2]):
                    continue
                chosen = options.replace(algo=algo, seed=seed)
                if progress:
                    progress(len(records) + 1, total, f"{path.name} {name} {algo}")
                record, decoded = measure(path, chosen, repeat, reference, len(png.getvalue()), original)
                records.append(record)
                panels.append((f"{algo}\n{record.psnr:.2f} dB, {record.bpp:.3f} bpp", decoded))
            if montage_dir is not None and panels:
                buf = io.BytesIO()
                montage(original, panels).save(buf, format="PNG")
                picture = f"{path.stem}-{name.lower().replace('=', '').replace(' ', '-')}.png"
                files.write_file(Path(montage_dir) / picture, buf.getvalue(), force=True)
    return records


def machine() -> dict:
    import numba

    return {
        "python": platform.python_version(), "platform": platform.platform(), "processor": platform.processor(),
        "cpus": os.cpu_count(), "numpy": np.__version__, "numba": numba.__version__,
    }


def document(records, reference: float, jit_seconds: dict, repeat: int, options: dict) -> dict:
    """The JSON document --json and --save-baseline write; docs/bench.schema.json is its schema."""
    return {
        "schema": SCHEMA, "vqcodec": __version__, "machine": machine(), "options": options,
        "repeat": repeat, "reference_seconds": reference, "jit_seconds": jit_seconds,
        "records": [{**asdict(r), "psnr": json_number(r.psnr)} for r in records],
    }


def json_number(value: float) -> float | str:
    """JSON has no infinity; an exact reconstruction's PSNR is written as "inf"."""
    return value if math.isfinite(value) else "inf"


def write_json(path, doc: dict) -> None:
    files.write_file(path, (json.dumps(doc, indent=2) + "\n").encode(), force=True)


def write_csv(path, doc: dict) -> None:
    import csv

    out = io.StringIO()
    columns = [f.name for f in fields(Record)] + ["vqcodec", "python", "platform", "cpus", "repeat"]
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    extra = {"vqcodec": doc["vqcodec"], "repeat": doc["repeat"],
             **{k: doc["machine"][k] for k in ("python", "platform", "cpus")}}
    for rec in doc["records"]:
        writer.writerow({**rec, **extra})
    files.write_file(path, out.getvalue().encode(), force=True)


def load_baseline(path) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise OptionsError(f"{path}: cannot read the baseline ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("records"), list):
        raise OptionsError(f"{path}: not a {SCHEMA} baseline")
    return doc


def compare(records, reference: float, baseline: dict, psnr_tolerance: float = DEFAULT_PSNR_TOLERANCE,
            time_tolerance: float | None = DEFAULT_TIME_TOLERANCE) -> list[str]:
    """One line per regressed record: PSNR down by more than the tolerance, bpp up, or (unless
    time_tolerance is None) encode time relative to the reference up by more than its tolerance; and one
    per record the baseline does not have, so that a grid that no longer matches cannot pass unseen."""
    before = {tuple(r[name] for name in KEY): r for r in baseline["records"]}
    problems = []
    for rec in records:
        name = f"{rec.image} {rec.setting} {rec.algo} seed={rec.seed}"
        old = before.get(rec.key)
        if old is None:
            problems.append(f"{name}: not in the baseline (save a new one if the grid changed on purpose)")
            continue
        if rec.psnr < float(old["psnr"]) - psnr_tolerance:
            problems.append(f"{name}: PSNR {float(old['psnr']):.3f} -> {rec.psnr:.3f} dB (tolerance {psnr_tolerance})")
        if rec.bpp > old["bpp"]:
            problems.append(f"{name}: bits per pixel {old['bpp']:.4f} -> {rec.bpp:.4f}")
        if time_tolerance is not None and rec.encode_relative > old["encode_relative"] * (1 + time_tolerance):
            problems.append(
                f"{name}: encode time {old['encode_relative']:.1f} -> {rec.encode_relative:.1f} x reference "
                f"(tolerance +{100 * time_tolerance:.0f} %)"
            )
    return problems


def table(records) -> str:
    """Aligned text table, grouped by image."""
    width = max([len(r.setting) for r in records] + [7])
    head = (f"{'setting':<{width}}  {'algo':<7} {'PSNR dB':>8} {'SSIM':>6} {'bytes':>9} {'bpp':>6} "
            f"{'x raw':>6} {'x PNG':>6} {'K used':>6} {'encode s':>15} {'decode s':>9}")
    lines = []
    for image in dict.fromkeys(r.image for r in records):
        group = [r for r in records if r.image == image]
        first = group[0]
        lines += ["", f"{image}  {first.width}x{first.height} {first.mode}", head]
        for r in group:
            spread = f" ±{r.encode_spread / 2:.2f}" if r.encode_spread else ""
            lines.append(
                f"{r.setting:<{width}}  {r.algo:<7} {r.psnr:>8.2f} "
                f"{'-' if r.ssim is None else f'{r.ssim:.4f}':>6} {r.bytes:>9,} {r.bpp:>6.3f} "
                f"{r.ratio_raw:>6.1f} {r.ratio_png:>6.2f} {r.codewords:>6} "
                f"{f'{r.encode_seconds:.2f}{spread}':>15} {r.decode_seconds:>9.4f}"
            )
    return "\n".join(lines[1:])
