"""Row-parallel kernels on a small thread pool.

A `parallel=True` Numba kernel costs seconds to compile; a sequential `nogil`
kernel over a range of rows costs a fraction of that, and a few Python
threads run it as fast. The kernels compute every row on its own, so results
do not depend on the thread count: NUMBA_NUM_THREADS, as for Numba's pool.
"""
from concurrent.futures import ThreadPoolExecutor

import numba

MIN_ROWS = 2048  # rows per thread at least: a hand-off to a thread costs tens of microseconds

_POOL = ThreadPoolExecutor(max(1, numba.config.NUMBA_NUM_THREADS - 1), thread_name_prefix="vqcodec")  # no thread yet


def over_rows(kernel, n: int, *args) -> list:
    """[kernel(start, stop, *args) for each slice] over rows 0..n-1, the slices on threads at once."""
    count = max(1, min(numba.config.NUMBA_NUM_THREADS, n // MIN_ROWS))
    if count == 1:
        return [kernel(0, n, *args)]
    bounds = [n * t // count for t in range(count + 1)]
    futures = [_POOL.submit(kernel, bounds[t], bounds[t + 1], *args) for t in range(1, count)]
    return [kernel(bounds[0], bounds[1], *args)] + [f.result() for f in futures]
