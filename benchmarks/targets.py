"""vqcodec's speed, memory and start-up targets, each measured against a reference in the same run.

The machines this runs on are shared and noisy, so every figure is a ratio to
something timed alongside it (faiss, Pillow, or vqcodec's own K-Means).
Compilation is done before any timing. Peers are optional:

    pip install '.[peers]'          # scikit-learn and faiss-cpu
    python benchmarks/targets.py    # about five minutes on 2 cores
    python benchmarks/targets.py shared   # only the shared-codebook training target
    python benchmarks/targets.py version4 # only version 4's targets, at 4096 x 4096
    python benchmarks/targets.py startup  # only the start-up targets: --help, second and first runs

The large images are bundled samples enlarged to 4096 x 4096 with Pillow's
Lanczos filter: smoother than a real photo of that size, but the same
amount of data.
"""
import dataclasses
import io
import json
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


def four_k() -> dict[str, np.ndarray]:
    """The 4096 x 4096 RGB images the version-4 targets are measured on: astronaut enlarged 8 times, as
    smooth as the enlarged photos of the other rows, and a mosaic of the colour samples enlarged 1.5
    times, mirrored in turn, closer to the detail of a real 16-megapixel photo."""
    parts = []
    for name in ("astronaut.png", "chelsea.png", "coffee.png", "camera.png", "coins.png"):
        im = Image.open(SAMPLES / name).convert("RGB")
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        parts.append(np.asarray(im.crop((left, top, left + side, top + side)).resize((768, 768), Image.LANCZOS)))
    mosaic = np.zeros((4096, 4096, 3), np.uint8)
    for n, (y, x) in enumerate((y, x) for y in range(0, 4096, 768) for x in range(0, 4096, 768)):
        part = parts[n % len(parts)] if n % 2 == 0 else parts[n % len(parts)][:, ::-1]
        mosaic[y : y + 768, x : x + 768] = part[: 4096 - y, : 4096 - x]
    return {"astronaut enlarged": load("astronaut.png", 4096), "mosaic of the samples": mosaic}


PEERS = {  # how each peer writes the same image, as the research on decode speed compared them
    "PNG": {"format": "PNG"},
    "WebP q90 method 6": {"format": "WEBP", "quality": 90, "method": 6},
    "AVIF q80 speed 6": {"format": "AVIF", "quality": 80, "speed": 6},
    "JPEG q90": {"format": "JPEG", "quality": 90, "optimize": True},
}


def encoded_by_pillow(pixels: np.ndarray, settings: dict) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, **settings)
    return out.getvalue()


def version_4(name: str, pixels: np.ndarray) -> None:
    """Decode and encode of a default (version 4) file against Pillow's codecs, in this process (kernels
    loaded) and as whole processes, and a region and a thumbnail against the full decode."""
    row(f"version 4, {name}", "vqcodec s", "reference s", "ratio", "goal")
    options = vqcodec.EncodeOptions()
    ours, encoded = timed(lambda: vqcodec.encode(pixels, options, max_pixels=None))
    webp, _ = timed(lambda: encoded_by_pillow(pixels, PEERS["WebP q90 method 6"]))
    row("encode at the default quality, against WebP q90 method 6", f"{ours:.2f}", f"{webp:.2f}", f"{ours / webp:.2f}",
        "<= 1")
    data = encoded.data
    full, _ = timed(lambda: vqcodec.decode(data, max_pixels=None), 5)
    peers = {}
    for peer, settings in PEERS.items():
        theirs_data = encoded_by_pillow(pixels, settings)
        theirs, _ = timed(lambda: np.asarray(Image.open(io.BytesIO(theirs_data)).convert("RGB")), 5)
        peers[peer] = theirs
        row(f"decode in this process, against Pillow's {peer} ({8 * len(theirs_data) / pixels[:, :, 0].size:.2f} bpp; "
            f"vqcodec {8 * len(data) / pixels[:, :, 0].size:.2f})", f"{full:.3f}", f"{theirs:.3f}",
            f"{full / theirs:.2f}", "<= 1" if peer == "PNG" else "")
    for label, crop in (("centre", (1792, 1792, 512, 512)), ("bottom right corner", (3584, 3584, 512, 512))):
        part, _ = timed(lambda: vqcodec.decode(data, max_pixels=None, crop=crop), 5)
        row(f"a 512 x 512 region at the {label}, against the full decode", f"{part:.3f}", f"{full:.3f}",
            f"{part / full:.2f}", "<= 0.15")
    small, _ = timed(lambda: vqcodec.decode(data, max_pixels=None, thumbnail=True), 5)
    row("a thumbnail (1/8 scale), against the full decode", f"{small:.3f}", f"{full:.3f}", f"{small / full:.2f}", "")
    high, refined = timed(lambda: vqcodec.encode(pixels, quality=90, max_pixels=None), 1)  # the refinement layer's
    high_decode, _ = timed(lambda: vqcodec.decode(refined.data, max_pixels=None), 3)  # cost, outside the targets
    row(f"quality 90 ({8 * len(refined.data) / pixels[:, :, 0].size:.2f} bpp, refined): decode, against Pillow's PNG",
        f"{high_decode:.3f}", f"{peers['PNG']:.3f}", f"{high_decode / peers['PNG']:.2f}", "")
    row("quality 90: encode, against WebP q90 method 6", f"{high:.2f}", f"{webp:.2f}", f"{high / webp:.2f}", "")
    with tempfile.TemporaryDirectory() as tmp:
        vqc, png, out = (str(Path(tmp) / name) for name in ("a.vqc", "a.png", "a.bmp"))
        Path(vqc).write_bytes(data)
        Path(png).write_bytes(encoded_by_pillow(pixels, PEERS["PNG"]))
        command = (*VQCODEC, "decode", vqc, "-o", out, "--force", "-q", "--max-pixels", "0")
        run(*command)
        warm = statistics.median(run(*command) for _ in range(5))
        pillow = statistics.median(run(sys.executable, "-c", f"from PIL import Image; Image.open({png!r}).load()")
                                   for _ in range(5))
        row("whole processes: `vqcodec decode a.vqc -o a.bmp` against a Python that loads the PNG", f"{warm:.3f}",
            f"{pillow:.3f}", f"{warm / pillow:.2f}", "<= 2")
        for command, path, fields in (("encode", png, {}), ("decode", vqc, {}), ("encode", png, {"psnr": 40.0})):
            peak, seconds = peak_memory(command, path, **fields)
            target = "".join(f" with --{name} {value:g}" for name, value in fields.items())
            row(f"peak memory of {command}{target} (from the {Path(path).suffix[1:].upper()} file), beyond the "
                "interpreter and the loaded kernels, against the raw pixels", f"{peak / 2**20:.0f} MiB in {seconds:.1f} s",
                f"{pixels.nbytes / 2**20:.0f} MiB", f"{peak / pixels.nbytes:.2f}", "" if fields else "<= 2")


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


def readme_first_command(tmp: Path) -> None:
    """The README's first command as a user runs it: the installed `vqcodec` command, from the checkout,
    with an empty Numba cache (pip install aside, and writing into a temporary folder)."""
    command = Path(sys.executable).parent / "vqcodec"
    vqc = tmp / "camera.vqc"
    line = (f"{command} encode samples/camera.png -o {vqc} -k 256 -b 4 --force && "
            f"{command} decode {vqc} --force")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache-readme")}
    start = time.perf_counter()
    subprocess.run(line, shell=True, check=True, capture_output=True, cwd=SAMPLES.parent, env=env)
    row("the README's first command (encode camera.png, then decode it) from the checkout, empty Numba cache",
        f"{time.perf_counter() - start:.2f}", "<= 6")


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
        readme_first_command(Path(tmp))
        cache = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "cache-decode")}
        row("first `vqcodec decode` of that file, empty Numba cache",
            f"{run(*VQCODEC, 'decode', out, '-o', str(Path(tmp) / 'c.png'), '--force', env=cache):.2f}", "<= 3")
        cache = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "cache-warmup")}
        row("`vqcodec warmup`, empty Numba cache (every kernel)", f"{run(*VQCODEC, 'warmup', env=cache):.2f}", "")


PEAK = """
import json, sys, threading, time, numpy, vqcodec
from vqcodec.cli import program
program.configure()  # as the vqcodec command does
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
small = vqcodec.encode(numpy.arange(48 * 16, dtype=numpy.uint8).reshape(16, 16, 3))  # load the kernels first
vqcodec.decode(small.data)
base = peak = rss()
done = False
def watch():
    global peak
    while not done:
        peak = max(peak, rss())
        time.sleep(0.0005)
watcher = threading.Thread(target=watch)
watcher.start()
start = time.perf_counter()
if sys.argv[1] == "encode":
    vqcodec.encode(sys.argv[2], max_pixels=None, **json.loads(sys.argv[3]))
else:
    vqcodec.decode(sys.argv[2], max_pixels=None)
seconds = time.perf_counter() - start
done = True
watcher.join()
print(peak - base, seconds)
"""


def peak_memory(command: str, path: str, **fields) -> tuple[int, float]:
    """Peak resident memory of an encode (with the options `fields`) or a decode in a fresh process,
    above what it held with the kernels loaded (sampled every half millisecond from /proc, Linux), and
    the time it took."""
    out = subprocess.run([sys.executable, "-c", PEAK, command, path, json.dumps(fields)], check=True,
                         capture_output=True, text=True)
    peak, seconds = out.stdout.split()
    return int(peak), float(seconds)


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


def shared_training(count: int = 1000, side: int = 64) -> None:
    """`vqcodec train` on `count` tiles against encoding each of them once at the default quality (kernels
    loaded): the overlapping tiles of the bundled photos, every 24 pixels, evenly picked."""
    from vqcodec.bench.shared import _spread

    tiles = []
    for path in sorted(SAMPLES.glob("*.png")):
        if path.name == "camera-128.png":
            continue
        pixels = load(path.name)
        tiles += [np.ascontiguousarray(pixels[y : y + side, x : x + side])
                  for y in range(0, pixels.shape[0] - side + 1, 24) for x in range(0, pixels.shape[1] - side + 1, 24)]
    tiles = _spread(tiles, count)
    vqcodec.train_shared(tiles[:4], qualities=(50,))  # compile first
    start = time.perf_counter()
    shared = vqcodec.train_shared(tiles)
    train = time.perf_counter() - start
    start = time.perf_counter()
    for tile in tiles:
        vqcodec.encode(tile)
    encode = time.perf_counter() - start
    row("shared codebook", "tiles", "train s", "encode them s", "ratio (target <= 1)", ".vqcb bytes")
    row(f"{side} x {side}", len(tiles), f"{train:.1f}", f"{encode:.1f}", f"{train / encode:.2f}",
        f"{len(shared.data):,}")


def main() -> None:
    program.configure()  # as the vqcodec command does: OpenMP threads that wait briefly, then sleep
    if sys.argv[1:] == ["shared"]:
        shared_training()
        return
    if sys.argv[1:] == ["startup"]:
        start_up()
        return
    if sys.argv[1:] == ["version4"]:
        vqcodec.encode(np.zeros((64, 64, 3), np.uint8) + np.arange(64, dtype=np.uint8)[:, None])  # compile first
        for name, pixels in four_k().items():
            version_4(name, pixels)
            print()
        return
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
    for name, pixels in four_k().items():
        version_4(name, pixels)
        print()
    start_up()
    print()
    threads(SAMPLES / "camera.png")
    side_by_side(SAMPLES / "camera.png")
    print()
    shared_training()


if __name__ == "__main__":
    main()
