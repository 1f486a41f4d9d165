"""The committed golden files must decode to their committed images, bit for bit.

The files without a prefix are version 1, written by vqcodec 0.1; the `v2-`
files are version 2 and the `v3-` files version 3. If one of these fails, the
format or the decoder changed: that needs a new version byte and new golden
files beside these (golden/regenerate.py, golden/regenerate_v3.py), never a
quiet edit.
"""
import numpy as np
import pytest
from helpers import DOCS, GOLDEN
from PIL import Image

import vqcodec

FORMAT = DOCS / "format.md"

# name: (width, height, channels, block, k, requested k, trainer, file size, codings of codebook and indices)
FIXED = ("raw", "packed")
CODED = ("predicted", "context")
EXPECTED = {
    "grey-2x1-b1-k2": (2, 1, 1, 1, 2, 2, "kmeans", 31, FIXED),
    "grey-scalar-k5": (40, 24, 1, 1, 5, 5, "kmeans", 393, FIXED),
    "rgb-37x29-b3-k16": (37, 29, 3, 3, 16, 16, "centnn", 525, FIXED),
    "rgba-20x13-b2-k8": (20, 13, 4, 2, 8, 8, "kmeans", 183, FIXED),
    "la-1x1-k1": (1, 1, 2, 4, 1, 256, "kmeans", 60, FIXED),
    "v2-grey-2x1-b1-k2": (2, 1, 1, 1, 2, 2, "kmeans", 52, FIXED),
    "v2-fixed-rgb-37x29-b3-k16": (37, 29, 3, 3, 16, 16, "kmeans", 546, FIXED),
    "v2-grey-48x40-b4-k24": (48, 40, 1, 4, 24, 24, "kmeans", 464, CODED),
    "v2-grey-80x60-b2-k1100": (80, 60, 1, 2, 1100, 1100, "kmeans", 4140, CODED),
    "v2-la-5x3-k1": (5, 3, 2, 2, 1, 4, "kmeans", 54, ("predicted", "packed")),
    "v2-rgb-61x43-b3-k40": (61, 43, 3, 3, 40, 40, "centnn", 803, CODED),
    "v2-rgba-20x13-b2-k8": (20, 13, 4, 2, 8, 8, "kmeans", 170, CODED),
    "v2-unknown-trainer-9": (20, 13, 4, 2, 8, 8, "unknown (9)", 170, CODED),
}


def test_every_golden_file_is_listed():
    assert {p.stem for p in GOLDEN.glob("*.vqc") if not p.stem.startswith("v3-")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_header(name):
    data = (GOLDEN / f"{name}.vqc").read_bytes()
    h = vqcodec.info(data)
    codings = tuple(s.coding for s in h.sections)
    assert (h.width, h.height, h.channels, h.block, h.k, h.requested_k, h.trainer, len(data), codings) == EXPECTED[name]
    assert h.file_size == len(data) and h.version == (2 if name.startswith("v2-") else 1)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_decodes_to_expected_image(name):
    expected = np.asarray(Image.open(GOLDEN / f"{name}.png"))
    decoded = vqcodec.decode(GOLDEN / f"{name}.vqc").pixels
    assert decoded.dtype == np.uint8
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("v3-*.vqc")), ids=lambda p: p.stem)
def test_version_3_golden_files_decode_forever(path):
    expected = np.asarray(Image.open(path.with_suffix(".png")))
    assert np.array_equal(vqcodec.decode(path).pixels, expected)


@pytest.mark.parametrize(("name", "hex_bytes"), [
    ("grey-2x1-b1-k2", "89 56 51 43 01 01 01 01 02 00 00 00 01 00 00 00 02 00 00 00 02 00 00 00 fa 0a 01 da 3c 86 00"),
    ("v2-grey-2x1-b1-k2", "89 56 51 43 02 01 01 01 02 00 00 00 01 00 00 00 02 00 00 00 02 00 00 00 02 01 00 02 00 "
                          "00 00 00 00 00 00 02 00 01 00 00 00 00 00 00 00 0a fa 02 d8 78 40 4c"),
])
def test_worked_examples_of_the_format_page(name, hex_bytes):
    """docs/format.md spells these files out byte by byte."""
    data = (GOLDEN / f"{name}.vqc").read_bytes()
    assert data.hex(" ") == hex_bytes
    assert hex_bytes in " ".join(line.split("  ")[0].strip() for line in FORMAT.read_text().splitlines()).replace("  ", " ")
    assert vqcodec.decode(data).pixels.tolist() == [[10, 250]]


@pytest.mark.parametrize(("name", "loads"), [("rgb-37x29-b3-k16", False), ("v2-fixed-rgb-37x29-b3-k16", False),
                                             ("v2-rgb-61x43-b3-k40", True)])
def test_only_adaptive_sections_load_numba(name, loads, tmp_path):
    """Version 1 and fixed-rate files decode in plain NumPy, so `vqcodec decode` never waits for a
    compiler; the adaptive codings need the compiled arithmetic decoder."""
    import subprocess
    import sys

    code = "import sys, vqcodec; vqcodec.info(sys.argv[1]); a = 'numba' in sys.modules; vqcodec.decode(sys.argv[1]); print(a, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code, str(GOLDEN / f"{name}.vqc")],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", str(loads)]
    command = ("import sys; from vqcodec.cli.commands import main; main(['decode', *sys.argv[1:]], standalone_mode=False);"
               "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", command, str(GOLDEN / f"{name}.vqc"), "-o", str(tmp_path / "a.png")],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(loads)]  # the command looks at the file before it offers to compile
