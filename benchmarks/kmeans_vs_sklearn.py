"""K-Means quality against scikit-learn's KMeans(init="k-means++") on the same vectors.

Both codebooks are rounded to 8 bits and every block is assigned to its
nearest rounded codeword, as `vqcodec encode` does, so the PSNR is that of the
decoded image. Needs scikit-learn (`pip install scikit-learn`).

    python benchmarks/kmeans_vs_sklearn.py [--seeds 3]
"""
import argparse
import statistics
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from vqcodec import blocks, images, train_codebook
from vqcodec.metrics import codebook_psnr

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CASES = [("camera.png", 256, 4), ("camera.png", 512, 4), ("astronaut.png", 256, 4), ("chelsea.png", 512, 4), ("camera-128.png", 48, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'image':<16}{'K':>5}{'b':>3}  {'vqcodec dB':>10}  {'sklearn dB':>10}  {'diff':>6}")
    for name, k, block in CASES:
        vectors = blocks.to_vectors(images.load(SAMPLES / name, None), block)
        ours, theirs = [], []
        for seed in range(args.seeds):
            ours.append(codebook_psnr(vectors, train_codebook(vectors, k=k, algo="kmeans", seed=seed)))
            model = KMeans(k, init="k-means++", n_init=1, random_state=seed).fit(vectors.astype(np.float32))
            theirs.append(codebook_psnr(vectors, model.cluster_centers_))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name:<16}{k:>5}{block:>3}  {a:>10.2f}  {b:>10.2f}  {a - b:>+6.2f}", flush=True)


if __name__ == "__main__":
    main()
