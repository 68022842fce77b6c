"""Fused Adam update in one Numba pass (debug tip: NUMBA_DISABLE_JIT=1 runs it as plain Python).

Same signature and results as :func:`minimtl.kernels.adam_reference.adam_update`
(the test oracle). At our real model size (132-264 million weights) the NumPy
version makes about ten passes over memory with temporaries; this kernel reads
w, g, m, v once and writes w, m, v once.
"""

import math

from numba import njit, prange

__all__ = ["adam_update", "CHUNK"]

CHUNK = 1 << 14  # elements per parallel work item: big enough to amortise scheduling, small for balance


def _adam_update(w, g, m, v, lr_t, beta1, beta2, eps):
    """One Adam step on 1-D arrays, in place: m, v moving averages, w -= lr_t * m / (sqrt(v) + eps).

    Parallel contract: ``prange`` over chunks of CHUNK consecutive elements;
    chunk k reads and writes only elements [k*CHUNK, (k+1)*CHUNK), so no two
    iterations touch the same element, and each element's arithmetic is fixed
    (results do not depend on the thread count). The scalars are float64, so
    float32 arrays are updated in float64 arithmetic and rounded once per store.
    No allocation.
    """
    n = w.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for k in prange(n_chunks):
        start = k * CHUNK
        stop = min(start + CHUNK, n)
        for i in range(start, stop):
            gi = g[i]
            mi = beta1 * m[i] + (1.0 - beta1) * gi
            vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
            m[i] = mi
            v[i] = vi
            w[i] -= lr_t * mi / (math.sqrt(vi) + eps)


adam_update = njit(parallel=True, cache=True)(_adam_update)
