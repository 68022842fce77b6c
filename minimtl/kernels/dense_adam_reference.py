"""NumPy twin of the fused Dense backward + Adam kernel: the readable oracle for the tests.

Same signature as :func:`minimtl.kernels.dense_adam_numba.dense_backward_adam`.
It is the unfused computation written out: the Dense layers' backward pass
(:mod:`minimtl.kernels.dense_reference`) followed by one Adam step
(:mod:`minimtl.kernels.adam_reference`) on each head's weights. It allocates
the weight gradients that the fused kernel never stores.
"""

import numpy as np

from minimtl.kernels import adam_reference

__all__ = ["dense_backward_adam"]


def dense_backward_adam(x, Ws, douts, ms, vs, dx, lr_t, beta1, beta2, eps):
    """Input gradient from the old weights, then Adam on every head's W (in place).

        dx = sum_h douts[h] @ Ws[h].T              (with Ws before the update)
        g = x.T @ douts[h];  Adam(Ws[h], g, ms[h], vs[h])   for every head h

    Inputs: x (N, D); tuples Ws, ms, vs of (D, H_h) arrays (updated in place) and
    douts of (N, H_h) arrays (read only); lr_t, beta1, beta2, eps: the Adam
    step's floats (lr_t already bias-corrected, see :class:`minimtl.optim.Adam`).
    Output (overwritten): dx (N, D).
    """
    dx[...] = 0
    for W, dout in zip(Ws, douts):
        dx += dout @ W.T
    for W, dout, m, v in zip(Ws, douts, ms, vs):
        g = x.T @ dout
        adam_reference.adam_update(W.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                                   lr_t, beta1, beta2, eps)
