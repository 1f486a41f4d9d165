"""The committed golden files must decode to their committed images, bit for bit.

The files without a prefix are version 1, written by vqcodec 0.1; the `v2-`
files are version 2, the `v3-` files version 3, the `v4-` files version 4 and
the `v5-` files version 5.
If one of these fails, the format or the decoder changed: that needs a new
version byte and new golden files beside these (golden/regenerate.py,
golden/regenerate_v3.py, golden/regenerate_v4.py), never a quiet edit.
"""
import dataclasses

import numpy as np
import pytest
import spec_vqc
from helpers import DOCS, GOLDEN, GOLDEN_CODEBOOK
from PIL import Image

import vqcodec
from vqcodec.format import container

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


# Version 4: name: (width, height, channels, colour, file size, (block, k, tile side, tiles) of each plane)
EXPECTED_V4 = {
    "v4-filter-grey-70x75-t32": (70, 75, 1, "planes", 1727, ((2, 235, 32, 9),)),
    "v4-filter-rgb420-75x67-t32": (75, 67, 3, "ycbcr420", 1279, ((2, 65, 32, 9), (2, 1, 32, 4), (2, 1, 32, 4))),
    "v4-refine-grey-70x75-t32": (70, 75, 1, "planes", 1854, ((2, 32, 32, 9),)),
    "v4-refine-rgb444-75x67-t32": (75, 67, 3, "ycbcr444", 4911, ((2, 64, 32, 9), (2, 62, 32, 9), (2, 47, 32, 9))),
    "v4-grey-47x33-one-tile": (47, 33, 1, "planes", 1169, ((2, 263, 256, 1),)),
    "v4-grey-56x50-k690-t32": (56, 50, 1, "planes", 3002, ((2, 690, 32, 4),)),
    "v4-grey-61x53-b3-t48": (61, 53, 1, "planes", 243, ((3, 15, 48, 4),)),
    "v4-grey-70x75-t32": (70, 75, 1, "planes", 2233, ((2, 305, 32, 9),)),
    "v4-k1-rgb-38x35-t32": (38, 35, 3, "ycbcr420", 168, ((2, 1, 32, 4), (2, 1, 32, 1), (2, 1, 32, 1))),
    "v4-la-constant-39x35-t32": (39, 35, 2, "planes", 397, ((2, 61, 32, 4), (0, 0, 0, 0))),
    "v4-rgb420-75x67-t32": (75, 67, 3, "ycbcr420", 2338, ((2, 225, 32, 9), (2, 26, 32, 4), (2, 29, 32, 4))),
    "v4-rgb444-45x37-q100-t32": (45, 37, 3, "ycbcr444", 1382, ((2, 226, 32, 4), (2, 46, 32, 4), (2, 23, 32, 4))),
    "v4-rgba-45x37-t32": (45, 37, 4, "ycbcr420", 1545, ((2, 304, 32, 4), (2, 7, 32, 1), (2, 3, 32, 1), (2, 7, 32, 4))),
    "v4-shared-grey-40x36": (40, 36, 1, "planes", 246, ((2, 301, 256, 1),)),
    "v4-shared-rgb420-45x37-t32": (45, 37, 3, "ycbcr420", 246, ((2, 23, 32, 4), (2, 6, 32, 1), (2, 6, 32, 1))),
    "v4-shared-extended-rgb420-61x53-t32": (61, 53, 3, "ycbcr420", 414,
                                            ((2, 31, 32, 4), (2, 3, 32, 1), (2, 10, 32, 1))),
    "v4-cubic-rgb420-75x67-t32": (75, 67, 3, "ycbcr420", 2204, ((2, 213, 32, 9), (2, 21, 32, 4), (2, 20, 32, 4))),
    "v4-filter-cubic-grey-70x75-t32": (70, 75, 1, "planes", 576, ((2, 36, 32, 9),)),
}
EXTENDED = container.SHARED_BOOK | container.EXTENDED
BOTH = container.FILTER | container.REFINE
TOOLS = {  # each plane's tools in the v4-refine-*, v4-shared-* and v4-*cubic-* files
    "v4-refine-grey-70x75-t32": (BOTH,),
    "v4-refine-rgb444-75x67-t32": (BOTH, 0, 0),
    "v4-shared-grey-40x36": (container.SHARED_BOOK,),
    "v4-shared-rgb420-45x37-t32": (container.SHARED_BOOK, 0, 0),
    "v4-shared-extended-rgb420-61x53-t32": (EXTENDED, container.SHARED_BOOK, EXTENDED),
    "v4-cubic-rgb420-75x67-t32": (container.CUBIC,) * 3,
    "v4-filter-cubic-grey-70x75-t32": (container.FILTER | container.CUBIC,),
}
SHARED_IDENTITY = "e376596182e47a14"  # of v4-shared.vqcb: the first 8 bytes of its SHA-256
# Version 5: name: file size. Each is the v4-* file of the same name rewritten as version 5
# (golden/regenerate_v4.py): the same sections and image, a header of varints.
EXPECTED_V5 = {
    "v5-filter-rgb420-75x67-t32": 1119,
    "v5-grey-56x50-k690-t32": 2955,
    "v5-grey-70x75-t32": 2156,
    "v5-la-constant-39x35-t32": 331,
    "v5-refine-grey-70x75-t32": 1748,
    "v5-rgb420-75x67-t32": 2182,
    "v5-shared-rgb420-45x37-t32": 150,
    "v5-shared-extended-rgb420-61x53-t32": 318,
    "v5-cubic-rgb420-75x67-t32": 2048,
}


def test_every_golden_file_is_listed():
    assert {p.stem for p in GOLDEN.glob("*.vqc") if not p.stem.startswith(("v3-", "v4-", "v5-"))} == set(EXPECTED)
    assert {p.stem for p in GOLDEN.glob("v4-*.vqc")} == set(EXPECTED_V4)
    assert {p.stem for p in GOLDEN.glob("v5-*.vqc")} == set(EXPECTED_V5)


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


@pytest.mark.parametrize("name", sorted(EXPECTED_V4))
def test_version_4_golden_files_decode_forever(name):
    """Each holds what golden/regenerate_v4.py says it covers (several tiles, partial ones, 4:2:0 chroma tiles
    of 32 samples, the least, a constant plane, k = 1, k above 512, b = 3 with tiles of 48, a single tile,
    the restoration filter on every plane of the v4-filter-* files, the refinement and the shared codebook
    on the planes TOOLS lists and on none of the others) and decodes to its image."""
    path = GOLDEN / f"{name}.vqc"
    h = vqcodec.info(path)
    tiles = tuple((p.block, p.k, p.tile, p.tiles if p.k else 0) for p in h.planes)
    shared = name.startswith("v4-shared-")
    assert h.version == 4 and h.tools == (container.SHARED if shared else 0)
    assert h.codebook.hex() == (SHARED_IDENTITY if shared else "")
    tools = TOOLS.get(name, (container.FILTER if name.startswith("v4-filter-") else 0,) * len(h.planes))
    assert tuple(p.tools for p in h.planes) == tools
    assert (h.width, h.height, h.channels, h.colour, h.file_size, tiles) == EXPECTED_V4[name]
    expected = np.asarray(Image.open(path.with_suffix(".png")))
    assert np.array_equal(vqcodec.decode(path, codebook=GOLDEN_CODEBOOK).pixels, expected)


@pytest.mark.parametrize("name", sorted(EXPECTED_V5))
def test_version_5_golden_files_are_version_4_with_a_compact_header(name):
    """The header says what version 4's says, in fewer bytes; the sections are the same bytes, and decode
    to the same image."""
    data, v4 = (GOLDEN / f"{name}.vqc").read_bytes(), (GOLDEN / f"v4-{name[3:]}.vqc").read_bytes()
    h, h4 = vqcodec.info(data), vqcodec.info(v4)
    assert h.version == 5 and len(data) == h.file_size == EXPECTED_V5[name]
    assert dataclasses.replace(h, version=4) == h4
    assert h.header_size < h4.header_size and data[h.header_size : -4] == v4[h4.header_size : -4]
    expected = np.asarray(Image.open(GOLDEN / f"{name}.png"))
    assert np.array_equal(vqcodec.decode(data, codebook=GOLDEN_CODEBOOK).pixels, expected)


def test_the_golden_shared_codebook_is_what_its_identity_says():
    """v4-shared.vqcb, learned by vqcodec 0.7.0 (golden/regenerate_v4.py): its identity, entries and codewords
    as both decoders read them."""
    shared = vqcodec.read_codebook(GOLDEN_CODEBOOK)
    assert shared.name == SHARED_IDENTITY
    assert [(kind, quality, len(book)) for kind, quality, book in shared.entries] == [
        (0, 40, 23), (0, 80, 301), (1, 40, 3), (1, 80, 30)]
    spec = spec_vqc.read_vqcb(GOLDEN_CODEBOOK.read_bytes())
    assert [(kind, quality) for kind, quality, _ in spec] == [(kind, quality) for kind, quality, _ in shared.entries]
    for (_, _, ours), (_, _, theirs) in zip(shared.entries, spec):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.vqc")), ids=lambda p: p.stem)
def test_the_reference_decoder_decodes_every_golden_file(path):
    """tests/format/spec_vqc.py, written from docs/format.md alone, gives the committed image of every
    version's golden files: the page is precise enough to decode them."""
    expected = np.asarray(Image.open(path.with_suffix(".png")))
    decoded = spec_vqc.decode(path.read_bytes(), max_pixels=1 << 20, codebook=GOLDEN_CODEBOOK.read_bytes())
    assert decoded is not None
    assert decoded.dtype == np.uint8 and decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)


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
