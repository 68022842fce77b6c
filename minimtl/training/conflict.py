"""Gradient conflict between the two tasks, per epoch: do their gradients on the shared weights agree?

On a step, with g_k task k's gradient on the shared (trunk) parameters,

    cos = g_1 . g_2 / (||g_1|| ||g_2||)

is 1 when the tasks pull the shared weights the same way, 0 when at right angles, and negative when
a step that lowers one task's loss raises the other's (to first order: the sum's step -lr (g_1 + g_2)
changes L_1 by -lr (||g_1||^2 + g_1 . g_2), which is positive only if g_1 . g_2 < -||g_1||^2). Each
epoch's history row gets ``conflict_cosine`` (the mean cos over the measured steps),
``conflict_negative`` (the share of them with cos < 0) and ``conflict_steps`` (how many; steps where a
task had no labels have no angle and are not counted). docs/tutorial.md derives it.

Which steps are measured. The gradient methods (gradnorm, pcgrad, mgda) compute g_1 and g_2 on every
step, and every step is measured. Beside the other methods' fused or readable step the measurement
costs a trunk forward and a trunk backward per task, so it runs on one step in every ``every`` steps
of the run, at a seeded position within each block of ``every`` (:func:`probe_due`): for the study's
step that is about 1/every of a step's time, and the training numbers do not change (the tests check
bit-identical weights with and without it).
"""

from functools import lru_cache

import numpy as np

__all__ = ["ConflictMeter", "probe_due", "PROBE_STREAM"]

PROBE_STREAM = 4  # the child of the run's SeedSequence that places the measured steps


@lru_cache(maxsize=1)
def _block_offset(seed, block, every):
    """The measured step's offset in block ``block`` (cached: each block's offset is drawn once, not per step)."""
    return int(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PROBE_STREAM, block))).integers(every))


def probe_due(seed, step, every):
    """Whether step ``step`` (0-based, counted over the whole run) is measured: each block of ``every``
    steps has one, at an offset drawn from the run seed's own child stream for that block (so a resumed
    run measures the same steps). every = 0: never."""
    if every <= 0:
        return False
    return _block_offset(seed, step // every, every) == step % every


class ConflictMeter:
    """Running sums of one epoch's cosines; ``end_epoch()`` gives the history columns and starts again."""

    def __init__(self):
        self.total, self.negative, self.steps = 0.0, 0, 0

    def add(self, cosine):
        """One measured step's cosine (None: no angle, not counted)."""
        if cosine is None:
            return
        self.total += cosine
        self.negative += int(cosine < 0)
        self.steps += 1

    def end_epoch(self):
        row = {
            "conflict_cosine": self.total / self.steps if self.steps else None,
            "conflict_negative": self.negative / self.steps if self.steps else None,
            "conflict_steps": self.steps,
        }
        self.total, self.negative, self.steps = 0.0, 0, 0
        return row

    def state_dict(self):
        return {"total": self.total, "negative": self.negative, "steps": self.steps}

    def load_state_dict(self, state):
        self.total, self.negative, self.steps = float(state["total"]), int(state["negative"]), int(state["steps"])
