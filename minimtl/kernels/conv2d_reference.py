"""NumPy twins of the convolution kernels: the readable oracle for the tests.

Each function has exactly the signature of its Numba twin in
:mod:`minimtl.kernels.conv2d_numba` and writes into the output arrays it is
given. The forward pass loops over the kh*kw kernel offsets only; each offset is one
``einsum`` over a shifted window of the input, which is the definition of
cross-correlation written almost literally:

    out[n, f, y, x] = b[f] + sum_{c, i, j} W[f, c, i, j] * x[n, c, y + i, x + j]

Both gradients are then written as that same forward pass, on rearranged arrays (the
derivations are in their docstrings), as minitorch shows: backward is a convolution.

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
            window = x[:, :, i : i + Ho, j : j + Wo]  # (N, C, Ho, Wo)
            out += np.einsum("nchw,fc->nfhw", window, W[:, :, i, j])
    if relu:
        np.maximum(out, 0, out=out)


def conv2d_backward_weights(x, dout, dW, db):
    """dW[f, c, i, j] = sum_{n, y, x} dout[n, f, y, x] * x[n, c, y + i, x + j];
    db[f] = sum_{n, y, x} dout[n, f, y, x].

    Backward is a convolution. Every output used W[f, c, i, j] once, times the input pixel at
    offset (i, j), so dW is the sum above: the input cross-correlated with the upstream gradient.
    Swap the roles of the batch and channel axes (images c with channels n, and filters f of size
    Ho x Wo taken from dout) and it is exactly ``conv2d_forward`` again:

        dW[f, c, i, j] = sum_n sum_{y, x} dout[n, f, y, x] * x[n, c, i + y, j + x]
                       = conv2d_forward(x^T, dout^T)[c, f, i, j]      (T swaps the first two axes)

    Inputs: x (N, C, H, W), dout (N, F, Ho, Wo).
    Outputs (overwritten): dW (F, C, kh, kw), db (F,).
    """
    F, C, kh, kw = dW.shape
    swapped = np.empty((C, F, kh, kw), dtype=dW.dtype)  # (C, F, kh, kw): "image" c, "filter" f
    conv2d_forward(x.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3), np.zeros(F, dW.dtype), swapped, False)
    dW[...] = swapped.transpose(1, 0, 2, 3)
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
    """dx[n, c, p, q] = sum_{f, i, j} dout[n, f, p - i, q - j] * W[f, c, i, j] (terms inside dout only).

    Backward is a convolution, too: input pixel (p, q) fed every output (p - i, q - j) that exists.
    Pad dout with kh - 1 rows and kw - 1 columns of zeros on each side, flip each kernel (rows and
    columns reversed) and swap its filter and channel axes; then ``conv2d_forward`` gives dx, since
    with i' = kh - 1 - i the padded gradient at (p + i', q + j') is dout at (p - i, q - j):

        dx[n, c] = conv2d_forward(pad(dout), flip(W)^T)[n, c]        (a "full" convolution)

    Inputs: dout (N, F, Ho, Wo), W (F, C, kh, kw).
    Output (overwritten): dx (N, C, H, W).
    """
    C, kh, kw = W.shape[1], W.shape[2], W.shape[3]
    padded = np.pad(dout, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, kh, kw)
    conv2d_forward(padded, flipped, np.zeros(C, dx.dtype), dx, False)


def relu_backward_mask(dout, out, dpre):
    """Backward of a fused ReLU: dpre = dout where out > 0, else 0.

    ``out`` is the (post-ReLU) forward output; out > 0 exactly where the
    pre-activation was positive, so the gradient at the kink (0) is 0, as in Keras.
    Inputs: dout, out of the same shape (N, F, Ho, Wo). Output: dpre, same shape.
    """
    np.multiply(dout, out > 0, out=dpre)
