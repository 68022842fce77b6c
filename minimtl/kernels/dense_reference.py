"""NumPy twins of the dense kernels: the readable oracle for the tests.

Same signatures as :mod:`minimtl.kernels.dense_numba`. The kernels take a
*tuple of heads* that share one input ``x``: several Dense layers fed by the
same features (the heads of a multi-task network) are computed in one pass
over ``x``. A single Dense layer is the one-head case, ``(W,)``.

Shapes (per head h):
    x: (N, D)    Ws[h]: (D, H_h)    bs[h]: (H_h,)
    outs[h], douts[h]: (N, H_h)     dWs[h]: (D, H_h)    dx: (N, D)
"""

__all__ = ["dense_forward", "dense_backward"]


def dense_forward(x, Ws, bs, outs):
    """outs[h] = x @ Ws[h] + bs[h] for every head h (written in place)."""
    for W, b, out in zip(Ws, bs, outs):
        out[...] = x @ W + b


def dense_backward(x, Ws, douts, dWs, dbs, dx):
    """Gradients of every head, and of the shared input (all overwritten).

        dWs[h] = x.T @ douts[h]      dbs[h] = douts[h].sum(axis=0)
        dx = sum_h douts[h] @ Ws[h].T   (the input feeds every head: the gradients add)

    Inputs: x (N, D), Ws, douts (tuples, read only). Outputs: dWs, dbs, dx.
    """
    dx[...] = 0
    for W, dout, dW, db in zip(Ws, douts, dWs, dbs):
        dW[...] = x.T @ dout
        db[...] = dout.sum(axis=0)
        dx += dout @ W.T
