"""SSIM against a direct computation window by window, and the properties the codec comparison relies on."""
import numpy as np
import pytest
from helpers import peak_allocation, random_image

from vqcodec import metrics


def naive_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as Wang et al. (2004) define it, one 11 x 11 window at a time: Gaussian-weighted (sigma 1.5)
    means, variances and covariance of the BT.601 luma, the index of each window inside the image, their mean."""
    x, y = (p @ [0.299, 0.587, 0.114] if p.ndim == 3 else p.astype(float) for p in (a, b))
    offsets = np.arange(-5, 6)
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    indices = []
    for top in range(x.shape[0] - 10):
        for left in range(x.shape[1] - 10):
            wx, wy = x[top : top + 11, left : left + 11], y[top : top + 11, left : left + 11]
            mx, my = np.sum(window * wx), np.sum(window * wy)
            vx, vy = np.sum(window * (wx - mx) ** 2), np.sum(window * (wy - my) ** 2)
            cov = np.sum(window * (wx - mx) * (wy - my))
            indices.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    return float(np.mean(indices))


def noisy(pixels: np.ndarray, spread: int, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-spread, spread + 1, pixels.shape)
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


def photo_like(height: int, width: int, channels: int | None = None) -> np.ndarray:
    """Smooth ramps with some texture, so that SSIM sits well inside (0, 1) and noise moves it."""
    y, x = np.mgrid[0:height, 0:width]
    grey = np.clip(x * 150 // width + y * 90 // height + 10 * np.sin(x * 0.9) * np.cos(y * 0.7), 0, 255)
    if channels is None:
        return grey.astype(np.uint8)
    return np.stack([grey * (1 - 0.1 * c) + 10 * c for c in range(channels)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("channels", [None, 3])
def test_ssim_matches_the_window_by_window_definition(channels):
    a = photo_like(20, 24, channels)
    b = noisy(a, 25)
    assert metrics.ssim(a, b) == pytest.approx(naive_ssim(a, b), abs=1e-12)
    assert 0.2 < metrics.ssim(a, b) < 0.95


def test_bands_of_rows_add_up_to_the_whole(monkeypatch):
    """Bands of 3 rows of windows, the last one shorter: each window is counted exactly once."""
    a = photo_like(27, 24, 3)
    b = noisy(a, 25)
    monkeypatch.setattr(metrics, "_SSIM_PIXELS", 3 * 24)
    assert metrics.ssim(a, b) == pytest.approx(naive_ssim(a, b), abs=1e-12)


def test_ssim_matches_scikit_image():
    """0.9267936312488263 is what scikit-image 0.26's structural_similarity (gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=255) gives for this pair."""
    y, x = np.mgrid[0:24, 0:32]
    a = ((x * 7 + y * 3) % 256).astype(np.uint8)
    b = ((x * 7 + y * 3 + (x * y) % 13) % 256).astype(np.uint8)
    assert metrics.ssim(a, b) == pytest.approx(0.9267936312488263, abs=1e-12)


@pytest.mark.parametrize("channels", [None, 3])
def test_an_image_against_itself_scores_exactly_one(channels):
    a = random_image(40, 37, channels)
    assert metrics.ssim(a, a) == 1.0


def test_ssim_is_symmetric():
    a = photo_like(33, 41, 3)
    b = noisy(a, 40)
    assert metrics.ssim(a, b) == metrics.ssim(b, a) != 1.0


@pytest.mark.parametrize("channels", [None, 3])
def test_more_noise_scores_lower(channels):
    a = photo_like(48, 64, channels)
    assert metrics.ssim(a, noisy(a, 30)) < metrics.ssim(a, noisy(a, 4)) < 1.0


def test_grey_is_its_own_luma_and_alpha_is_not_measured():
    grey = photo_like(30, 30)
    worse = noisy(grey, 20)
    expected = metrics.ssim(grey, worse)
    alpha, other_alpha = random_image(30, 30, seed=1), random_image(30, 30, seed=2)
    pairs = [
        (grey[:, :, None], worse[:, :, None]),
        (np.dstack([grey] * 3), np.dstack([worse] * 3)),
        (np.dstack([grey, alpha]), np.dstack([worse, other_alpha])),
        (np.dstack([grey] * 3 + [alpha]), np.dstack([worse] * 3 + [other_alpha])),
    ]
    assert [metrics.ssim(a, b) for a, b in pairs] == pytest.approx([expected] * 4, abs=1e-12)


def test_only_the_luma_of_colour_counts():
    """Red +15, green -9, blue +7 leaves 0.299 R + 0.587 G + 0.114 B as it was: SSIM stays 1 though PSNR
    drops; the same change in green alone, which weighs most in luma, costs more than in blue alone."""
    rgb = photo_like(32, 32, 3) // 2 + 60
    same_luma = (rgb + np.array([15, -9, 7])).astype(np.uint8)
    assert metrics.psnr(rgb, same_luma) < 30
    assert metrics.ssim(rgb, same_luma) == pytest.approx(1.0, abs=1e-12)
    noise = np.random.default_rng(3).integers(-20, 21, rgb.shape[:2])
    green, blue = rgb.astype(np.int64), rgb.astype(np.int64)
    green[:, :, 1] += noise
    blue[:, :, 2] += noise
    assert metrics.ssim(rgb, green.astype(np.uint8)) < metrics.ssim(rgb, blue.astype(np.uint8)) < 1.0


@pytest.mark.parametrize("shape", [(10, 30), (30, 10, 3)])
def test_no_ssim_below_one_window(shape):
    a = random_image(*shape)
    assert metrics.ssim(a, a) is None


def test_one_window_is_enough():
    a = photo_like(11, 11, 3)
    b = noisy(a, 25)
    assert metrics.ssim(a, b) == pytest.approx(naive_ssim(a, b), abs=1e-12)


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.ssim(random_image(20, 20, 3), random_image(20, 20))


def test_a_large_image_is_measured_in_bands():
    """2048 x 2048 RGB: the working maps of a band stay below one float64 plane of the whole image."""
    a = random_image(2048, 2048, 3)
    b = a // 2 * 2
    value, peak = peak_allocation(lambda: metrics.ssim(a, b))
    assert 0 < value < 1
    assert peak < 2048 * 2048 * 8
