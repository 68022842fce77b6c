"""The one timing rule of the benchmarks: warm up, then the median of repeated perf_counter calls."""

import statistics
import time

__all__ = ["median_ms"]


def median_ms(fn, repeats, warmup=1):
    """Median wall time of fn() in milliseconds over ``repeats`` calls after ``warmup`` calls
    (the first call may JIT-compile or load Numba's cache; it is never counted)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
