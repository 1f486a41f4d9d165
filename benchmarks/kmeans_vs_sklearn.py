"""vqcodec's trainers against scikit-learn's KMeans(init="k-means++", n_init=1) on the same vectors.

Each codebook is rounded to 8 bits and every block assigned to its nearest
rounded codeword, as `vqcodec encode --classic` does, so the PSNR is that of
the decoded image; medians over the seeds (scikit-learn's random_state,
vqcodec's --seed; CentNN is deterministic), training times in seconds
beside them. Needs scikit-learn (`pip install '.[peers]'`).

    python benchmarks/kmeans_vs_sklearn.py [--seeds 3]
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from vqcodec import images, train_codebook
from vqcodec.format import blocks
from vqcodec.metrics import codebook_psnr

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CASES = [("camera.png", 256), ("camera.png", 512), ("astronaut.png", 256), ("astronaut.png", 512),
         ("chelsea.png", 256), ("chelsea.png", 512), ("camera-128.png", 256)]  # 4x4 blocks; the last: 4 per codeword
TRAINERS = ("kmeans", "centnn", "park")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    for algo in TRAINERS:  # compile (or load) before timing
        train_codebook(np.arange(64, dtype=np.uint8).reshape(16, 4), k=4, algo=algo)
    print("| image | K | scikit-learn dB | " + " | ".join(f"{a} dB (vs sklearn)" for a in TRAINERS) + " | "
          + " | ".join(f"{a} s" for a in ("sklearn", *TRAINERS)) + " |")
    print("|---|---:|---:|" + "---:|" * (2 * len(TRAINERS) + 1))
    for name, k in CASES:
        vectors = blocks.to_vectors(images.load(SAMPLES / name, None), 4)
        psnrs = {a: [] for a in ("sklearn", *TRAINERS)}
        seconds = {a: [] for a in psnrs}
        for seed in range(args.seeds):
            for algo in psnrs:
                if algo != "sklearn" and algo != "kmeans" and seed > 0:
                    continue  # deterministic
                start = time.perf_counter()
                if algo == "sklearn":
                    book = KMeans(k, init="k-means++", n_init=1, random_state=seed).fit(vectors.astype(np.float32)).cluster_centers_
                else:
                    book = train_codebook(vectors, k=k, algo=algo, seed=seed)
                seconds[algo].append(time.perf_counter() - start)
                psnrs[algo].append(codebook_psnr(vectors, book))
        ref = statistics.median(psnrs["sklearn"])
        cells = [f"{statistics.median(psnrs[a]):.2f} ({statistics.median(psnrs[a]) - ref:+.2f})" for a in TRAINERS]
        times = [f"{statistics.median(seconds[a]):.2f}" for a in psnrs]
        print(f"| {name} | {k} | {ref:.2f} | " + " | ".join(cells) + " | " + " | ".join(times) + " |", flush=True)


if __name__ == "__main__":
    main()
