import numpy as np
import pytest
from helpers import random_image
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vqcodec.format import blocks

SIZES = [(1, 1), (1, 9), (9, 1), (5, 7), (17, 3), (8, 8)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("block", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_round_trip(height, width, block, channels):
    image = random_image(height, width, channels, seed=height * 31 + width)
    vectors = blocks.to_vectors(image, block)
    rows, cols = -(-height // block), -(-width // block)
    assert blocks.grid(height, width, block) == (rows, cols)
    assert vectors.shape == (rows * cols, block * block * channels)
    assert vectors.dtype == np.uint8
    np.testing.assert_array_equal(blocks.from_vectors(vectors, height, width, block), image)


@settings(max_examples=50)
@given(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=12).filter(lambda s: s[2] <= 4)),
    st.integers(1, 6),
)
def test_round_trip_property(image, block):
    vectors = blocks.to_vectors(image, block)
    np.testing.assert_array_equal(blocks.from_vectors(vectors, *image.shape[:2], block), image)


def test_layout_row_column_channel_and_row_major_blocks():
    # 2 x 4 image, 2 channels, b = 2: two blocks side by side. Pixel (y, x) channel c = 100*c + 10*y + x.
    y, x, c = np.mgrid[0:2, 0:4, 0:2]
    image = (100 * c + 10 * y + x).astype(np.uint8)
    vectors = blocks.to_vectors(image, 2)
    # block 0 covers columns 0-1: pixels (0,0) (0,1) (1,0) (1,1), each as (channel 0, channel 1)
    assert vectors[0].tolist() == [0, 100, 1, 101, 10, 110, 11, 111]
    assert vectors[1].tolist() == [2, 102, 3, 103, 12, 112, 13, 113]


def test_blocks_are_numbered_row_by_row():
    # 4 x 4 grey image of 2 x 2 blocks, each block filled with its own number in row-major order.
    image = np.kron(np.array([[0, 1], [2, 3]], dtype=np.uint8), np.ones((2, 2), np.uint8))[:, :, None]
    vectors = blocks.to_vectors(image, 2)
    assert vectors.tolist() == [[0] * 4, [1] * 4, [2] * 4, [3] * 4]


def test_edge_padding_replicates_last_row_and_column():
    # 3 x 3 grey image with b = 2: a 2 x 2 grid; the right and bottom blocks repeat the last column/row.
    image = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.uint8)[:, :, None]
    vectors = blocks.to_vectors(image, 2)
    assert vectors.tolist() == [
        [1, 2, 4, 5],
        [3, 3, 6, 6],  # column 2, repeated
        [7, 8, 7, 8],  # row 2, repeated
        [9, 9, 9, 9],  # the corner pixel, repeated both ways
    ]


def test_edge_padding_with_channels():
    # 1 x 1 RGB image with b = 3: one block made of nine copies of the pixel.
    image = np.array([[[10, 20, 30]]], dtype=np.uint8)
    assert blocks.to_vectors(image, 3).tolist() == [[10, 20, 30] * 9]


def test_from_vectors_crops_padding():
    vectors = np.arange(2 * 2 * 4, dtype=np.uint8).reshape(4, 4)  # 2 x 2 grid of 2 x 2 blocks
    image = blocks.from_vectors(vectors, 3, 3, 2)
    assert image.shape == (3, 3, 1)
    assert image[:, :, 0].tolist() == [[0, 1, 4], [2, 3, 6], [8, 9, 12]]


@pytest.mark.parametrize(("height", "width", "block"), [(1, 1, 3), (13, 7, 4), (17, 3, 2), (9, 9, 3)])
@pytest.mark.parametrize("band_bytes", [1, 50, 1 << 22])
def test_band_decoding_matches_whole_decoding(height, width, block, band_bytes):
    rng = np.random.default_rng(height * width)
    rows, cols = blocks.grid(height, width, block)
    codebook = rng.integers(0, 256, (5, block * block * 3), dtype=np.uint8)
    indices = rng.integers(0, 5, rows * cols)
    whole = blocks.from_vectors(codebook[indices], height, width, block)
    pieces = list(blocks.bands(codebook, indices, height, width, block, band_bytes))
    assert [top for top, _ in pieces] == sorted({top for top, _ in pieces})
    np.testing.assert_array_equal(np.concatenate([band for _, band in pieces]), whole)
    np.testing.assert_array_equal(blocks.decode(codebook, indices, height, width, block), whole)
