"""GradNorm: Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: gradient normalization for adaptive
loss balancing in deep multitask networks", ICML 2018.

The network trains on L = sum_k w_k L_k, and the weights w_k learn to balance the tasks' gradient norms
on W, the last shared layer's kernel (here the trunk's last Conv2D ``W``):

    G_k = || grad_W  w_k L_k ||_2,    G_bar = mean_k G_k
    L~_k = L_k(t) / L_k(0),           r_k = L~_k / mean_j L~_j          (relative inverse training rate)
    L_grad = sum_k | G_k - G_bar r_k^alpha |_1,        alpha = 1.5

with the target G_bar r_k^alpha held constant (the paper's rule), so with n_k = ||grad_W L_k||,
G_k = w_k n_k and

    dL_grad / dw_k = sign(G_k - G_bar r_k^alpha) n_k.

After each step the weights take one Adam step on that gradient (the run's settings), then are
renormalised to sum to K (the paper's sum_k w_k = T); a weight is kept at least WEIGHT_FLOOR before that,
so none can cross zero. L_k(0) is task k's loss on the first step where it has labels. A step where a
task has no labels (its loss None: ``--other-labels ignore``) leaves the weights and their Adam alone:
there is no G_k and no training rate to balance.

Checked against LibMTL (``weighting/GradNorm.py``), which differs in three ways we do not follow:
it writes w = K softmax(l) and learns l (the sum stays K by construction), it trains the first epoch
with plain sum and takes L_k(0) as that epoch's mean loss, and its G_k are norms over every shared
parameter, not the last shared layer's; its heads also get unweighted gradients, where ours, as the
paper's objective sum_k w_k L_k says, get w_k times their task's.
"""

import numpy as np

from minimtl.nn.optim import Adam
from minimtl.training.weighting.sum import Sum, adam_state_json, load_adam_state_json

__all__ = ["GradNorm", "gradnorm_targets", "gradnorm_objective", "ALPHA", "WEIGHT_FLOOR"]

ALPHA = 1.5
WEIGHT_FLOOR = 1e-3


def gradnorm_targets(norms, weights, loss_ratios, alpha=ALPHA):
    """The constant targets G_bar r_k^alpha. Inputs: norms n (K,) = ||grad_W L_k||, weights w (K,),
    loss_ratios L~ (K,) = L_k(t) / L_k(0). Returns (K,)."""
    G = np.asarray(weights, np.float64) * np.asarray(norms, np.float64)
    L = np.asarray(loss_ratios, np.float64)
    return G.mean() * (L / L.mean()) ** alpha


def gradnorm_objective(weights, norms, targets):
    """(L_grad, dL_grad/dw) of L_grad = sum_k |w_k n_k - target_k|, targets constant. Returns (float, (K,))."""
    w, n, c = (np.asarray(a, np.float64) for a in (weights, norms, targets))
    gap = w * n - c
    return float(np.abs(gap).sum()), np.sign(gap) * n


class GradNorm(Sum):
    """Learned loss weights w (start 1) that even out the tasks' gradient norms on the last shared kernel.

    Inputs: heads, the name of that kernel within the trunk (e.g. "conv.W"), the run's Adam settings."""

    name = "gradnorm"
    needs_task_gradients = True

    def __init__(self, heads, last_shared, lr, beta1, beta2, eps, alpha=ALPHA):
        super().__init__(heads)
        self.last_shared, self.alpha = last_shared, float(alpha)
        self.params = {"weights": np.ones(len(self.heads))}
        self.optimizer = Adam(self.params, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        self.initial_losses = [None] * len(self.heads)  # L_k(0), set on the first step with labels for k

    def loss_weights(self, losses):
        return dict(zip(self.heads, map(float, self.params["weights"])))

    def after_step(self, losses, task_gradients=None):
        L = [losses[h] for h in self.heads]
        self.initial_losses = [
            old if old is not None or now is None or now <= 0 else now for old, now in zip(self.initial_losses, L)
        ]
        if None in L or None in self.initial_losses or min(L) <= 0:
            return  # a task without labels in this batch (or, at a loss of 0, nothing left to balance)
        w = self.params["weights"]
        G = np.linalg.norm(task_gradients.part(self.last_shared), axis=1)  # rows already carry w_k
        if np.any(G == 0):
            return  # no gradient on the last shared kernel: no norm to balance
        norms = G / w
        ratios = np.array(L) / np.array(self.initial_losses)
        _, gradient = gradnorm_objective(w, norms, gradnorm_targets(norms, w, ratios, self.alpha))
        self.optimizer.step({"weights": gradient})
        np.maximum(w, WEIGHT_FLOOR, out=w)
        w *= len(w) / w.sum()  # renormalise: sum_k w_k = K

    def end_epoch(self):
        return {f"weight_{h}": float(w) for h, w in zip(self.heads, self.params["weights"])}

    def state_dict(self):
        return {
            "weights": self.params["weights"].tolist(),
            "initial_losses": self.initial_losses,
            "adam": adam_state_json(self.optimizer),
        }

    def load_state_dict(self, state):
        self.params["weights"][...] = state["weights"]
        self.initial_losses = list(state["initial_losses"])
        load_adam_state_json(self.optimizer, state["adam"])
