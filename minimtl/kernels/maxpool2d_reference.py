"""NumPy twins of the max-pooling kernels: the readable oracle for the tests.

Same signatures as :mod:`minimtl.kernels.maxpool2d_numba`; each writes into the arrays it is given.
Non-overlapping p x p windows (stride p), 'valid' (floor) mode as Keras' ``MaxPooling2D`` default:

    out[n, c, y, x] = max_{i, j < p} x[n, c, p*y + i, p*x + j]
    Ho = H // p,  Wo = W // p  (rows and columns past p*Ho, p*Wo are not pooled)

``argmax`` records which element of each window won, as the offset i*p + j (row-major); on a tie
the first in that order wins (``np.argmax``'s rule), and backward sends the whole gradient there.
"""

import numpy as np

__all__ = ["maxpool2d_forward", "maxpool2d_backward"]


def _windows(x, pool, Ho, Wo):
    """View x's pooled area as (N, C, Ho, Wo, pool*pool): one row per window, offsets i*pool + j."""
    N, C = x.shape[0], x.shape[1]
    area = x[:, :, : Ho * pool, : Wo * pool].reshape(N, C, Ho, pool, Wo, pool)
    return area.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, Ho, Wo, pool * pool)


def maxpool2d_forward(x, pool, out, argmax):
    """out = the max of each p x p window; argmax = the winner's offset i*p + j in its window.

    Inputs: x (N, C, H, W), pool p (int). Outputs (overwritten): out (N, C, H//p, W//p) in x's dtype,
    argmax (N, C, H//p, W//p) int64.
    """
    Ho, Wo = out.shape[2], out.shape[3]
    windows = _windows(x, pool, Ho, Wo)
    argmax[...] = np.argmax(windows, axis=-1)
    out[...] = np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]


def maxpool2d_backward(dout, argmax, pool, dx):
    """dx = dout routed to each window's winner, zero everywhere else (unpooled rows and columns too).

    Each input element lies in at most one window, so no element receives two gradients.
    Inputs: dout, argmax (N, C, Ho, Wo), pool p. Output (overwritten): dx (N, C, H, W).
    """
    N, C, Ho, Wo = dout.shape
    routed = np.zeros((N, C, Ho, Wo, pool * pool), dtype=dx.dtype)
    np.put_along_axis(routed, argmax[..., None], dout[..., None], axis=-1)
    dx[...] = 0
    area = routed.reshape(N, C, Ho, Wo, pool, pool).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, Ho * pool, Wo * pool)
    dx[:, :, : Ho * pool, : Wo * pool] = area
