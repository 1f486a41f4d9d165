"""CentNN: Park's one split per stage against several splits per stage, on the samples.

    python benchmarks/centnn_growth.py [--fractions 0,0.1,0.25]
"""
import argparse
import time
from pathlib import Path

import numpy as np

from vqcodec import blocks, images
from vqcodec.centnn import centnn
from vqcodec.metrics import codebook_psnr

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CASES = [("camera.png", 256), ("camera.png", 512), ("astronaut.png", 256), ("chelsea.png", 512), ("camera-128.png", 512)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", default="0,0.1,0.25")
    args = parser.parse_args()
    fractions = [float(f) for f in args.fractions.split(",")]
    centnn(np.arange(64, dtype=np.uint8).reshape(16, 4), 4)  # compile (or load) before timing
    print(f"{'image':<16}{'K':>5}  " + "".join(f"{f'split {f}':>22}" for f in fractions))
    for name, k in CASES:
        vectors = blocks.to_vectors(images.load(SAMPLES / name, None), 4)
        cells = []
        for fraction in fractions:
            start = time.perf_counter()
            codebook, _ = centnn(vectors, k, split_fraction=fraction)
            cells.append(f"{codebook_psnr(vectors, codebook):.3f} dB {time.perf_counter() - start:6.2f} s")
        print(f"{name:<16}{k:>5}  " + "".join(f"{c:>22}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
