"""Version 4's tiles: which tile seeds which, which tiles a region needs, coding the columns of tiles
on threads in an order that respects both, and the tile models' streams."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vqcodec
from vqcodec.errors import FormatError
from vqcodec.format import container, entropy, tiles
from helpers import random_image


def closure(region_rows: int, first: int, last: int) -> set[tuple[int, int]]:
    """The tiles of rows 0..region_rows x columns first..last and, repeatedly, their seeds."""
    wanted = {(r, c) for r in range(region_rows + 1) for c in range(first, last + 1)}
    todo = list(wanted)
    while todo:
        s = tiles.seed(*todo.pop())
        if s is not None and s not in wanted:
            wanted.add(s)
            todo.append(s)
    return wanted


def test_seeds_make_an_l_shaped_chain():
    assert tiles.seed(0, 0) is None
    assert tiles.seed(0, 5) == (0, 4)
    assert tiles.seed(3, 5) == (2, 5) and tiles.seed(3, 0) == (2, 0)


@pytest.mark.parametrize("last_row, first, last", [(0, 0, 0), (3, 0, 0), (0, 2, 4), (2, 3, 3), (4, 1, 6)])
def test_needed_is_the_region_and_its_seeds_and_no_more(last_row, first, last):
    columns = tiles.needed(last_row, first, last)
    got = {(r, c) for c, rows in columns.items() for r in rows}
    assert got == closure(last_row, first, last)
    assert all(rows == sorted(rows) for rows in columns.values()) and sorted(columns) == list(range(last + 1))


def test_chains_code_each_tile_after_its_seed_with_the_seeds_models():
    """Every tile gets the models its seed ended with: the first row's from left to right, every
    other's from above. A model here is the list of tiles coded with it."""
    done, lock = [], threading.Lock()

    class Trail(list):
        def copy(self):
            return Trail(self)

    def code(row, column, models):
        time.sleep(0.001 * ((row * 7 + column * 3) % 4))  # stir the threads' order
        with lock:
            assert tiles.seed(row, column) is None or tiles.seed(row, column) in done
            done.append((row, column))
        models.append((row, column))
        expected = []
        at = (row, column)
        while at is not None:
            expected.append(at)
            at = tiles.seed(*at)
        assert models == expected[::-1]

    futures = tiles.chains(tiles.pool(4), tiles.needed(3, 0, 4), Trail, code)
    for future in futures:
        future.result()
    assert sorted(done) == [(r, c) for r in range(4) for c in range(5)]


def test_a_failing_tile_fails_its_column_and_those_after_it_without_a_hang():
    def code(row, column, models):
        if (row, column) == (0, 1):
            raise FormatError("tile (0, 1) is broken")

    futures = tiles.chains(tiles.pool(2), tiles.needed(2, 0, 3), list, code)
    outcomes = []
    for future in futures:
        try:
            future.result(timeout=10)
            outcomes.append("ok")
        except FormatError:
            outcomes.append("failed")
    assert outcomes == ["ok", "failed", "failed", "failed"]


def test_when_a_tile_fails_every_other_job_has_ended_before_the_error_comes_back():
    """A decode that refuses a file at one tile must not leave the other columns still writing into it."""
    ended = []

    def code(row, column, models):
        if (row, column) == (2, 0):
            raise FormatError("tile (2, 0) is broken")
        if column == 3:
            time.sleep(0.05)
        ended.append((row, column))

    futures = tiles.chains(tiles.pool(2), tiles.needed(2, 0, 3), list, code)
    with pytest.raises(FormatError, match="tile"):
        tiles.ended(futures)
    assert all(future.done() for future in futures)
    assert sorted(ended) == sorted((row, column) for row in range(3) for column in range(4) if column != 0 or row < 2)


def test_over_rows_waits_for_every_slice_when_its_own_fails(monkeypatch):
    from vqcodec.train import rows

    monkeypatch.setattr(rows.numba.config, "NUMBA_NUM_THREADS", 2)
    ended = []

    def kernel(start, stop):
        if start == 0:
            raise ValueError("the first slice fails")
        time.sleep(0.1)
        ended.append(start)

    with pytest.raises(ValueError):
        rows.over_rows(kernel, 100, minimum=10)
    assert ended == [50]


def index_chain(grids, k):
    """Encode tiles in seed order (row by row here: a seed is always before), then decode them so."""
    encoders, decoders, streams = {}, {}, {}
    for (row, column), grid in grids.items():
        s = tiles.seed(row, column)
        model = entropy.IndexModel(k) if s is None else encoders[s].copy()
        streams[row, column] = entropy.encode_tile_indices(grid, model, 32 * grid.size + 8, tiles.side(row, column))
        encoders[row, column] = model
    for (row, column), grid in grids.items():
        s = tiles.seed(row, column)
        model = entropy.IndexModel(k) if s is None else decoders[s].copy()
        np.testing.assert_array_equal(entropy.decode_tile_indices(streams[row, column], *grid.shape, model,
                                                                  tiles.side(row, column)), grid)
        decoders[row, column] = model
    return streams


@pytest.mark.parametrize("k", [1, 2, 7, 300, 1024, 5000, 65536])
def test_tile_index_streams_round_trip_along_the_chain(k):
    rng = np.random.default_rng(k)
    heights, widths = rng.integers(1, 9, 2), rng.integers(1, 9, 3)  # a row of tiles is as high, a column as wide
    grids = {(r, c): rng.integers(0, k, (heights[r], widths[c])).astype(np.uint16) for r in range(2) for c in range(3)}
    index_chain(grids, k)


def test_a_tile_sees_across_the_edge_it_shares_with_its_seed():
    """A tile that continues its seed's rows or columns costs less than the same tile with fresh
    neighbours, and decodes only with the seed's edge."""
    rng = np.random.default_rng(2)
    plane = np.repeat(np.repeat(rng.integers(0, 50, (8, 8)), 3, axis=0), 3, axis=1).astype(np.uint16)
    for seed, (a, b) in (("above", (plane[:13], plane[13:])), ("left", (plane[:, :13], plane[:, 13:]))):  # mid-run
        model = entropy.IndexModel(50)
        entropy.encode_tile_indices(a, model, 10_000, None)
        decoder = model.copy()
        seen = entropy.encode_tile_indices(b, model.copy(), 10_000, seed)
        blind = entropy.encode_tile_indices(b, model.copy(), 10_000, None)
        assert len(seen) < len(blind), seed
        np.testing.assert_array_equal(entropy.decode_tile_indices(seen, *b.shape, decoder, seed), b)


def test_carried_models_make_later_tiles_smaller():
    """What the point of seeding is: a tile like the one before it costs less with its models."""
    rng = np.random.default_rng(1)
    tile = np.repeat(rng.integers(0, 40, (16, 4)), 4, axis=1).astype(np.uint16)
    streams = index_chain({(0, c): tile for c in range(3)}, 40)
    fresh = entropy.encode_tile_indices(tile, entropy.IndexModel(40), 32 * tile.size + 8, None)
    assert len(streams[0, 0]) == len(fresh) and len(streams[0, 2]) < 0.8 * len(fresh)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=48), st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 2, 5, 256, 1000, 65536]))
def test_any_bytes_as_a_tile_index_stream_decode_or_are_refused(data, rows, across, k):
    try:
        decoded = entropy.decode_tile_indices(data, rows, across, entropy.IndexModel(k), None)
    except FormatError:
        return
    assert decoded.shape == (rows, across) and int(decoded.max()) < k


def test_the_tile_table_bounds_hold_for_what_an_encoder_writes():
    data = vqcodec.encode(random_image(70, 90, 3, seed=4), tile=32, quality=100).data
    header = vqcodec.info(data)
    assert any(p.tools & container.REFINE for p in header.planes)  # quality 100: the refinement's bounds too
    for p in header.planes:
        rows, columns = p.tile_grid
        bounds = p.tile_bounds()
        boxes = [p.tile_box(r, c) for r in range(rows) for c in range(columns)]
        assert bounds.tolist() == [[32 * -(-h // p.cell) * -(-w // p.cell) + 8, 32 * -(-h // p.block) * -(-w // p.block) + 8]
                                   + ([32 * h * w + 9] if p.tools & container.REFINE else []) for _, _, h, w in boxes]
        assert (p.tile_lengths() <= bounds).all() and p.tile_lengths().sum() > 0


def test_the_same_file_on_one_thread_and_on_two(tmp_path):
    """Tiles code on every core; the bytes and the pixels never depend on how many."""
    np.save(tmp_path / "in.npy", random_image(180, 220, 3, seed=6))
    code = ("import sys, numpy, vqcodec; e = vqcodec.encode(numpy.load(sys.argv[1]), tile=32); "
            "open(sys.argv[2], 'wb').write(e.data); numpy.save(sys.argv[3], vqcodec.decode(e.data).pixels)")
    outputs = []
    for threads in (1, 2):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "in.npy"), str(tmp_path / f"{threads}.vqc"),
                        str(tmp_path / f"{threads}.npy")], check=True, env={**os.environ, "NUMBA_NUM_THREADS": str(threads)})
        outputs.append(((tmp_path / f"{threads}.vqc").read_bytes(), np.load(tmp_path / f"{threads}.npy")))
    assert outputs[0][0] == outputs[1][0] and vqcodec.info(outputs[0][0]).planes[0].tiles > 20
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
