"""The fused training step: the same arithmetic as the layers' backward passes plus Adam, reorganised
so that each big weight matrix is read and written once per step (docs/performance.md).

- :mod:`minimtl.fast.fused_step`: ``FusedStep``, with the interface of
  :class:`minimtl.training.steps.ReadableStep`
- :mod:`minimtl.fast.fused_step_numba` and its NumPy twin :mod:`minimtl.fast.fused_step_reference`:
  conv + ReLU + every head's first Dense layer in one pass, forward, and backward with Adam
- :mod:`minimtl.fast.prefetch`: the cache hints those kernels use

An optimisation, kept apart from the teaching layers: read :mod:`minimtl.nn` first.
"""
