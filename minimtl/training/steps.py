"""A training step, two ways with one interface: ``forward(x)`` and ``backward_and_update(dlogits)``.

- :class:`ReadableStep`: the network's layers one by one, then the optimiser, exactly as the
  tutorial derives them (``model.forward``, ``model.backward``, ``Adam.step``).
- :class:`minimtl.fast.fused_step.FusedStep`: the same arithmetic reorganised so that each big
  weight matrix is read and written once per step (docs/performance.md); the default.

Both give the same weights to float32 rounding (tests/test_fused_step.py); each is deterministic.
``RunConfig.step`` (``run --step``) chooses one by name through :func:`make_step`.
"""

from minimtl.fast.fused_step import FusedForward, FusedStep

__all__ = ["ReadableStep", "STEPS", "make_step", "EVAL_BATCH", "scorer"]

# Images per scoring pass with the fused forward: each pass reads every big weight once, so scoring
# 64 images at a time reads W an eighth as often as batches of 8 would; the fused pass keeps no
# activation array, so 64 images need about as much memory as 8 do layer by layer.
EVAL_BATCH = 64


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


def scorer(kind, model, batch_size):
    """(forward, images per pass) for scoring images with a model trained by the step ``kind``.

    "fused": :class:`minimtl.fast.fused_step.FusedForward` in passes of EVAL_BATCH images;
    "readable": ``model.forward`` at the training batch size (its activation array grows with the
    batch: 66 MB per image-batch of 8 at 256 px). The two give the same logits to float32 rounding;
    a run, its ``evaluate`` and its comparison always score with the same one.
    """
    if kind not in STEPS:
        raise ValueError(f"unknown step {kind!r}; choose one of {', '.join(STEPS)}")
    if kind == "fused":
        return FusedForward(model).forward, EVAL_BATCH
    return model.forward, batch_size


def make_step(kind, model, optimizer):
    """The training step named ``kind`` ("fused" or "readable") for ``model`` and ``optimizer``."""
    if kind not in STEPS:
        raise ValueError(f"unknown step {kind!r}; choose one of {', '.join(STEPS)}")
    return STEPS[kind](model, optimizer)
