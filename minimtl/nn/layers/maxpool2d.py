"""2-D max pooling over non-overlapping windows (NCHW), for the deep shared trunk (``--trunk deep``)."""

import numpy as np

from minimtl.kernels import chosen, maxpool2d_numba, maxpool2d_reference

maxpool2d_kernels = chosen(maxpool2d_numba, maxpool2d_reference)  # the NumPy twin under MINIMTL_KERNELS=reference

__all__ = ["MaxPool2D"]


class MaxPool2D:
    """The largest value of each p x p window, windows side by side (stride p), as Keras'
    ``MaxPooling2D(pool_size=p)`` with its default 'valid' padding:

        out[n, c, y, x] = max_{0 <= i, j < p} x[n, c, p*y + i, p*x + j]

    Shapes: x (N, C, H, W) -> out (N, C, H // p, W // p); a last row or column that does not fill a
    window is dropped (floor mode) and gets zero gradient.

    Backward: each window's output came from one input element (its argmax), so the upstream
    gradient goes there and nowhere else; a max is a kink where two elements tie, and there the
    first in row-major order takes the whole gradient (the kernels' rule, see
    :mod:`minimtl.kernels.maxpool2d_reference`).

    Inputs (constructor): pool (int p >= 1). No parameters (empty params and grads).
    """

    def __init__(self, pool=2):
        if int(pool) < 1:
            raise ValueError(f"MaxPool2D needs a pool size >= 1, got {pool}")
        self.pool = int(pool)
        self.params = {}
        self.grads = {}
        self.input_shape = None  # (N, C, H, W) of the forward input; backward's dx has this shape
        self.dtype = None  # the forward input's dtype; dx has it too
        self.argmax = None  # (N, C, Ho, Wo) int64: each window's winner, offset i*p + j; backward routes by it

    def __repr__(self):
        return f"MaxPool2D({self.pool}x{self.pool})"

    def output_shape(self, input_shape):
        """(C, H, W) -> (C, H // p, W // p): one example's output shape (no batch axis)."""
        if len(input_shape) != 3 or input_shape[1] < self.pool or input_shape[2] < self.pool:
            raise ValueError(f"{self!r} expects inputs (C, H>={self.pool}, W>={self.pool}), got {input_shape}")
        return (input_shape[0], input_shape[1] // self.pool, input_shape[2] // self.pool)

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, C, H // p, W // p), a new array."""
        x = np.ascontiguousarray(x)
        if x.ndim != 4 or x.shape[2] < self.pool or x.shape[3] < self.pool:
            raise ValueError(f"MaxPool2D expects input (N, C, H>={self.pool}, W>={self.pool}), got shape {x.shape}")
        N, C, H, W = x.shape
        out = np.empty((N, C, H // self.pool, W // self.pool), dtype=x.dtype)
        self.argmax = np.empty(out.shape, dtype=np.int64)
        maxpool2d_kernels.maxpool2d_forward(x, self.pool, out, self.argmax)
        self.input_shape, self.dtype = x.shape, x.dtype
        return out

    def backward(self, dout):
        """dout: (N, C, H // p, W // p), read only -> dx: (N, C, H, W), a new array."""
        if self.argmax is None:
            raise RuntimeError("MaxPool2D.backward called before forward")
        if dout.shape != self.argmax.shape:
            raise ValueError(f"MaxPool2D.backward expects dout of shape {self.argmax.shape}, got {dout.shape}")
        dx = np.empty(self.input_shape, dtype=self.dtype)
        maxpool2d_kernels.maxpool2d_backward(np.ascontiguousarray(dout, dtype=self.dtype), self.argmax, self.pool, dx)
        return dx
