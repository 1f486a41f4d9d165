"""Version 4 decoded by region: vqcodec decodes only the tiles a crop needs (and their seeds, and
the means across the crop's edges), and must give exactly the pixels of a full decode, which
tests/format/spec_vqc.py, written from docs/format.md alone, computes independently."""
import functools

import numpy as np
import pytest
import spec_vqc
from helpers import GOLDEN, GOLDEN_CODEBOOK, with_crc

import vqcodec
from vqcodec import api

V4_GOLDEN = sorted(GOLDEN.glob("v4-*.vqc"))


@pytest.fixture(autouse=True)
def golden_codebook(monkeypatch):
    """The golden files coded with a shared codebook find it beside them."""
    monkeypatch.setenv(api.CODEBOOK_PATH, str(GOLDEN))


@functools.cache
def spec_image(name: str) -> np.ndarray:
    image = spec_vqc.decode((GOLDEN / f"{name}.vqc").read_bytes(), max_pixels=1 << 20,
                            codebook=GOLDEN_CODEBOOK.read_bytes())
    assert image is not None, name
    return image


def regions(width: int, height: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) crops: 1 x 1 at each corner, the whole image, strips, crops across a tile edge and
    exactly on tiles (their samples near the edge read the means of the cells across it), the last
    partial tile, and a few drawn with a fixed seed."""
    out = [(0, 0, 1, 1), (width - 1, 0, 1, 1), (0, height - 1, 1, 1), (width - 1, height - 1, 1, 1),
           (0, 0, width, height), (0, height // 2, width, 1), (width // 2, 0, 1, height),
           (max(width - 3, 0), max(height - 2, 0), min(width, 3), min(height, 2))]
    if tile < width and tile < height:  # tile edges inside the image
        out += [(tile - 2, tile - 3, 5, 6), (tile - 1, 0, 2, height), (0, tile - 1, width, 2),
                (0, 0, tile, tile), (tile, tile, min(tile, width - tile), min(tile, height - tile)),
                (tile, 0, width - tile, height), (0, tile, width, height - tile)]
    rng = np.random.default_rng(4)
    for _ in range(3):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        out.append((x, y, int(rng.integers(1, width - x + 1)), int(rng.integers(1, height - y + 1))))
    return [(x, y, min(w, width - x), min(h, height - y)) for x, y, w, h in out]  # inside the image


def tile_sides(header) -> list[int]:
    """The tile sides of a file's planes in image pixels: a 4:2:0 chroma tile of t samples covers 2t pixels
    (with tiles of 32, chroma tiles of 32 samples cover 64 x 64 pixels, four of plane 0's tiles)."""
    scale = 2 if header.colour == "ycbcr420" else 1
    sides = {p.tile * (scale if n in (1, 2) else 1) for n, p in enumerate(header.planes) if p.k}
    return sorted(sides) or [header.width]


@pytest.mark.parametrize("path", V4_GOLDEN, ids=lambda p: p.stem)
def test_a_crop_is_the_spec_decoders_image_cropped(path):
    """Crops across and on the tiles of every plane, 4:2:0 chroma tiles (twice as large in pixels) included."""
    data = path.read_bytes()
    header = vqcodec.info(data)
    full = spec_image(path.stem)
    crops = sorted({box for tile in tile_sides(header) for box in regions(header.width, header.height, tile)})
    for x, y, w, h in crops:
        crop = vqcodec.decode(data, crop=(x, y, w, h)).pixels
        np.testing.assert_array_equal(crop, full[y:y + h, x:x + w], err_msg=f"{path.stem} crop {(x, y, w, h)}")


@pytest.mark.parametrize("path", V4_GOLDEN, ids=lambda p: p.stem)
def test_each_tile_alone_is_the_spec_decoders_tile(path):
    """Every tile of plane 0 as a crop of its own (a 4:2:0 chroma tile of 32 samples covers 64 x 64 pixels, so
    each of these crops decodes a quarter of one): the models a tile starts from are its seed's, however it
    is reached."""
    data = path.read_bytes()
    header = vqcodec.info(data)
    tile = header.planes[0].tile or max(header.width, header.height)
    full = spec_image(path.stem)
    for y in range(0, header.height, tile):
        for x in range(0, header.width, tile):
            w, h = min(tile, header.width - x), min(tile, header.height - y)
            crop = vqcodec.decode(data, crop=(x, y, w, h)).pixels
            np.testing.assert_array_equal(crop, full[y:y + h, x:x + w], err_msg=f"{path.stem} tile at {(x, y)}")


def test_the_shortest_valid_file_is_52_bytes():
    """One constant plane: the header, its record, no tile table, no sections, the CRC (docs/format.md)."""
    record = bytes([0, 0, 0, 77]) + bytes(20)  # b = g = s = 0, fill 77, k = 0, no tools, no tile side, no codebook
    data = with_crc(b"\x89VQC" + bytes([4, 1, 0, 9]) + (3).to_bytes(4, "little") + (2).to_bytes(4, "little")
                    + bytes(8) + record)
    assert len(data) == 52
    np.testing.assert_array_equal(vqcodec.decode(data).pixels, np.full((2, 3), 77, np.uint8))
    np.testing.assert_array_equal(spec_vqc.decode(data, max_pixels=1 << 20), np.full((2, 3), 77, np.uint8))
    for short in (data[:-1], with_crc(data[:-5])):  # 51 bytes
        assert spec_vqc.decode(short, max_pixels=1 << 20) is None
        with pytest.raises(vqcodec.FormatError):
            vqcodec.decode(short)
