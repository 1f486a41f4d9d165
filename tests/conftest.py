"""Fixtures for the vqcodec test suite; the helpers the tests share are in helpers.py."""
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import SAMPLES, make_vqc, save_png
from hypothesis import HealthCheck, settings
from PIL import Image

# No timing in tests: Hypothesis' per-example deadline and its slowness health check are off.
settings.register_profile("vqcodec", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("vqcodec")


@pytest.fixture(autouse=True)
def process_settings(monkeypatch):
    """CLI tests run the command in this process, and the command sets process-wide
    settings (vqcodec.cli.program.configure): each test gets them back as they were."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    for name in ("GOMP_SPINCOUNT", "KMP_BLOCKTIME"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def png_file(tmp_path):
    """Factory: write an array (or PIL image) as a PNG into tmp_path and return its path."""

    def write(array_or_image, name: str = "image.png") -> Path:
        return save_png(array_or_image, tmp_path / name)

    return write


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def small_vqc(request):
    """(bytes, header, codebook, indices) of a 4x3 grey file, 2x2 blocks, K=3 (2-bit indices), in each version."""
    return make_vqc(version=request.param)


@pytest.fixture(scope="session")
def camera_128() -> np.ndarray:
    with Image.open(SAMPLES / "camera-128.png") as im:
        return np.asarray(im.convert("L"))
