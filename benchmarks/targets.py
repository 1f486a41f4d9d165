"""vqcodec's speed, memory and start-up targets, each measured against a reference in the same run.

The machines this runs on are shared and noisy, so every figure is a ratio to
something timed alongside it (faiss, Pillow, or vqcodec's own K-Means).
Compilation is done before any timing. Peers are optional:

    pip install '.[peers]'          # scikit-learn and faiss-cpu
    python benchmarks/targets.py    # about five minutes on 2 cores

The large images are bundled samples enlarged to 4096 x 4096 with Pillow's
Lanczos filter: smoother than a real photo of that size, but the same
amount of data.
"""
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import images
from vqcodec.classic.encode import ENCODE
from vqcodec.cli import program
from vqcodec.format import blocks
from vqcodec.metrics import codebook_psnr, psnr
from vqcodec.train.kmeans import lloyd, seed_kmeanspp
from vqcodec.train.nearest import nearest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
THREADS = 2
VQCODEC = (sys.executable, "-m", "vqcodec")  # the command, from the interpreter running this script
# The same, as if SciPy were not installed: Numba imports scipy.linalg on its first use when it can.

try:
    import faiss
except ImportError:  # the peer columns stay empty
    faiss = None


def load(name: str, size: int | None = None) -> np.ndarray:
    im = Image.open(SAMPLES / name)
    if size:
        im = im.resize((size, size), Image.LANCZOS)
    return images.load(im, None)


def timed(fn, repeat: int = 3):
    """(median seconds, last result) over `repeat` calls."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def row(*cells) -> None:
    print(" | ".join(str(c) for c in cells), flush=True)


def lloyd_per_iteration(workloads) -> None:
    row("K-Means per Lloyd iteration", "vqcodec ms", "faiss ms", "ratio (target <= 1)")
    for name, vectors, k in workloads:
        seeds = seed_kmeanspp(vectors, k, np.random.default_rng(0))
        seconds, (_, iterations) = timed(lambda: lloyd(vectors, seeds), 1)
        ours = 1000 * seconds / max(iterations, 1)
        theirs = "-"
        if faiss:
            niter = 10
            km = faiss.Kmeans(vectors.shape[1], k, niter=niter, max_points_per_centroid=len(vectors), seed=1)
            x = vectors.astype(np.float32)
            seconds, _ = timed(lambda: km.train(x, init_centroids=seeds), 1)
            theirs = 1000 * seconds / niter
        ratio = "-" if theirs == "-" else f"{ours / theirs:.2f}"
        row(f"{name}, K={k}", f"{ours:.2f} ({iterations} iterations)", theirs if theirs == "-" else f"{theirs:.2f}", ratio)


def whole_encode(pixels: np.ndarray, name: str) -> None:
    row("whole encode, K=256, 4x4", "vqcodec s", "faiss train + assign s", "ratio (target <= 0.8)", "PSNR vqcodec - faiss dB (target >= 0)")
    seconds, result = timed(lambda: vqcodec.encode(pixels, k=256, block=4, algo="kmeans", classic=True), 1)
    theirs, diff = "-", "-"
    if faiss:
        vectors = blocks.to_vectors(pixels, 4).astype(np.float32)

        def train_and_assign():
            km = faiss.Kmeans(vectors.shape[1], 256, seed=1)
            km.train(vectors)
            km.index.search(vectors, 1)
            return km.centroids

        theirs, centroids = timed(train_and_assign, 1)
        decoded = vqcodec.decode(result.data).pixels.reshape(pixels.shape)
        ours_psnr = psnr(pixels, decoded)
        vectors8 = blocks.to_vectors(pixels, 4)
        rounded = np.clip(np.rint(centroids), 0, 255).astype(np.uint8)
        labels, _ = nearest(vectors8, rounded)
        faiss_psnr = psnr(pixels, blocks.from_vectors(rounded[labels], *pixels.shape[:2], 4))
        diff = f"{ours_psnr - faiss_psnr:+.2f}"
    row(name, f"{seconds:.2f}", theirs if theirs == "-" else f"{theirs:.2f}",
        "-" if theirs == "-" else f"{seconds / theirs:.2f}", diff)


def centnn_against_kmeans(cases) -> None:
    """Whole encodes (pixels in memory, kernels loaded, plain VQ so that the trainer alone makes the codebook)."""
    row("CentNN against vqcodec K-Means, whole encode, 4x4", "CentNN s", "K-Means s", "ratio (target <= 1.5)",
        "PSNR CentNN - K-Means dB (target >= 0)")
    for name, pixels, k in cases:
        times, psnrs = {}, {}
        for algo in ("centnn", "kmeans"):
            times[algo], result = timed(lambda: vqcodec.encode(pixels, k=k, block=4, algo=algo, classic=True))
            psnrs[algo] = result.psnr
        row(f"{name}, K={k}", f"{times['centnn']:.2f}", f"{times['kmeans']:.2f}", f"{times['centnn'] / times['kmeans']:.2f}",
            f"{psnrs['centnn'] - psnrs['kmeans']:+.2f}")


def scalar(pixels: np.ndarray, name: str) -> None:
    row(f"scalar quantization, K=48, {name}", "train s", "PSNR dB")
    vectors = blocks.to_vectors(pixels, 1)
    for algo in vqcodec.ALGORITHMS:
        seconds, book = timed(lambda: vqcodec.train_codebook(vectors, k=48, algo=algo))
        row(algo, f"{seconds:.3f}", f"{codebook_psnr(vectors, book):.2f}")


# Version 1's encoder: no ordering stage, the sections in their fixed codings, the PSNR measured after the rest.
V1_ENCODE = ENCODE.without("order").replace("measure", dataclasses.replace(ENCODE.stage("measure"), background=False))


def encode_against_v1(cases) -> None:
    """Whole encodes (pixels in memory, kernels loaded) of version 2 against version 1's pipeline."""
    row("encode time, K=256, 4x4", "version 2 s", "version 1 s", "ratio (target <= 1.10)", "bytes v2 / v1")
    options = vqcodec.EncodeOptions(k=256, block=4, classic=True)
    for name, pixels in cases:
        times = {"v2": [], "v1": []}
        for _ in range(5):  # interleaved, so that both see the same machine
            for which, pipeline, opts in (("v2", ENCODE, options), ("v1", V1_ENCODE, options.replace(fixed_rate=True))):
                start = time.perf_counter()
                values = pipeline.run(source=pixels, max_pixels=None, options=opts)
                times[which].append(time.perf_counter() - start)
                size = len(values["data"])
                if which == "v1":
                    old_size = size - 21  # the same sections after version 1's 24-byte header, not 45 bytes
                else:
                    new_size = size
        new, old = statistics.median(times["v2"]), statistics.median(times["v1"])
        row(name, f"{new:.3f}", f"{old:.3f}", f"{new / old:.3f}", f"{new_size / old_size:.2f}")


def decode_against_png(pixels: np.ndarray, name: str) -> None:
    """A default (version 3) file and a classic fixed-rate one.
    In this process (kernels loaded), and as whole processes: `vqcodec decode` to an uncompressed
    BMP against a Python process that opens and loads the PNG; cold is with an empty Numba cache."""
    row("decode", "vqcodec s", "Pillow PNG s", "ratio (target <= 2)")
    with tempfile.TemporaryDirectory() as tmp:
        vqc, fixed, png, out = (str(Path(tmp) / name) for name in ("a.vqc", "f.vqc", "a.png", "a.bmp"))
        for path, options in ((vqc, {}), (fixed, {"k": 256, "block": 4, "fixed_rate": True})):
            Path(path).write_bytes(vqcodec.encode(pixels, max_pixels=None, **options).data)
        Image.fromarray(pixels).save(png)
        data = Path(vqc).read_bytes()
        ours, _ = timed(lambda: vqcodec.decode(data, max_pixels=None))
        theirs, _ = timed(lambda: np.asarray(Image.open(png)))
        row(f"{name}, in this process", f"{ours:.3f}", f"{theirs:.3f}", f"{ours / theirs:.2f}")
        pillow = statistics.median(run(sys.executable, "-c", f"from PIL import Image; Image.open({png!r}).load()")
                                   for _ in range(5))
        for label, path in ((", default quality", vqc), (", classic fixed rate (no Numba)", fixed)):
            command = (*VQCODEC, "decode", path, "-o", out, "--force", "-q")
            run(*command)
            warm = statistics.median(run(*command) for _ in range(5))
            row(f"{name}, whole process{label}", f"{warm:.3f}", f"{pillow:.3f}", f"{warm / pillow:.2f}")
        cache = str(Path(tmp) / "numba-cache")
        cold = run(*VQCODEC, "decode", vqc, "-o", out, "--force", "-q", env={**os.environ, "NUMBA_CACHE_DIR": cache})
        shutil.rmtree(cache)
        row(f"{name}, whole process, empty Numba cache (compiles)", f"{cold:.2f}", f"{pillow:.3f}", f"{cold / pillow:.2f}")


def encode_with_target(cases) -> None:
    """A search for a PSNR or a size against one encode at the default quality (kernels loaded)."""
    row("encode with a target", "target s", "default quality s", "ratio (target <= 4)", "reached")
    for name, pixels in cases:
        plain, result = timed(lambda: vqcodec.encode(pixels))
        for target in ({"psnr": 33.0}, {"size": len(result.data) // 2}):
            seconds, found = timed(lambda: vqcodec.encode(pixels, **target))
            reached = f"{found.psnr:.2f} dB" if "psnr" in target else f"{len(found.data):,} of {target['size']:,} bytes"
            row(f"{name}, {next(iter(target))}", f"{seconds:.2f}", f"{plain:.2f}", f"{seconds / plain:.2f}", reached)


def run(*args, env=None) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def start_up() -> None:
    row("start-up", "seconds", "target")
    row("vqcodec --help", f"{statistics.median(run(*VQCODEC, '--help') for _ in range(5)):.2f}", "<= 0.3")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "c.vqc")
        command = (*VQCODEC, "encode", str(SAMPLES / "camera.png"), "-o", out, "--force")
        run(*command)
        row("second `vqcodec encode camera.png` (512x512, default quality), median of 3",
            f"{statistics.median(run(*command) for _ in range(3)):.2f}", "<= 1")
        for algo in ("kmeans", "centnn"):
            cache = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / f"cache-{algo}")}
            cold = run(*VQCODEC, "encode", str(SAMPLES / "camera.png"), "-o", out, "--force", "--algo", algo, env=cache)
            row(f"first `vqcodec encode camera.png --algo {algo}`, empty Numba cache", f"{cold:.2f}", "<= 6")
        cache = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "cache-decode")}
        row("first `vqcodec decode` of that file, empty Numba cache",
            f"{run(*VQCODEC, 'decode', out, '-o', str(Path(tmp) / 'c.png'), '--force', env=cache):.2f}", "<= 3")
        cache = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "cache-warmup")}
        row("`vqcodec warmup`, empty Numba cache (every kernel)", f"{run(*VQCODEC, 'warmup', env=cache):.2f}", "")


def memory(pixels_path: str, raw_bytes: int) -> None:
    """Peak resident memory while encoding, above what the process held just before,
    sampled every millisecond from /proc (Linux)."""
    code = (
        "import sys, threading, time, numpy, vqcodec\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        "vqcodec.encode(numpy.arange(48, dtype=numpy.uint8).reshape(4, 4, 3), k=4, block=4)  # load kernels first\n"
        "base = peak = rss()\n"
        "done = False\n"
        "def watch():\n"
        "    global peak\n"
        "    while not done:\n"
        "        peak = max(peak, rss())\n"
        "        time.sleep(0.001)\n"
        "watcher = threading.Thread(target=watch)\n"
        "watcher.start()\n"
        "start = time.perf_counter()\n"
        "vqcodec.encode(sys.argv[1], max_pixels=None)\n"
        "seconds = time.perf_counter() - start\n"
        "done = True\n"
        "watcher.join()\n"
        "print(peak - base, seconds)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, pixels_path], check=True, capture_output=True, text=True)
    peak, seconds = out.stdout.split()
    peak = int(peak)
    codebook = 256 * 4 * 4 * 3
    row("memory: encode 4096x4096 RGB, default quality", f"peak growth {peak / 2**20:.0f} MiB",
        f"{peak / (raw_bytes + codebook):.2f} x (raw + codebook), target < 4", f"in {float(seconds):.1f} s")


def threads(path: Path) -> None:
    outputs, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, THREADS):
            out = str(Path(tmp) / f"t{n}.vqc")
            env = {**os.environ, "NUMBA_NUM_THREADS": str(n)}
            run(*VQCODEC, "encode", str(path), "-o", out, "-k", "512", env=env)  # compile or load the cache
            times.append(run(*VQCODEC, "encode", str(path), "-o", out, "-k", "512", "--force", env=env))
            outputs.append(Path(out).read_bytes())
    row("threads: encode camera K=512 with 1 and 2 threads", f"{times[0]:.2f} s / {times[1]:.2f} s",
        "identical bytes" if outputs[0] == outputs[1] else "DIFFERENT BYTES")


def side_by_side(path: Path) -> None:
    """Two encodes at once against one: threads that spin while waiting made this 40 times slower."""
    with tempfile.TemporaryDirectory() as tmp:
        def command(name):
            return [*VQCODEC, "encode", str(path), "-o", str(Path(tmp) / name), "-k", "512", "--force"]

        run(*command("a.vqc"))
        one = run(*command("a.vqc"))
        start = time.perf_counter()
        pair = [subprocess.Popen(command(name)) for name in ("b.vqc", "c.vqc")]
        for process in pair:
            process.wait()
        both = time.perf_counter() - start
    row("two encodes of camera K=512 at once, against one", f"{both:.2f} s / {one:.2f} s", f"{both / one:.2f} x")


def main() -> None:
    program.configure()  # as the vqcodec command does: OpenMP threads that wait briefly, then sleep
    if faiss:
        faiss.omp_set_num_threads(THREADS)
    vqcodec.encode(np.zeros((8, 8), np.uint8) + np.arange(8, dtype=np.uint8), k=4, block=1)  # compile first
    for algo in vqcodec.ALGORITHMS:
        vqcodec.train_codebook(np.arange(64, dtype=np.uint8).reshape(-1, 1), k=4, algo=algo)
    camera, astronaut = load("camera.png"), load("astronaut.png")
    big_grey = load("camera.png", 4096)
    lloyd_per_iteration([
        ("camera 512x512 grey, 4x4", blocks.to_vectors(camera, 4), 512),
        ("astronaut 512x512 RGB, 4x4", blocks.to_vectors(astronaut, 4), 256),
        ("camera 4096x4096 grey, 4x4", blocks.to_vectors(big_grey, 4), 256),
    ])
    print()
    whole_encode(big_grey, "camera 4096x4096 grey")
    print()
    chelsea = load("chelsea.png")
    centnn_against_kmeans([("camera", camera, 256), ("camera", camera, 512), ("astronaut", astronaut, 256),
                           ("astronaut", astronaut, 512), ("chelsea", chelsea, 256), ("chelsea", chelsea, 512)])
    print()
    scalar(big_grey, "camera 4096x4096")
    print()
    big_rgb = load("astronaut.png", 4096)
    encode_against_v1([("camera 512x512", camera), ("astronaut 512x512", astronaut),
                       ("camera 4096x4096", big_grey), ("astronaut 4096x4096", big_rgb)])
    print()
    encode_with_target([("camera 512x512", camera), ("astronaut 512x512", astronaut)])
    print()
    decode_against_png(big_rgb, "astronaut 4096x4096 RGB")
    print()
    start_up()
    print()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.png"
        Image.fromarray(big_rgb).save(path)
        memory(str(path), big_rgb.size)
    print()
    threads(SAMPLES / "camera.png")
    side_by_side(SAMPLES / "camera.png")


if __name__ == "__main__":
    main()
