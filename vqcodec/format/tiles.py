"""Version 4's tiles: which tile each one's models start from, which tiles a region needs, and
coding them on threads in an order that respects both.

A tile's streams are coded with models that start where another tile's
ended, so that a tile need not learn the plane afresh: the first tile of
the first row starts afresh, every other tile of the first row from the tile
on its left, and every tile below from the tile above it; the edge it shares
with that seed tile is no edge for its contexts. Each column is
then a chain of its own, and the columns run at once once their first tiles
are done; a region needs the first row up to its last column, and the tiles
above it in its columns.
"""
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable


def seed(row: int, column: int) -> tuple[int, int] | None:
    """The tile whose models tile (row, column) starts from; None: fresh models."""
    if row:
        return row - 1, column
    return (0, column - 1) if column else None


def side(row: int, column: int) -> str | None:
    """Where tile (row, column)'s seed lies: "above", "left" or None (no seed). Its last row or column
    gives the tile's first row or column the neighbours it would have in a plane without tiles."""
    origin = seed(row, column)
    return None if origin is None else "above" if origin[0] < row else "left"


def needed(last_row: int, first_column: int, last_column: int) -> dict[int, list[int]]:
    """The tiles to code, as {column: its rows, in order}, for tiles 0..last_row x
    first_column..last_column and every tile their models come from."""
    return {column: list(range(last_row + 1)) if column >= first_column else [0] for column in range(last_column + 1)}


def chains(pool: ThreadPoolExecutor, columns: dict[int, list[int]], fresh: Callable, code: Callable) -> list[Future]:
    """Submit one job per column: its tiles coded in order by `code(row, column, models)`, which updates
    the models; the first tile of each column starts from a copy of the models the first tile of the
    column before ended with, the first column's from `fresh()`. Columns 0..n-1 all come. The jobs'
    futures, in column order; a failure reaches the columns after it instead of leaving them waiting."""
    handoff = {column: Future() for column in columns}
    handoff[0].set_result(fresh())

    def job(column):
        try:
            models = handoff[column].result()
            del handoff[column]  # the column is their only holder now: when it ends, they go
            code(columns[column][0], column, models)
        except BaseException as exc:  # the next column must not wait for ever
            if column + 1 in handoff:
                handoff[column + 1].set_exception(exc)
            raise
        if column + 1 in handoff:
            handoff[column + 1].set_result(models.copy())
        for row in columns[column][1:]:
            code(row, column, models)

    return [pool.submit(job, column) for column in sorted(columns)]


def ended(futures: list[Future]) -> None:
    """Wait until every job has ended, then raise the first one's error, in their order: a job must not
    outlive the call that started it, still writing into what that call has given up (a decode that
    refuses a file at one tile leaves the others running otherwise)."""
    wait(futures)
    for future in futures:
        future.result()


_POOL: dict[int, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def pool(threads: int) -> ThreadPoolExecutor:
    """A pool of `threads` threads, made once: jobs that wait for one another need a pool of their own."""
    with _LOCK:
        if threads not in _POOL:
            _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="vqcodec-tiles")
        return _POOL[threads]
