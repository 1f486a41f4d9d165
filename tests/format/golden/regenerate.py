"""Write the version-2 golden .vqc files and their expected images.

Run only when the format changes on purpose (with a new version byte, and new
golden files beside the old): the point of golden files is that every test
run decodes these exact bytes. The version-1 files (no prefix) were written by
vqcodec 0.1 and are never rewritten.

    python tests/format/golden/regenerate.py
"""
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec import images

HERE = Path(__file__).parent
SAMPLES = HERE.parents[2] / "samples"


def _inputs():
    camera = np.asarray(Image.open(SAMPLES / "camera-128.png"))
    chelsea = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    y, x = np.mgrid[0:13, 0:20]
    rgba = np.stack([x * 12, y * 19, (x + y) * 8, 255 - x * y], axis=2).astype(np.uint8)
    return {
        # name: (pixels, encode options)
        "v2-grey-2x1-b1-k2": (np.array([[10, 250]], dtype=np.uint8), {"k": 2, "block": 1}),  # format.md's example
        "v2-grey-48x40-b4-k24": (camera[20:60, 40:88], {"k": 24, "block": 4}),
        "v2-rgb-61x43-b3-k40": (chelsea[100:143, 180:241], {"k": 40, "block": 3, "algo": "centnn"}),
        "v2-rgba-20x13-b2-k8": (rgba, {"k": 8, "block": 2}),
        "v2-grey-80x60-b2-k1100": (camera[30:90, 20:100], {"k": 1100, "block": 2}),
        "v2-fixed-rgb-37x29-b3-k16": (chelsea[100:129, 200:237], {"k": 16, "block": 3, "fixed_rate": True}),
        "v2-la-5x3-k1": (np.full((3, 5, 2), (9, 250), np.uint8), {"k": 4, "block": 2}),
    }


def with_trainer_id(data: bytes, trainer_id: int) -> bytes:
    """The same file, its trainer byte set to an id no vqcodec writes, and its CRC fixed."""
    body = data[:7] + bytes([trainer_id]) + data[8:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def main() -> None:
    written = {}
    for name, (pixels, options) in _inputs().items():
        written[name] = vqcodec.encode(pixels, seed=0, **options).data
    written["v2-unknown-trainer-9"] = with_trainer_id(written["v2-rgba-20x13-b2-k8"], 9)
    for name, data in written.items():
        (HERE / f"{name}.vqc").write_bytes(data)
        decoded = vqcodec.decode(data)
        images.to_pil(decoded.pixels).save(HERE / f"{name}.png")
        print(name, len(data), [(s.kind, s.coding, s.length) for s in decoded.header.sections])


if __name__ == "__main__":
    main()
