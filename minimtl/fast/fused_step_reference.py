"""NumPy twins of the fused training-step kernels: the readable oracle for the tests.

Same signatures as :mod:`minimtl.fast.fused_step_numba`. Each is the layer-by-layer
computation written out with the other reference kernels, for the network

    images -> Conv2D (stride 1, 'valid') -> ReLU -> Flatten -> one Dense layer per head

Shapes:
    images: (N, C, S, S)    Wc: (F, C, kh, kw)    bc: (F,)
    features = relu(conv(images)).reshape(N, D), D = F * Ho * Wo (channel, row, column order)
    per head h: Ws[h], ms[h], vs[h]: (D, H_h)    bs[h]: (H_h,)    outs[h], douts[h]: (N, H_h)
"""

import numpy as np

from minimtl.kernels import adam_reference, conv2d_reference, dense_reference

__all__ = ["conv_dense_forward", "conv_dense_backward_adam"]


def _features(images, Wc, bc):
    """relu(conv(images)) as (N, F, Ho, Wo), a new array."""
    F, _, kh, kw = Wc.shape
    N, _, H, W = images.shape
    activations = np.empty((N, F, H - kh + 1, W - kw + 1), dtype=images.dtype)
    conv2d_reference.conv2d_forward(images, Wc, bc, activations, True)
    return activations


def conv_dense_forward(images, Wc, bc, Ws, bs, outs):
    """outs[h] = flatten(relu(conv(images))) @ Ws[h] + bs[h] for every head h (written in place)."""
    features = _features(images, Wc, bc).reshape(len(images), -1)
    for W, b, out in zip(Ws, bs, outs):
        dense_reference.dense_forward(features, W, b, out)


def conv_dense_backward_adam(images, Wc, bc, Ws, douts, ms, vs, dWc, dbc, lr_t, beta1, beta2, eps):
    """The backward pass below the heads' first Dense layers, with Adam on those layers.

        features = flatten(relu(conv(images)))          (recomputed from the inputs)
        dfeatures = sum_h douts[h] @ Ws[h].T            (with the weights before the update)
        Ws[h], ms[h], vs[h] <- Adam(Ws[h], features.T @ douts[h])   for every head h
        dpre = dfeatures * (features > 0)               (the ReLU's backward)
        dWc, dbc = the convolution's weight and bias gradients for dpre

    Inputs: images, Wc, bc (read only); tuples Ws, ms, vs (updated in place) and douts (read
    only); lr_t, beta1, beta2, eps: the Adam step's floats (lr_t bias-corrected, see
    :class:`minimtl.nn.optim.Adam`). Outputs (overwritten): dWc (F, C, kh, kw), dbc (F,).
    """
    activations = _features(images, Wc, bc)
    N = len(images)
    features = activations.reshape(N, -1)
    dfeatures = np.zeros_like(features)
    for W, dout, m, v in zip(Ws, douts, ms, vs):
        dW, db, dfeatures_from_head = np.empty_like(W), np.empty(W.shape[1], dtype=W.dtype), np.empty_like(features)
        dense_reference.dense_backward(features, W, dout, dW, db, dfeatures_from_head)
        # the features feed every head, so their gradient is the sum of what each head sends back
        dfeatures += dfeatures_from_head
        # this head's W is updated only after its share of dfeatures was taken from the old weights
        adam_reference.adam_update(W.reshape(-1), dW.reshape(-1), m.reshape(-1), v.reshape(-1), lr_t, beta1, beta2, eps)
    dpre = np.empty_like(activations)
    conv2d_reference.relu_backward_mask(dfeatures.reshape(activations.shape), activations, dpre)
    conv2d_reference.conv2d_backward_weights(images, dpre, dWc, dbc)
