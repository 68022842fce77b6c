"""Compute kernels: Numba versions and their NumPy twins, one pair of modules per operation.

Each ``*_numba`` module has a ``*_reference`` twin with the same functions and signatures; the
reference modules are the test oracles, and the place to read the maths first.

- ``conv2d_*``: the convolution (forward, weight gradient, input gradient, fused ReLU)
- ``dense_*``: one Dense layer (forward, backward)
- ``adam_*``: one Adam step on a flat array

The fused training step's kernels (several heads in one pass, cache hints) live apart, in
:mod:`minimtl.fast`, and the augmentation's in :mod:`minimtl.data` (``augment_numba`` and its twin),
so that these stay the plain kernels of the layers.

Which set runs: the layers, the optimiser and the fused step call ``chosen(...)``, which returns
the Numba module, or the NumPy twin when the environment variable ``MINIMTL_KERNELS=reference``
is set before Python starts. With the twins a whole training run is plain NumPy that a debugger
can step through (slow: about 10-50x). ``NUMBA_DISABLE_JIT=1`` is the other way in: the Numba
kernels themselves run as Python.
"""

import importlib
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


def chosen(operation):
    """The kernel module of ``operation`` for the chosen set.

    Input: operation, a module path without its suffix, e.g. "minimtl.kernels.conv2d".
    Returns the module ``<operation>_numba``, or ``<operation>_reference`` under
    ``MINIMTL_KERNELS=reference``.
    """
    return importlib.import_module(f"{operation}_{kernel_set()}")
