"""Numba kernels for max pooling (debug tip: NUMBA_DISABLE_JIT=1 runs them as Python).

Same signatures and results as the NumPy twins in :mod:`minimtl.kernels.maxpool2d_reference` (the
test oracle, and the place to read the definition first): non-overlapping p x p windows, stride p,
floor mode, ``argmax`` = the winner's offset i*p + j, the first maximum in row-major order on a tie.
Only comparisons and copies: the results are the twins' bit for bit.
"""

from numba import njit, prange

__all__ = ["maxpool2d_forward", "maxpool2d_backward"]


def _maxpool2d_forward(x, pool, out, argmax):
    """out[n, c, y, x] = max of x[n, c, p*y : p*y + p, p*x : p*x + p]; argmax its offset i*p + j.

    Parallel contract: ``prange`` over the N*C planes; plane (n, c) writes only out[n, c] and
    argmax[n, c], so no two iterations write the same element. No allocation.
    """
    N, C, Ho, Wo = out.shape
    for plane in prange(N * C):
        n, c = plane // C, plane % C
        for y in range(Ho):
            for x_ in range(Wo):
                best = x[n, c, pool * y, pool * x_]
                where = 0
                for i in range(pool):
                    for j in range(pool):
                        value = x[n, c, pool * y + i, pool * x_ + j]
                        if value > best:  # strictly greater: the first maximum keeps a tie
                            best = value
                            where = i * pool + j
                out[n, c, y, x_] = best
                argmax[n, c, y, x_] = where


def _maxpool2d_backward(dout, argmax, pool, dx):
    """dx: zero, then dout[n, c, y, x] at the winner of window (y, x).

    Parallel contract: ``prange`` over the N*C planes; plane (n, c) writes only dx[n, c], and within
    it the windows do not overlap (stride = pool), so each element is written once. No allocation.
    """
    N, C, Ho, Wo = dout.shape
    for plane in prange(N * C):
        n, c = plane // C, plane % C
        dx[n, c, :, :] = 0
        for y in range(Ho):
            for x_ in range(Wo):
                k = argmax[n, c, y, x_]
                dx[n, c, pool * y + k // pool, pool * x_ + k % pool] = dout[n, c, y, x_]


maxpool2d_forward = njit(parallel=True, cache=True)(_maxpool2d_forward)
maxpool2d_backward = njit(parallel=True, cache=True)(_maxpool2d_backward)
