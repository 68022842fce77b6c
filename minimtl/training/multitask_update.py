"""One training step's update for a multi-task model: the weighting method and the conflict measurement.

The training loop computes each head's loss and its gradient ``dlogits``, then hands them here
(``MultiTaskUpdate.apply``) instead of straight to the step's ``backward_and_update``:

- ``--weighting sum`` (the study): exactly ``step.backward_and_update(dlogits)``, the fused or the
  readable step untouched, and on one step in every ``conflict_every`` the gradient-conflict probe
  before it (:mod:`minimtl.training.conflict`), which changes no number the step computes;
- uncertainty, dwa: the same, each head's ``dlogits`` first scaled by its loss weight w_k (the step's
  arithmetic is linear in them, so it trains on sum_k w_k L_k), then the method learns from the losses;
- gradnorm, pcgrad, mgda (readable step only): every head's backward, one trunk backward per task
  (:func:`minimtl.training.weighting.task_gradients.backward_per_task`), the method's combination written
  into the trunk's gradients, one Adam step; the conflict measured on every step.

Single-task and multi-class models (one head) just run ``step.backward_and_update``.
"""

from dataclasses import replace

import numpy as np

from minimtl.training.conflict import ConflictMeter, probe_due
from minimtl.training.models import ARCHITECTURES
from minimtl.training.trunks import TRUNKS
from minimtl.training.weighting import GRADIENT_WEIGHTINGS, WEIGHTINGS, make_weighting
from minimtl.training.weighting.task_gradients import backward_per_task, probe_task_gradients, write_trunk_gradient

__all__ = ["MultiTaskUpdate", "check_method_options", "readable_if_needed", "method_rng", "METHOD_STREAM"]

METHOD_STREAM = 3  # the child of the run's SeedSequence that draws the methods' random choices (PCGrad's orders)


def method_rng(seed):
    """The weighting methods' generator: child 3 of ``SeedSequence(seed)`` (children 0-2 are the split,
    the initial weights and the shuffling: :func:`minimtl.training.loop.seed_streams`), so drawing from
    it changes none of theirs."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(METHOD_STREAM,)))


def _fused_refusal(config):
    """Why the fused step cannot train ``config`` (None when it can)."""
    if config.trunk != "study":
        return f"--trunk {config.trunk}: the fused step covers only the study's one-convolution trunk"
    if config.weighting in GRADIENT_WEIGHTINGS:
        return (
            f"--weighting {config.weighting} needs each task's gradient on the shared weights apart, which "
            "the fused step does not compute"
        )
    return None


def check_method_options(config):
    """ValueError naming the option when ``config``'s trunk, weighting or step do not go together."""
    if config.trunk not in TRUNKS:
        raise ValueError(f"unknown trunk {config.trunk!r}; choose one of {', '.join(TRUNKS)}")
    if config.weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {config.weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    if config.weighting != "sum" and len(ARCHITECTURES[config.arch].head_units) < 2:
        raise ValueError(
            f"--weighting {config.weighting} weighs two tasks' losses; --arch {config.arch} has one head. "
            "Use --arch multitask64 or multitask32, or --weighting sum"
        )
    if config.conflict_every < 0:
        raise ValueError(f"conflict_every must be >= 0 (0: never measure), got {config.conflict_every}")
    refusal = _fused_refusal(config) if config.step == "fused" else None
    if refusal:
        raise ValueError(f"{refusal}; use --step readable")


def readable_if_needed(config):
    """(config, message): with ``step="fused"`` and a trunk or weighting that step cannot train, the same
    config on the readable step (the same arithmetic, layer by layer) and a line saying why; else
    (config, None). The ``run`` command shows the line; config.json records the step actually used."""
    refusal = _fused_refusal(config) if config.step == "fused" else None
    if refusal is None:
        return config, None
    return replace(config, step="readable"), f"{refusal}, so this run trains with --step readable (slower)"


class MultiTaskUpdate:
    """Inputs (constructor): config (RunConfig), model (MultiHead), optimizer (its Adam), step (the
    training step: forward already run on the batch). Per batch, after the step's forward and the loss::

        update.apply(x, dlogits, losses)     # x: the batch input; losses: dict head -> float or None
        row.update(update.end_epoch())       # at the end of each epoch: the history columns
    """

    def __init__(self, config, model, optimizer, step):
        check_method_options(config)
        self.model, self.optimizer, self.step = model, optimizer, step
        self.seed, self.every = config.seed, config.conflict_every
        self.multitask = len(model.head_names) == 2
        self.weighting = make_weighting(config, model, method_rng(config.seed)) if self.multitask else None
        self.meter = ConflictMeter() if self.multitask else None

    def apply(self, x, dlogits, losses):
        """Backward pass and update for one batch. x: (N, C, S, S) input; dlogits: dict head -> (N, K_head)
        (read only); losses: dict head -> float, each head's unweighted loss, or None where the batch has
        no valid label for the head (:class:`minimtl.training.weighting.sum.Sum`)."""
        if not self.multitask:
            self.step.backward_and_update(dlogits)
            return
        method = self.weighting
        weights = method.loss_weights(losses)
        scaled = dlogits if method.name == "sum" else _scaled(dlogits, weights)
        if method.needs_task_gradients:
            task_gradients = backward_per_task(self.model, scaled)
            write_trunk_gradient(self.model.trunk, method.combine(task_gradients, losses), task_gradients)
            self.optimizer.step(self.model.grads)
            self.meter.add(task_gradients.cosine())
        else:
            if probe_due(self.seed, self.optimizer.t, self.every):
                self.meter.add(probe_task_gradients(self.model, x, dlogits).cosine())
            self.step.backward_and_update(scaled)
            task_gradients = None
        method.after_step(losses, task_gradients)

    def end_epoch(self):
        """The epoch's history columns (conflict, and the method's own), then fresh running sums."""
        if not self.multitask:
            return {}
        return {**self.meter.end_epoch(), **self.weighting.end_epoch()}

    def state_dict(self):
        """Everything the update carries from step to step, JSON-ready (for the checkpoint)."""
        if not self.multitask:
            return {}
        return {"weighting": self.weighting.state_dict(), "conflict": self.meter.state_dict()}

    def load_state_dict(self, state):
        if self.multitask and state:
            self.weighting.load_state_dict(state["weighting"])
            self.meter.load_state_dict(state["conflict"])


def _scaled(dlogits, weights):
    """dlogits with each head's array times its weight (new arrays, in their dtype)."""
    return {head: d * np.asarray(weights[head], dtype=d.dtype) for head, d in dlogits.items()}
