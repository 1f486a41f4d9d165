"""Distortion measures on 8-bit images."""
import math

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over every sample of every channel."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    diff = a.astype(np.float64) - b
    return float(np.mean(diff * diff))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for 8-bit samples; inf when identical."""
    error = mse(a, b)
    return math.inf if error == 0 else 10 * math.log10(255.0**2 / error)
