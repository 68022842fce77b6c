"""Dynamic weight average: Liu, Johns and Davison, "End-to-end multi-task learning with attention",
CVPR 2019 (their dynamic weight average).

    lambda_k(t) = K exp(w_k(t-1) / T) / sum_i exp(w_i(t-1) / T),     w_k(t-1) = L_k(t-1) / L_k(t-2)

with L_k(t) the mean training loss of task k over epoch t and temperature T = 2; for the first two
epochs (no two losses to divide yet) lambda_k = 1. A task whose loss fell less in the last epoch gets
more weight; the weights always add up to K. No parameters are learned: the state is the per-epoch
mean losses, and the current epoch's running sums (saved with a checkpoint inside an epoch).

Checked against LibMTL (``weighting/DWA.py``): the same definition (losses averaged per epoch,
ones while fewer than two epochs are done, K times a softmax at T = 2). One addition: a ratio whose
older loss is 0 (a task without a single label in an epoch) is taken as 1 instead of dividing by 0.
"""

import numpy as np

from minimtl.training.weighting.sum import Sum

__all__ = ["DynamicWeightAverage", "dwa_weights", "TEMPERATURE"]

TEMPERATURE = 2.0


def dwa_weights(epoch_losses, temperature=TEMPERATURE):
    """lambda (K,) from the per-epoch mean losses so far, epoch_losses: list of (K,) rows, oldest first."""
    if len(epoch_losses) < 2:
        raise ValueError(f"DWA needs the losses of two finished epochs, got {len(epoch_losses)}")
    last, before = np.asarray(epoch_losses[-1], dtype=np.float64), np.asarray(epoch_losses[-2], dtype=np.float64)
    ratio = np.divide(last, before, out=np.ones_like(last), where=before != 0)
    scaled = np.exp((ratio - ratio.max()) / temperature)  # the max subtracted: the same softmax, no overflow
    return len(ratio) * scaled / scaled.sum()


class DynamicWeightAverage(Sum):
    """Loss weights from how fast each task's epoch loss fell (temperature 2)."""

    name = "dwa"

    def __init__(self, heads, temperature=TEMPERATURE):
        super().__init__(heads)
        self.temperature = float(temperature)
        self.epoch_losses = []  # one [L_k] row per finished epoch: mean unweighted training loss
        self.sums = [0.0] * len(self.heads)  # this epoch's running sums of the batches' losses
        self.batches = 0

    def loss_weights(self, losses):
        if len(self.epoch_losses) < 2:
            return {head: 1.0 for head in self.heads}
        return dict(zip(self.heads, map(float, dwa_weights(self.epoch_losses, self.temperature))))

    def after_step(self, losses, task_gradients=None):
        self.sums = [total + losses[head] for total, head in zip(self.sums, self.heads)]
        self.batches += 1

    def end_epoch(self):
        columns = {f"weight_{h}": w for h, w in self.loss_weights(None).items()}  # the weights this epoch used
        if self.batches:
            self.epoch_losses.append([total / self.batches for total in self.sums])
        self.sums, self.batches = [0.0] * len(self.heads), 0
        return columns

    def state_dict(self):
        return {"epoch_losses": self.epoch_losses, "sums": self.sums, "batches": self.batches}

    def load_state_dict(self, state):
        self.epoch_losses = [list(row) for row in state["epoch_losses"]]
        self.sums, self.batches = list(state["sums"]), int(state["batches"])
