"""MGDA: Sener and Koltun, "Multi-task learning as multi-objective optimization", NeurIPS 2018,
the min-norm problem of
their Section 3 and its closed form for two tasks.

The shared parameters step along the smallest vector in the convex hull of the tasks' gradients,

    min_{alpha in [0, 1]} || alpha g_1 + (1 - alpha) g_2 ||^2
    alpha* = clip( (g_2 - g_1) . g_2 / ||g_1 - g_2||^2 , 0, 1 )

a direction that lowers both losses (or zero at a Pareto-stationary point). Where alpha* is inside
(0, 1) the result has equal dot products with g_1 and g_2. The heads' own parameters take their own
task's unweighted gradient (the paper's update of the task-specific parameters). When g_1 = g_2 every
alpha gives the same vector; we take 1/2.

A task without a label in the batch (``--other-labels ignore``; its loss None) is absent, not at a
stationary point: its gradient row is 0, and the hull of {g_1, 0} has 0 as its smallest vector, so
the formula would leave the shared weights still on every such step, with task 1's labels unused.
The min-norm vector over the tasks present is g_1 itself; such a step is not counted in the epoch's
mean alpha, which is a mean of choices made.

Checked against LibMTL (``weighting/MGDA.py``): its two-task solver (``_min_norm_element_from2``)
is the same formula except that it clips to [0.001, 0.999] instead of [0, 1]; we keep the paper's
[0, 1]. We use the exact gradients of the shared parameters (no gradient normalisation,
LibMTL's ``mgda_gn='none'``), not the MGDA-UB bound on the representation.
"""

import numpy as np

from minimtl.training.weighting.sum import Sum

__all__ = ["MGDA", "min_norm_weight"]


def min_norm_weight(g1, g2):
    """alpha* in [0, 1] minimising ||alpha g1 + (1 - alpha) g2||. Inputs: two (P,) arrays."""
    g1, g2 = np.asarray(g1, np.float64), np.asarray(g2, np.float64)
    difference = g1 - g2
    denominator = float(np.dot(difference, difference))
    if denominator == 0.0:
        return 0.5
    return float(np.clip(np.dot(g2 - g1, g2) / denominator, 0.0, 1.0))


class MGDA(Sum):
    """The two-task min-norm combination of the shared gradients."""

    name = "mgda"
    needs_task_gradients = True

    def __init__(self, heads):
        super().__init__(heads)
        if len(self.heads) != 2:
            raise ValueError(f"this MGDA is the two-task closed form; the model has {len(self.heads)} heads")
        self.alpha_sum, self.steps = 0.0, 0  # this epoch's alphas, for the history's mean

    def combine(self, task_gradients, losses):
        present = [losses[head] is not None for head in self.heads]
        if not all(present):  # one task (or none) present: its gradient alone (zeros for none)
            return task_gradients.matrix[present].sum(axis=0)
        g1, g2 = task_gradients.matrix
        alpha = min_norm_weight(g1, g2)
        self.alpha_sum += alpha
        self.steps += 1
        return alpha * g1 + (1.0 - alpha) * g2

    def end_epoch(self):
        mean = self.alpha_sum / self.steps if self.steps else None
        self.alpha_sum, self.steps = 0.0, 0
        return {f"mgda_weight_{self.heads[0]}": mean}

    def state_dict(self):
        return {"alpha_sum": self.alpha_sum, "steps": self.steps}

    def load_state_dict(self, state):
        self.alpha_sum, self.steps = float(state["alpha_sum"]), int(state["steps"])
