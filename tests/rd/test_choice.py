"""The codeword choice that knows the index coder's contexts (vqcodec.rd.choice), against plain references."""
import dataclasses

import numpy as np
import pytest
from helpers import SAMPLES

import vqcodec
from vqcodec.rd import choice, settings
from vqcodec.train.nearest import nearest


def counted(grid: np.ndarray, top: int, bottom: int, k: int):
    """Model.add's counts, in NumPy."""
    g = np.pad(grid.astype(np.int64), ((1, 0), (1, 1)), constant_values=-1)[top : bottom + 1]
    x, left, above = g[1:, 1:-1], g[1:, :-2], g[:-1, 1:-1]
    above_left, above_right = g[:-1, :-2], g[:-1, 2:]
    flags, pairs = np.zeros((2, 8, 2)), np.zeros((k, k))
    has_left = left >= 0
    context = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
    np.add.at(flags[0], (context[has_left], (x == left)[has_left].astype(int)), 1)
    asked = (above >= 0) & (above != left) & (x != left)
    context = (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
    np.add.at(flags[1], (context[asked], (x == above)[asked].astype(int)), 1)
    new = (x != left) & (x != above)
    for neighbour in (left, above):
        beside = new & (neighbour >= 0)
        np.add.at(pairs, (neighbour[beside], x[beside]), 1)
    return flags, pairs, np.bincount(x.ravel(), minlength=k)


def chosen(vectors, plain, codebook, near, lam, grid, top, columns, same, differ, follows):
    """choose_rows, in plain Python."""
    grid = grid.copy()
    rows, across = len(vectors) // grid.shape[1], grid.shape[1]

    def at(r, c, c0, c1):
        return -1 if r < 0 or c < c0 or c >= c1 else int(grid[r, c])

    def distance(i, a):
        return np.float32(((vectors[i].astype(np.float32) - codebook[a]) ** 2).sum(dtype=np.float32))

    for c0 in range(0, across, columns):
        c1 = min(c0 + columns, across)
        for r in range(top, top + rows):
            for c in range(c0, c1):
                i = (r - top) * across + c
                left, above = at(r, c - 1, c0, c1), at(r - 1, c, c0, c1)
                above_left, above_right = at(r - 1, c - 1, c0, c1), at(r - 1, c + 1, c0, c1)
                options, flags = [], 0.0
                if left >= 0:
                    ctx = (above == left) + 2 * (above_left == left) + 4 * (above_right == left)
                    options.append((distance(i, left) + lam * same[0, ctx], left))
                    flags += differ[0, ctx]
                if above >= 0 and above != left:
                    ctx = (above_left == above) + 2 * (above_right == above) + 4 * (left < 0)
                    options.append((distance(i, above) + lam * (flags + same[1, ctx]), above))
                    flags += differ[1, ctx]
                ref_left = left if left >= 0 else max(above, 0)
                ref_above = above if above >= 0 else ref_left
                for a in near[plain[i]]:
                    if a not in (left, above):
                        bits = flags + 0.5 * (follows[ref_left, a] + follows[ref_above, a])
                        options.append((distance(i, a) + lam * bits, a))
                grid[r, c] = min(options, key=lambda option: option[0])[1]  # the first of least cost
    return grid


@pytest.mark.parametrize("k, top, columns", [(40, 0, 5), (40, 3, 64), (3, 2, 4), (1, 0, 3)])
def test_the_choice_is_its_plain_reference(k, top, columns):
    rng = np.random.default_rng(k + top)
    across, rows = 13, 6
    codebook = rng.integers(0, 256, (k, 4)).astype(np.uint8)
    vectors = np.clip(codebook[rng.integers(0, k, rows * across)] + rng.integers(-20, 21, (rows * across, 4)), 0,
                      255).astype(np.uint8)
    penalty = (rng.random(k) * 500).astype(np.float32)
    plain = nearest(vectors, codebook, penalty)[0]
    grid = np.zeros((top + rows, across), dtype=np.uint16)
    grid[:top] = rng.integers(0, k, (top, across))
    model = choice.Model(codebook)
    model.add(grid[:top] if top else plain.reshape(rows, across).astype(np.uint16), 0, top or rows)
    args = (vectors, plain, codebook.astype(np.float32), model.near, 300.0)
    expected = chosen(*args, grid, top, columns, *model.costs())
    choice.choose_rows(0, -(-across // columns), *args, grid, top, columns, *model.costs())
    np.testing.assert_array_equal(grid, expected)
    assert len(np.unique(grid[top:])) > 1 or k == 1



@pytest.mark.parametrize("d", [4, 9])
def test_repeated_situations_are_chosen_as_the_reference(d):
    """Blocks of few distinct values beside runs of the same codewords, under costs that differ much from
    context to context: with 4 samples, most choices come from the table of situations already met
    (vqcodec.rd.choice._choose), which must tell every context apart; with 9, none do."""
    rng = np.random.default_rng(d)
    across, rows, k = 40, 40, 5
    codebook = rng.integers(120, 136, (k, d)).astype(np.uint8)
    vectors = codebook[rng.integers(0, 2, rows * across) * rng.integers(0, k, rows * across)]
    vectors = (vectors + rng.integers(0, 2, vectors.shape)).astype(np.uint8)
    plain = nearest(vectors, codebook)[0]
    same, differ = rng.random((2, 8)) * 6, rng.random((2, 8)) * 6
    follows = rng.random((k, k)) * 6
    args = (vectors, plain, codebook.astype(np.float32), choice.nearest_codewords(codebook), 20.0)
    grid = np.zeros((rows, across), dtype=np.uint16)
    expected = chosen(*args, grid, 0, 16, same, differ, follows)
    choice.choose_rows(0, 3, *args, grid, 0, 16, same, differ, follows)
    np.testing.assert_array_equal(grid, expected)
    assert len(np.unique(grid)) > 2


def test_the_counts_are_their_numpy_reference():
    rng = np.random.default_rng(5)
    grid = rng.integers(0, 6, (9, 11)).astype(np.uint16)
    grid[4:6, 2:9] = 3  # runs, for the flags to count
    model = choice.Model(np.arange(24, dtype=np.uint8).reshape(6, 4))
    model.add(grid, 0, 4)
    model.add(grid, 4, 9)  # a band that reads the row above it
    flags, pairs, counts = counted(grid, 0, 9, 6)
    np.testing.assert_array_equal(model.flags, flags)
    np.testing.assert_array_equal(model.pairs, pairs)
    np.testing.assert_array_equal(model.counts, counts)
    same, differ, follows = model.costs()
    np.testing.assert_allclose(2.0 ** -same + 2.0 ** -differ, 1)  # each flag's two outcomes
    np.testing.assert_allclose((2.0 ** -follows).sum(axis=1), 1)  # what follows each codeword
    assert model.emptied().counts.sum() == 0 and model.emptied().near is model.near


def test_the_codewords_nearest_each_start_with_itself_nearest_first():
    codebook = np.random.default_rng(2).integers(0, 256, (30, 4)).astype(np.uint8)
    near = choice.nearest_codewords(codebook)
    assert near.shape == (30, choice.NEAR) and np.array_equal(near[:, 0], np.arange(30))
    distances = ((codebook[near].astype(int) - codebook[:, None].astype(int)) ** 2).sum(axis=2)
    assert np.all(np.diff(distances, axis=1) >= 0)
    assert choice.nearest_codewords(codebook[:3]).shape == (3, 3)


def test_the_fastest_efforts_keep_the_plain_choice():
    assert [settings.EFFORTS[e].contexts for e in range(1, 10)] == [False] * 3 + [True] * 6


def test_the_choice_gives_more_psnr_at_the_same_size(monkeypatch):
    """The point of it, on one photo: its file lies above the plain choice's curve (interpolated between
    the qualities around it)."""
    image = SAMPLES / "astronaut.png"
    chosen_ = vqcodec.encode(image, quality=50)
    plain = {e: dataclasses.replace(effort, contexts=False) for e, effort in settings.EFFORTS.items()}
    monkeypatch.setattr(settings, "EFFORTS", plain)
    curve = [vqcodec.encode(image, quality=q) for q in (40, 45, 50, 55, 60)]
    size = len(chosen_.data)
    below = max((e for e in curve if len(e.data) <= size), key=lambda e: len(e.data))
    above = min((e for e in curve if len(e.data) > size), key=lambda e: len(e.data))
    at = (size - len(below.data)) / (len(above.data) - len(below.data))
    assert chosen_.psnr > below.psnr + at * (above.psnr - below.psnr) + 0.05
