"""Rectified linear unit as a separate layer (Conv2D can also fuse it: relu=True)."""

import numpy as np

__all__ = ["ReLU"]


class ReLU:
    """out = max(x, 0); the gradient at the kink x == 0 is taken as 0, as in Keras.

    Shapes: any x -> out of the same shape. No parameters (empty params and grads).
    """

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.positive = None  # boolean mask x > 0 from forward; backward needs it

    def __repr__(self):
        return "ReLU()"

    def output_shape(self, input_shape):
        """The shape of one example's output (no batch axis): unchanged."""
        return tuple(input_shape)

    def forward(self, x):
        """x: any shape -> out: same shape, a new array."""
        x = np.asarray(x)
        self.positive = x > 0
        return np.where(self.positive, x, np.zeros((), dtype=x.dtype))

    def backward(self, dout):
        """dout: same shape as x, read only -> dx = dout where x > 0 else 0, a new array."""
        if self.positive is None:
            raise RuntimeError("ReLU.backward called before forward")
        if dout.shape != self.positive.shape:
            raise ValueError(f"ReLU.backward expects dout of shape {self.positive.shape}, got {dout.shape}")
        return np.where(self.positive, dout, np.zeros((), dtype=dout.dtype))
