"""Where the time of a large K-Means encode goes, stage by stage.

    python benchmarks/encode_stages.py    # camera enlarged to 4096 x 4096, K=256, 4x4 blocks

The stages are those of vqcodec.encode, called one by one; each line is the
median of three runs, after one run that loads the compiled kernels.
"""
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vqcodec import blocks, container, images
from vqcodec.kmeans import lloyd, seed_kmeanspp
from vqcodec.metrics import psnr_of_bands
from vqcodec.nearest import nearest
from vqcodec.train import training_sample

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
K, BLOCK, SIZE = 256, 4, 4096


def stages(pixels: np.ndarray) -> dict[str, float]:
    times, clock = {}, time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        times[name] = now - clock
        clock = now

    vectors = blocks.to_vectors(pixels, BLOCK)
    lap("blocks")
    sample, _ = training_sample(vectors, None, K, 0)
    centres = seed_kmeanspp(sample, K, np.random.default_rng(0))
    lap("k-means++ seeding")
    centres, iterations = lloyd(sample, centres)
    lap(f"Lloyd on {len(sample)} blocks ({iterations} iterations)")
    codebook = np.clip(np.rint(centres), 0, 255).astype(np.uint8)
    indices, _ = nearest(vectors, codebook)
    lap(f"final assignment of {len(vectors)} blocks")
    header = container.Header(SIZE, SIZE, 1, BLOCK, K, K, "kmeans")
    container.build(header, codebook, indices)
    lap("packing and checksum")
    psnr_of_bands(pixels, blocks.bands(codebook, indices, SIZE, SIZE, BLOCK))
    lap("PSNR")
    return times


def main() -> None:
    pixels = images.load(Image.open(SAMPLES / "camera.png").resize((SIZE, SIZE), Image.LANCZOS), None)
    stages(pixels)  # loads the kernels
    runs = [stages(pixels) for _ in range(3)]
    for name in runs[0]:
        print(f"{name:<45} {statistics.median(run[name] for run in runs):.3f} s")
    print(f"{'total':<45} {statistics.median(sum(run.values()) for run in runs):.3f} s")


if __name__ == "__main__":
    main()
