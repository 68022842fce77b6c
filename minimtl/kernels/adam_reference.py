"""NumPy twin of the fused Adam kernel: the readable oracle for the tests.

Same signature as :func:`minimtl.kernels.adam_numba.adam_update`. Written as
NumPy expressions it makes several passes over memory and allocates
temporaries; that is why the optimiser uses the fused Numba pass instead.
"""

import numpy as np

__all__ = ["adam_update"]


def adam_update(w, g, m, v, lr_t, beta1, beta2, eps):
    """One Adam step on 1-D arrays, in place (Keras' form with a bias-corrected lr_t).

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w = w - lr_t * m / (sqrt(v) + eps)

    Inputs: w, g, m, v: 1-D arrays of the same length and dtype (w, m, v updated
    in place; g read only); lr_t, beta1, beta2, eps: floats.
    """
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * np.square(g)
    w -= lr_t * m / (np.sqrt(v) + eps)
