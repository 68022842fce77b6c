"""minimtl: multi-task learning on chest X-rays, written out by hand.

Layers with explicit forward and backward passes live in :mod:`minimtl.nn.layers`,
the Numba kernels and their NumPy twins in :mod:`minimtl.kernels`, losses in
:mod:`minimtl.nn.losses`, optimisers in :mod:`minimtl.nn.optim`, finite-difference
checks in :mod:`minimtl.nn.gradcheck`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
