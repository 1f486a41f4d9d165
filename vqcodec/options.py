"""Options and limits shared by the CLI and the library.

Importable without NumPy, so that `vqcodec --help` starts quickly.
"""
import dataclasses
from dataclasses import dataclass
from numbers import Integral

from .errors import OptionsError, TooManyPixelsError

ALGORITHMS = ("kmeans", "centnn", "park", "optimal")
SCALAR_ONLY = ("optimal",)  # trainers for one value per vector: -b 1 on grey images
DEFAULT_ALGO = "kmeans"
DEFAULT_K = 256  # plain (classic) VQ; the rate-distortion encoder picks K and b from the quality
DEFAULT_BLOCK = 4
DEFAULT_QUALITY = 75  # the rate-distortion encoder's default (README: what it gives on the samples)
SHARED_QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)  # a shared codebook's entries by default: the range the
# default encoder uses (above 80 the refinement codes most of the detail)
EFFORTS = range(1, 10)  # how hard the rate-distortion encoder searches, as cjxl -e and cwebp -m
DEFAULT_EFFORT = 5
SHARED_EFFORT = 9  # vqcodec train's: a shared codebook is learned once and serves every file coded with it
TARGETS = ("quality", "psnr", "size", "bpp")  # what a user can ask the rate-distortion encoder for
MAX_K = 1 << 16  # indices of at most 16 bits
MAX_BLOCK = 16  # see docs/format.md, "Limits and why"
DEFAULT_MAX_PIXELS = 1 << 27  # 134 megapixels: 512 MiB decoded as RGBA
DEFAULT_PSNR_TOLERANCE = 0.05  # dB a bench record may lose against its baseline
DEFAULT_TIME_TOLERANCE = 0.5  # a bench run may take 50 % longer, relative to the reference workload


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_k(k) -> None:
    if not _is_int(k) or not 2 <= k <= MAX_K:
        raise OptionsError(f"codebook size K must be an integer from 2 to {MAX_K}, got {k!r}")


MIN_TILE, MAX_TILE = 32, 4096  # tile sides in pixels: the format's limits, in samples of a plane


def check_block(block) -> None:
    if not _is_int(block) or not 1 <= block <= MAX_BLOCK:
        raise OptionsError(f"block size must be an integer from 1 to {MAX_BLOCK}, got {block!r}")


def check_algo(algo) -> None:
    if algo not in ALGORITHMS:
        raise OptionsError(f"unknown trainer {algo!r}; choose one of {', '.join(ALGORITHMS)}")


def check_seed(seed) -> None:
    if not _is_int(seed) or seed < 0:
        raise OptionsError(f"seed must be a non-negative integer, got {seed!r}")


def check_effort(effort) -> None:
    if not _is_int(effort) or effort not in EFFORTS:
        raise OptionsError(f"effort must be an integer from {EFFORTS[0]} to {EFFORTS[-1]}, got {effort!r}")


def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse images above the pixel cap before anything their size is allocated."""
    if max_pixels is not None and width * height > max_pixels:
        raise TooManyPixelsError(
            f"image is {width}x{height} = {width * height} pixels, above the cap of {max_pixels}; "
            "raise it with --max-pixels (max_pixels=) if you trust this input"
        )


def _check_number(name: str, value, low: float, high: float) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high):
        raise OptionsError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode: the one set of choices the CLI, batches, the library and the trainers share.

    Validated when made, so whoever receives one can trust it. `config()` and
    `from_config()` turn it into a plain dict and back, for storing it beside
    data or sending it to another process.
    """

    k: int | None = None  # codewords (at most, for the rate-distortion encoder); None: chosen for you
    block: int | None = None  # block side in pixels; None: chosen for you
    algo: str = DEFAULT_ALGO  # trainer
    seed: int = 0  # the trainers' random seed
    fixed_rate: bool = False  # raw codebook and bit-packed indices: larger, but a size known in advance (classic)
    classic: bool = False  # plain VQ of the pixels (.vqc version 2), as vqcodec did before version 3
    quality: float | None = None  # 0..100, monotone in file size; the default when no target is given
    psnr: float | None = None  # dB to reach
    size: int | None = None  # bytes not to exceed
    bpp: float | None = None  # bits per pixel not to exceed
    strict: bool = False  # a target out of reach is an error, not a warning
    tile: int | None = None  # tile side in pixels of the image (version 4); None: chosen for you
    effort: int = DEFAULT_EFFORT  # 1..9: encode time against file size (version 4)

    def __post_init__(self):
        if self.k is not None:
            check_k(self.k)
        if self.block is not None:
            check_block(self.block)
        check_algo(self.algo)
        check_seed(self.seed)
        for name in ("fixed_rate", "classic", "strict"):
            if not isinstance(getattr(self, name), bool):
                raise OptionsError(f"{name} must be True or False, got {getattr(self, name)!r}")
        asked = [name for name in TARGETS if getattr(self, name) is not None]
        if len(asked) > 1:
            raise OptionsError(f"ask for one of quality, psnr, size or bpp, not {' and '.join(asked)}")
        if asked and self.plain:
            raise OptionsError(f"{asked[0]} is for the rate-distortion encoder, not --classic or --fixed-rate")
        if self.strict and not (set(asked) & {"psnr", "size", "bpp"}):
            raise OptionsError("strict needs a psnr, size or bpp target")
        if self.tile is not None:
            if not _is_int(self.tile) or not MIN_TILE <= self.tile <= MAX_TILE:
                raise OptionsError(f"tile side must be an integer from {MIN_TILE} to {MAX_TILE} pixels, "
                                   f"got {self.tile!r}")
            if self.plain:
                raise OptionsError("tile is for the rate-distortion encoder, not --classic or --fixed-rate")
        check_effort(self.effort)
        if self.effort != DEFAULT_EFFORT and self.plain:
            raise OptionsError("effort is for the rate-distortion encoder, not --classic or --fixed-rate")
        _check_number("quality", self.quality, 0, 100)
        _check_number("psnr", self.psnr, 1, 99)
        _check_number("bpp", self.bpp, 1e-6, 64)
        if self.size is not None and (not _is_int(self.size) or self.size < 1):
            raise OptionsError(f"size must be a whole number of bytes, at least 1, got {self.size!r}")

    @property
    def plain(self) -> bool:
        """Plain VQ of the pixels: asked for, or implied by a fixed rate."""
        return self.classic or self.fixed_rate

    @property
    def target(self) -> tuple[str, float] | None:
        """The psnr, size or bpp to search for, if any."""
        return next(((name, getattr(self, name)) for name in ("psnr", "size", "bpp") if getattr(self, name) is not None),
                    None)

    def replace(self, **changes) -> "EncodeOptions":
        return dataclasses.replace(self, **changes)

    def config(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> "EncodeOptions":
        unknown = set(config) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise OptionsError(f"unknown encode option(s): {', '.join(sorted(unknown))}")
        return cls(**config)

    @classmethod
    def of(cls, options: "EncodeOptions | None" = None, **changes) -> "EncodeOptions":
        """`options` (or the defaults) with `changes` applied: what encode(..., options, k=...) means."""
        if options is not None and not isinstance(options, cls):
            raise OptionsError(f"options must be an EncodeOptions, got {type(options).__name__}")
        try:
            return (options or cls()).replace(**changes)
        except TypeError as exc:  # an unknown keyword
            raise OptionsError(str(exc)) from None
