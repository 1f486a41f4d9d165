"""The error the vqcodec codec brings into a Zarr array: PSNR and size of each bundled photo read back.

    pip install '.[zarr]'
    python benchmarks/zarr_psnr.py

Each photo is written to a Zarr array with the codec's defaults (the
library's: quality 75) as one chunk and as tiles of 256 x 256 and 128 x 128
pixels. A tile is coded on its own, with its own codebooks, and an edge tile
is padded with the fill value to the full chunk before coding; only the
photo's own pixels count in PSNR, the stored chunks' bytes in bpp.
"""
import tempfile
from pathlib import Path

import numpy as np
import zarr
from PIL import Image

from vqcodec.metrics import psnr
from vqcodec.zarr3 import VQCodec

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PHOTOS = ("camera.png", "astronaut.png", "chelsea.png", "coffee.png", "coins.png")
TILES = (None, 256, 128)


def stored(photo: np.ndarray, tile: int | None, folder: Path) -> tuple[np.ndarray, int]:
    """The photo as read back from a Zarr array chunked in tiles (or whole), and its chunks' bytes."""
    chunks = photo.shape if tile is None else (tile, tile, *photo.shape[2:])
    path = folder / f"{tile}.zarr"
    z = zarr.create_array(path, shape=photo.shape, chunks=chunks, dtype="uint8", serializer=VQCodec(),
                          compressors=None, overwrite=True)
    z[:] = photo
    size = sum(f.stat().st_size for f in (path / "c").rglob("*") if f.is_file())
    return zarr.open_array(path, mode="r")[:], size


def main() -> None:
    header = " | ".join(f"{'whole' if t is None else f'{t} x {t}'}: dB / bpp" for t in TILES)
    print(f"| photo | {header} |")
    print("|---|" + "---|" * len(TILES))
    with tempfile.TemporaryDirectory() as folder:
        for name in PHOTOS:
            photo = np.asarray(Image.open(SAMPLES / name))
            cells = []
            for tile in TILES:
                back, size = stored(photo, tile, Path(folder))
                cells.append(f"{psnr(photo, back):.2f} / {8 * size / (photo.shape[0] * photo.shape[1]):.2f}")
            print(f"| {name} ({photo.shape[1]}x{photo.shape[0]}) | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
