"""Write the version-3 golden .vqc files and their expected images.

Run only when the format changes on purpose; the point of golden files is
that every test run decodes these exact bytes, forever.

    python tests/format/golden/regenerate_v3.py
"""
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec

HERE = Path(__file__).parent
SAMPLES = HERE.parents[2] / "samples"


def inputs() -> dict:
    camera = np.asarray(Image.open(SAMPLES / "camera-128.png"))
    chelsea = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    y, x = np.mgrid[0:13, 0:21]
    rgba = np.stack([x * 12, y * 19, (x + y) * 8, 255 - x * y], axis=2).astype(np.uint8)
    opaque = np.concatenate([chelsea[40:67, 60:99], np.full((27, 39, 1), 255, np.uint8)], axis=2)
    return {
        # name: (pixels, encode options)
        "v3-grey-47x33-q40": (camera[10:43, 30:77], {"quality": 40}),
        "v3-rgb-61x43-q60": (chelsea[100:143, 180:241], {"quality": 60}),
        "v3-rgb444-23x17-q100": (chelsea[10:27, 10:33], {"quality": 100}),
        "v3-rgba-21x13-b3-k8": (rgba, {"k": 8, "block": 3, "quality": 50}),
        "v3-rgba-opaque-39x27": (opaque, {"quality": 30}),
        "v3-la-constant-5x3": (np.full((3, 5, 2), (9, 250), np.uint8), {}),
    }


if __name__ == "__main__":
    for name, (pixels, options) in inputs().items():
        encoded = vqcodec.encode(pixels, **options)
        (HERE / f"{name}.vqc").write_bytes(encoded.data)
        decoded = vqcodec.decode(encoded.data).pixels
        Image.fromarray(decoded).save(HERE / f"{name}.png")
        print(name, len(encoded.data), "bytes", encoded.header.colour)
