"""BD-rate of this checkout's default encoder against an earlier commit's, on the bundled photos.

    python benchmarks/versions.py              # against 2b4df39, the last commit writing version 3
    python benchmarks/versions.py REV --qualities 20,50,75,90

The earlier encoder runs from `git archive REV vqcodec` in a process of its
own (`-P`, so that this checkout's package is not the one imported; it
compiles its kernels once, into a cache of its own); its files are
decoded by this checkout's vqcodec, which reads every version, and PSNR
and bits per pixel are measured on them exactly as on this checkout's.
Target for version 4 against version 3: at most +2 % (docs/performance.md).
"""
import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

import vqcodec
from vqcodec import images
from vqcodec.bench import anchors

ROOT = Path(__file__).resolve().parent.parent
VERSION_3 = "2b4df39"  # the last commit whose default encoder wrote .vqc version 3
QUALITIES = (10, 30, 50, 60, 75, 85, 95)

# Run by the earlier checkout's interpreter: encode each photo at each quality, print the files' sizes.
ENCODE = """
import json, sys, vqcodec
from pathlib import Path
out = Path(sys.argv[1])
for name in sys.argv[3:]:
    for q in json.loads(sys.argv[2]):
        (out / f"{Path(name).stem}-{q}.vqc").write_bytes(vqcodec.encode(name, quality=q).data)
"""


def earlier_files(revision: str, photos: list[Path], qualities, folder: Path) -> None:
    """Encode the photos with `revision`'s vqcodec package into `folder`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "vqcodec"], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder / "src", filter="data")
    env = {**os.environ, "PYTHONPATH": str(folder / "src"), "NUMBA_CACHE_DIR": str(folder / "cache")}
    subprocess.run([sys.executable, "-P", "-c", ENCODE, str(folder), json.dumps(list(qualities)), *map(str, photos)],
                   check=True, env=env)


def point(pixels: np.ndarray, data: bytes) -> anchors.Point:
    decoded = vqcodec.decode(data, max_pixels=None).pixels
    return anchors.point(len(data), pixels, decoded.reshape(pixels.shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", default=VERSION_3, help="the earlier commit (default: %(default)s)")
    parser.add_argument("--qualities", default=",".join(map(str, QUALITIES)), help="comma-separated (default: %(default)s)")
    args = parser.parse_args()
    qualities = [float(q) for q in args.qualities.split(",")]
    photos = anchors.photos()
    start = time.perf_counter()
    rows, unchanged = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        earlier_files(args.revision, photos, qualities, folder)
        for photo in photos:
            pixels = images.load(photo, None)
            before, now, versions, same = [], [], set(), True
            for q in qualities:
                old = (folder / f"{photo.stem}-{q}.vqc").read_bytes()
                new = vqcodec.encode(pixels, quality=q).data
                versions |= {old[4], new[4]}
                same &= old == new
                before.append(point(pixels, old))
                now.append(point(pixels, new))
            change = anchors.bd_rate(before, now)
            size = sum(p.bpp for p in now) / sum(p.bpp for p in before) - 1
            rows.append((photo.stem, change, size))
            unchanged += same  # a grey photo, where only chroma changed, may be
            print(f"{photo.stem}: BD-rate {change:+.2f} %, bytes at the same qualities {100 * size:+.2f} % "
                  f"(versions {sorted(versions)})", file=sys.stderr)
    if unchanged == len(photos):
        sys.exit(f"Error: both encoders wrote the same files: is {args.revision} this checkout's?")
    print(f"| photo | BD-rate of this checkout against {args.revision} | bytes at the same qualities |")
    print("|---|---|---|")
    for name, change, size in rows:
        print(f"| {name} | {change:+.2f} % | {100 * size:+.2f} % |")
    defined = [c for _, c, _ in rows if c is not None]
    print(f"| mean | {sum(defined) / len(defined):+.2f} % | {100 * sum(s for *_, s in rows) / len(rows):+.2f} % |")
    print(f"\nqualities {args.qualities}; {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
