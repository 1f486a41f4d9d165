"""Cut an image into b x b blocks (vectors) and put it back together.

A block's vector lists its pixels row by row and, within a pixel, its channels:
(row, column, channel). Blocks are taken row by row over the block grid. Edges
that do not fill a block are padded by repeating the last row and column, so
the padding costs little distortion, and the decoder crops it away.
"""
import numpy as np


def grid(height: int, width: int, block: int) -> tuple[int, int]:
    """Number of block rows and columns covering the image."""
    return -(-height // block), -(-width // block)


def to_vectors(image: np.ndarray, block: int) -> np.ndarray:
    """(H, W, C) uint8 image -> (blocks, block*block*C) uint8 vectors."""
    height, width, channels = image.shape
    rows, cols = grid(height, width, block)
    if (rows * block, cols * block) != (height, width):  # pad only when the blocks overhang
        image = np.pad(image, ((0, rows * block - height), (0, cols * block - width), (0, 0)), mode="edge")
    tiles = image.reshape(rows, block, cols, block, channels).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * cols, block * block * channels)


def from_vectors(vectors: np.ndarray, height: int, width: int, block: int) -> np.ndarray:
    """Inverse of to_vectors: (blocks, block*block*C) -> (H, W, C), padding cropped."""
    rows, cols = grid(height, width, block)
    channels = vectors.shape[1] // (block * block)
    tiles = vectors.reshape(rows, cols, block, block, channels).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * block, cols * block, channels)[:height, :width]


def bands(codebook: np.ndarray, indices: np.ndarray, height: int, width: int, block: int, band_bytes: int = 1 << 22):
    """Decode a band of block rows at a time: yields (first pixel row, pixels of the band).

    Keeps the memory a decoder needs beyond its output to about `band_bytes`.
    """
    rows, cols = grid(height, width, block)
    per_band = max(1, band_bytes // (cols * codebook.shape[1]))
    for first in range(0, rows, per_band):
        last = min(rows, first + per_band)
        band = from_vectors(codebook[indices[first * cols : last * cols]],
                            min(height, last * block) - first * block, width, block)
        yield first * block, band


def decode(codebook: np.ndarray, indices: np.ndarray, height: int, width: int, block: int) -> np.ndarray:
    """The (H, W, C) image the codebook and indices describe."""
    out = np.empty((height, width, codebook.shape[1] // (block * block)), dtype=codebook.dtype)
    for top, band in bands(codebook, indices, height, width, block):
        out[top : top + len(band)] = band
    return out
