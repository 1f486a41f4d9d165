"""CentNN, Park's rule and Hartigan's refinement against NumPy references; bounds that change nothing."""
import numpy as np
import pytest
from cases import (
    GOOD,
    assert_member_means,
    blobs,
    clustered,
    random_vectors,
    repeated_rows,
    sorted_rows,
    sq_distances,
    squared_error,
)
from naive import naive_centnn, naive_hartigan, naive_park

import vqcodec
from vqcodec.train.centnn import _GAIN, _winner, centnn, park, refine, schedule_for
from vqcodec.train.kmeans import kmeans


@pytest.mark.parametrize("kind", ["uint8", "float32"])
@pytest.mark.parametrize("k", [2, 8, 20])
def test_centnn_codewords_are_member_means(kind, k):
    vectors = random_vectors(kind, 200, 4, seed=k)
    codebook, stats = centnn(vectors, k)
    assert codebook.shape == (k, 4) and codebook.dtype == np.float32
    assert stats["capped"] == 0 and stats["epochs"] > 0
    assert_member_means(vectors, codebook, atol=1e-2)


def test_centnn_is_deterministic():
    vectors = random_vectors("uint8", 200, 4, seed=7)
    a, b = centnn(vectors, 8)[0], centnn(vectors, 8)[0]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("distinct", "k"), [(6, 8), (6, 64), (2, 5), (3, 3)])
def test_centnn_with_fewer_or_as_many_distinct_vectors(distinct, k):
    vectors, base = repeated_rows(distinct)
    codebook, stats = centnn(vectors, k)
    assert stats["capped"] == 0
    assert len(codebook) == min(distinct, k) == distinct
    assert sorted_rows(codebook) == sorted_rows(base)


@pytest.mark.parametrize(
    "vectors",
    [
        pytest.param(np.array([[1, 2, 3]], np.uint8), id="single"),
        pytest.param(np.full((50, 3), 7, np.uint8), id="identical-uint8"),
        pytest.param(np.full((20, 6), 0.25, np.float32), id="identical-float"),
    ],
)
@pytest.mark.parametrize("k", [2, 9])
def test_centnn_one_distinct_vector_gives_one_codeword(vectors, k):
    codebook, _ = centnn(vectors, k)
    np.testing.assert_array_equal(codebook, vectors[:1].astype(np.float32))


def test_centnn_two_distinct_vectors_with_k5():
    vectors = np.repeat(np.array([[0, 0], [255, 255]], np.uint8), [13, 29], axis=0)
    codebook, _ = centnn(vectors, 5)
    assert sorted_rows(codebook) == [(0.0, 0.0), (255.0, 255.0)]


GROWERS = {
    "centnn": lambda v, k, **kw: centnn(v, k, **kw),
    "centnn, no shifts": lambda v, k, **kw: centnn(v, k, shift_rounds=0, **kw),
    "centnn, one split per stage": lambda v, k, **kw: centnn(v, k, split_fraction=0.0, **kw),
    "park": lambda v, k, **kw: park(v, k, **kw),
    "park, a quarter per stage": lambda v, k, **kw: park(v, k, split_fraction=0.25, **kw),
    "refine": lambda v, k, **kw: refine(v, kmeans(v, k, 0), **kw)[::2],
}


@pytest.mark.parametrize("trainer", GROWERS)
@pytest.mark.parametrize(("n", "d", "k", "seed"), [(300, 4, 12, 1), (500, 16, 40, 2), (400, 1, 9, 3), (50, 3, 50, 4)])
def test_skip_bounds_change_nothing(n, d, k, seed, trainer):
    """The bounds only skip scans that could not change a decision: same codebook, fewer scans."""
    vectors = clustered(n, d, seed)
    fast, fast_stats = GROWERS[trainer](vectors, k)
    plain, plain_stats = GROWERS[trainer](vectors, k, use_bounds=False)
    np.testing.assert_array_equal(fast, plain)
    assert fast_stats["epochs"] == plain_stats["epochs"]
    assert fast_stats["scans"] <= plain_stats["scans"] <= plain_stats["visits"]
    if n > k:
        assert fast_stats["scans"] < plain_stats["scans"]


@pytest.mark.parametrize("seed", range(4))
def test_full_scan_decision_matches_a_plain_loop(seed):
    """`_winner` finds its least cost and distance as integers, on all codewords at once: the same cluster
    as a loop in index order (ties included: the lowest index), and the nearest other codeword."""
    rng = np.random.default_rng(seed)
    for _ in range(300):
        k = int(rng.integers(2, 40))
        dist = np.empty(k + 1, dtype=np.float32)  # few values, so that costs tie often
        dist[:k] = rng.choice(np.array([0.0, 1.0, 2.0, 4.0, 1e-40, 3.0e38, np.inf], np.float32), k,
                              p=[0.1, 0.3, 0.25, 0.25, 0.04, 0.03, 0.03])
        counts = rng.choice(np.array([1, 2, 3, 4, 6]), k).astype(np.int64)
        active = rng.random(k) < 0.9
        p = int(rng.integers(0, k))
        active[p] = True
        w = int(rng.choice([1, 1, 3]))
        counts[p] += w
        costs = np.empty(k + 1)
        factors = counts / (counts + w)
        got = _winner(dist, dist.view(np.int32), costs, costs.view(np.int64), counts, factors, active, k, p, w, True)
        best, at, near = np.inf, -1, np.float32(3.0e38)
        for c in range(k):
            if active[c] and c != p:
                near = min(near, dist[c])
                cost = counts[c] / (counts[c] + w) * np.float64(dist[c])
                if cost < best:
                    best, at = cost, c
        stay = counts[p] / (counts[p] - w) * np.float64(dist[p])
        assert got == (at if best < stay * (1.0 - _GAIN) - _GAIN else p, near)


@pytest.mark.parametrize(("n", "d", "k", "seed"), [(200, 2, 6, 0), (300, 4, 12, 1), (150, 3, 20, 2)])
def test_refine_matches_a_numpy_reference(n, d, k, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(0, 50, (n, d)).astype(np.float32)
    start = vectors[rng.choice(n, k, replace=False)] + rng.normal(0, 5, (k, d)).astype(np.float32)
    codebook, labels, _ = refine(vectors, start)
    expected, expected_labels = naive_hartigan(vectors, start)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_allclose(codebook, expected, atol=1e-3)


@pytest.mark.parametrize("options", [{}, {"shift_rounds": 0}, {"split_fraction": 0.0}, {"stage_epochs": 1}],
                         ids=["default", "no shifts", "one split per stage", "one epoch per stage"])
@pytest.mark.parametrize("weighted", [False, True])
# (120, 2, 20, 7) keeps a round of shifts and, weighted, rejects one whose error rose; (200, 3, 40, 13) keeps two, and
# its completing stage still moves vectors when it reaches the schedule's settle_epochs, as does (400, 2, 16, 4)'s with one epoch per
# stage; (200, 3, 40, 32) weighted has a round come back to the same clusters, numbered otherwise, whose error differs
# only by rounding
@pytest.mark.parametrize(("n", "d", "k", "seed"),
                         [(200, 2, 8, 0), (300, 4, 16, 1), (150, 3, 24, 2), (200, 16, 12, 3), (120, 2, 20, 7),
                          (200, 3, 40, 13), (400, 2, 16, 4), (200, 3, 40, 32)])
def test_centnn_matches_a_numpy_reference(n, d, k, seed, weighted, options):
    """The bounds, the integer minima of `_winner` and the float32 distances must not change a move, a
    split or a shift: the same epochs, the same codebook."""
    vectors = blobs(n, d, seed)
    weights = np.random.default_rng(seed).integers(1, 5, n) if weighted else None
    codebook, stats = centnn(vectors, k, weights, **options)
    expected, epochs = naive_centnn(vectors, k, weights, **options)
    assert stats["capped"] == 0
    assert stats["epochs"] == epochs
    np.testing.assert_allclose(codebook, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(("n", "d", "k", "seed"), [(300, 4, 16, 1), (200, 3, 40, 13), (120, 2, 20, 7)])
def test_centnn_lean_schedule_matches_a_numpy_reference(monkeypatch, n, d, k, seed):
    """Large inputs take the lean schedule; here small ones are made to, and the reference follows it too."""
    from vqcodec.train import centnn as module

    monkeypatch.setattr(module, "LEAN_FROM", n * d * k)
    assert schedule_for(n, d, k) == module.LEAN and schedule_for(n - 1, d, k) == module.THOROUGH
    vectors = blobs(n, d, seed)
    codebook, stats = centnn(vectors, k)
    expected, epochs = naive_centnn(vectors, k)
    assert stats["epochs"] == epochs
    np.testing.assert_allclose(codebook, expected, rtol=1e-5, atol=1e-3)
    monkeypatch.setattr(module, "LEAN_FROM", 1 << 62)  # asked for by name, whatever the size
    chosen, chosen_stats = centnn(vectors, k, schedule=module.LEAN)
    np.testing.assert_array_equal(chosen, codebook)
    assert chosen_stats == stats


def test_centnn_matches_a_numpy_reference_after_a_rejected_round():
    """The round's codebook and labels are restored; what the skip test knows of them must be too (the
    last epochs once skipped vectors on bounds that the rejected round left)."""
    vectors, weights = blobs(250, 2, 33), np.random.default_rng(33).integers(1, 5, 250)
    codebook, _ = centnn(vectors, 48, weights, stage_epochs=1)
    np.testing.assert_allclose(codebook, naive_centnn(vectors, 48, weights, stage_epochs=1)[0], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("split_fraction", [0.0, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("n", "d", "k", "seed"),  # the last: stages that leave codewords without members
                         [(200, 2, 8, 0), (300, 4, 16, 1), (150, 3, 24, 2), (200, 16, 12, 3), (40, 1, 30, 26)])
def test_park_matches_a_numpy_reference(n, d, k, seed, weighted, split_fraction):
    """The bounds, the float32 codewords and the integer minima must not change a move: the same epochs,
    the same codebook."""
    vectors = blobs(n, d, seed)
    weights = np.random.default_rng(seed).integers(1, 5, n) if weighted else None
    codebook, stats = park(vectors, k, weights, split_fraction=split_fraction)
    expected, epochs = naive_park(vectors, k, weights, split_fraction)
    assert stats["capped"] == 0
    assert stats["epochs"] == epochs
    np.testing.assert_allclose(codebook, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("start", ["kmeans", "random rows", "one row repeated"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refine_never_raises_the_error_and_ends_where_no_move_pays(start, seed):
    vectors = random_vectors("uint8", 400, 4, seed=seed)
    rng = np.random.default_rng(seed)
    initial = {"kmeans": lambda: kmeans(vectors, 16, seed),
               "random rows": lambda: vectors[rng.choice(400, 16, replace=False)].astype(np.float32),
               "one row repeated": lambda: np.repeat(vectors[:1].astype(np.float32), 16, axis=0) + np.arange(16)[:, None]}[start]()
    codebook, labels, stats = refine(vectors, initial)
    assert stats["capped"] == 0
    assert squared_error(vectors, codebook, labels) <= squared_error(vectors, initial) * (1 + 1e-9)
    x = vectors.astype(np.float64)
    counts = np.bincount(labels, minlength=len(codebook)).astype(np.float64)
    d = sq_distances(x, codebook.astype(np.float64))
    own = d[np.arange(len(x)), labels]
    leaving = np.where(counts[labels] > 1, counts[labels] / np.maximum(counts[labels] - 1, 1) * own, np.inf)
    joining = counts / (counts + 1) * d
    joining[np.arange(len(x)), labels] = np.inf
    assert np.all(joining.min(axis=1) >= leaving * (1 - 2 * _GAIN) - 2 * _GAIN)  # no single move lowers the error


def test_refine_lowers_the_error_of_kmeans_on_camera(camera_vectors):
    _, vectors = camera_vectors
    start = kmeans(vectors, 64, 0)
    codebook, labels, _ = refine(vectors, start)
    assert squared_error(vectors, codebook, labels) < squared_error(vectors, start)


def test_refine_runs_every_kernel_that_tells_whether_an_encode_compiles():
    """kernels.cold looks only at centnn.ALWAYS_USED, so the refinement after every trainer must use them all."""
    from vqcodec.train import centnn as module

    vectors = random_vectors("uint8", seed=5)
    refine(vectors, vectors[:8])
    assert all(kernel.signatures for kernel in module.ALWAYS_USED)


def test_centnn_park_and_growth_fill_the_codebook():
    vectors = random_vectors("uint8", 600, 4, seed=11)
    for codebook, stats in (park(vectors, 37), park(vectors, 37, split_fraction=1.0), centnn(vectors, 37),
                            centnn(vectors, 37, split_fraction=0.0), centnn(vectors, 37, split_fraction=1.0)):
        assert len(codebook) == 37 and stats["capped"] == 0
        assert_member_means(vectors, codebook, atol=1e-2)


def test_centnn_weights_count_as_copies():
    """A weight w makes a vector pull its codeword like w copies: codewords are weighted member means."""
    rng = np.random.default_rng(12)
    vectors = rng.integers(0, 256, (150, 2)).astype(np.uint8)
    weights = rng.integers(1, 20, 150)
    for codebook, _ in (centnn(vectors, 10, weights), park(vectors, 10, weights)):
        labels = np.argmin(((vectors[:, None, :].astype(float) - codebook[None]) ** 2).sum(-1), axis=1)
        for j in range(len(codebook)):
            members = labels == j
            assert members.any()
            mean = (vectors[members] * weights[members, None]).sum(0) / weights[members].sum()
            np.testing.assert_allclose(codebook[j], mean, atol=1e-2)


@pytest.mark.parametrize("trainer", [park, centnn])
def test_epoch_cap_warns_and_still_fills_the_codebook(trainer):
    vectors = random_vectors("uint8", 400, 4, seed=13)
    codebook, stats = trainer(vectors, 16, max_epochs=1)
    assert len(codebook) == 16
    assert stats["capped"] > 0


@pytest.mark.parametrize(("option", "value"), [("split_fraction", -0.1), ("split_fraction", 1.5),
                                               ("split_fraction", float("nan")), ("max_epochs", 0),
                                               ("stage_epochs", 0), ("shift_rounds", -1), ("shift_rounds", 1.5),
                                               ("schedule", "lean"), ("schedule", (2, 3, 4))])
def test_centnn_refuses_bad_settings(option, value):
    with pytest.raises(vqcodec.OptionsError, match=option):
        centnn(GOOD, 4, **{option: value})


@pytest.mark.parametrize("codebook", [GOOD[:3, :1], np.array([[np.nan, 1.0]]), np.zeros((0, 2))])
def test_refine_refuses_a_codebook_that_does_not_fit(codebook):
    with pytest.raises(vqcodec.OptionsError):
        refine(GOOD, codebook)
