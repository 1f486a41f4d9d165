"""Process-wide settings that a program owning its process chooses: the vqcodec
command and its worker processes call `configure()` as they start, and the
command starts Numba `without_scipy()`. The library never does, since
they are global and belong to whoever embeds it.
"""
import os
import sys
from contextlib import contextmanager


def configure() -> None:
    """Numba's OpenMP threads spin only briefly before they sleep, and the pixel cap is ours alone.

    By default OpenMP threads spin for long while they wait for work, and the
    threads of two vqcodec processes on the same cores (a shell loop with
    `xargs -P`, parallel CI jobs) slowed both 40-fold. OpenMP reads these
    variables once, when Numba starts its threads, so this runs before any
    kernel does; a user's own settings win.

    Pillow refuses images above its own limit before vqcodec's `--max-pixels`
    could speak (and could raise it), so the command lifts Pillow's: the
    `--max-pixels` check, made from the image header before any pixel is
    decoded, is then the one that applies.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # GNU OpenMP
        os.environ.setdefault("KMP_BLOCKTIME", "0")  # Intel OpenMP
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None


@contextmanager
def without_scipy():
    """Hide SciPy while Numba starts: a program that owns its process, and uses no SciPy, saves 0.2 s.

    Numba imports SciPy as Numba itself is imported (to check its version),
    and SciPy's linear algebra as it loads its tables before the first kernel
    (to offer BLAS-backed array functions, which vqcodec's kernels do not
    use). Whatever of SciPy is already imported is left alone, and an import
    after this works as always.
    """
    hidden = [name for name in ("scipy", "scipy.linalg") if name not in sys.modules][:1]
    for name in hidden:
        sys.modules[name] = None  # an import of it now fails at once, and Numba goes without
    try:
        yield
    finally:
        for name in hidden:
            del sys.modules[name]


def load_numba_tables() -> None:
    """Numba's typing and lowering tables, which it otherwise loads with the first kernel."""
    from numba.core.registry import cpu_target

    cpu_target.target_context.refresh()
