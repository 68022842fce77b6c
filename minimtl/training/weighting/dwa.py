"""Dynamic weight average: Liu, Johns and Davison, "End-to-end multi-task learning with attention",
CVPR 2019 (their dynamic weight average).

    lambda_k(t) = K exp(w_k(t-1) / T) / sum_i exp(w_i(t-1) / T),     w_k(t-1) = L_k(t-1) / L_k(t-2)

with L_k(t) the mean training loss of task k over epoch t and temperature T = 2; for the first two
epochs (no two losses to divide yet) lambda_k = 1. A task whose loss fell less in the last epoch gets
more weight; the weights always add up to K. No parameters are learned: the state is the per-epoch
mean losses, and the current epoch's running sums (saved with a checkpoint inside an epoch).

L_k(t) is the mean of the batch losses over the batches that had a valid label for task k, as the
history's ``train_loss_<head>`` (:class:`minimtl.training.loop.LossSums`). Under ``--other-labels
ignore`` a batch without one has no L_k (loss None); counted as 0 it would lower the mean by the
share of such batches, which the shuffle changes from epoch to epoch.

Checked against LibMTL (``weighting/DWA.py``): the same definition (losses averaged per epoch,
ones while fewer than two epochs are done, K times a softmax at T = 2). One addition: a ratio with
no loss to divide (a task without a single label in one of the two epochs: None) is taken as 1.
"""

import numpy as np

from minimtl.training.weighting.sum import Sum

__all__ = ["DynamicWeightAverage", "dwa_weights", "TEMPERATURE"]

TEMPERATURE = 2.0


def dwa_weights(epoch_losses, temperature=TEMPERATURE):
    """lambda (K,) from the per-epoch mean losses so far, epoch_losses: list of K-long rows (a float, or
    None for a task that had no label in that epoch), oldest first."""
    if len(epoch_losses) < 2:
        raise ValueError(f"DWA needs the losses of two finished epochs, got {len(epoch_losses)}")
    last, before = (np.array(row, dtype=np.float64) for row in epoch_losses[-2:][::-1])  # None becomes nan
    measured = np.isfinite(last) & np.isfinite(before) & (before != 0)
    ratio = np.divide(last, before, out=np.ones_like(last), where=measured)
    scaled = np.exp((ratio - ratio.max()) / temperature)  # the max subtracted: the same softmax, no overflow
    return len(ratio) * scaled / scaled.sum()


class DynamicWeightAverage(Sum):
    """Loss weights from how fast each task's epoch loss fell (temperature 2)."""

    name = "dwa"

    def __init__(self, heads, temperature=TEMPERATURE):
        super().__init__(heads)
        self.temperature = float(temperature)
        self.epoch_losses = []  # one [L_k] row per finished epoch: mean unweighted training loss (or None)
        self.sums = [0.0] * len(self.heads)  # this epoch's running sums of the batches' losses
        self.batches = [0] * len(self.heads)  # and how many batches had a label for each task

    def loss_weights(self, losses):
        if len(self.epoch_losses) < 2:
            return {head: 1.0 for head in self.heads}
        return dict(zip(self.heads, map(float, dwa_weights(self.epoch_losses, self.temperature))))

    def after_step(self, losses, task_gradients=None):
        for k, head in enumerate(self.heads):
            if losses[head] is not None:  # None: no label for the task in this batch, no loss to count
                self.sums[k] += losses[head]
                self.batches[k] += 1

    def end_epoch(self):
        columns = {f"weight_{h}": w for h, w in self.loss_weights(None).items()}  # the weights this epoch used
        if any(self.batches):
            self.epoch_losses.append([total / n if n else None for total, n in zip(self.sums, self.batches)])
        self.sums, self.batches = [0.0] * len(self.heads), [0] * len(self.heads)
        return columns

    def state_dict(self):
        return {"epoch_losses": self.epoch_losses, "sums": list(self.sums), "batches": list(self.batches)}

    def load_state_dict(self, state):
        self.epoch_losses = [list(row) for row in state["epoch_losses"]]
        batches = state["batches"]  # an int in a checkpoint from before the count per task: every batch counted
        self.sums = list(state["sums"])
        self.batches = [batches] * len(self.heads) if isinstance(batches, int) else [int(n) for n in batches]
