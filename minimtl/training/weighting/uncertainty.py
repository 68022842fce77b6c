"""Uncertainty weighting: Kendall, Gal and Cipolla, "Multi-task learning using uncertainty to weigh
losses for scene geometry and semantics", CVPR 2018.

Each task k gets a learned log-variance s_k = log sigma_k^2, and the objective is their form for
classification outputs (a softmax with temperature sigma^2, their Section 3.2), with s = log sigma^2:

    L(theta, s) = sum_k  exp(-s_k) L_k(theta) + s_k / 2          (= L_k / sigma_k^2 + log sigma_k)

    dL/dlogits_k = exp(-s_k) dL_k/dlogits_k        dL/ds_k = -exp(-s_k) L_k + 1/2

A task whose loss stays high is judged noisy and weighted down; s_k / 2 keeps s from running off to
infinity. For a fixed L_k the minimum is at exp(-s_k) = 1 / (2 L_k). s starts at 0 (weight 1: the
first step is the study's), and is updated by Adam with the run's own settings (lr, betas, epsilon).

A step whose batch has no valid label for task k (``--other-labels ignore``: an all-Kermany batch
has no TB label) has no L_k: the sum runs over the tasks present, so s_k gets neither -exp(-s_k) L_k
nor the regulariser's 1/2 (counted as a loss of 0, that 1/2 alone would push s_k down, and the weight
exp(-s_k) up, on evidence that does not exist). Nor does Adam move it: Adam with a zero gradient still
steps along its momentum, so each s_k has its own Adam, which steps only when task k is present
and counts those steps alone. When every batch has both tasks (``negative``, the study's policy) the
two Adams count the same steps, and being elementwise they compute what one Adam over s would.

LibMTL (``weighting/UW.py``) writes every task in the regression form L_k / (2 sigma_k^2) + log sigma_k
and starts at s = -0.5. Both forms have their minimum at the same weight 1/(2 L_k) but move towards it at
different speeds; ours is the paper's form for the classification tasks we have, started where it
changes nothing.
"""

import numpy as np

from minimtl.nn.optim import Adam
from minimtl.training.weighting.sum import Sum, adam_state_json, load_adam_state_json

__all__ = ["Uncertainty", "uncertainty_objective"]


def uncertainty_objective(log_variance, losses):
    """(L, dL/ds) of L = sum_k exp(-s_k) L_k + s_k / 2.

    Inputs: log_variance s (K,), losses L (K,) (floats). Returns (float, (K,) array)."""
    s, L = np.asarray(log_variance, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    precision = np.exp(-s)
    return float(np.sum(precision * L + s / 2)), -precision * L + 0.5


class Uncertainty(Sum):
    """Learned log-variances; the loss weights exp(-s_k). Inputs: heads, and the run's Adam settings."""

    name = "uncertainty"

    def __init__(self, heads, lr, beta1, beta2, eps):
        super().__init__(heads)
        self.params = {"log_variance": np.zeros(len(self.heads))}  # s_k, one per head, float64
        s = self.params["log_variance"]
        # one Adam per s_k, holding a view of its entry: it steps only when its task is present
        self.optimizers = {
            head: Adam({"log_variance": s[k : k + 1]}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
            for k, head in enumerate(self.heads)
        }

    def loss_weights(self, losses):
        return {head: float(np.exp(-s)) for head, s in zip(self.heads, self.params["log_variance"])}

    def after_step(self, losses, task_gradients=None):
        present = [k for k, head in enumerate(self.heads) if losses[head] is not None]
        s = self.params["log_variance"]
        _, gradient = uncertainty_objective(s[present], [losses[self.heads[k]] for k in present])
        for k, dk in zip(present, gradient):
            self.optimizers[self.heads[k]].step({"log_variance": np.array([dk])})

    def end_epoch(self):
        return {f"log_variance_{h}": float(s) for h, s in zip(self.heads, self.params["log_variance"])}

    def state_dict(self):
        adams = {head: adam_state_json(optimizer) for head, optimizer in self.optimizers.items()}
        return {"log_variance": self.params["log_variance"].tolist(), "adam": adams}

    def load_state_dict(self, state):
        self.params["log_variance"][...] = state["log_variance"]
        adams = state["adam"]
        if "t" in adams:  # a checkpoint from before each s_k had its own Adam: one Adam over s, split
            adams = {
                head: {
                    "t": adams["t"],
                    "m/log_variance": [adams["m/log_variance"][k]],
                    "v/log_variance": [adams["v/log_variance"][k]],
                }
                for k, head in enumerate(self.heads)
            }
        for head, optimizer in self.optimizers.items():
            load_adam_state_json(optimizer, adams[head])
