"""Version 2 against version 1 on the bundled photos: the same decoded image in fewer bytes.

The version-1 file is what vqcodec 0.1 wrote for the same options: the trained
codebook raw and the indices bit-packed, from the encoding pipeline without
its ordering stage (the stages up to the assignment).
"""
import lzma

import numpy as np
import pytest
from helpers import SAMPLES, v1_file

import vqcodec
from vqcodec.classic.encode import ENCODE

PHOTOS = ("camera.png", "astronaut.png", "chelsea.png", "camera-128.png")
SETTINGS = [(256, 4), (64, 4)]
TARGET = 0.65  # mean v2 / v1 size over the photos and settings


@pytest.fixture(scope="module")
def encodings():
    """(photo, K, b) -> (v2 bytes, v1 bytes, the v2 header, the indices as stored in v2)."""
    out = {}
    for photo in PHOTOS:
        for k, block in SETTINGS:
            options = vqcodec.EncodeOptions(k=k, block=block)
            v2 = ENCODE.run(source=SAMPLES / photo, max_pixels=None, options=options)
            v1 = ENCODE.until("assign").run(source=SAMPLES / photo, max_pixels=None, options=options)
            h = v2["header"]
            old = v1_file(h.width, h.height, h.channels, block, len(v1["codebook"]), k, 1, v1["codebook"], v1["indices"])
            out[photo, k, block] = v2["data"], old, h, v2["indices"]
    return out


def test_the_decoded_images_are_those_of_version_1(encodings):
    for (photo, k, block), (new, old, _, _) in encodings.items():
        np.testing.assert_array_equal(vqcodec.decode(new).pixels, vqcodec.decode(old).pixels, err_msg=photo)


def test_version_2_files_are_at_most_065_of_version_1_on_average(encodings):
    ratios = {key: len(new) / len(old) for key, (new, old, _, _) in encodings.items()}
    assert np.mean(list(ratios.values())) <= TARGET, ratios
    assert max(ratios.values()) < 0.9, ratios  # and no photo gains little


def test_the_index_section_is_smaller_than_lzma_of_byte_aligned_indices(encodings):
    for (photo, k, block), (_, _, h, indices) in encodings.items():
        aligned = np.asarray(indices, np.uint8 if h.k <= 256 else np.uint16).tobytes()
        assert h.section("indices").coding == "context"
        assert h.section("indices").length < len(lzma.compress(aligned, preset=9)), (photo, k)


def test_the_codebook_section_is_coded(encodings):
    for (photo, k, block), (_, _, h, _) in encodings.items():
        assert h.section("codebook").coding == "predicted", (photo, k)
        assert h.section("codebook").length < 0.9 * h.raw_codebook_bytes, (photo, k)
