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
    padded = np.pad(image, ((0, rows * block - height), (0, cols * block - width), (0, 0)), mode="edge")
    tiles = padded.reshape(rows, block, cols, block, channels).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * cols, block * block * channels)


def from_vectors(vectors: np.ndarray, height: int, width: int, block: int) -> np.ndarray:
    """Inverse of to_vectors: (blocks, block*block*C) -> (H, W, C), padding cropped."""
    rows, cols = grid(height, width, block)
    channels = vectors.shape[1] // (block * block)
    tiles = vectors.reshape(rows, cols, block, block, channels).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * block, cols * block, channels)[:height, :width]
