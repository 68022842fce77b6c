"""NumPy twin of the Dense kernels: the readable oracle for the tests.

Same signatures as :mod:`minimtl.kernels.dense_numba`. Shapes:
    x: (N, D)    W: (D, H)    b: (H,)    out, dout: (N, H)    dW: (D, H)    db: (H,)    dx: (N, D)
"""

__all__ = ["dense_forward", "dense_backward", "dense_input_gradient"]


def dense_forward(x, W, b, out):
    """out = x @ W + b (written in place)."""
    out[...] = x @ W + b


def dense_backward(x, W, dout, dW, db, dx):
    """The gradients of out = x @ W + b for the upstream gradient dout (all outputs overwritten).

        dW = x.T @ dout      db = dout summed over the batch      dx = dout @ W.T

    Inputs: x (N, D), W (D, H), dout (N, H), read only. Outputs: dW (D, H), db (H,), dx (N, D).
    """
    dW[...] = x.T @ dout
    db[...] = dout.sum(axis=0)
    dx[...] = dout @ W.T


def dense_input_gradient(W, dout, dx):
    """dx = dout @ W.T alone (written in place): the input gradient without dW and db.

    Inputs: W (D, H), dout (N, H), read only. Output: dx (N, D).
    """
    dx[...] = dout @ W.T
