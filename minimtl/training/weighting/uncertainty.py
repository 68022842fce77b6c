"""Uncertainty weighting: Kendall, Gal and Cipolla, "Multi-task learning using uncertainty to weigh
losses for scene geometry and semantics", CVPR 2018.

Each task k gets a learned log-variance s_k = log sigma_k^2, and the objective is their form for
classification outputs (a softmax with temperature sigma^2, their Section 3.2), with s = log sigma^2:

    L(theta, s) = sum_k  exp(-s_k) L_k(theta) + s_k / 2          (= L_k / sigma_k^2 + log sigma_k)

    dL/dlogits_k = exp(-s_k) dL_k/dlogits_k        dL/ds_k = -exp(-s_k) L_k + 1/2

A task whose loss stays high is judged noisy and weighted down; s_k / 2 keeps s from running off to
infinity. For a fixed L_k the minimum is at exp(-s_k) = 1 / (2 L_k). s starts at 0 (weight 1: the
first step is the study's), and is updated by Adam with the run's own settings (lr, betas, epsilon),
step for step with the network: a second Adam instance over s alone, which is the same arithmetic as
adding s to the network's Adam (Adam is elementwise and both count the same steps).

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
        self.optimizer = Adam(self.params, lr=lr, beta1=beta1, beta2=beta2, eps=eps)

    def loss_weights(self, losses):
        return {head: float(np.exp(-s)) for head, s in zip(self.heads, self.params["log_variance"])}

    def after_step(self, losses, task_gradients=None):
        _, gradient = uncertainty_objective(self.params["log_variance"], [losses[h] for h in self.heads])
        self.optimizer.step({"log_variance": gradient})

    def end_epoch(self):
        return {f"log_variance_{h}": float(s) for h, s in zip(self.heads, self.params["log_variance"])}

    def state_dict(self):
        return {"log_variance": self.params["log_variance"].tolist(), "adam": adam_state_json(self.optimizer)}

    def load_state_dict(self, state):
        self.params["log_variance"][...] = state["log_variance"]
        load_adam_state_json(self.optimizer, state["adam"])
