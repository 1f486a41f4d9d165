"""Distortion measures on 8-bit images."""
import math

import numpy as np


def squared_error(a: np.ndarray, b: np.ndarray) -> int:
    """Sum of squared differences of two uint8 images, exact, a slice of rows at a time
    so that a large image needs no wide copy."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    rows = max(1, (1 << 20) // max(1, a[0].size))
    total = 0
    for start in range(0, len(a), rows):
        diff = a[start : start + rows].astype(np.int32) - b[start : start + rows]
        total += int(np.sum(diff * diff, dtype=np.int64))
    return total


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


def _blur(a: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter over axes 0 and 1, keeping only the fully covered ('valid') part."""
    width = len(_SSIM_WEIGHTS)
    for axis in (0, 1):
        n = a.shape[axis] - width + 1
        a = sum(w * np.take(a, np.arange(i, i + n), axis=axis) for i, w in enumerate(_SSIM_WEIGHTS))
    return a


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """Mean structural similarity (Wang et al. 2004) over all channels; None below 11 x 11 pixels."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    if min(a.shape[:2]) < len(_SSIM_WEIGHTS):
        return None
    x = a.astype(np.float64).reshape(a.shape[0], a.shape[1], -1)
    y = b.astype(np.float64).reshape(x.shape)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur(x), _blur(y)
    vx = _blur(x * x) - mx * mx
    vy = _blur(y * y) - my * my
    cov = _blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


def codebook_psnr(vectors: np.ndarray, codebook: np.ndarray) -> float:
    """PSNR of uint8 vectors replaced by their nearest codewords, the codebook rounded to
    8 bits as the encoder stores it. For comparing trainers on the same vectors."""
    from .train.nearest import nearest  # Numba: only here, so decoding never loads it

    rounded = np.clip(np.rint(codebook), 0, 255).astype(np.uint8)
    return _psnr(float(nearest(vectors, rounded)[1].astype(np.float64).sum()) / vectors.size)
