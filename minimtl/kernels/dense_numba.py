"""Numba kernels for Dense layers sharing one input (debug tip: NUMBA_DISABLE_JIT=1 runs them as Python).

Same signatures and results as the NumPy twins in
:mod:`minimtl.kernels.dense_reference` (the test oracle); read those first.
``Ws``, ``bs``, ``outs``, ``douts``, ``dWs``, ``dbs`` are tuples with one
array per head; all heads read the same ``x``. A single Dense layer passes
one-element tuples.

Why not ``x @ W``: at our real size x is (8, 2,064,512) and W is
(2,064,512, 64), a tall-skinny product that is bound by reading W (528 MB)
from memory. BLAS runs it at a fraction of the memory bandwidth (its blocking
is made for square products), and its idle threads keep spinning after the
call, stealing the cores from the Numba kernels that follow. These kernels
stream W once, in row order, on every core.

Speed: the innermost loops run along a row of W (contiguous, vectorised). The
forward pass takes four rows of W per pass over its accumulators and the
backward pass four images per pass over a row, so each load and store of an
accumulator row feeds four multiply-adds (the trick of the convolution
kernels' three columns per pass). ``fastmath={"reassoc", "contract"}`` lets
LLVM vectorise the row sums and fuse multiply-adds; ``error_model="numpy"``
drops the division-by-zero check that would keep a loop with ``/`` scalar.
The compiled code is fixed, and chunk boundaries depend only on the shapes,
so the same inputs give bit-identical outputs for any thread count.
"""

import numpy as np
from numba import njit, prange

from minimtl.kernels.prefetch import prefetch

__all__ = ["dense_forward", "dense_backward", "add_chunk_partials", "FORWARD_CHUNKS", "ROWS_PER_CHUNK"]

FORWARD_CHUNKS = 64    # the forward pass sums at most this many per-chunk partial products
ROWS_PER_CHUNK = 1024  # rows of W per parallel iteration in the backward kernels
_FASTMATH = {"reassoc", "contract"}


def _add_chunk_partials(partial, bs, outs):
    """outs[h][n, j] = sum over chunks c of partial[c, n, offset_h + j], plus bs[h][j].

    The chunks are added in order 0, 1, 2, ...: a fixed order, so the result does not depend on
    which thread finished first. Heads sit side by side in ``partial``'s last axis. Serial; shared
    by the Dense forward kernel here and the fused forward kernel (fused_step_numba.py).
    """
    n_chunks, N = partial.shape[0], partial.shape[1]
    offset = 0
    for h in range(len(outs)):
        out, b = outs[h], bs[h]
        H = out.shape[1]
        for n in range(N):
            for j in range(H):
                s = partial[0, n, offset + j]
                for c in range(1, n_chunks):
                    s += partial[c, n, offset + j]
                out[n, j] = s + b[j]
        offset += H


add_chunk_partials = njit(cache=True, fastmath=_FASTMATH, error_model="numpy")(_add_chunk_partials)


def _dense_forward(x, Ws, bs, outs):
    """outs[h] = x @ Ws[h] + bs[h], streaming every W once.

    Parallel contract: ``prange`` over ``n_chunks`` blocks of rows of the W's
    (n_chunks depends on D only, at most FORWARD_CHUNKS). Chunk c sums its rows'
    products into its own slice ``partial[c]`` (N x total width), so no two
    iterations write the same element (no += into a shared array, numba issue
    3681). The partial sums are then added in chunk order 0, 1, 2, ... after the
    loop: a fixed order, whatever the thread count. Allocates only ``partial``
    (n_chunks x N x total width, 256 KB at our size).
    """
    N, D = x.shape
    n_heads = len(Ws)
    width = 0
    for h in range(n_heads):
        width += Ws[h].shape[1]
    n_chunks = max(1, min(FORWARD_CHUNKS, D // 256))
    partial = np.zeros((n_chunks, N, width), dtype=x.dtype)
    for c in prange(n_chunks):
        k0 = c * D // n_chunks
        k1 = (c + 1) * D // n_chunks
        offset = 0
        for h in range(n_heads):
            W = Ws[h]
            H = W.shape[1]
            w_flat = W.reshape(-1)
            k = k0
            while k + 4 <= k1:  # four rows of W per pass over the accumulators
                if k + 12 <= k1:  # a cache hint for the rows two passes ahead, one per cache line
                    for q in range(0, 4 * H, 16):
                        prefetch(w_flat, (k + 8) * H + q)
                w0, w1, w2, w3 = W[k], W[k + 1], W[k + 2], W[k + 3]
                for n in range(N):
                    x0, x1, x2, x3 = x[n, k], x[n, k + 1], x[n, k + 2], x[n, k + 3]
                    acc = partial[c, n, offset:offset + H]
                    for j in range(H):
                        acc[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
                k += 4
            while k < k1:  # the last (rows % 4) rows
                wk = W[k]
                for n in range(N):
                    xk = x[n, k]
                    acc = partial[c, n, offset:offset + H]
                    for j in range(H):
                        acc[j] += xk * wk[j]
                k += 1
            offset += H
    add_chunk_partials(partial, bs, outs)


def _dense_backward(x, Ws, douts, dWs, dbs, dx):
    """dWs[h] = x.T @ douts[h], dbs[h] = sum over the batch, dx = sum_h douts[h] @ Ws[h].T.

    Parallel contract: ``prange`` over chunks of ROWS_PER_CHUNK rows k of the
    W's. Row k of every dW and column k of dx belong to one chunk only, so no
    two iterations write the same element; each element is summed in a fixed
    order (heads in tuple order, images in groups of four). dbs is summed after
    the loop, sequentially. No allocation.
    """
    N, D = x.shape
    n_heads = len(Ws)
    n_chunks = (D + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK
    zero = x.dtype.type(0)
    for c in prange(n_chunks):
        k0 = c * ROWS_PER_CHUNK
        k1 = min(D, k0 + ROWS_PER_CHUNK)
        for h in range(n_heads):
            W, dout, dW = Ws[h], douts[h], dWs[h]
            H = W.shape[1]
            for k in range(k0, k1):
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
                    if h == 0:
                        dx[n, k], dx[n + 1, k], dx[n + 2, k], dx[n + 3, k] = s0, s1, s2, s3
                    else:  # the input feeds every head: add this head's share
                        dx[n, k] += s0
                        dx[n + 1, k] += s1
                        dx[n + 2, k] += s2
                        dx[n + 3, k] += s3
                    n += 4
                while n < N:  # the last (N % 4) images
                    xn = x[n, k]
                    s = zero
                    for j in range(H):
                        d = dout[n, j]
                        dW[k, j] += xn * d
                        s += W[k, j] * d
                    if h == 0:
                        dx[n, k] = s
                    else:
                        dx[n, k] += s
                    n += 1
    for h in range(n_heads):
        dout, db = douts[h], dbs[h]
        for j in range(dout.shape[1]):
            s = zero
            for n in range(N):
                s += dout[n, j]
            db[j] = s


_OPTIONS = dict(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
dense_forward = njit(**_OPTIONS)(_dense_forward)
dense_backward = njit(**_OPTIONS)(_dense_backward)
