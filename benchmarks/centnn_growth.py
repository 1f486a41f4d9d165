"""CentNN's growth on the samples: Park's one split per stage against several, and the thorough schedule
against the lean one (which vqcodec takes for large trainings) on each case, whatever its size.

    python benchmarks/centnn_growth.py [--fractions 0,0.1,0.25]
    python benchmarks/centnn_growth.py --schedules

The schedules' PSNR is that of the codebook after Hartigan's refinement, as an
encode uses it; times are the median of 3 runs, with the refinement.
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from vqcodec import images
from vqcodec.format import blocks
from vqcodec.metrics import codebook_psnr
from vqcodec.train.centnn import LEAN, THOROUGH, centnn, refine, schedule_for

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CASES = [("camera.png", 256), ("camera.png", 512), ("astronaut.png", 256), ("chelsea.png", 512), ("camera-128.png", 512)]
SCHEDULE_CASES = [("camera.png", 256), ("camera.png", 512), ("astronaut.png", 256), ("astronaut.png", 512),
                  ("chelsea.png", 256), ("chelsea.png", 512), ("camera-128.png", 64), ("camera-128.png", 256)]


def fractions(values) -> None:
    print(f"{'image':<16}{'K':>5}  " + "".join(f"{f'split {f}':>22}" for f in values))
    for name, k in CASES:
        vectors = blocks.to_vectors(images.load(SAMPLES / name, None), 4)
        cells = []
        for fraction in values:
            start = time.perf_counter()
            codebook, _ = centnn(vectors, k, split_fraction=fraction)
            cells.append(f"{codebook_psnr(vectors, codebook):.3f} dB {time.perf_counter() - start:6.2f} s")
        print(f"{name:<16}{k:>5}  " + "".join(f"{c:>22}" for c in cells), flush=True)


def schedules() -> None:
    print(f"{'image':<16}{'K':>5}  {'default':>9}  {'thorough':>30}  {'lean':>30}  {'lean - thorough':>16}")
    for name, k in SCHEDULE_CASES:
        vectors = blocks.to_vectors(images.load(SAMPLES / name, None), 4)
        cells, psnrs = [], []
        for schedule in (THOROUGH, LEAN):
            times = []
            for _ in range(3):
                start = time.perf_counter()
                codebook, stats = centnn(vectors, k, schedule=schedule)
                codebook = refine(vectors, codebook)[0]
                times.append(time.perf_counter() - start)
            psnrs.append(codebook_psnr(vectors, codebook))
            cells.append(f"{psnrs[-1]:.3f} dB {statistics.median(times):5.2f} s {stats['scans']:>8} scans")
        default = "lean" if schedule_for(*vectors.shape, k) == LEAN else "thorough"
        print(f"{name:<16}{k:>5}  {default:>9}  {cells[0]:>30}  {cells[1]:>30}  {psnrs[1] - psnrs[0]:+13.3f} dB",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", default="0,0.1,0.25")
    parser.add_argument("--schedules", action="store_true", help="compare the two schedules instead")
    args = parser.parse_args()
    centnn(np.arange(64, dtype=np.uint8).reshape(16, 4), 4)  # compile (or load) before timing
    if args.schedules:
        schedules()
    else:
        fractions([float(f) for f in args.fractions.split(",")])


if __name__ == "__main__":
    main()
