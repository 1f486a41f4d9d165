"""Options and limits shared by the CLI and the library.

Importable without NumPy, so that `vqcodec --help` starts quickly.
"""
import dataclasses
from dataclasses import dataclass
from numbers import Integral

from .errors import OptionsError

ALGORITHMS = ("kmeans", "centnn", "optimal")
SCALAR_ONLY = ("optimal",)  # trainers for one value per vector: -b 1 on grey images
DEFAULT_ALGO = "kmeans"
DEFAULT_K = 256
DEFAULT_BLOCK = 4
MAX_K = 1 << 16  # indices of at most 16 bits
MAX_BLOCK = 16  # see docs/FORMAT.md, "Limits and why"
DEFAULT_MAX_PIXELS = 1 << 27  # 134 megapixels: 512 MiB decoded as RGBA
DEFAULT_PSNR_TOLERANCE = 0.05  # dB a bench record may lose against its baseline
DEFAULT_TIME_TOLERANCE = 0.5  # a bench run may take 50 % longer, relative to the reference workload


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_k(k) -> None:
    if not _is_int(k) or not 2 <= k <= MAX_K:
        raise OptionsError(f"codebook size K must be an integer from 2 to {MAX_K}, got {k!r}")


def check_block(block) -> None:
    if not _is_int(block) or not 1 <= block <= MAX_BLOCK:
        raise OptionsError(f"block size must be an integer from 1 to {MAX_BLOCK}, got {block!r}")


def check_algo(algo) -> None:
    if algo not in ALGORITHMS:
        raise OptionsError(f"unknown trainer {algo!r}; choose one of {', '.join(ALGORITHMS)}")


def check_seed(seed) -> None:
    if not _is_int(seed) or seed < 0:
        raise OptionsError(f"seed must be a non-negative integer, got {seed!r}")


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode: the one set of choices the CLI, batches, the library and the trainers share.

    Validated when made, so whoever receives one can trust it. `config()` and
    `from_config()` turn it into a plain dict and back, for storing it beside
    data or sending it to another process.
    """

    k: int = DEFAULT_K  # codewords
    block: int = DEFAULT_BLOCK  # block side in pixels
    algo: str = DEFAULT_ALGO  # trainer
    seed: int = 0  # the trainers' random seed
    fixed_rate: bool = False  # raw codebook and bit-packed indices: larger, but a size known in advance

    def __post_init__(self):
        check_k(self.k)
        check_block(self.block)
        check_algo(self.algo)
        check_seed(self.seed)
        if not isinstance(self.fixed_rate, bool):
            raise OptionsError(f"fixed_rate must be True or False, got {self.fixed_rate!r}")

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
