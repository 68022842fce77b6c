"""A training step, two ways with one interface: ``forward(x)`` and ``backward_and_update(dlogits)``.

- :class:`ReadableStep`: the network's layers one by one, then the optimiser, exactly as the
  tutorial derives them (``model.forward``, ``model.backward``, ``Adam.step``).
- :class:`minimtl.fast.fused_step.FusedStep`: the same arithmetic reorganised so that each big
  weight matrix is read and written once per step (docs/performance.md); the default.

Both give the same weights to float32 rounding (tests/test_fused_step.py); each is deterministic.
``RunConfig.step`` (``run --step``) chooses one by name through :func:`make_step`.
"""

from minimtl.fast.fused_step import FusedStep

__all__ = ["ReadableStep", "STEPS", "make_step"]


class ReadableStep:
    """The layer-by-layer training step.

    Inputs (constructor): model (a :class:`minimtl.nn.graph.MultiHead`), optimizer (an optimiser
    holding the model's own parameter arrays, e.g. :class:`minimtl.nn.optim.Adam`). Per batch::

        logits = step.forward(x)              # dict head -> (N, K_head)
        step.backward_and_update(dlogits)     # dlogits: dict head -> (N, K_head), read only
    """

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer

    def forward(self, x):
        """x: (N, C, S, S) images -> dict head -> logits (N, K_head)."""
        return self.model.forward(x)

    def backward_and_update(self, dlogits):
        """Every layer's gradient (``model.backward``), then one optimiser step on them."""
        self.model.backward(dlogits)
        self.optimizer.step(self.model.grads)


STEPS = {"fused": FusedStep, "readable": ReadableStep}


def make_step(kind, model, optimizer):
    """The training step named ``kind`` ("fused" or "readable") for ``model`` and ``optimizer``."""
    if kind not in STEPS:
        raise ValueError(f"unknown step {kind!r}; choose one of {', '.join(STEPS)}")
    return STEPS[kind](model, optimizer)
