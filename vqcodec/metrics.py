"""Distortion measures on 8-bit images."""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def squared_error(a: np.ndarray, b: np.ndarray) -> int:
    """Sum of squared differences of two uint8 images, exact, a slice of rows at a time
    so that a large image needs no wide copy."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    rows = max(1, SLICE // max(1, a[0].size))
    total = 0
    for start in range(0, len(a), rows):
        diff = np.subtract(a[start : start + rows], b[start : start + rows], dtype=np.int32)
        np.multiply(diff, diff, out=diff)
        total += int(np.sum(diff, dtype=np.int64))
    return total


SLICE = 1 << 14  # samples squared_error takes at a time: its int32 copy, 64 KiB, stays below the size from which
# the command has the C library map buffers apart and give them back when freed (vqcodec.cli.program), so that
# the slices of a large image reuse one buffer rather than fault in fresh pages each


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over every sample of every channel of two uint8 images."""
    return squared_error(a, b) / a.size


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit samples; inf when identical."""
    return _psnr(mse(a, b))


def psnr_of_bands(original: np.ndarray, bands) -> float:
    """PSNR of an image given as (first row, pixels) bands, so it never exists whole."""
    total = sum(squared_error(original[top : top + len(band)], band) for top, band in bands)
    return psnr_of_error(total, original.size)


def psnr_of_error(error: int, samples: int) -> float:
    """PSNR in dB of a total squared `error` over that many 8-bit samples; inf when it is 0."""
    return _psnr(error / samples)


def _psnr(error: float) -> float:
    return math.inf if error == 0 else 10 * math.log10(255.0**2 / error)


_SSIM_RADIUS = 5  # 11 x 11 Gaussian window with sigma 1.5, as in Wang et al. (2004)
_SSIM_WEIGHTS = np.exp(-0.5 * (np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1) / 1.5) ** 2)
_SSIM_WEIGHTS /= _SSIM_WEIGHTS.sum()
_SSIM_PIXELS = 1 << 18  # pixels per band: some 30 MB of float64 maps at a time, whatever the image's size


def _luma(pixels: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma in float64 of (H, W) or (H, W, C) uint8 pixels: grey is its own luma, and
    alpha, which a viewer does not see as detail, is left out."""
    if pixels.ndim == 2:
        return pixels.astype(np.float64)
    if pixels.shape[2] < 3:
        return pixels[:, :, 0].astype(np.float64)
    red, green, blue = (pixels[:, :, c].astype(np.float64) for c in range(3))
    return 0.299 * red + 0.587 * green + 0.114 * blue


def _blur(maps: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter over the last two axes, keeping only the fully covered ('valid') part."""
    for axis in (-2, -1):
        maps = sliding_window_view(maps, len(_SSIM_WEIGHTS), axis=axis) @ _SSIM_WEIGHTS
    return maps


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean structural similarity (Wang et al. 2004) of the luma over the windows that fit: detail lost
    to blurring lowers it even where PSNR barely moves. None below 11 x 11 pixels, where no window fits.

    Taken in bands of rows, so that a large image needs no float copy of its own size.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    height, width = a.shape[:2]
    side = len(_SSIM_WEIGHTS)
    if min(height, width) < side:
        return None
    windows = height - side + 1  # rows of windows
    rows = max(1, _SSIM_PIXELS // width)
    total = 0.0
    for top in range(0, windows, rows):
        band = slice(top, min(top + rows, windows) + side - 1)
        total += _ssim_sum(_luma(a[band]), _luma(b[band]))
    return total / (windows * (width - side + 1))


def _ssim_sum(x: np.ndarray, y: np.ndarray) -> float:
    """The SSIM index of two luma planes summed over the windows that fit, from Gaussian-weighted means,
    variances and covariance."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my, xx, yy, xy = _blur(np.stack([x, y, x * x, y * y, x * y]))
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.sum())


def codebook_psnr(vectors: np.ndarray, codebook: np.ndarray) -> float:
    """PSNR of uint8 vectors replaced by their nearest codewords, the codebook rounded to
    8 bits as the encoder stores it. For comparing trainers on the same vectors."""
    from .train.nearest import nearest  # Numba: only here, so decoding never loads it

    rounded = np.clip(np.rint(codebook), 0, 255).astype(np.uint8)
    return _psnr(float(nearest(vectors, rounded)[1].astype(np.float64).sum()) / vectors.size)
