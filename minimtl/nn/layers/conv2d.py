"""2-D convolution layer (stride 1, 'valid' padding, NCHW), with an optional fused ReLU."""

import numpy as np

from minimtl.kernels import chosen, conv2d_numba, conv2d_reference
from minimtl.nn.init import initial_kernel

conv2d_kernels = chosen(conv2d_numba, conv2d_reference)  # the NumPy twin under MINIMTL_KERNELS=reference

__all__ = ["Conv2D"]


class Conv2D:
    """Cross-correlation, as Keras and PyTorch compute it (the kernel is not flipped).

        out[n, f, y, x] = b[f] + sum_{c, i, j} W[f, c, i, j] * x[n, c, y + i, x + j]

    Shapes: x (N, C, H, W) -> out (N, F, Ho, Wo), Ho = H - kh + 1, Wo = W - kw + 1
    (general formula Ho = (H + 2*pad - kh) // stride + 1 with stride 1, pad 0).

    Inputs (constructor):
    - in_channels C, out_channels F: ints.
    - kernel_size: int k (k x k) or a pair (kh, kw).
    - rng: numpy Generator for the glorot-uniform weights (Keras fans:
      fan_in = C*kh*kw, fan_out = F*kh*kw); None leaves W zero, for weights about to be loaded.
    - dtype: np.float32 (training) or np.float64 (gradient checks).
    - relu: if True, out = max(conv, 0) computed inside the kernel (fused ReLU).
    - input_grad: if False, backward skips dx (a first layer needs none) and returns None.

    params = {"W": (F, C, kh, kw), "b": (F,)}; grads has the same keys and shapes,
    is allocated once and overwritten by every backward.

    Buffers: the forward output and the fused-ReLU scratch gradient are owned by the
    layer and reused while the input shape stays the same (a 66 MB array per step
    at batch 8, 32 x 254 x 254, is too costly to reallocate). So the array returned by
    ``forward`` is overwritten by the next ``forward``: copy it if you need to keep it.
    """

    def __init__(self, in_channels, out_channels, kernel_size, rng=None, dtype=np.float32, relu=False, input_grad=True):
        if isinstance(kernel_size, (int, np.integer)):
            kernel_size = (int(kernel_size), int(kernel_size))
        kh, kw = (int(k) for k in kernel_size)
        if min(in_channels, out_channels, kh, kw) < 1:
            raise ValueError(
                f"Conv2D needs positive channels and kernel size, got in_channels={in_channels}, "
                f"out_channels={out_channels}, kernel_size={(kh, kw)}"
            )
        self.dtype = np.dtype(dtype)
        self.relu = bool(relu)
        self.input_grad = bool(input_grad)
        shape = (out_channels, in_channels, kh, kw)
        self.params = {
            "W": initial_kernel(shape, in_channels * kh * kw, out_channels * kh * kw, rng, self.dtype),
            "b": np.zeros(out_channels, dtype=self.dtype),
        }
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.x = None  # forward input, (N, C, H, W); backward needs it for dW
        self.out = None  # forward output buffer, (N, F, Ho, Wo); reused; fused-ReLU backward reads it
        self.dpre = None  # scratch for the masked gradient (input_grad=True only), same shape as out

    def __repr__(self):
        F, C, kh, kw = self.params["W"].shape
        return f"Conv2D({C} -> {F}, {kh}x{kw}{', relu' if self.relu else ''})"

    def output_shape(self, input_shape):
        """(C, H, W) -> (F, H - kh + 1, W - kw + 1): the shape of one example's output (no batch axis)."""
        F, C, kh, kw = self.params["W"].shape
        if len(input_shape) != 3 or input_shape[0] != C or input_shape[1] < kh or input_shape[2] < kw:
            raise ValueError(f"{self!r} expects inputs (C={C}, H>={kh}, W>={kw}), got {input_shape}")
        return (F, input_shape[1] - kh + 1, input_shape[2] - kw + 1)

    def forward(self, x):
        """x: (N, C, H, W) -> out: (N, F, Ho, Wo) (a layer-owned buffer, see class docstring)."""
        W, b = self.params["W"], self.params["b"]
        F, C, kh, kw = W.shape
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim != 4 or x.shape[1] != C or x.shape[2] < kh or x.shape[3] < kw:
            raise ValueError(f"Conv2D expects input (N, {C}, H>={kh}, W>={kw}) (NCHW), got shape {x.shape}")
        N, _, H, Wd = x.shape
        out_shape = (N, F, H - kh + 1, Wd - kw + 1)
        if self.out is None or self.out.shape != out_shape:
            self.out = np.empty(out_shape, dtype=self.dtype)
            self.dpre = None
        conv2d_kernels.conv2d_forward(x, W, b, self.out, self.relu)
        self.x = x
        return self.out

    def backward(self, dout):
        """dout: (N, F, Ho, Wo), read only -> dx: (N, C, H, W) new array, or None if input_grad=False.

        Overwrites grads["W"] (F, C, kh, kw) and grads["b"] (F,).
        """
        if self.x is None:
            raise RuntimeError("Conv2D.backward called before forward")
        if dout.shape != self.out.shape:
            raise ValueError(f"Conv2D.backward expects dout of shape {self.out.shape}, got {dout.shape}")
        dout = np.ascontiguousarray(dout, dtype=self.dtype)
        if self.relu:  # the weight gradient applies the ReLU's mask (out > 0) row by row
            conv2d_kernels.conv2d_backward_weights_relu(self.x, dout, self.out, self.grads["W"], self.grads["b"])
        else:
            conv2d_kernels.conv2d_backward_weights(self.x, dout, self.grads["W"], self.grads["b"])
        if not self.input_grad:
            return None
        if self.relu:  # the input gradient needs the masked gradient as an array
            if self.dpre is None:
                self.dpre = np.empty_like(self.out)
            conv2d_kernels.relu_backward_mask(dout, self.out, self.dpre)
            dout = self.dpre
        dx = np.empty_like(self.x)
        conv2d_kernels.conv2d_backward_input(dout, self.params["W"], dx)
        return dx
