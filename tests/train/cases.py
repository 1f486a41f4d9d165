"""Small data the trainers are checked on, and what every codebook must satisfy."""
import numpy as np

from vqcodec.train.nearest import nearest


def sq_distances(vectors, codebook) -> np.ndarray:
    diff = np.asarray(vectors, np.float64)[:, None, :] - np.asarray(codebook, np.float64)[None, :, :]
    return np.einsum("nkd,nkd->nk", diff, diff)


def random_vectors(kind: str, n: int = 200, d: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uint8":
        return rng.integers(0, 256, (n, d), dtype=np.uint8)
    return (rng.normal(size=(n, d)) * 40).astype(np.float32)


def repeated_rows(distinct: int, n: int = 300, d: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n rows drawn from `distinct` distinct uint8 rows (all of them used); returns (data, the distinct rows)."""
    rng = np.random.default_rng(seed)
    while True:
        base = rng.integers(0, 256, (distinct, d), dtype=np.uint8)
        if len(np.unique(base, axis=0)) == distinct:
            break
    picks = np.concatenate([np.arange(distinct), rng.integers(0, distinct, n - distinct)])
    return base[rng.permutation(picks)], base


def assert_member_means(vectors, codebook, atol):
    """Every codeword wins at least one vector (by nearest) and equals the mean of those it wins."""
    labels, _ = nearest(vectors, codebook)
    counts = np.bincount(labels, minlength=len(codebook))
    assert counts.min() >= 1, f"empty clusters: {np.flatnonzero(counts == 0)}"
    for j in range(len(codebook)):
        mean = np.asarray(vectors, np.float64)[labels == j].mean(axis=0)
        np.testing.assert_allclose(codebook[j], mean, atol=atol, rtol=0)


def sorted_rows(a) -> list:
    return sorted(map(tuple, np.asarray(a, np.float64).tolist()))


def blobs(n, d, seed) -> np.ndarray:
    """float32 vectors around 6 centres: data in clusters, with no exact ties between distances."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 60, (6, d))[rng.integers(0, 6, n)] + rng.normal(0, 12, (n, d))).astype(np.float32)


def clustered(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 256, (6, d))
    return np.clip(centres[rng.integers(0, 6, n)] + rng.normal(0, 12, (n, d)), 0, 255).astype(np.uint8)


def squared_error(vectors, codebook, labels=None) -> float:
    d = sq_distances(vectors.astype(np.float64), codebook.astype(np.float64))
    return float(d.min(axis=1).sum() if labels is None else d[np.arange(len(d)), labels].sum())


# Input the public functions must take, and input they must refuse.
GOOD = np.arange(40, dtype=np.uint8).reshape(20, 2)
BAD_DATA = {
    "NaN": np.array([[1.0, np.nan], [2.0, 3.0]]),
    "inf": np.array([[1.0, np.inf], [2.0, 3.0]]),
    "beyond-float32": np.array([[1e300, 0.0], [2.0, 3.0]]),
    "complex": np.array([[1 + 1j, 2], [2, 3]]),
    "1-D": np.zeros(8, np.uint8),
    "empty": np.zeros((0, 2), np.uint8),
}
