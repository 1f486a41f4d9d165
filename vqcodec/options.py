"""Options and limits shared by the CLI and the library.

Importable without NumPy, so that `vqcodec --help` starts quickly.
"""
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
