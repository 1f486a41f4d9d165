"""train_codebook and the trainers' public functions: what they accept, what they refuse, and
the quality they reach on a real photo."""
import warnings

import numpy as np
import pytest
from cases import BAD_DATA, GOOD, assert_member_means, random_vectors
from helpers import CLUSTERING

import vqcodec
from vqcodec import metrics
from vqcodec.format import blocks
from vqcodec.train.centnn import centnn, park
from vqcodec.train.kmeans import kmeans, seed_kmeanspp
from vqcodec.train.nearest import nearest
from vqcodec.train.scalar import optimal_scalar


@pytest.mark.parametrize("algo", CLUSTERING)
@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.int32])
def test_train_codebook_accepts_uint8_and_other_numbers(algo, dtype):
    vectors = random_vectors("uint8", 120, 3, seed=8)
    reference = vqcodec.train_codebook(vectors, k=6, algo=algo, seed=1)
    assert reference.shape == (6, 3) and reference.dtype == np.float32
    assert_member_means(vectors, reference, atol=1e-2 if algo == "centnn" else 1e-3)
    codebook = vqcodec.train_codebook(vectors.astype(dtype), k=6, algo=algo, seed=1)
    assert codebook.dtype == np.float32
    np.testing.assert_allclose(codebook, reference, atol=1e-3)


@pytest.mark.parametrize(
    ("vectors", "options"),
    [
        pytest.param(np.zeros((4, 2), np.uint8), {"k": 1}, id="k=1"),
        pytest.param(np.zeros((4, 2), np.uint8), {"k": 65537}, id="k=65537"),
        pytest.param(np.zeros((4, 2), np.uint8), {"k": 2.5}, id="k=2.5"),
        pytest.param(np.zeros((4, 2), np.uint8), {"algo": "x"}, id="algo=x"),
        pytest.param(np.zeros((4, 2), np.uint8), {"seed": -1}, id="seed=-1"),
        pytest.param(np.zeros(8, np.uint8), {}, id="1-D"),
        pytest.param(np.zeros((2, 2, 2), np.uint8), {}, id="3-D"),
        pytest.param(np.zeros((0, 4), np.uint8), {}, id="empty"),
        pytest.param(np.zeros((4, 0), np.uint8), {}, id="zero-width"),
        pytest.param(np.array([[1.0, np.nan], [2.0, 3.0]]), {}, id="NaN"),
        pytest.param(np.array([[1.0, np.inf], [2.0, 3.0]]), {}, id="inf"),
        pytest.param(np.array([[1 + 1j, 2], [2, 3]]), {}, id="complex"),
        pytest.param(np.array([["a", "b"], ["c", "d"]]), {}, id="strings"),
    ],
)
@pytest.mark.parametrize("algo", CLUSTERING)
def test_train_codebook_option_validation(vectors, options, algo):
    options = {"k": 4, "algo": algo, **options}
    with pytest.raises(vqcodec.OptionsError):
        vqcodec.train_codebook(vectors, **options)


BAD_WEIGHTS = {
    "fractional": np.full(20, 1.5), "zero": np.zeros(20, np.int64), "negative": -np.ones(20, np.int64),
    "NaN": np.full(20, np.nan), "short": np.ones(19, np.int64), "2-D": np.ones((20, 1), np.int64),
}


KERNELS = {  # name: call(vectors, k, weights)
    "kmeans": lambda v, k, w: kmeans(v, k, 0, w),
    "seed_kmeanspp": lambda v, k, w: seed_kmeanspp(v, k, np.random.default_rng(0), w),
    "centnn": lambda v, k, w: centnn(v, k, w)[0],
    "park": lambda v, k, w: park(v, k, w)[0],
    # one value per row: the 2-D cases as a column (GOOD's 20 rows become 40), a 1-D array as one row
    "optimal_scalar": lambda v, k, w: optimal_scalar(np.reshape(v, (-1, 1) if np.ndim(v) == 2 else (1, -1)),
                                                     k, None if w is None else np.repeat(w, 2, axis=0)),
}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("k", [0, -1, 65537, 2.5, True, None])
def test_kernels_refuse_a_bad_codebook_size(kernel, k):
    """centnn(v, 0) used to abort the interpreter with a heap error."""
    with pytest.raises(vqcodec.OptionsError, match="codebook size"):
        KERNELS[kernel](GOOD, k, None)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("data", BAD_DATA)
def test_kernels_refuse_bad_vectors(kernel, data):
    with pytest.raises(vqcodec.OptionsError):
        KERNELS[kernel](BAD_DATA[data], 2, None)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("weights", BAD_WEIGHTS)
def test_kernels_refuse_bad_weights(kernel, weights):
    """kmeans used to truncate 1.5 to 1 without a word."""
    with pytest.raises(vqcodec.OptionsError, match="weights"):
        KERNELS[kernel](GOOD, 2, BAD_WEIGHTS[weights])


@pytest.mark.parametrize("kernel", KERNELS)
def test_kernels_take_whole_float_weights_as_counts(kernel):
    np.testing.assert_array_equal(KERNELS[kernel](GOOD, 3, np.full(20, 2.0)), KERNELS[kernel](GOOD, 3, np.full(20, 2)))


def rounded_psnr(image, vectors, codebook) -> float:
    codebook = np.clip(np.rint(codebook), 0, 255).astype(np.uint8)
    labels, _ = nearest(vectors, codebook)
    return metrics.psnr(image, blocks.from_vectors(codebook[labels], *image.shape[:2], 4))


@pytest.mark.parametrize("algo", CLUSTERING)
def test_quality_on_camera(camera_vectors, algo):
    # 128 x 128 grey, 4 x 4 blocks, K = 64. scikit-learn's KMeans reaches 27.0 dB here, and a random
    # choice of 64 of the image's blocks about 22.5-23.2 dB.
    image, vectors = camera_vectors
    with warnings.catch_warnings():
        warnings.simplefilter("error", vqcodec.VQCodecWarning)  # CentNN must not hit its epoch cap
        codebook = vqcodec.train_codebook(vectors, k=64, algo=algo, seed=0)
    assert codebook.shape == (64, 16)
    assert_member_means(vectors, codebook, atol=1e-2)
    trained = rounded_psnr(image, vectors, codebook)
    assert trained > 26.0
    baseline = max(
        rounded_psnr(image, vectors, vectors[np.random.default_rng(s).choice(len(vectors), 64, replace=False)])
        for s in range(3)
    )
    assert trained > baseline + 1.0
