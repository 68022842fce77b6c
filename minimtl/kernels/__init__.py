"""Compute kernels: Numba versions and their NumPy twins, one pair of modules per operation.

Each ``*_numba`` module has a ``*_reference`` twin with the same functions and signatures; the
reference modules are the test oracles, and the place to read the maths first.

- ``conv2d_*``: the convolution (forward, weight gradient, input gradient, fused ReLU)
- ``dense_*``: one Dense layer (forward, backward)
- ``adam_*``: one Adam step on a flat array
- ``maxpool2d_*``: 2-D max pooling over non-overlapping windows (forward, backward), the deep trunk's

The fused training step's kernels (several heads in one pass, cache hints) live apart, in
:mod:`minimtl.fast`, and the augmentation's in :mod:`minimtl.data` (``augment_numba`` and its twin),
so that these stay the plain kernels of the layers.

Which set runs: the layers, the optimiser, the fused step and the augmentation import both twins
and call ``chosen(numba_module, reference_module)``, which returns the Numba module, or the NumPy
twin when the environment variable ``MINIMTL_KERNELS=reference`` is set before Python starts::

    from minimtl.kernels import chosen, conv2d_numba, conv2d_reference

    conv2d_kernels = chosen(conv2d_numba, conv2d_reference)

With the twins a whole training run is plain NumPy that a debugger
can step through (slow: about 10-50x). ``NUMBA_DISABLE_JIT=1`` is the other way in: the Numba
kernels themselves run as Python.
"""

import os

__all__ = ["KERNELS_ENV", "KERNEL_SETS", "kernel_set", "chosen"]

KERNELS_ENV = "MINIMTL_KERNELS"
KERNEL_SETS = ("numba", "reference")


def kernel_set():
    """The kernel set asked for by ``$MINIMTL_KERNELS``: "numba" (default, also when empty) or "reference"."""
    value = os.environ.get(KERNELS_ENV, "").strip() or "numba"
    if value not in KERNEL_SETS:
        raise ValueError(
            f"${KERNELS_ENV}={value!r} is not a kernel set: use 'numba' (the default) or "
            f"'reference' (the NumPy twins), or unset it"
        )
    return value


def chosen(numba_kernels, reference_kernels):
    """The kernel module of the chosen set: ``numba_kernels`` (e.g. the module ``conv2d_numba``), or its
    NumPy twin ``reference_kernels`` (``conv2d_reference``, the same functions and signatures) under
    ``MINIMTL_KERNELS=reference``."""
    return reference_kernels if kernel_set() == "reference" else numba_kernels
