"""Row-parallel kernels on a small thread pool.

A `parallel=True` Numba kernel costs seconds to compile; a sequential `nogil`
kernel over a range of rows costs a fraction of that, and a few Python
threads run it as fast. The kernels compute every row on its own, so results
do not depend on the thread count: NUMBA_NUM_THREADS, as for Numba's pool.
"""
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable

import numba

MIN_ROWS = 2048  # rows per thread at least: a hand-off to a thread costs tens of microseconds

_POOL = ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS - 1), thread_name_prefix="vqcodec")  # no thread yet


def over_rows(kernel, n: int, *args, minimum: int = MIN_ROWS) -> list:
    """[kernel(start, stop, *args) for each slice] over rows 0..n-1, the slices on threads at once, each
    of `minimum` rows at least."""
    count = max(1, min(numba.config.NUMBA_NUM_THREADS, n // minimum))
    if count == 1:
        return [kernel(0, n, *args)]
    bounds = [n * t // count for t in range(count + 1)]
    futures = [_POOL.submit(kernel, bounds[t], bounds[t + 1], *args) for t in range(1, count)]
    try:
        first = kernel(bounds[0], bounds[1], *args)
    finally:
        wait(futures)  # none outlives the call, whatever this slice did
    return [first] + [f.result() for f in futures]


def each_at_once(function: Callable, items) -> list:
    """[function(item) for item in items], on up to NUMBA_NUM_THREADS threads at once, the first item
    here. A pool of its own, so that `function` may use over_rows."""
    items = list(items)
    workers = min(numba.config.NUMBA_NUM_THREADS, len(items)) - 1
    if workers < 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(workers, thread_name_prefix="vqcodec-each") as pool:
        futures = [pool.submit(function, item) for item in items[1:]]
        return [function(items[0])] + [future.result() for future in futures]
