"""Process-wide settings that a program owning its process chooses: the vqcodec
command and its worker processes call `configure()` as they start, and the
command `start_numba()` before its first kernel. The library never does, since
they are global and belong to whoever embeds it.
"""
import os


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


def start_numba() -> None:
    """Load Numba's typing and lowering tables without letting Numba import SciPy.

    Numba loads them before its first kernel, compiled or cached, and then
    imports SciPy's BLAS if SciPy is installed, to offer BLAS-backed array
    functions that vqcodec's kernels do not use: about 0.15 s of a second
    encode's second. A SciPy already imported is left alone; one imported
    later works as always.
    """
    import sys

    hide = "scipy" not in sys.modules
    if hide:
        sys.modules["scipy"] = None  # an import of it now fails at once, and Numba goes without
    try:
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
    finally:
        if hide:
            del sys.modules["scipy"]
