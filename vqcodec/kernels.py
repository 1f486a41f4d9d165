"""The compiled kernels: which of them this machine has not compiled yet, and compiling them all ahead.

Numba compiles each kernel on its first use and caches the machine code (in
`__pycache__` beside the sources, or under NUMBA_CACHE_DIR), so only a very
first run pays. `cold()` lets the command say so before it happens;
`warm_up()` is `vqcodec warmup`.
"""
import importlib
import os
import time

import numpy as np

ENCODING = ("kmeans", "centnn", "nearest", "ecvq", "codebook", "entropy")  # modules with kernels an encode may use
DECODING = ("entropy",)


def cold(modules) -> bool:
    """True when a kernel of these modules has nothing in Numba's cache yet (it will be compiled).

    A module whose kernels serve different options names in ALWAYS_USED those
    that every use of it compiles; only they count, so that the kernels of an
    option not taken yet do not announce a compile on every run.

    Looks at Numba's cache index files through its dispatchers; if a Numba
    version no longer exposes them, the answer is False and nothing is said.
    """
    from numba.core.registry import CPUDispatcher

    for name in modules:
        module = importlib.import_module(f"vqcodec.{name}")
        for kernel in getattr(module, "ALWAYS_USED", vars(module).values()):
            if isinstance(kernel, CPUDispatcher) and kernel.__module__ == module.__name__:
                index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_index_path", None)
                if isinstance(index, str) and not os.path.exists(index):
                    return True
    return False


def warm_up() -> float:
    """Compile (or load) every kernel: an encode with each trainer in each mode and a decode of each
    kind, on a tiny image. Returns the seconds it took."""
    from . import codec
    from .options import ALGORITHMS, SCALAR_ONLY

    start = time.perf_counter()
    image = (np.arange(16 * 16 * 3, dtype=np.int64).reshape(16, 16, 3) * 37 % 251).astype(np.uint8)
    for algo in ALGORITHMS:
        pixels = image[:, :, :1] if algo in SCALAR_ONLY else image
        block = 1 if algo in SCALAR_ONLY else None
        for extra in ({}, {"classic": True}):
            encoded = codec.encode(pixels, k=4, block=block, algo=algo, **extra)
            codec.decode(encoded.data)
    return time.perf_counter() - start
