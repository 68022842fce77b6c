"""Weight initialisation as Keras does it.

Keras' default for ``Dense`` and ``Conv2D`` kernels is glorot-uniform: draw from
U(-limit, limit) with ``limit = sqrt(6 / (fan_in + fan_out))``. The fans follow
Keras' conventions:

* Dense weight of shape (in, out): ``fan_in = in``, ``fan_out = out``.
* Conv weight of shape (F, C, kh, kw): ``fan_in = C*kh*kw``, ``fan_out = F*kh*kw``
  (the receptive field counts on both sides).

Biases start at zero.
"""

import numpy as np

__all__ = ["glorot_uniform", "initial_kernel"]


def glorot_uniform(shape, fan_in, fan_out, rng, dtype=np.float32):
    """Draw a glorot-uniform (Xavier) weight array.

    Inputs:
    - shape: tuple of ints, the shape of the returned array.
    - fan_in, fan_out: positive ints, Keras' fans for this weight (see module doc).
    - rng: numpy Generator; the only source of randomness.
    - dtype: float32 for training, float64 for gradient checks.

    Returns:
    - W: array of ``shape`` and ``dtype`` with entries in [-limit, limit),
      limit = sqrt(6 / (fan_in + fan_out)).
    """
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError(f"fan_in and fan_out must be positive, got {fan_in} and {fan_out}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    # Draw in float64 and round once, so float32 and float64 layers built from
    # the same seed hold the same weights up to float32 rounding.
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def initial_kernel(shape, fan_in, fan_out, rng, dtype=np.float32):
    """A layer's initial weight: ``glorot_uniform`` from ``rng``, or zeros when ``rng`` is None.

    None is for a model whose weights are about to be loaded from a file: drawing the 264 million
    numbers of a 256 px two-headed model only to overwrite them costs seconds and a random stream.
    """
    if rng is None:
        return np.zeros(shape, dtype=dtype)
    return glorot_uniform(shape, fan_in, fan_out, rng, dtype)
