"""Compute kernels: Numba versions (used by the layers, the optimiser and the fused step) and their NumPy twins.

Each ``*_numba`` module has a ``*_reference`` twin with the same signatures; the reference
modules are the test oracles. Import the module you want explicitly, e.g.
``from minimtl.kernels import conv2d_numba``.

- ``conv2d_*``: the convolution (forward, weight gradient, input gradient, fused ReLU)
- ``dense_*``: Dense layers sharing one input (forward, backward), one pass for all heads
- ``adam_*``: one Adam step on a flat array
- ``fused_step_*``: the fused training step's kernels (conv + ReLU + the heads' first Dense layers,
  forward, and backward with Adam) in one pass over the big weights
"""

__all__ = ["conv2d_reference", "conv2d_numba", "dense_reference", "dense_numba", "adam_reference", "adam_numba",
           "fused_step_reference", "fused_step_numba"]
