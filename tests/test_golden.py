"""The committed golden files must decode to their committed images, bit for bit.

If one of these fails, the format or the decoder changed: that needs a new
version byte and regenerated golden files (tests/golden/regenerate.py), never
a quiet edit.
"""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vqcodec

GOLDEN = Path(__file__).parent / "golden"

# name: (width, height, channels, block, k, requested k, trainer, file size)
EXPECTED = {
    "grey-2x1-b1-k2": (2, 1, 1, 1, 2, 2, "kmeans", 31),
    "grey-scalar-k5": (40, 24, 1, 1, 5, 5, "kmeans", 393),
    "rgb-37x29-b3-k16": (37, 29, 3, 3, 16, 16, "centnn", 525),
    "rgba-20x13-b2-k8": (20, 13, 4, 2, 8, 8, "kmeans", 183),
    "la-1x1-k1": (1, 1, 2, 4, 1, 256, "kmeans", 60),
}


def test_every_golden_file_is_listed():
    assert {p.stem for p in GOLDEN.glob("*.vqc")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_header(name):
    data = (GOLDEN / f"{name}.vqc").read_bytes()
    h = vqcodec.info(data)
    assert (h.width, h.height, h.channels, h.block, h.k, h.requested_k, h.trainer, len(data)) == EXPECTED[name]
    assert h.file_size == len(data)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_decodes_to_expected_image(name):
    expected = np.asarray(Image.open(GOLDEN / f"{name}.png"))
    decoded = vqcodec.decode(GOLDEN / f"{name}.vqc").pixels
    assert decoded.dtype == np.uint8
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)


def test_worked_example_of_the_format_page():
    """docs/FORMAT.md spells this file out byte by byte."""
    data = (GOLDEN / "grey-2x1-b1-k2.vqc").read_bytes()
    assert data.hex(" ") == "89 56 51 43 01 01 01 01 02 00 00 00 01 00 00 00 02 00 00 00 02 00 00 00 fa 0a 01 da 3c 86 00"
    assert vqcodec.decode(data).pixels.tolist() == [[10, 250]]


def test_decoding_never_loads_numba():
    """Decoding is plain NumPy, so `vqcodec decode` never waits for a compiler."""
    import subprocess
    import sys

    code = (
        "import sys, vqcodec; vqcodec.decode(sys.argv[1]); vqcodec.info(sys.argv[1]); "
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(GOLDEN / "rgb-37x29-b3-k16.vqc")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
