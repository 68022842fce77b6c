"""Fully connected layer."""

import numpy as np

from minimtl.kernels import chosen, dense_numba, dense_reference
from minimtl.nn.init import initial_kernel

dense_kernels = chosen(dense_numba, dense_reference)  # the NumPy twin under MINIMTL_KERNELS=reference

__all__ = ["Dense"]


class Dense:
    """out = x @ W + b.

    Shapes: x (N, in_features) -> out (N, out_features).
    params = {"W": (in_features, out_features), "b": (out_features,)}, glorot-uniform
    W (fan_in = in_features, fan_out = out_features) and zero b, as Keras.

    grads are allocated once: at our real size W is 2,064,512 x 64 (132M weights,
    504 MiB in float32), so backward writes dW in place instead of allocating a
    new array every step. (``np.zeros`` leaves the pages unmapped until the first
    backward writes them: the fused training step, which never stores dW, never
    pays for them.)

    The products run in the Numba kernels of :mod:`minimtl.kernels.dense_numba`;
    their NumPy twin, :mod:`minimtl.kernels.dense_reference`, is the formula
    ``x @ W + b`` and its gradients written out.

    Inputs (constructor): in_features, out_features (ints); rng (numpy Generator for the
    glorot-uniform W; None leaves W zero, for weights about to be loaded); dtype (np.float32 or
    np.float64).
    """

    def __init__(self, in_features, out_features, rng=None, dtype=np.float32):
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense needs positive sizes, got in_features={in_features}, out_features={out_features}")
        self.dtype = np.dtype(dtype)
        self.params = {
            "W": initial_kernel((in_features, out_features), in_features, out_features, rng, self.dtype),
            "b": np.zeros(out_features, dtype=self.dtype),
        }
        self.grads = {name: np.zeros(p.shape, dtype=p.dtype) for name, p in self.params.items()}
        self.x = None  # forward input (N, in_features); backward needs it for dW

    def __repr__(self):
        in_features, out_features = self.params["W"].shape
        return f"Dense({in_features} -> {out_features})"

    def output_shape(self, input_shape):
        """(in_features,) -> (out_features,): the shape of one example's output (no batch axis)."""
        if tuple(input_shape) != (self.params["W"].shape[0],):
            raise ValueError(f"{self!r} expects inputs of shape ({self.params['W'].shape[0]},), got {input_shape}")
        return (self.params["W"].shape[1],)

    def forward(self, x):
        """x: (N, in_features) -> out: (N, out_features), a new array."""
        in_features = self.params["W"].shape[0]
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != in_features:
            raise ValueError(f"Dense expects input (N, {in_features}), got shape {x.shape}")
        self.x = x
        out = np.empty((x.shape[0], self.params["W"].shape[1]), dtype=self.dtype)
        dense_kernels.dense_forward(x, self.params["W"], self.params["b"], out)
        return out

    def backward(self, dout):
        """dout: (N, out_features), read only -> dx: (N, in_features), a new array.

        Overwrites grads["W"] = x.T @ dout and grads["b"] = sum of dout over the batch.
        """
        if self.x is None:
            raise RuntimeError("Dense.backward called before forward")
        W = self.params["W"]
        if dout.shape != (self.x.shape[0], W.shape[1]):
            raise ValueError(f"Dense.backward expects dout of shape {(self.x.shape[0], W.shape[1])}, got {dout.shape}")
        dout = np.ascontiguousarray(dout, dtype=self.dtype)
        dx = np.empty_like(self.x)
        dense_kernels.dense_backward(self.x, W, dout, self.grads["W"], self.grads["b"], dx)
        return dx

    def input_gradient(self, dout):
        """dout: (N, out_features), read only -> dx = dout @ W.T: (N, in_features), a new array.

        The input gradient alone: grads are not written and no forward cache is needed (the
        gradient-conflict probe, minimtl/training/weighting/task_gradients.py, asks for it beside a
        step that owns the weight gradients).
        """
        W = self.params["W"]
        if dout.ndim != 2 or dout.shape[1] != W.shape[1]:
            raise ValueError(f"Dense.input_gradient expects dout of shape (N, {W.shape[1]}), got {dout.shape}")
        dx = np.empty((dout.shape[0], W.shape[0]), dtype=self.dtype)
        dense_kernels.dense_input_gradient(W, np.ascontiguousarray(dout, dtype=self.dtype), dx)
        return dx
