"""Compute kernels: Numba versions (used by the layers and optimiser) and their NumPy twins.

``conv2d_numba`` / ``conv2d_reference`` and ``adam_numba`` / ``adam_reference``
share signatures; the reference modules are the test oracles. Import the module
you want explicitly, e.g. ``from minimtl.kernels import conv2d_numba``.
"""

__all__ = ["conv2d_reference", "conv2d_numba", "adam_reference", "adam_numba"]
