"""Rewrite the golden .vqc files and their expected images.

Run only when the format changes on purpose (and bump the version byte then):
the point of the golden files is that every test run decodes these exact bytes.

    python tests/golden/regenerate.py
"""
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import images

HERE = Path(__file__).parent
SAMPLES = HERE.parent.parent / "samples"


def _inputs():
    camera = np.asarray(Image.open(SAMPLES / "camera-128.png"))
    chelsea = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    y, x = np.mgrid[0:13, 0:20]
    rgba = np.stack([x * 12, y * 19, (x + y) * 8, 255 - x * y], axis=2).astype(np.uint8)
    return {
        # name: (pixels, K, block, trainer)
        "grey-scalar-k5": (camera[40:64, 30:70], 5, 1, "kmeans"),
        "rgb-37x29-b3-k16": (chelsea[100:129, 200:237], 16, 3, "centnn"),
        "rgba-20x13-b2-k8": (rgba, 8, 2, "kmeans"),
        "grey-2x1-b1-k2": (np.array([[10, 250]], dtype=np.uint8), 2, 1, "kmeans"),
        "la-1x1-k1": (np.array([[[7, 200]]], dtype=np.uint8), 256, 4, "kmeans"),
    }


def main() -> None:
    for name, (pixels, k, block, algo) in _inputs().items():
        result = vqcodec.encode(pixels, k=k, block=block, algo=algo, seed=0)
        (HERE / f"{name}.vqc").write_bytes(result.data)
        images.to_pil(vqcodec.decode(result.data)).save(HERE / f"{name}.png")
        print(name, result.header)


if __name__ == "__main__":
    main()
