"""NumPy twins of the convolution kernels: the readable oracle for the tests.

Each function has exactly the signature of its Numba twin in
:mod:`minimtl.kernels.conv2d_numba` and writes into the output arrays it is
given. The loops run over the kh*kw kernel offsets only; each offset is one
``einsum`` over a shifted window of the input, which is the definition of
cross-correlation written almost literally:

    out[n, f, y, x] = b[f] + sum_{c, i, j} W[f, c, i, j] * x[n, c, y + i, x + j]

Shapes (stride 1, 'valid' padding, NCHW):
    x: (N, C, H, W)   W: (F, C, kh, kw)   b: (F,)
    out, dout: (N, F, Ho, Wo) with Ho = H - kh + 1, Wo = W - kw + 1
"""

import numpy as np

__all__ = [
    "conv2d_forward",
    "conv2d_backward_weights",
    "conv2d_backward_weights_relu",
    "conv2d_backward_input",
    "relu_backward_mask",
]


def conv2d_forward(x, W, b, out, relu):
    """out[n, f] = b[f] + sum_c x[n, c] (*) W[f, c]; then max(out, 0) if relu.

    Inputs: x (N, C, H, W), W (F, C, kh, kw), b (F,), relu (bool).
    Output (written in place): out (N, F, Ho, Wo).
    """
    kh, kw = W.shape[2], W.shape[3]
    Ho, Wo = out.shape[2], out.shape[3]
    out[...] = b[None, :, None, None]
    for i in range(kh):
        for j in range(kw):
            window = x[:, :, i:i + Ho, j:j + Wo]  # (N, C, Ho, Wo)
            out += np.einsum("nchw,fc->nfhw", window, W[:, :, i, j])
    if relu:
        np.maximum(out, 0, out=out)


def conv2d_backward_weights(x, dout, dW, db):
    """dW[f, c, i, j] = sum_{n, y, x} dout[n, f, y, x] * x[n, c, y + i, x + j];
    db[f] = sum_{n, y, x} dout[n, f, y, x].

    Inputs: x (N, C, H, W), dout (N, F, Ho, Wo).
    Outputs (overwritten): dW (F, C, kh, kw), db (F,).
    """
    kh, kw = dW.shape[2], dW.shape[3]
    Ho, Wo = dout.shape[2], dout.shape[3]
    for i in range(kh):
        for j in range(kw):
            window = x[:, :, i:i + Ho, j:j + Wo]
            dW[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, window)
    db[...] = dout.sum(axis=(0, 2, 3))


def conv2d_backward_weights_relu(x, dout, out, dW, db):
    """The weight gradient of a conv with a fused ReLU: conv2d_backward_weights of dout * (out > 0).

    Inputs: x (N, C, H, W), dout (N, F, Ho, Wo), out (N, F, Ho, Wo) the post-ReLU forward output.
    Outputs (overwritten): dW (F, C, kh, kw), db (F,).
    """
    dpre = np.empty_like(dout)
    relu_backward_mask(dout, out, dpre)
    conv2d_backward_weights(x, dpre, dW, db)


def conv2d_backward_input(dout, W, dx):
    """dx[n, c, y + i, x + j] += dout[n, f, y, x] * W[f, c, i, j], summed over f, i, j.

    Inputs: dout (N, F, Ho, Wo), W (F, C, kh, kw).
    Output (overwritten): dx (N, C, H, W).
    """
    kh, kw = W.shape[2], W.shape[3]
    Ho, Wo = dout.shape[2], dout.shape[3]
    dx[...] = 0
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + Ho, j:j + Wo] += np.einsum("nfhw,fc->nchw", dout, W[:, :, i, j])


def relu_backward_mask(dout, out, dpre):
    """Backward of a fused ReLU: dpre = dout where out > 0, else 0.

    ``out`` is the (post-ReLU) forward output; out > 0 exactly where the
    pre-activation was positive, so the gradient at the kink (0) is 0, as in Keras.
    Inputs: dout, out of the same shape (N, F, Ho, Wo). Output: dpre, same shape.
    """
    np.multiply(dout, out > 0, out=dpre)
