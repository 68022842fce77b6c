"""PCGrad: Yu, Kumar, Gupta, Levine, Hausman and Finn, "Gradient surgery for multi-task learning",
NeurIPS 2020, Algorithm 1.

For each task i, in a random order of the other tasks j, where the gradients conflict (g_i . g_j < 0)
g_i loses its component along g_j:

    g_i^PC <- g_i^PC - (g_i^PC . g_j) / ||g_j||^2  g_j          (g_j the original, unprojected gradient)

and the shared parameters take sum_i g_i^PC. After the projection g_i^PC . g_j = 0: neither task's
update pushes against the other's. The heads' own parameters get their own task's gradient, unchanged.
A task without labels in the batch (``--other-labels ignore``) has g_j = 0: g_i . g_j = 0 is no
conflict, so nothing is divided by ||g_j||^2 = 0 and the other task's gradient passes unchanged.

With two tasks the order cannot change the result (there is one other task; projecting g_i on its own
direction afterwards changes nothing, as g_i^PC . g_i = ||g_i||^2 - (g_i.g_j)^2/||g_j||^2 >= 0). We still
draw it, as the algorithm says, from the run's own seeded stream (the fourth child of the run's
SeedSequence, see :func:`minimtl.training.multitask_update.method_rng`), whose state is checkpointed.

Checked against LibMTL (``weighting/PCGrad.py``): the same projection against the original gradients;
LibMTL's random order also includes task i itself (a no-op, as above), ours skips it.
"""

import numpy as np

from minimtl.training.weighting.sum import Sum

__all__ = ["PCGrad", "project_conflicting"]


def project_conflicting(grads, orders):
    """The projected gradients. Inputs: grads (K, P) float64, orders: for each task i a sequence of task
    indices (the order to visit them; i itself is skipped). Returns a new (K, P) array."""
    projected = np.array(grads, dtype=np.float64, copy=True)
    squared = np.einsum("kp,kp->k", grads, grads)
    for i in range(len(grads)):
        for j in orders[i]:
            if j == i:
                continue
            dot = float(np.dot(projected[i], grads[j]))
            if dot < 0:  # they conflict (a zero g_j gives dot 0: nothing to remove)
                projected[i] -= dot / squared[j] * grads[j]
    return projected


class PCGrad(Sum):
    """Projected conflicting gradients. Inputs: heads, rng (numpy Generator for the task orders)."""

    name = "pcgrad"
    needs_task_gradients = True

    def __init__(self, heads, rng):
        super().__init__(heads)
        self.rng = rng
        self.projected_steps = 0  # this epoch: steps where at least one projection was made
        self.steps = 0

    def combine(self, task_gradients, losses):
        K = len(self.heads)
        orders = [self.rng.permutation(K) for _ in range(K)]
        projected = project_conflicting(task_gradients.matrix, orders)
        self.projected_steps += int(not np.array_equal(projected, task_gradients.matrix))
        self.steps += 1
        return projected.sum(axis=0)

    def end_epoch(self):
        share = self.projected_steps / self.steps if self.steps else None
        self.projected_steps = self.steps = 0
        return {"pcgrad_projected": share}

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "projected_steps": self.projected_steps, "steps": self.steps}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.projected_steps, self.steps = int(state["projected_steps"]), int(state["steps"])
