"""Fused Dense backward + Adam in one pass over the weights (debug tip: NUMBA_DISABLE_JIT=1 runs it as Python).

Same signature and results (to float32 rounding) as
:func:`minimtl.kernels.dense_adam_reference.dense_backward_adam`, the readable
oracle: read that first. This is an optimisation of the training step, not a
new formula: the layer-by-layer path computes the same numbers with
``Dense.backward`` and ``Adam.step``.

Why fuse: at our real size each head's W is 2,064,512 x 64 (528 MB in
float32). Unfused, a step streams W for dx, W and dW for the gradient, then W,
dW, m and v for Adam: about 44 bytes per weight. Fused, each row of W, m and v
is read once and written once (24 bytes per weight): the gradient of the row,
g = x[:, k] outer dout, is computed on the fly into a 64-float scratch row and
never stored, and the row's contribution to dx is taken from the old W just
before Adam overwrites it.
"""

import numpy as np
from numba import njit, prange

from minimtl.kernels.dense_numba import ROWS_PER_CHUNK

__all__ = ["dense_backward_adam"]

_FASTMATH = {"reassoc", "contract"}


def _dense_backward_adam(x, Ws, douts, ms, vs, dx, lr_t, beta1, beta2, eps):
    """dx = sum_h douts[h] @ Ws[h].T (old weights); Adam on each Ws[h] with g = x.T @ douts[h].

    Parallel contract: ``prange`` over chunks of ROWS_PER_CHUNK rows k. Rows k
    of every W, m, v and column k of dx belong to one chunk only, so no two
    iterations write the same element. Each row's arithmetic is fixed (heads in
    tuple order, images in groups of four), so the result does not depend on
    the thread count or the chunking. Adam runs in the arrays' dtype (as the
    NumPy twin does). Allocates one scratch row (the largest head width) per
    chunk.
    """
    N, D = x.shape
    n_heads = len(Ws)
    width = 1
    for h in range(n_heads):
        width = max(width, Ws[h].shape[1])
    real = x.dtype.type
    zero, lr, b1, b2, epsilon = real(0), real(lr_t), real(beta1), real(beta2), real(eps)
    c1, c2 = real(1.0 - beta1), real(1.0 - beta2)
    n_chunks = (D + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    for c in prange(n_chunks):
        g = np.empty(width, dtype=x.dtype)  # the gradient of one row of W, never stored
        k0 = c * ROWS_PER_CHUNK
        k1 = min(D, k0 + ROWS_PER_CHUNK)
        for h in range(n_heads):
            W, dout, m, v = Ws[h], douts[h], ms[h], vs[h]
            H = W.shape[1]
            for k in range(k0, k1):
                w_row, m_row, v_row = W[k], m[k], v[k]
                for j in range(H):
                    g[j] = zero
                n = 0
                while n + 4 <= N:  # four images per pass over the row
                    x0, x1, x2, x3 = x[n, k], x[n + 1, k], x[n + 2, k], x[n + 3, k]
                    d0, d1, d2, d3 = dout[n], dout[n + 1], dout[n + 2], dout[n + 3]
                    s0, s1, s2, s3 = zero, zero, zero, zero
                    for j in range(H):
                        w = w_row[j]
                        g[j] += x0 * d0[j] + x1 * d1[j] + x2 * d2[j] + x3 * d3[j]
                        s0 += w * d0[j]
                        s1 += w * d1[j]
                        s2 += w * d2[j]
                        s3 += w * d3[j]
                    if h == 0:
                        dx[n, k], dx[n + 1, k], dx[n + 2, k], dx[n + 3, k] = s0, s1, s2, s3
                    else:  # the input feeds every head: add this head's share
                        dx[n, k] += s0
                        dx[n + 1, k] += s1
                        dx[n + 2, k] += s2
                        dx[n + 3, k] += s3
                    n += 4
                while n < N:  # the last (N % 4) images
                    xn, dn = x[n, k], dout[n]
                    s = zero
                    for j in range(H):
                        g[j] += xn * dn[j]
                        s += w_row[j] * dn[j]
                    if h == 0:
                        dx[n, k] = s
                    else:
                        dx[n, k] += s
                    n += 1
                for j in range(H):  # Adam on the row, after dx has read the old weights
                    gj = g[j]
                    mj = b1 * m_row[j] + c1 * gj
                    vj = b2 * v_row[j] + c2 * (gj * gj)
                    m_row[j] = mj
                    v_row[j] = vj
                    w_row[j] -= lr * mj / (np.sqrt(vj) + epsilon)


dense_backward_adam = njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")(
    _dense_backward_adam)
