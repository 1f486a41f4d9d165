"""Fixtures of the trainers' tests."""
import pytest

from vqcodec.format import blocks


@pytest.fixture(scope="module")
def camera_vectors(camera_128):
    """camera-128 as a 128 x 128 x 1 image and its 4 x 4 blocks."""
    image = camera_128[:, :, None]
    return image, blocks.to_vectors(image, 4)
