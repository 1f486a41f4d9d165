"""Process-wide settings that a program owning its process chooses: the vqcodec
command and its worker processes call `configure()` as they start. The library
never does, since they are global and belong to whoever embeds it.
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
