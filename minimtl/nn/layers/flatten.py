"""Flatten everything after the batch axis."""

import numpy as np

__all__ = ["Flatten"]


class Flatten:
    """(N, d1, d2, ...) -> (N, d1*d2*...), in C order (NCHW: channel, then row, then column).

    Note: Keras flattens NHWC in its own order; a weight matrix copied from Keras
    would need its rows permuted, but gradients and training are unaffected.
    No parameters (empty params and grads).

    Both directions return reshaped views (no copy of a 66 MB activation);
    neither modifies its argument.
    """

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.input_shape = None  # (N, d1, d2, ...) from forward; backward restores it

    def __repr__(self):
        return "Flatten()"

    def output_shape(self, input_shape):
        """(d1, d2, ...) -> (d1*d2*...,): the shape of one example's output (no batch axis)."""
        return (int(np.prod(input_shape)),)

    def forward(self, x):
        """x: (N, ...) -> out: (N, prod(...)), a view of x when x is contiguous."""
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"Flatten expects at least 2 dimensions (N, ...), got shape {x.shape}")
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        """dout: (N, prod(...)), read only -> dx: (N, ...), a view of dout."""
        if self.input_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return np.asarray(dout).reshape(self.input_shape)
