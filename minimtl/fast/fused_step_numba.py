"""Fused training-step kernels: conv + ReLU + the heads' big Dense layers, and their backward + Adam.

Debug tip: NUMBA_DISABLE_JIT=1 runs them as plain Python. Same signatures and results (to
float32 rounding) as :mod:`minimtl.fast.fused_step_reference`, the readable oracle: read that
first. These kernels are an optimisation of the training step (docs/performance.md), not a new
formula; the layer-by-layer path computes the same numbers.

The idea. At 256 px each head's first Dense layer has W of 2,064,512 x 64 (528 MB), and a step
can do no better than read every weight once forward (4 bytes) and read and write W and Adam's
m and v once backward (24 bytes). Everything else is made to ride along with those two passes:

- Work is cut into *blocks*: a few whole output rows (y0..y1) of one conv filter f. A block is a
  run of consecutive rows k of W (the features are flattened in filter, row, column order), so
  each block streams its rows of every head's W, m and v once, in memory order.
- Each block recomputes its conv + ReLU activations from the (small, cached) input images into a
  block-sized scratch buffer: the 66 MB activation array is never written to memory.
- Forward: the block's activations times its rows of every W, summed into per-chunk partials.
- Backward: for each row k, the gradient g = act[:, k] outer dout is formed into a block-sized,
  cache-resident scratch (never a W-sized array) and the row's share of dfeatures is taken from
  the *old* weights; then Adam updates the block's rows of W, m and v in one flat loop. dfeatures
  is masked by the ReLU and turned into the block's share of the conv weight gradient before the
  block is left: it is never written to memory either.
- Rows whose activations are 0 in every image (a filter that does not fire there) contribute
  nothing forward and get g = 0 and no gradient below the ReLU: their products are skipped, which
  changes no result, but Adam still updates them.

Parallel contract (both kernels): ``prange`` over at most CHUNKS chunks, each a fixed range of
whole blocks (boundaries depend on the shapes only). A chunk writes only its own rows of the W,
m, v (backward), its own slice of ``partial`` (forward) and its own blocks' slots of the conv
gradient partials; those partials are combined after the loop in chunk or block order, never by
+= from several threads into shared memory (numba issue 3681). Every sum therefore has a fixed
order and the result does not depend on the thread count. Each chunk allocates its scratch
(a block of activations, of their gradient, and of one head's weight gradient) once.

Speed notes: innermost loops run along a row of W or of the image (contiguous, vectorised);
cache hints (:mod:`minimtl.fast.prefetch`) ask for rows of W, m and v a few rows before they
are used, so that memory traffic overlaps the arithmetic instead of alternating with it;
four rows of W per pass over the forward accumulators and four images per pass over a row of W
backward, so each accumulator load and store feeds four multiply-adds.
``fastmath={"reassoc", "contract"}`` lets LLVM vectorise the row sums and fuse multiply-adds;
``error_model="numpy"`` removes the division-by-zero check that keeps Adam's loop scalar.
"""

import numpy as np
from numba import njit, prange

from minimtl.fast.prefetch import prefetch, prefetch_for_write
from minimtl.kernels.adam_numba import adam_element
from minimtl.kernels.conv2d_numba import add_row_weight_gradient, conv_row
from minimtl.kernels.dense_numba import add_chunk_partials

__all__ = ["conv_dense_forward", "conv_dense_backward_adam", "CHUNKS", "ROWS_PER_BLOCK", "PREFETCH_ROWS"]

CHUNKS = 64  # parallel iterations (fixed, so the summation order never depends on threads)
ROWS_PER_BLOCK = 1024  # about this many rows of W per block (whole conv output rows of one filter)
PREFETCH_ROWS = 8  # how far ahead (rows of W) the cache hints reach
_OPTIONS = dict(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy")


def _layout(images, Wc):
    """(Ho, Wo, rows_per_block, blocks_per_filter, n_blocks) of the conv output and the blocks."""
    F, kh, kw = Wc.shape[0], Wc.shape[2], Wc.shape[3]
    Ho, Wo = images.shape[2] - kh + 1, images.shape[3] - kw + 1
    rows = max(1, min(Ho, ROWS_PER_BLOCK // Wo))
    per_filter = (Ho + rows - 1) // rows
    return Ho, Wo, rows, per_filter, F * per_filter


def _conv_relu_block(images, Wc, bc, f, y0, y1, act):
    """act[n, (y - y0) * Wo + x] = max(0, b[f] + sum_{c,i,j} Wc[f,c,i,j] images[n, c, y+i, x+j]), y0 <= y < y1.

    Each row is conv2d_numba.conv_row, the row the convolution layer's forward kernel computes.
    """
    N = images.shape[0]
    Wo = images.shape[3] - Wc.shape[3] + 1
    for n in range(N):
        for y in range(y0, y1):
            conv_row(images, Wc, bc, n, f, y, act[n, (y - y0) * Wo : (y - y0 + 1) * Wo], True)


def _alive(act, L, alive):
    """alive[r] = sum_n act[n, r] for r < L: 0 exactly when row r's activations are 0 in every image."""
    zero = act.dtype.type(0)
    for r in range(L):
        alive[r] = zero
    for n in range(act.shape[0]):
        for r in range(L):
            alive[r] += act[n, r]  # activations are >= 0, so nothing cancels


def _activation_block(images, Wc, bc, block, rows, per_filter, act, alive):
    """Block number ``block``: its conv + ReLU activations into act, their row sums into alive.

    The block is output rows y0 <= y < y1 of filter f = block // per_filter, i.e. the L rows of W
    from k0 on (features in filter, row, column order). Returns (y0, y1, L, k0). Shared by the
    forward and the backward kernel, which walk the same blocks.
    """
    Ho = images.shape[2] - Wc.shape[2] + 1
    Wo = images.shape[3] - Wc.shape[3] + 1
    f = block // per_filter
    y0 = (block - f * per_filter) * rows
    y1 = min(Ho, y0 + rows)
    L = (y1 - y0) * Wo
    _conv_relu_block_jit(images, Wc, bc, f, y0, y1, act)
    _alive_jit(act, L, alive)
    return y0, y1, L, (f * Ho + y0) * Wo


def _dense_forward_block(act, alive, L, Ws, k0, acc):
    """acc[n, offset_h + j] += sum_{r < L} act[n, r] * Ws[h][k0 + r, j] for every head h.

    ReLU outputs are 0 for a quarter to a half of the features, often for whole rows k in every
    image (a filter that does not fire); a pass whose four rows are all 0 in every image adds
    nothing and is skipped before its rows of W are even read (x + 0 * w == x for finite w).
    """
    N = act.shape[0]
    zero = act.dtype.type(0)
    offset = 0
    for h in range(len(Ws)):
        W = Ws[h]
        H = W.shape[1]
        w_flat = W.reshape(-1)
        r = 0
        while r + 4 <= L:  # four rows of W per pass over the accumulators
            if alive[r] + alive[r + 1] + alive[r + 2] + alive[r + 3] > zero:
                if k0 + r + PREFETCH_ROWS + 4 <= W.shape[0]:  # the rows two passes ahead: one hint per cache line
                    for q in range(0, 4 * H, 16):
                        prefetch(w_flat, (k0 + r + PREFETCH_ROWS) * H + q)
                w0, w1, w2, w3 = W[k0 + r], W[k0 + r + 1], W[k0 + r + 2], W[k0 + r + 3]
                for n in range(N):
                    a0, a1, a2, a3 = act[n, r], act[n, r + 1], act[n, r + 2], act[n, r + 3]
                    out = acc[n, offset : offset + H]
                    for j in range(H):
                        out[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j]
            r += 4
        while r < L:
            if alive[r] > zero:
                wr = W[k0 + r]
                for n in range(N):
                    a = act[n, r]
                    out = acc[n, offset : offset + H]
                    for j in range(H):
                        out[j] += a * wr[j]
            r += 1
        offset += H


def _dense_backward_adam_block(act, alive, L, Ws, douts, ms, vs, k0, dpre, G, lr, b1, b2, c1, c2, epsilon):
    """Rows k = k0 + r, r < L, of every head h: dpre[n, r] = sum_h dot(Ws[h][k], douts[h][n]) from the
    old weights, then Adam on the rows with the gradient g[r] = act[:, r] outer douts[h].

    Two loops per head: one over the rows forms each row's gradient into the scratch G (L x H,
    cache-resident) and its share of dpre; then Adam runs over the block's rows of W, m, v and G as
    one long flat loop (one loop start-up per block instead of one per 64-weight row).

    A row whose activations are 0 in every image has g = 0 and, after the ReLU's backward, dpre = 0:
    its products are skipped (the same numbers), but Adam still updates the whole row (m and v decay
    and W moves even where g = 0, as in Keras). Finally dpre is masked by the ReLU.
    """
    N = act.shape[0]
    zero = act.dtype.type(0)
    for h in range(len(Ws)):
        W, dout, m, v = Ws[h], douts[h], ms[h], vs[h]
        H = W.shape[1]
        w_all, m_all, v_all = W.reshape(-1), m.reshape(-1), v.reshape(-1)
        for r in range(L):
            w_row, g = W[k0 + r], G[r * H : (r + 1) * H]
            # hints, one per cache line: this row's m and v (Adam reads them after the block's rows)
            # and the row of W PREFETCH_ROWS ahead
            for q in range(0, H, 16):
                prefetch_for_write(m_all, (k0 + r) * H + q)
                prefetch_for_write(v_all, (k0 + r) * H + q)
                if k0 + r + PREFETCH_ROWS < W.shape[0]:
                    prefetch_for_write(w_all, (k0 + r + PREFETCH_ROWS) * H + q)
            for j in range(H):
                g[j] = zero
            n_images = N if alive[r] > zero else 0
            if n_images == 0 and h == 0:
                for n in range(N):
                    dpre[n, r] = zero
            n = 0
            while n + 4 <= n_images:  # four images per pass over the row
                a0, a1, a2, a3 = act[n, r], act[n + 1, r], act[n + 2, r], act[n + 3, r]
                d0, d1, d2, d3 = dout[n], dout[n + 1], dout[n + 2], dout[n + 3]
                s0, s1, s2, s3 = zero, zero, zero, zero
                for j in range(H):
                    w = w_row[j]
                    g[j] += a0 * d0[j] + a1 * d1[j] + a2 * d2[j] + a3 * d3[j]
                    s0 += w * d0[j]
                    s1 += w * d1[j]
                    s2 += w * d2[j]
                    s3 += w * d3[j]
                if h == 0:
                    dpre[n, r], dpre[n + 1, r], dpre[n + 2, r], dpre[n + 3, r] = s0, s1, s2, s3
                else:  # the features feed every head: add this head's share
                    dpre[n, r] += s0
                    dpre[n + 1, r] += s1
                    dpre[n + 2, r] += s2
                    dpre[n + 3, r] += s3
                n += 4
            while n < n_images:  # the last N % 4 images
                a, d = act[n, r], dout[n]
                s = zero
                for j in range(H):
                    g[j] += a * d[j]
                    s += w_row[j] * d[j]
                if h == 0:
                    dpre[n, r] = s
                else:
                    dpre[n, r] += s
                n += 1
        # Adam on the block's rows, after dpre has read the old weights
        w_flat, m_flat, v_flat = W[k0 : k0 + L].reshape(-1), m[k0 : k0 + L].reshape(-1), v[k0 : k0 + L].reshape(-1)
        for i in range(L * H):
            adam_element(w_flat, G, m_flat, v_flat, i, lr, b1, b2, c1, c2, epsilon)
    for n in range(N):  # the ReLU's backward: no gradient where the activation was 0
        for r in range(L):
            dpre[n, r] = dpre[n, r] * (act[n, r] > zero)


def _conv_weight_grad_block(images, dpre, y0, y1, dW, db):
    """dW[c,i,j] = sum_{n, y0<=y<y1} dot(dpre row y, images[n, c, y+i, j:j+Wo]); db = sum of dpre (overwritten).

    Each row's share is conv2d_numba.add_row_weight_gradient, as in the convolution layer's kernel.
    """
    N, C = images.shape[0], images.shape[1]
    kh, kw = dW.shape[1], dW.shape[2]
    Wo = images.shape[3] - kw + 1
    zero = dW.dtype.type(0)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                dW[c, i, j] = zero
    total = zero
    for n in range(N):
        for y in range(y0, y1):
            drow = dpre[n, (y - y0) * Wo : (y - y0 + 1) * Wo]
            s = zero
            for ox in range(Wo):
                s += drow[ox]
            total += s
            add_row_weight_gradient(images, n, y, drow, dW)
    db[0] = total


_layout_jit = njit(cache=True)(_layout)
_alive_jit = njit(**_OPTIONS)(_alive)
_conv_relu_block_jit = njit(**_OPTIONS)(_conv_relu_block)
_dense_forward_block_jit = njit(**_OPTIONS)(_dense_forward_block)
_dense_backward_adam_block_jit = njit(**_OPTIONS)(_dense_backward_adam_block)
_conv_weight_grad_block_jit = njit(**_OPTIONS)(_conv_weight_grad_block)
_activation_block_jit = njit(**_OPTIONS)(_activation_block)


def _conv_dense_forward(images, Wc, bc, Ws, bs, outs):
    """outs[h] = flatten(relu(conv(images))) @ Ws[h] + bs[h]; see the module docstring for the contract."""
    N = images.shape[0]
    _, Wo, rows, per_filter, n_blocks = _layout_jit(images, Wc)
    width = 0
    for h in range(len(Ws)):
        width += Ws[h].shape[1]
    n_chunks = min(CHUNKS, n_blocks)
    partial = np.zeros((n_chunks, N, width), dtype=images.dtype)
    for c in prange(n_chunks):
        act = np.empty((N, rows * Wo), dtype=images.dtype)
        alive = np.empty(rows * Wo, dtype=images.dtype)
        for block in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
            _, _, L, k0 = _activation_block_jit(images, Wc, bc, block, rows, per_filter, act, alive)
            _dense_forward_block_jit(act, alive, L, Ws, k0, partial[c])
    offset = 0
    for h in range(len(Ws)):  # each head's chunk partials added in chunk order: a fixed order
        add_chunk_partials(partial, offset, bs[h], outs[h])
        offset += Ws[h].shape[1]


def _conv_dense_backward_adam(images, Wc, bc, Ws, douts, ms, vs, dWc, dbc, lr_t, beta1, beta2, eps):
    """Adam on every Ws[h] (in place), conv gradients into dWc, dbc; see the module docstring."""
    N, C = images.shape[0], images.shape[1]
    kh, kw = Wc.shape[2], Wc.shape[3]
    _, Wo, rows, per_filter, n_blocks = _layout_jit(images, Wc)
    real = images.dtype.type
    lr, b1, b2, epsilon = real(lr_t), real(beta1), real(beta2), real(eps)
    c1, c2 = real(1.0 - beta1), real(1.0 - beta2)
    width = 1
    for h in range(len(Ws)):
        width = max(width, Ws[h].shape[1])
    dW_blocks = np.empty((n_blocks, C, kh, kw), dtype=images.dtype)
    db_blocks = np.empty((n_blocks, 1), dtype=images.dtype)
    n_chunks = min(CHUNKS, n_blocks)
    for c in prange(n_chunks):
        act = np.empty((N, rows * Wo), dtype=images.dtype)
        alive = np.empty(rows * Wo, dtype=images.dtype)
        dpre = np.empty((N, rows * Wo), dtype=images.dtype)
        G = np.empty(rows * Wo * width, dtype=images.dtype)
        for block in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
            y0, y1, L, k0 = _activation_block_jit(images, Wc, bc, block, rows, per_filter, act, alive)
            _dense_backward_adam_block_jit(act, alive, L, Ws, douts, ms, vs, k0, dpre, G, lr, b1, b2, c1, c2, epsilon)
            _conv_weight_grad_block_jit(images, dpre, y0, y1, dW_blocks[block], db_blocks[block])
    dWc[...] = 0
    dbc[...] = 0
    for block in range(n_blocks):  # block partials added in block order: a fixed order
        f = block // per_filter
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    dWc[f, c, i, j] += dW_blocks[block, c, i, j]
        dbc[f] += db_blocks[block, 0]


conv_dense_forward = njit(parallel=True, **_OPTIONS)(_conv_dense_forward)
conv_dense_backward_adam = njit(parallel=True, **_OPTIONS)(_conv_dense_backward_adam)
