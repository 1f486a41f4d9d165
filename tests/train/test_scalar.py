"""The optimal scalar quantizer against brute force, and training on distinct rows."""
import itertools

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import vqcodec
from vqcodec import metrics
from vqcodec.bench.runs import bundled_samples
from vqcodec.cli.commands import main
from vqcodec.train.data import distinct_rows
from vqcodec.train.scalar import optimal_scalar

SAMPLES = bundled_samples()[0].parent


def brute_force_error(values: np.ndarray, k: int) -> float:
    """Least squared error over every way to cut the sorted distinct values into k intervals."""
    levels = np.unique(values)
    k = min(k, len(levels))
    best = np.inf
    for cuts in itertools.combinations(range(1, len(levels)), k - 1):
        edges = (0, *cuts, len(levels))
        error = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            cell = values[(values >= levels[a]) & (values <= levels[b - 1])]
            error += ((cell - cell.mean()) ** 2).sum()
        best = min(best, error)
    return best


def error_of(values, codebook):
    return ((np.ravel(values)[:, None] - codebook[None, :, 0]) ** 2).min(axis=1).sum()


@pytest.mark.parametrize("seed", range(12))
def test_optimal_scalar_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 30, rng.integers(4, 16)).astype(np.float64)
    k = int(rng.integers(1, 5))
    codebook = optimal_scalar(values, k)
    assert codebook.shape[1] == 1 and len(codebook) <= k
    assert error_of(values, codebook) == pytest.approx(brute_force_error(values, k), abs=1e-6)


def test_optimal_scalar_weights_are_copies():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 256, 40)
    counts = rng.integers(1, 9, 40)
    np.testing.assert_allclose(optimal_scalar(values, 5, counts), optimal_scalar(np.repeat(values, counts), 5), atol=1e-4)


def test_optimal_scalar_with_fewer_levels_is_exact():
    np.testing.assert_array_equal(optimal_scalar(np.array([9, 3, 3, 9, 200]), 8)[:, 0], [3, 9, 200])


def test_optimal_beats_the_clustering_trainers_on_scalar_data():
    values = np.asarray(Image.open(SAMPLES / "camera-128.png")).reshape(-1, 1)
    errors = {algo: error_of(values.astype(float), vqcodec.train_codebook(values, k=24, algo=algo)) for algo in vqcodec.ALGORITHMS}
    assert errors["optimal"] <= min(errors["kmeans"], errors["centnn"]) * (1 + 1e-9)


def test_optimal_refuses_vectors():
    with pytest.raises(vqcodec.OptionsError, match="scalar"):
        vqcodec.train_codebook(np.zeros((10, 2), np.uint8), k=4, algo="optimal")


def test_cli_optimal_on_colour_fails_that_input(tmp_path):
    """Known only once the image is read, so it fails the input (exit 1), not the command line."""
    Image.new("RGB", (8, 8), "red").save(tmp_path / "c.png")
    result = CliRunner().invoke(main, ["encode", str(tmp_path / "c.png"), "-b", "1", "--algo", "optimal", "--classic"])
    assert result.exit_code == 1 and result.stderr.startswith("Error:") and "scalar" in result.stderr
    assert "c.png" in result.stderr
    assert not (tmp_path / "c.vqc").exists()


def test_distinct_rows_counts_every_row():
    rng = np.random.default_rng(5)
    vectors = rng.integers(0, 4, (500, 3)).astype(np.uint8)
    rows, counts = distinct_rows(vectors)
    assert counts.sum() == 500 and len(rows) == len({tuple(r) for r in vectors})
    for row, count in zip(rows, counts):
        assert count == np.all(vectors == row, axis=1).sum()


@pytest.mark.parametrize(
    "vectors",
    [
        np.random.default_rng(6).integers(0, 256, (100, 4)).astype(np.uint8),  # hardly any repeats
        np.zeros((100, 9), np.uint8),  # rows longer than 8 bytes are not looked at
        np.zeros((100, 2), np.float32),  # nor float rows
    ],
)
def test_distinct_rows_leaves_data_alone_when_it_does_not_pay(vectors):
    rows, counts = distinct_rows(vectors)
    assert rows is vectors and counts is None


def test_encode_with_optimal_round_trips_and_says_so():
    pixels = np.asarray(Image.open(SAMPLES / "camera-128.png"))[:40, :50]
    result = vqcodec.encode(pixels, k=12, block=1, algo="optimal", classic=True)
    assert result.header.trainer == "optimal" and result.header.k == 12
    decoded = vqcodec.decode(result.data).pixels
    assert decoded.shape == pixels.shape
    assert result.psnr == metrics.psnr(pixels, decoded)
    assert result.psnr >= vqcodec.encode(pixels, k=12, block=1, algo="kmeans", classic=True).psnr


def test_training_sample_is_bounded_and_seeded():
    from vqcodec.train.data import MIN_SAMPLE, training_sample

    vectors = np.random.default_rng(1).integers(0, 256, (MIN_SAMPLE + 500, 16), dtype=np.uint8)
    sample, weights = training_sample(vectors, None, 16, seed=3)
    assert sample.shape == (MIN_SAMPLE, 16) and weights is None
    again, _ = training_sample(vectors, None, 16, seed=3)
    np.testing.assert_array_equal(sample, again)
    assert not np.array_equal(sample, training_sample(vectors, None, 16, seed=4)[0])
    small = vectors[:1000]
    assert training_sample(small, None, 16, seed=3)[0] is small


def test_large_image_encodes_through_the_sample():
    pixels = np.random.default_rng(2).integers(0, 256, (1028, 1028), dtype=np.uint8)  # 66049 blocks of 4x4
    result = vqcodec.encode(pixels, k=2, block=4, algo="centnn", classic=True)
    assert result.header.k == 2
    assert vqcodec.decode(result.data).pixels.shape == pixels.shape
