"""The compiled kernels: which of them this machine has not compiled yet, and compiling them all ahead.

Numba compiles each kernel on its first use and caches the machine code (in
`__pycache__` beside the sources, or under NUMBA_CACHE_DIR), so only a very
first run pays. `cold()` lets the command say so before it happens;
`compile_aside()` shortens that wait on a machine with a second core;
`prepare()` is both, as a command starts; `warm_up()` is `vqcodec warmup`.
"""
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np

TRAINING = {  # trainer -> the kernels every training with it compiles, Hartigan's refinement included
    "kmeans": ("train.kmeans._kmeanspp_kernel", "train.kmeans._cluster_sums", "train.kmeans._yinyang",
               "train.centnn._recount", "train.centnn._set_means", "train.centnn._epoch"),
    "centnn": ("train.centnn._split", "train.centnn._epoch", "train.centnn._recount", "train.centnn._set_means"),
    "park": ("train.centnn._split", "train.centnn._epoch"),
}
ASSIGNING = ("train.nearest.scan_rows", "format.order._walk")
CLASSIC = ("format.entropy._index_kernel", "format.entropy._codebook_kernel")  # versions 2 and 3's context codings
TILES = ("format.entropy._tile_index_kernel", "format.entropy._means_kernel", "format.entropy._codebook_kernel")
PIXELS = ("rd.pixels.reconstruct_rows",)  # every rate-distortion plane, encoded (to measure) or decoded
FILTER = ("rd.pixels.filter_rows",)  # the planes with the restoration filter
REFINE = ("format.entropy._refinement_kernel", "rd.pixels.refine_box")  # the planes with the refinement layer
ENCODING = ("rd.pixels.residual_blocks", "rd.ecvq._sums", "rd.pixels.filter_statistics")  # a default encode
CHOICE = ("rd.choice.choose_rows", "rd.choice._count")  # the codeword choice that knows the index coder's contexts


def needed(command: str, options, header=None) -> tuple[str, ...]:
    """The kernels ("module.name") that this command compiles with these options, or for a decode, with
    the file `header` describes: a run compiles only what it uses, so counting other kernels would
    announce a compile on every run."""
    if command == "decode":
        from ..format.container import PLANES_VERSION, TILED

        if header.version in TILED:
            return (TILES + PIXELS + (FILTER if _with(header, "FILTER") else ())
                    + (REFINE if _with(header, "REFINE") else ()))
        if header.version == PLANES_VERSION:
            return CLASSIC + ("format.entropy._means_kernel",) + PIXELS
        coded = {s.kind for s in header.sections if s.coding in ("predicted", "context")}
        return tuple(name for name, kind in zip(CLASSIC, ("indices", "codebook")) if kind in coded)
    kernels = TRAINING.get(options.algo, ()) + ASSIGNING
    if options.plain:
        return kernels + (() if options.fixed_rate else CLASSIC)
    return kernels + TILES + PIXELS + ENCODING + (CHOICE if _contexts(options) else ())  # (the filter and the
    # refinement only where they pay: counting them would announce a compile on every run of an encoder of small
    # images)


def _contexts(options) -> bool:
    """Whether the rate-distortion encoder chooses codewords knowing the index coder's contexts."""
    from ..rd.settings import EFFORTS

    return EFFORTS[options.effort].contexts


def _with(header, tool: str) -> bool:
    """Whether a plane of the file has the tool ("FILTER", "REFINE")."""
    from ..format import container

    return any(p.tools & getattr(container, tool) for p in header.planes)


def cold(kernels) -> bool:
    """True when one of these kernels ("module.name") has nothing in Numba's cache yet (it will be
    compiled). Looks at Numba's cache index files through its dispatchers; if a Numba version no
    longer exposes them, the answer is False and nothing is said."""
    return any(_uncached(_dispatcher(name)) for name in kernels)


def warm_up() -> float:
    """Compile (or load) every kernel: an encode with each trainer in each mode and a decode of each
    kind, on a tiny image, with a second process. Returns the seconds it took."""
    from .. import api
    from ..options import ALGORITHMS, SCALAR_ONLY

    start = time.perf_counter()
    done = compile_aside(tuple(JOBS))  # about in the order of the runs below: trainers, then coders
    image = (np.arange(16 * 16 * 3, dtype=np.int64).reshape(16, 16, 3) * 37 % 251).astype(np.uint8)
    try:
        for algo in ALGORITHMS:
            pixels = image[:, :, :1] if algo in SCALAR_ONLY else image
            block = 1 if algo in SCALAR_ONLY else None
            for extra in ({"quality": 100}, {"classic": True}):  # (at 100, with the refinement layer)
                encoded = api.encode(pixels, k=4, block=block, algo=algo, **extra)
                api.decode(encoded.data)
    finally:
        done()
    return time.perf_counter() - start


def prepare(command: str, options, source, here: bool, say: Callable[[str], None] | None,
            max_pixels: int | None = None) -> Callable[[], None]:
    """A very first run compiles kernels for a while: `say` so before it starts, and when the work runs
    `here`, in this process, and a second core is free, let a second process compile kernels it needs
    later meanwhile. Returns what to call when the work is done.

    What a decode compiles depends on the file: it looks at the header of its
    first input, `source`, first (a fixed-rate file runs no kernel, nor
    imports Numba)."""
    from . import batch, program

    header = _decode_header(source, max_pixels) if command == "decode" else None
    if command == "decode" and (header is None or not needed(command, options, header)):
        return lambda: None
    with program.without_scipy():
        compiles = cold(needed(command, options, header))
        if compiles and say:
            say("Compiling vqcodec's kernels for this machine: this happens once, and takes a while "
                "(`vqcodec warmup` does it ahead).")
        second = compiles and here and batch.available_cores() > 1  # on one core, a second process only competes
        done = compile_aside(aside(command, options, header) if second else ())
        if compiles:
            program.load_numba_tables()  # after starting the second process, which need not wait for it
        else:
            program.load_cached_kernels_lightly()
    return done


def _decode_header(source, max_pixels: int | None):
    """The validated header of the .vqc to decode; None when it cannot be read without consuming the
    input (standard input, a pipe such as `<(cat a.vqc)`) or at all (an unreadable file), and the
    decode itself will say what is wrong."""
    import stat

    from .. import api
    from ..errors import VQCodecError
    from ..format import container
    from . import batch

    if source == batch.STDIO:
        return None
    try:
        status = os.stat(source)
        if not stat.S_ISREG(status.st_mode):
            return None
        with open(source, "rb") as stream:
            return container.parse_header(api.read_header_bytes(stream, max_pixels, status.st_size), max_pixels)
    except (OSError, VQCodecError):
        return None


# --- compiling in a second process -------------------------------------------------------------
#
# Numba compiles on one core. While a first run compiles the kernels it needs
# first, a second process compiles (and caches) those it needs last; when this
# process first calls one the other has taken, it waits until the other has
# cached it and loads it instead of compiling it. Each job is the kernels it
# compiles and a call that compiles them exactly as the codec calls them (same
# argument types), so that the cache entry is the one looked up.

_BOOK = np.array([[0, 1, 2, 3], [9, 8, 7, 6]], dtype=np.uint8)  # two 2 x 2 codewords, the jobs' tiny input


def _order() -> None:
    from ..format.order import prune_and_order

    prune_and_order(_BOOK, np.array([1, 0, 1]))


def _codebook() -> None:
    from ..format.entropy import encode_codebook

    encode_codebook(_BOOK, 2, 1, 64)


def _context_indices() -> None:
    from ..format.entropy import encode_indices

    encode_indices(np.array([0, 1, 1, 0]), 2, 2, 64)


def _tile_indices() -> None:
    from ..format.entropy import IndexModel, encode_tile_indices

    encode_tile_indices(np.array([[0, 1], [1, 0]]), IndexModel(2), 64, None)


def _tile_means() -> None:
    from ..format.entropy import MeansModel, encode_tile_means

    encode_tile_means(_BOOK, MeansModel(), 64, None)


def _reconstruct() -> None:
    """The planes' kernel, with the arrays as vqcodec.rd.decode makes them."""
    from ..format.container import Plane
    from ..rd.decode import axes, reconstruct

    p = Plane(2, 2, 2, 2, 1, 0, 2, tile=2)
    reconstruct(np.zeros((2, 2), dtype=np.uint8), p, (0, 0, 2, 2), np.zeros((1, 1), dtype=np.int32), _BOOK,
                np.zeros((1, 1), dtype=np.uint16), axes(p))


def _filter() -> None:
    """The restoration filter, with the arrays as vqcodec.rd.encode and decode make them."""
    from ..rd.pixels import filter_rows

    filter_rows(0, 2, np.empty((2, 4), dtype=np.uint8), 0, _BOOK, 0, 2, 0, 4, np.zeros((1, 2, 4), dtype=np.int32), 2,
                4)


def _refine() -> None:
    """A tile's refinement coded, decoded and added, with the arrays as vqcodec.rd.encode and decode make them."""
    from ..format.entropy import codeword_levels, decode_refinement, encode_refinement, refinement_grid
    from ..rd.pixels import refine_box

    q, levels = refinement_grid(2, 2), codeword_levels(_BOOK)[np.zeros((1, 1), dtype=np.uint16)]
    q[1, 1] = 3
    step, q = decode_refinement(encode_refinement(q, levels, 2, 2, 64), levels, 2, 2, 2)
    refine_box(_BOOK.copy(), 0, 0, 0, 2, 2, q, 0, 0, step)


def _quantize() -> None:
    from ..format.entropy import refinement_grid
    from ..rd.pixels import quantize_residuals

    quantize_residuals(_BOOK.copy(), _BOOK.copy(), 2, 1.5, refinement_grid(*_BOOK.shape))


def _filter_statistics() -> None:
    from ..rd.pixels import filter_statistics

    original = _BOOK.view()
    original.flags.writeable = False  # as the encoder passes the image's planes
    filter_statistics(np.zeros((1, 2, 15), dtype=np.int64), _BOOK, 0, original, 0, 2, 2, 4)


def _merge() -> None:
    """The inverse colour transform's kernel, on a tiny 4:2:0 image."""
    from ..rd.planes import merge

    merge([np.zeros((2, 2), dtype=np.uint8), np.zeros((1, 1), dtype=np.uint8), np.zeros((1, 1), dtype=np.uint8)],
          "ycbcr420")


def _assignment() -> None:
    from ..train.nearest import nearest

    nearest(_BOOK, _BOOK.astype(np.float64), np.zeros(2))


def _choice() -> None:
    """The codeword choice that knows the index coder's contexts, with the arrays as vqcodec.rd.encode makes
    them."""
    from ..rd.choice import Model, choose_rows

    grid, model = np.zeros((1, 2), dtype=np.uint16), Model(_BOOK)
    model.add(grid, 0, 1)
    choose_rows(0, 1, _BOOK, np.zeros(2, dtype=np.int64), _BOOK.astype(np.float32), model.near, 1.0, grid, 0, 2,
                *model.costs())


def _seeding() -> None:
    from ..train.kmeans import seed_kmeanspp

    seed_kmeanspp(_BOOK, 2, np.random.default_rng(0))


def _lloyd() -> None:
    """Lloyd's full scan, sums and bounded scan: centres away from the means, so that a second
    iteration runs."""
    from ..train.kmeans import lloyd

    vectors = np.concatenate([_BOOK, _BOOK + 1])
    lloyd(vectors, _BOOK.astype(np.float32) + 0.25)


def _cluster_means() -> None:
    """The first kernels of Hartigan's refinement, with the arrays as centnn._train makes them."""
    from ..train.centnn import _recount, _set_means

    k, d = _BOOK.shape
    sums, squares, counts = np.zeros((k, d)), np.zeros(k), np.zeros(k, dtype=np.int64)
    _recount(_BOOK, np.ones(k, dtype=np.int64), np.arange(k), np.arange(k), sums, squares, counts)
    _set_means(np.zeros((k, d), dtype=np.float32), np.zeros((d, k), dtype=np.float32), sums, counts,
               np.zeros(k, dtype=np.bool_), k, np.zeros((k, 3)), np.zeros(3), np.full(k + 1, -1), np.zeros(k + 1))


def _epochs() -> None:
    """Hartigan's epoch (K-Means' refinement, CentNN's growth): Hartigan's refinement of the tiny
    codebook by itself, whose scan and first kernels are other jobs'."""
    from ..train.centnn import refine

    refine(_BOOK, _BOOK.astype(np.float32))


def _split() -> None:
    from ..train.centnn import _split as split

    split(_BOOK, np.ones(len(_BOOK), dtype=np.int64), np.arange(len(_BOOK)))


JOBS = {  # name -> (the call that compiles, the kernels it compiles as "module.name")
    "seeding": (_seeding, ("train.kmeans._kmeanspp_kernel",)),
    "lloyd": (_lloyd, ("train.nearest.scan_rows", "train.kmeans._cluster_sums", "train.kmeans._yinyang")),
    "assignment": (_assignment, ("train.nearest.scan_rows",)),
    "choice": (_choice, CHOICE),
    "cluster_means": (_cluster_means, ("train.centnn._recount", "train.centnn._set_means")),
    "epochs": (_epochs, ("train.centnn._epoch",)),
    "split": (_split, ("train.centnn._split",)),
    "order": (_order, ("format.order._walk",)),
    "codebook": (_codebook, ("format.entropy._codebook_kernel",)),
    "context_indices": (_context_indices, ("format.entropy._index_kernel",)),
    "tile_means": (_tile_means, ("format.entropy._means_kernel",)),
    "tile_indices": (_tile_indices, ("format.entropy._tile_index_kernel",)),
    "reconstruct": (_reconstruct, ("rd.pixels.reconstruct_rows",)),
    "filter_statistics": (_filter_statistics, ("rd.pixels.filter_statistics",)),
    "filter": (_filter, FILTER),
    "refine": (_refine, REFINE),
    "quantize": (_quantize, ("rd.pixels.quantize_residuals",)),
    "merge": (_merge, ("rd.pixels.merge_rows",)),
}
WAIT_LIMIT = 120.0  # seconds this process waits for the other before it compiles a kernel itself


TRAINING_JOBS = {"kmeans": ("seeding", "lloyd", "cluster_means", "epochs"),
                 "centnn": ("cluster_means", "epochs", "split", "assignment"),
                 "park": ("split", "epochs", "assignment")}  # each trainer's, in the order it needs them


def aside(command: str, options, header=None) -> tuple[str, ...]:
    """The jobs of a command, in the order it needs them: this process takes them from the front as
    it comes to them, a second process from the back (see compile_aside). An encode trains, orders
    the codebook, measures its planes and codes them (the colour transform's kernels, the residuals
    and the entropy-constrained rounds' sums are compiled here, as the first things an encode does); a
    decode reads its codebook, its means and its indices, then makes the pixels."""
    if command == "decode":
        from ..format.container import PLANES_VERSION, TILED

        pixels = (("reconstruct",) if header.planes else ()) + (("filter",) if _with(header, "FILTER") else ()) \
            + (("refine",) if _with(header, "REFINE") else ()) + (("merge",) if header.colour != "planes" else ())
        if header.version in TILED:
            return ("codebook", "tile_means", "tile_indices") + pixels
        if header.version == PLANES_VERSION:
            return ("codebook", "tile_means", "context_indices") + pixels
        coded = {s.kind for s in header.sections if s.coding in ("predicted", "context")}
        return tuple(job for job, kind in (("codebook", "codebook"), ("context_indices", "indices")) if kind in coded)
    training = TRAINING_JOBS.get(options.algo, ("assignment",))
    if options.plain:
        return training + (() if options.fixed_rate else ("order", "codebook", "context_indices"))
    return training + (("choice",) if _contexts(options) else ()) + (
        "order", "reconstruct", "filter_statistics", "filter", "tile_means", "codebook", "tile_indices")


class _Claims:
    """Which process compiles which job: a file per job in a folder both processes see, made by the
    first to take the job (O_EXCL lets only one make it)."""

    def __init__(self, folder: str):
        self.folder, self.mine = folder, set()

    def take(self, job: str) -> bool:
        try:
            os.close(os.open(os.path.join(self.folder, job), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True


class _Awaited:
    """A kernel's Numba cache as the second process runs: the first load of a kernel of a job that
    process has not taken takes the job (compiled here, as without it); of a job it has taken, waits
    until it has cached the kernel (or has ended)."""

    def __init__(self, cache, process: subprocess.Popen, claims: _Claims, job: str):
        self._cache, self._process, self._claims, self._job = cache, process, claims, job

    def load_overload(self, *args, **kwargs):
        loaded = self._cache.load_overload(*args, **kwargs)
        if loaded is not None or self._job in self._claims.mine:
            return loaded
        if self._claims.take(self._job):
            self._claims.mine.add(self._job)
            return None
        deadline = time.monotonic() + WAIT_LIMIT
        while self._process.poll() is None and time.monotonic() < deadline:
            loaded = self._cache.load_overload(*args, **kwargs)
            if loaded is not None:
                return loaded
            time.sleep(0.01)
        return self._cache.load_overload(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._cache, name)


def _dispatcher(name: str):
    module, attribute = name.rsplit(".", 1)
    return getattr(importlib.import_module(f"vqcodec.{module}"), attribute)


def _uncached(kernel) -> bool:
    """True when Numba's cache has no index file for this kernel (False if it cannot tell)."""
    index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_index_path", None)
    return isinstance(index, str) and not os.path.exists(index)


def compile_aside(jobs) -> Callable[[], None]:
    """Start a second process that compiles the kernels of `jobs` (in the order this process needs
    them) not in the cache yet, taking them from the back while this process takes them from the
    front as it first uses them: whichever comes to a job first compiles it, so that the two meet
    where their work is even, whatever each kernel costs here. Until that process ends, this one's
    first use of a kernel of a job it has taken waits for it. Returns the function to call when done,
    which stops that process if it is still at work (everything it would cache is then either loaded
    already or not needed)."""
    names = [job for job in jobs if any(_uncached(_dispatcher(kernel)) for kernel in JOBS[job][1])]
    if not names:
        return lambda: None
    folder = tempfile.mkdtemp(prefix="vqcodec-jobs-")
    # The child must import this very vqcodec, whose files Numba's cache entries are keyed by: its folder
    # goes first on the child's path as this process found it (symlinks kept), and -P keeps `-m` from
    # putting the current folder before it, where `pip install . && vqcodec encode ...` run in a checkout
    # would have the child import the source tree instead of the installed package.
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (package_root, os.environ.get("PYTHONPATH")))))
    try:
        process = subprocess.Popen([sys.executable, "-P", "-m", "vqcodec.cli.kernels", folder, *names], env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:  # no interpreter to start (an embedded Python): everything compiles here
        shutil.rmtree(folder, ignore_errors=True)
        return lambda: None
    claims = _Claims(folder)
    awaited = {}  # kernel name -> its job, the first that lists it
    for job in names:
        for kernel in JOBS[job][1]:
            awaited.setdefault(kernel, job)
    caches = {name: _dispatcher(name)._cache for name in awaited}
    for name, job in awaited.items():
        _dispatcher(name)._cache = _Awaited(caches[name], process, claims, job)

    def done() -> None:
        for name, cache in caches.items():
            _dispatcher(name)._cache = cache
        if process.poll() is None:
            process.kill()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)

    return done


if __name__ == "__main__":  # the second process of compile_aside: the jobs from the back, each not yet taken
    from vqcodec.cli.program import without_scipy

    claims = _Claims(sys.argv[1])
    with without_scipy():
        for job in reversed(sys.argv[2:]):
            if claims.take(job):
                JOBS[job][0]()
