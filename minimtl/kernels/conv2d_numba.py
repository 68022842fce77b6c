"""Numba kernels for the convolution (debug tip: NUMBA_DISABLE_JIT=1 runs them as plain Python).

Same signatures and results as the NumPy twins in
:mod:`minimtl.kernels.conv2d_reference` (the test oracle); read those first.
Each kernel is written as a plain function ``_name`` and bound below with
``njit(parallel=True, cache=True)``. Kernels write into output arrays they are
given; the only allocation is one row-sized scratch per filter in the weight
gradients.

Shapes (stride 1, 'valid' padding, NCHW, cross-correlation):
    x: (N, C, H, W)   W: (F, C, kh, kw)   b: (F,)
    out, dout: (N, F, Ho, Wo) with Ho = H - kh + 1, Wo = W - kw + 1

Speed: every innermost loop runs along one output row (contiguous memory), so
LLVM vectorises it. ``fastmath={"reassoc", "contract"}`` lets it vectorise the
dot-product reductions in the weight gradient and fuse multiply-adds; the
compiled code is fixed, so the same inputs give bit-identical outputs on every
call and for every thread count (each output element is summed by one
iteration, in one order).
"""

import numpy as np
from numba import njit, prange

__all__ = [
    "conv_row",
    "add_row_weight_gradient",
    "conv2d_forward",
    "conv2d_backward_weights",
    "conv2d_backward_weights_relu",
    "conv2d_backward_input",
    "relu_backward_mask",
]

_FASTMATH = {"reassoc", "contract"}


def _conv_row(x, W, b, n, f, y, row, relu):
    """row[:] = b[f] + sum_{c,i,j} W[f,c,i,j] * x[n, c, y+i, j:j+len(row)]; then max(row, 0) if relu.

    One output row of image n and filter f, written into ``row`` (length Wo). Shared by
    ``conv2d_forward`` and the fused training step, which recomputes rows block by block
    (fused_step_numba.py). The kernel columns j are taken three at a time, so each pass over the
    row does three multiply-adds per load and store of the row (a 3x3 kernel: 3 passes, not 9).
    """
    C = x.shape[1]
    kh, kw = W.shape[2], W.shape[3]
    Wo = row.shape[0]
    zero = row.dtype.type(0)
    for ox in range(Wo):
        row[ox] = b[f]
    for c in range(C):
        for i in range(kh):
            xrow = x[n, c, y + i]
            j = 0
            while j + 3 <= kw:
                w0, w1, w2 = W[f, c, i, j], W[f, c, i, j + 1], W[f, c, i, j + 2]
                for ox in range(Wo):
                    row[ox] += w0 * xrow[ox + j] + w1 * xrow[ox + j + 1] + w2 * xrow[ox + j + 2]
                j += 3
            while j < kw:  # the last kw % 3 columns
                w = W[f, c, i, j]
                for ox in range(Wo):
                    row[ox] += w * xrow[ox + j]
                j += 1
    if relu:
        for ox in range(Wo):
            v = row[ox]
            # branch-free ReLU: a select (v if v > 0 else 0) measured several times slower
            # here; "+ zero" turns the -0.0 of negative v into 0.0 (only v = -inf gives NaN)
            row[ox] = v * (v > zero) + zero


conv_row = njit(cache=True, fastmath=_FASTMATH)(_conv_row)


def _conv2d_forward(x, W, b, out, relu):
    """out[n, f, y, :] = b[f] + sum_{c,i,j} W[f,c,i,j] * x[n, c, y+i, j:j+Wo]; ReLU if relu.

    Parallel contract: ``prange`` over the N*F pairs (n, f); iteration (n, f)
    writes only out[n, f], so no two iterations touch the same element.
    Each row is computed by ``conv_row`` (innermost loop along the row, vectorised).
    """
    F = W.shape[0]
    N, Ho = out.shape[0], out.shape[2]
    for p in prange(N * F):
        n = p // F
        f = p - n * F
        for y in range(Ho):
            conv_row(x, W, b, n, f, y, out[n, f, y], relu)


def _conv2d_backward_weights(x, dout, dW, db):
    """dW[f,c,i,j] = sum_{n,y} dot(dout[n,f,y,:], x[n,c,y+i,j:j+Wo]); db[f] = sum dout[:, f].

    Parallel contract: ``prange`` over filters f; iteration f owns dW[f] and
    db[f] (no reduction race, numba issue 3681) and sums in a fixed order, so
    the result does not depend on the thread count. Innermost loop: contiguous
    dot products along an output row, three kernel columns per pass (each
    load of dout feeds three sums).
    """
    Wo = dout.shape[3]
    for f in prange(dW.shape[0]):
        drow = np.empty(Wo, dtype=dW.dtype)
        _weight_gradient_of_filter(x, dout, dout, f, False, drow, dW, db)


def _conv2d_backward_weights_relu(x, dout, out, dW, db):
    """The weight gradient of a conv with a fused ReLU: as conv2d_backward_weights for the masked
    gradient dout * (out > 0), without writing that masked array (a 66 MB pass each way at our
    size): each output row is masked into a row-sized scratch just before its dot products.

    Parallel contract: as conv2d_backward_weights (``prange`` over filters; iteration f owns dW[f],
    db[f] and its scratch row). Allocates one row per filter.
    """
    Wo = dout.shape[3]
    for f in prange(dW.shape[0]):
        drow = np.empty(Wo, dtype=dW.dtype)
        _weight_gradient_of_filter(x, dout, out, f, True, drow, dW, db)


def _weight_gradient_of_filter(x, dout, out, f, relu, drow, dW, db):
    """dW[f], db[f] (overwritten) from dout[:, f], masked by out[:, f] > 0 if relu; drow: (Wo,) scratch."""
    N, C = x.shape[0], x.shape[1]
    kh, kw = dW.shape[2], dW.shape[3]
    Ho, Wo = dout.shape[2], dout.shape[3]
    zero = dW.dtype.type(0)  # accumulators in the output's dtype
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                dW[f, c, i, j] = zero
    db_f = zero
    for n in range(N):
        for y in range(Ho):
            s = zero
            if relu:
                orow, grow = out[n, f, y], dout[n, f, y]
                for ox in range(Wo):
                    d = grow[ox] * (orow[ox] > zero)  # 0 at the kink, as relu_backward_mask
                    drow[ox] = d
                    s += d
            else:
                grow = dout[n, f, y]
                for ox in range(Wo):
                    drow[ox] = grow[ox]
                    s += grow[ox]
            db_f += s
            add_row_weight_gradient(x, n, y, drow, dW[f])
    db[f] = db_f


def _add_row_weight_gradient(x, n, y, drow, dWf):
    """dWf[c, i, j] += sum_ox drow[ox] * x[n, c, y+i, ox+j] for every c, i, j: one output row's share.

    drow is the gradient of output row y of image n for one filter (length Wo), dWf that filter's
    (C, kh, kw) weight gradient. Shared by the weight-gradient kernels here and the fused training
    step (fused_step_numba.py). The kernel columns j are taken three at a time, so each load of
    drow feeds three dot products.
    """
    C, kh, kw = dWf.shape[0], dWf.shape[1], dWf.shape[2]
    Wo = drow.shape[0]
    zero = dWf.dtype.type(0)
    for c in range(C):
        for i in range(kh):
            xrow = x[n, c, y + i]
            j = 0
            while j + 3 <= kw:
                s0, s1, s2 = zero, zero, zero
                for ox in range(Wo):
                    d = drow[ox]
                    s0 += d * xrow[ox + j]
                    s1 += d * xrow[ox + j + 1]
                    s2 += d * xrow[ox + j + 2]
                dWf[c, i, j] += s0
                dWf[c, i, j + 1] += s1
                dWf[c, i, j + 2] += s2
                j += 3
            while j < kw:  # the last kw % 3 columns
                s = zero
                for ox in range(Wo):
                    s += drow[ox] * xrow[ox + j]
                dWf[c, i, j] += s
                j += 1


def _conv2d_backward_input(dout, W, dx):
    """dx[n, c, y+i, j:j+Wo] += W[f,c,i,j] * dout[n, f, y, :], summed over f, y, i, j.

    Parallel contract: ``prange`` over images n; iteration n owns dx[n] (zeroes
    it, then accumulates in a fixed order). Innermost loop: along an output
    row (vectorised).
    """
    F, C, kh, kw = W.shape[0], W.shape[1], W.shape[2], W.shape[3]
    N, Ho, Wo = dout.shape[0], dout.shape[2], dout.shape[3]
    H, Wd = dx.shape[2], dx.shape[3]
    for n in prange(N):
        for c in range(C):
            for y in range(H):
                for ox in range(Wd):
                    dx[n, c, y, ox] = 0
        for f in range(F):
            for y in range(Ho):
                drow = dout[n, f, y]
                for c in range(C):
                    for i in range(kh):
                        dxrow = dx[n, c, y + i]
                        for j in range(kw):
                            w = W[f, c, i, j]
                            for ox in range(Wo):
                                dxrow[ox + j] += w * drow[ox]


def _relu_backward_mask(dout, out, dpre):
    """Backward of the fused ReLU: dpre = dout where out > 0, else 0 (0 at the kink, as Keras).

    Parallel contract: ``prange`` over the N*F pairs (n, f); iteration (n, f)
    writes only dpre[n, f].
    """
    N, F, Ho, Wo = out.shape[0], out.shape[1], out.shape[2], out.shape[3]
    for p in prange(N * F):
        n = p // F
        f = p - n * F
        for y in range(Ho):
            for ox in range(Wo):
                if out[n, f, y, ox] > 0:
                    dpre[n, f, y, ox] = dout[n, f, y, ox]
                else:
                    dpre[n, f, y, ox] = 0


conv2d_forward = njit(parallel=True, cache=True, fastmath=_FASTMATH)(_conv2d_forward)
# inlined into its callers: as a call, the layer kernel ran about 10% slower
add_row_weight_gradient = njit(inline="always", cache=True, fastmath=_FASTMATH)(_add_row_weight_gradient)
_weight_gradient_of_filter = njit(cache=True, fastmath=_FASTMATH)(_weight_gradient_of_filter)
conv2d_backward_weights = njit(parallel=True, cache=True, fastmath=_FASTMATH)(_conv2d_backward_weights)
conv2d_backward_weights_relu = njit(parallel=True, cache=True, fastmath=_FASTMATH)(_conv2d_backward_weights_relu)
conv2d_backward_input = njit(parallel=True, cache=True, fastmath=_FASTMATH)(_conv2d_backward_input)
relu_backward_mask = njit(parallel=True, cache=True)(_relu_backward_mask)
