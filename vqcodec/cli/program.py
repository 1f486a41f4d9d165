"""Process-wide settings that a program owning its process chooses: the vqcodec
command and its worker processes call `configure()` as they start, and the
command starts Numba `without_scipy()`. The library never does, since
they are global and belong to whoever embeds it.
"""
import ctypes
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
    _return_large_buffers()


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _return_large_buffers() -> None:
    """Buffers of 128 KiB and more go back to the system when freed, as glibc does until the first is.

    An encode works a band of rows at a time, and each band's buffers are
    freed as the next is made. glibc then raises the size from which it maps
    buffers apart (up to 32 MiB) to the largest one freed, so later bands come
    from its heap, which keeps what fragments, and the resident memory grows
    with every pass over the image (docs/performance.md has the figures). A
    fixed threshold keeps it to what is in use; a user's
    MALLOC_MMAP_THRESHOLD_ wins, and other C libraries are left alone.
    """
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt to speak of)
        pass


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


def load_cached_kernels_lightly() -> None:
    """Numba loads a kernel from its cache without first importing the lowering tables that only compiling
    reads: 0.3 s less for a command whose kernels are all cached.

    Before it loads a cached kernel, Numba imports and registers the
    implementations of every Python and NumPy operation it can compile, as it
    does before a compilation; the kernel's machine code needs none of them,
    only Numba's runtime. Here, within a cache load alone, Numba starts its
    runtime and nothing more; a compilation, even one that follows a
    cache load that failed, loads the tables as always. Numba versions
    without these internals keep their own way.
    """
    import threading

    try:
        from numba.core import caching, cpu
        from numba.core.runtime import nrt

        registries, load = cpu.CPUContext.load_additional_registries, caching.Cache.load_overload
        runtime = nrt.rtsys.initialize
    except (ImportError, AttributeError):
        return
    if getattr(load, "lightly", False):
        return
    loading = threading.local()

    def load_additional_registries(self):
        if getattr(loading, "cached", False):
            runtime(self)
        else:
            registries(self)

    def load_overload(self, sig, target_context):
        loading.cached = True
        try:
            return load(self, sig, target_context)
        finally:
            loading.cached = False

    load_overload.lightly = True
    cpu.CPUContext.load_additional_registries = load_additional_registries
    caching.Cache.load_overload = load_overload
