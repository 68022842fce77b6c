"""Numba kernels for one Dense layer (debug tip: NUMBA_DISABLE_JIT=1 runs them as Python).

Same signatures and results as the NumPy twins in :mod:`minimtl.kernels.dense_reference` (the
test oracle); read those first. Shapes: x (N, D), W (D, H), b (H,), out and dout (N, H).

Why not ``x @ W``: at our real size x is (8, 2,064,512) and W is (2,064,512, 64), a tall-skinny
product that is bound by reading W (528 MB) from memory. BLAS runs it at a fraction of the memory
bandwidth (its blocking is made for square products), and its idle threads keep spinning after
the call, stealing the cores from the Numba kernels that follow. These kernels stream W once, in
row order, on every core.

Speed: the innermost loops run along a row of W (contiguous, vectorised). The forward pass takes
four rows of W per pass over its accumulators and the backward pass four images per pass over a
row, so each load and store of an accumulator row feeds four multiply-adds (the trick of the
convolution kernels' three columns per pass). ``fastmath={"reassoc", "contract"}`` lets LLVM
vectorise the row sums and fuse multiply-adds; ``error_model="numpy"`` drops the
division-by-zero check that would keep a loop scalar. The compiled code is fixed and chunk
boundaries depend only on the shapes, so the same inputs give bit-identical outputs for any
thread count.
"""

import numpy as np
from numba import njit, prange

__all__ = [
    "dense_forward",
    "dense_backward",
    "dense_input_gradient",
    "add_chunk_partials",
    "FORWARD_CHUNKS",
    "ROWS_PER_CHUNK",
]

FORWARD_CHUNKS = 64  # the forward pass sums at most this many per-chunk partial products
ROWS_PER_CHUNK = 1024  # rows of W per parallel iteration in the backward kernel
_FASTMATH = {"reassoc", "contract"}


def _add_chunk_partials(partial, offset, b, out):
    """out[n, j] = sum over chunks c of partial[c, n, offset + j], plus b[j].

    The chunks are added in order 0, 1, 2, ...: a fixed order, so the result does not depend on
    which thread finished first. Serial. ``offset`` is 0 here; the fused training step's forward
    kernel (minimtl/fast/fused_step_numba.py) keeps several heads side by side in ``partial`` and
    adds each head's columns from its offset.
    """
    n_chunks, N, H = partial.shape[0], partial.shape[1], out.shape[1]
    for n in range(N):
        for j in range(H):
            s = partial[0, n, offset + j]
            for c in range(1, n_chunks):
                s += partial[c, n, offset + j]
            out[n, j] = s + b[j]


add_chunk_partials = njit(cache=True, fastmath=_FASTMATH, error_model="numpy")(_add_chunk_partials)


def _dense_forward(x, W, b, out):
    """out = x @ W + b, streaming W once.

    Parallel contract: ``prange`` over ``n_chunks`` blocks of rows of W (n_chunks depends on D
    only, at most FORWARD_CHUNKS). Chunk c sums its rows' products into its own slice
    ``partial[c]`` (N x H), so no two iterations write the same element (no += into a shared
    array, numba issue 3681). The partial sums are then added in chunk order 0, 1, 2, ... after
    the loop: a fixed order, whatever the thread count. Allocates only ``partial``
    (n_chunks x N x H, 128 KB at our size).
    """
    N, D = x.shape
    H = W.shape[1]
    n_chunks = max(1, min(FORWARD_CHUNKS, D // 256))
    partial = np.zeros((n_chunks, N, H), dtype=x.dtype)
    for c in prange(n_chunks):
        k0 = c * D // n_chunks
        k1 = (c + 1) * D // n_chunks
        k = k0
        while k + 4 <= k1:  # four rows of W per pass over the accumulators
            w0, w1, w2, w3 = W[k], W[k + 1], W[k + 2], W[k + 3]
            for n in range(N):
                x0, x1, x2, x3 = x[n, k], x[n, k + 1], x[n, k + 2], x[n, k + 3]
                acc = partial[c, n]
                for j in range(H):
                    acc[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
            k += 4
        while k < k1:  # the last (rows % 4) rows
            wk = W[k]
            for n in range(N):
                xk = x[n, k]
                acc = partial[c, n]
                for j in range(H):
                    acc[j] += xk * wk[j]
            k += 1
    add_chunk_partials(partial, 0, b, out)


def _dense_backward(x, W, dout, dW, db, dx):
    """dW = x.T @ dout, db = dout summed over the batch, dx = dout @ W.T.

    Parallel contract: ``prange`` over chunks of ROWS_PER_CHUNK rows k of W. Row k of dW and
    column k of dx belong to one chunk only, so no two iterations write the same element; each
    element is summed in a fixed order (images in groups of four). db is summed after the loop,
    sequentially. No allocation.
    """
    N, D = x.shape
    H = W.shape[1]
    n_chunks = (D + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    zero = x.dtype.type(0)
    for c in prange(n_chunks):
        for k in range(c * ROWS_PER_CHUNK, min(D, (c + 1) * ROWS_PER_CHUNK)):
            for j in range(H):
                dW[k, j] = zero
            n = 0
            while n + 4 <= N:  # four images per pass over the row
                x0, x1, x2, x3 = x[n, k], x[n + 1, k], x[n + 2, k], x[n + 3, k]
                s0, s1, s2, s3 = zero, zero, zero, zero
                for j in range(H):
                    w = W[k, j]
                    d0, d1, d2, d3 = dout[n, j], dout[n + 1, j], dout[n + 2, j], dout[n + 3, j]
                    dW[k, j] += x0 * d0 + x1 * d1 + x2 * d2 + x3 * d3
                    s0 += w * d0
                    s1 += w * d1
                    s2 += w * d2
                    s3 += w * d3
                dx[n, k], dx[n + 1, k], dx[n + 2, k], dx[n + 3, k] = s0, s1, s2, s3
                n += 4
            while n < N:  # the last (N % 4) images
                xn = x[n, k]
                s = zero
                for j in range(H):
                    d = dout[n, j]
                    dW[k, j] += xn * d
                    s += W[k, j] * d
                dx[n, k] = s
                n += 1
    for j in range(H):
        s = zero
        for n in range(N):
            s += dout[n, j]
        db[j] = s


def _dense_input_gradient(W, dout, dx):
    """dx = dout @ W.T alone: the input gradient without dW and db (the gradient-conflict probe,
    minimtl/training/weighting/task_gradients.py, which must not touch the layer's weight gradient).

    Parallel contract: as :func:`_dense_backward`'s, ``prange`` over chunks of ROWS_PER_CHUNK rows k
    of W; column k of dx belongs to one chunk only, so no two iterations write the same element;
    each element is one row sum, in a fixed order. No allocation. It reads W once and writes no
    (D, H) array, a third of the backward kernel's memory traffic.
    """
    D, H = W.shape
    N = dout.shape[0]
    n_chunks = (D + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    zero = W.dtype.type(0)
    for c in prange(n_chunks):
        for k in range(c * ROWS_PER_CHUNK, min(D, (c + 1) * ROWS_PER_CHUNK)):
            n = 0
            while n + 4 <= N:  # four images per pass over the row
                s0, s1, s2, s3 = zero, zero, zero, zero
                for j in range(H):
                    w = W[k, j]
                    s0 += w * dout[n, j]
                    s1 += w * dout[n + 1, j]
                    s2 += w * dout[n + 2, j]
                    s3 += w * dout[n + 3, j]
                dx[n, k], dx[n + 1, k], dx[n + 2, k], dx[n + 3, k] = s0, s1, s2, s3
                n += 4
            while n < N:  # the last (N % 4) images
                s = zero
                for j in range(H):
                    s += W[k, j] * dout[n, j]
                dx[n, k] = s
                n += 1


_OPTIONS = dict(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
dense_forward = njit(**_OPTIONS)(_dense_forward)
dense_backward = njit(**_OPTIONS)(_dense_backward)
dense_input_gradient = njit(**_OPTIONS)(_dense_input_gradient)
