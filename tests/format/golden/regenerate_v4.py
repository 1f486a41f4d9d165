"""Write the version-4 and version-5 golden .vqc files and their expected images.

Run only when the format changes on purpose; the point of golden files is
that every test run decodes these exact bytes, forever. Each file is small
(spec_vqc, the second decoder, is slow) and covers a part of version 4: several
tiles with partial ones at the right and bottom edges, 4:2:0 chroma tiles of
32 samples (the least side, as tiles of 32 pixels give), 4:4:4, an alpha plane, a constant plane, planes of one
codeword, more than 512 codewords, a block side of 3 (tiles round up to 48, a
multiple of b and of the cell side 8) and a single tile. The files named v4-filter-* have planes with
the restoration filter (the tool FILTER), which vqcodec 0.4.0, which wrote the others, did not have; an
encoder of today would give those the filter too, so the script writes only the files named, or by
default those not there yet. Those few pixels could not pay for the filter's weights, which vqcodec weighs
against their bytes; the script has every plane of them take the filter all the same (an encoder may), with
the weights vqcodec chooses. The files named v4-refine-* have planes with the refinement layer (the tool
REFINE), which vqcodec 0.6.0 added; some of their tiles are refined and some not. The files named
v4-shared-* take codebooks from the shared codebook v4-shared.vqcb (the tools SHARED and SHARED_BOOK,
which vqcodec 0.7.0 added), learned here from tiles of chelsea.png, which they are not cut from; some of
their planes take an entry of it and some their own codebook; in v4-shared-extended-*, some take an entry
followed by codewords of their own (the tool EXTENDED, which vqcodec 0.8.0 added). The files named
v4-cubic-* and v4-filter-cubic-* have the cubic base on every plane (the tool CUBIC, which vqcodec 0.9.0
added and gives every plane), the second with the filter too.

The encoder writes version 5 since vqcodec 0.7.0, version 4 with the header's integers as varints; the
v4-* files are its output rewritten as version 4, and the v5-* files (V5 names them) are v4-* files
rewritten as version 5: the same sections, the same image, another header.

    python tests/format/golden/regenerate_v4.py [NAME ...]
"""
import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import vqcodec
from vqcodec.format import container

HERE = Path(__file__).parent
SAMPLES = HERE.parents[2] / "samples"


def inputs() -> dict:
    camera = np.asarray(Image.open(SAMPLES / "camera.png"))
    chelsea = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    ramp = (np.mgrid[0:37, 0:45][1] * 5).astype(np.uint8)[..., None]
    rgba = np.concatenate([chelsea[40:77, 60:105], ramp], axis=2)  # alpha 0 .. 220, left to right
    la = np.stack([camera[250:285, 200:239], np.full((35, 39), 255, np.uint8)], axis=2)
    flat = np.full((35, 38, 3), (120, 80, 200), np.uint8)  # flat, with a little noise in green
    flat[..., 1] = 80 + np.random.default_rng(5).integers(-3, 4, (35, 38))
    return {
        # name: (pixels, encode options)
        "v4-grey-70x75-t32": (camera[300:375, 150:220], {"tile": 32}),  # 3 x 3 tiles: 32, 32, 6 across; 32, 32, 11 down
        "v4-rgb420-75x67-t32": (chelsea[100:167, 200:275], {"quality": 60, "tile": 32}),  # chroma tiles of 32 samples
        "v4-rgb444-45x37-q100-t32": (chelsea[10:47, 10:55], {"quality": 100, "tile": 32}),
        "v4-rgba-45x37-t32": (rgba, {"tile": 32}),
        "v4-la-constant-39x35-t32": (la, {"tile": 32}),  # the alpha plane is constant
        "v4-k1-rgb-38x35-t32": (flat, {"tile": 32}),  # every plane has k = 1
        "v4-grey-61x53-b3-t48": (camera[260:313, 100:161], {"block": 3, "k": 20, "quality": 70, "tile": 32}),
        "v4-grey-47x33-one-tile": (camera[210:243, 230:277], {}),  # the default tile, larger than the image
        # k above 512: the lean model drops sh = 2 low bits of a neighbour's index (E = 173 trees, or so)
        "v4-grey-56x50-k690-t32": (camera[380:430, 300:356], {"quality": 100, "tile": 32}),
        # the filter: units of 16 samples, partial ones at the edges; on luma, and on 4:2:0 chroma
        "v4-filter-grey-70x75-t32": (camera[100:175, 250:320], {"quality": 50, "tile": 32}),
        "v4-filter-rgb420-75x67-t32": (chelsea[150:217, 100:175], {"quality": 40, "tile": 32}),
        # the refinement: steps chosen per tile, tiles without one, partial tiles; grey, and a 4:4:4 image
        # (few codewords, as so few blocks would otherwise have one each)
        "v4-refine-grey-70x75-t32": (camera[100:175, 250:320], {"quality": 90, "k": 32, "tile": 32}),
        "v4-refine-rgb444-75x67-t32": (chelsea[150:217, 100:175], {"quality": 100, "k": 64, "tile": 32}),
        # a shared codebook's entries: for luma over tiles beside chroma planes with their own, and for grey
        "v4-shared-rgb420-45x37-t32": (coffee()[150:187, 300:345], {"quality": 40, "tile": 32}),
        "v4-shared-grey-40x36": (camera[250:286, 200:240], {"quality": 82}),
        # entries followed by codewords of a plane's own (EXTENDED) for luma and Cr, an entry alone for Cb
        "v4-shared-extended-rgb420-61x53-t32": (coffee()[200:253, 100:161], {"quality": 60, "tile": 32}),
        # the cubic base: partial tiles and cells at the edges, luma and 4:2:0 chroma, and grey at a low quality
        # (coarse means, whose steps the cubic overshoots)
        "v4-cubic-rgb420-75x67-t32": (chelsea[100:167, 200:275], {"quality": 60, "tile": 32}),
        "v4-filter-cubic-grey-70x75-t32": (camera[300:375, 150:220], {"quality": 20, "tile": 32}),
    }


V5 = ("v4-grey-70x75-t32", "v4-rgb420-75x67-t32", "v4-la-constant-39x35-t32", "v4-grey-56x50-k690-t32",
      "v4-filter-rgb420-75x67-t32", "v4-refine-grey-70x75-t32", "v4-shared-rgb420-45x37-t32",
      "v4-shared-extended-rgb420-61x53-t32", "v4-cubic-rgb420-75x67-t32")  # as v5-*


def rewritten(data: bytes, version: int) -> bytes:
    """The file with its header written as `version` (4 or 5), its sections as they are."""
    header, payloads = container.parse(data, None)
    return container.build(dataclasses.replace(header, version=version), tuple(bytes(p) for p in payloads))


def coffee() -> np.ndarray:
    return np.asarray(Image.open(SAMPLES / "coffee.png"))


SHARED = HERE / "v4-shared.vqcb"


def shared_codebook():
    """The golden shared codebook, learned from 12 tiles of 24 x 24 of chelsea.png at two qualities."""
    chelsea = np.asarray(Image.open(SAMPLES / "chelsea.png"))
    tiles = [chelsea[24 * i : 24 * i + 24, 30 * j : 30 * j + 24] for i in range(3) for j in range(4)]
    tiles += [np.asarray(Image.fromarray(t).convert("L")) for t in tiles[:4]]  # and grey ones, for luma
    return vqcodec.train_shared(tiles, qualities=(40, 80))


def filter_everywhere() -> None:
    """Every coded plane takes the filter, as if what it lowers always paid for its bytes."""
    from vqcodec.rd import encode

    chosen = encode.chosen_weights
    encode.chosen_weights = lambda sums, p: (chosen(sums, p)[0], float("inf"))


def write_v5() -> None:
    for name in V5:
        data = rewritten((HERE / f"{name}.vqc").read_bytes(), 5)
        (HERE / f"v5-{name[3:]}.vqc").write_bytes(data)
        (HERE / f"v5-{name[3:]}.png").write_bytes((HERE / f"{name}.png").read_bytes())
        print(f"v5-{name[3:]}", len(data), "bytes")


if __name__ == "__main__":
    wanted = sys.argv[1:] or [name for name in inputs() if not (HERE / f"{name}.vqc").exists()]
    filtered = [name for name in wanted if name.startswith("v4-filter-")]
    assert not filtered or filtered == wanted, "write the v4-filter-* files alone"
    if filtered:
        filter_everywhere()
    shared = None
    if any(name.startswith("v4-shared-") for name in wanted):
        if not SHARED.exists():
            SHARED.write_bytes(shared_codebook().data)
        shared = vqcodec.read_codebook(SHARED)
    for name, (pixels, options) in ((name, inputs()[name]) for name in wanted):
        encoded = vqcodec.encode(pixels, **options, codebook=shared if name.startswith("v4-shared-") else None)
        data = rewritten(encoded.data, 4)
        (HERE / f"{name}.vqc").write_bytes(data)
        decoded = vqcodec.decode(data, codebook=shared).pixels
        Image.fromarray(decoded).save(HERE / f"{name}.png")
        planes = [(p.k, p.tile, p.tools) for p in encoded.header.planes]
        print(name, len(data), "bytes", encoded.header.colour, "(k, tile, tools) per plane:", planes)
    write_v5()
