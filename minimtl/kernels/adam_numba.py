"""Fused Adam update in one Numba pass (debug tip: NUMBA_DISABLE_JIT=1 runs it as plain Python).

Same signature and results as :func:`minimtl.kernels.adam_reference.adam_update`
(the test oracle). At our real model size (132-264 million weights) the NumPy
version makes about ten passes over memory with temporaries; this kernel reads
w, g, m, v once and writes w, m, v once.
"""

import numpy as np
from numba import njit, prange

__all__ = ["adam_update", "adam_element"]


def _adam_update(w, g, m, v, lr_t, beta1, beta2, eps):
    """One Adam step on 1-D arrays, in place: m, v moving averages, w -= lr_t * m / (sqrt(v) + eps).

    Parallel contract: ``prange`` over the elements; Numba hands each thread one
    contiguous block of indices, and iteration i reads and writes only element
    i, so no two iterations touch the same element and each element's
    arithmetic is fixed (results do not depend on the thread count). No
    allocation.

    Arithmetic: in the arrays' dtype, operation by operation as the NumPy twin
    does (the scalars are rounded to that dtype first, and no multiply-add is
    fused), so both give the same bits. ``error_model="numpy"`` drops Python's
    division-by-zero check: with it the loop stays scalar, about four times
    slower here (one element at a time through the divider instead of eight).
    """
    real = w.dtype.type
    lr, b1, b2, epsilon = real(lr_t), real(beta1), real(beta2), real(eps)
    c1, c2 = real(1.0 - beta1), real(1.0 - beta2)
    for i in prange(w.shape[0]):
        adam_element(w, g, m, v, i, lr, b1, b2, c1, c2, epsilon)


def _adam_element(w, g, m, v, i, lr, b1, b2, c1, c2, epsilon):
    """Element i of one Adam step, in place; the scalars already in the arrays' dtype, c1 = 1 - b1, c2 = 1 - b2.

    The update itself, shared by ``adam_update`` and the fused training step's pass over the big
    weights (fused_step_numba.py). Inlined into its callers, whose loops LLVM vectorises; each caller
    compiles it with its own flags (here no fused multiply-adds, so the NumPy twin's bits).
    """
    gi = g[i]
    mi = b1 * m[i] + c1 * gi
    vi = b2 * v[i] + c2 * (gi * gi)
    m[i] = mi
    v[i] = vi
    w[i] -= lr * mi / (np.sqrt(vi) + epsilon)


adam_element = njit(inline="always", cache=True, error_model="numpy")(_adam_element)
adam_update = njit(parallel=True, cache=True, error_model="numpy")(_adam_update)
