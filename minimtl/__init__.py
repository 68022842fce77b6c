"""minimtl: multi-task learning on chest X-rays, written out by hand.

Layers with explicit forward and backward passes live in :mod:`minimtl.layers`,
the Numba kernels and their NumPy twins in :mod:`minimtl.kernels`, losses in
:mod:`minimtl.losses`, optimisers in :mod:`minimtl.optim`, finite-difference
checks in :mod:`minimtl.gradcheck`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
