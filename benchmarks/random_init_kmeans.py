"""K-Means from a random initial codebook (K distinct random blocks), the setting the CentNN
article's K-Means figures match: camera-128, 4x4 blocks, K=512.

    python benchmarks/random_init_kmeans.py [--seeds 5]
"""
import argparse
from pathlib import Path

import numpy as np

from vqcodec import images
from vqcodec.format import blocks
from vqcodec.metrics import codebook_psnr
from vqcodec.train.kmeans import kmeans, lloyd

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "camera-128.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    vectors = blocks.to_vectors(images.load(SAMPLE, None), 4)
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        start = vectors[rng.choice(len(vectors), 512, replace=False)].astype(np.float32)
        random_init = codebook_psnr(vectors, lloyd(vectors, start)[0])
        plus_plus = codebook_psnr(vectors, kmeans(vectors, 512, seed))
        print(f"seed {seed}: random initial codebook {random_init:.2f} dB, k-means++ {plus_plus:.2f} dB")


if __name__ == "__main__":
    main()
