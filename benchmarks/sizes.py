"""Version-2 file sizes against version 1 on the bundled photos: the same decoded images.

    python benchmarks/sizes.py            # K = 256 and 64, 4x4 blocks, K-Means, seed 0

Version 1 stored the trained codebook raw and every index in ceil(log2 K)
bits; its size follows from the codebook the encoding pipeline trains before
its ordering stage. The lzma column is lzma (preset 9) of the indices one
byte each (two above K = 256): a general-purpose compressor on the same data.
"""
import lzma
from pathlib import Path

import numpy as np

import vqcodec
from vqcodec.classic.encode import ENCODE
from vqcodec.format import bitpack

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("camera.png", "astronaut.png", "chelsea.png", "camera-128.png")


def main() -> None:
    print("| photo | K | v1 bytes | v2 bytes | v2 / v1 | codebook v1 -> v2 | indices v1 -> v2 | indices, lzma -9 |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for k in (256, 64):
        for photo in PHOTOS:
            options = vqcodec.EncodeOptions(k=k, block=4)
            trained = len(ENCODE.until("assign").run(source=SAMPLES / photo, max_pixels=None, options=options)["codebook"])
            values = ENCODE.run(source=SAMPLES / photo, max_pixels=None, options=options)
            h = values["header"]
            old_codebook = trained * h.codeword_size
            old_indices = bitpack.packed_size(h.block_count, bitpack.index_width(trained))
            v1 = 24 + old_codebook + old_indices + 4
            v2 = len(values["data"])
            aligned = np.asarray(values["indices"], np.uint8 if h.k <= 256 else np.uint16).tobytes()
            ratios.append(v2 / v1)
            print(f"| {photo} | {k} | {v1:,} | {v2:,} | {v2 / v1:.2f} | {old_codebook:,} -> "
                  f"{h.section('codebook').length:,} | {old_indices:,} -> {h.section('indices').length:,} | "
                  f"{len(lzma.compress(aligned, preset=9)):,} |")
    print(f"\nmean v2 / v1: {np.mean(ratios):.3f}")


if __name__ == "__main__":
    main()
