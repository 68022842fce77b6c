"""The study's rule, and the interface every weighting method keeps."""

import numpy as np

__all__ = ["Sum"]


class Sum:
    """L = sum_k L_k: every task's loss with weight 1, the shared gradient g = sum_k g_k (the study).

    The interface of every method in :mod:`minimtl.training.weighting`, called once per training step
    by :class:`minimtl.training.multitask_update.MultiTaskUpdate`:

    - ``loss_weights(losses)`` -> dict head -> w_k: this step's loss weights, from the state before the
      step (each head's loss gradient, hence its own parameters' gradient, is scaled by w_k)
    - ``combine(task_gradients, losses)`` -> (P,) the shared gradient from the tasks' (already weighted)
      gradients on the shared parameters (methods with ``needs_task_gradients`` only)
    - ``after_step(losses, task_gradients)``: learn from the step (the method's own parameters)
    - ``end_epoch()`` -> dict of history columns (e.g. the weights); ``state_dict()`` /
      ``load_state_dict(state)``: every bit of the method's state, JSON-ready, for the checkpoint

    ``losses`` is a dict head -> float, each head's masked mean loss of the batch (unweighted), or None
    where the batch has no valid label for the head (``--other-labels ignore``): that task is absent
    from the step. Its masked loss would read 0 and its gradient row is 0, but neither is evidence
    about the task, so no method may learn from them: an absent task adds no term to the method's
    own objective, its own parameters do not move that step (not even by an optimiser's momentum),
    and it does not enter an epoch's mean loss.
    """

    name = "sum"
    needs_task_gradients = False  # True: the step must keep each task's shared gradient apart

    def __init__(self, heads):
        self.heads = list(heads)

    def loss_weights(self, losses):
        return {head: 1.0 for head in self.heads}

    def combine(self, task_gradients, losses):
        return task_gradients.matrix.sum(axis=0)

    def after_step(self, losses, task_gradients=None):
        pass

    def end_epoch(self):
        return {}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def adam_state_json(optimizer):
    """An Adam's state (``state_dict``) as JSON-ready lists; floats round-trip exactly through JSON."""
    return {key: np.asarray(value).tolist() for key, value in optimizer.state_dict().items()}


def load_adam_state_json(optimizer, state):
    """The inverse of :func:`adam_state_json`, in the optimiser's own dtypes."""
    optimizer.load_state_dict({key: np.asarray(value) for key, value in state.items()})
