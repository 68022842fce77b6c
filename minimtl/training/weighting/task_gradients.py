"""Each task's gradient on the shared parameters, kept apart instead of summed.

The study's objective is L = L_tb + L_pneumonia, and ``MultiHead.backward`` adds the two heads'
gradients at the trunk's output before one trunk backward pass. The methods of
:mod:`minimtl.training.weighting` need the two terms separately, g_k = dL_k / d theta_shared, so
here each head's gradient runs down the trunk on its own (a second trunk backward pass per step).
Because the trunk's backward pass is linear in its upstream gradient, g_tb + g_pneumonia is the
study's shared gradient (to float rounding: the sum is taken after the pass instead of before).

Two ways in:

- :func:`backward_per_task` (the gradient methods' step, after ``model.forward``): every head's
  ordinary ``backward`` (so the heads' own gradients are in their layers), then one trunk pass per task.
- :func:`probe_task_gradients` (the gradient-conflict measurement beside the fused or readable
  step): the same numbers, but the heads' big first Dense layer gives only its input gradient
  (dx = dout W^T) and never writes its weight gradient, whose 528 MB per head at 256 px the fused
  step never touches. It reruns the trunk's forward pass, which the fused step does not store.
"""

import numpy as np

from minimtl.nn.layers import Dense

__all__ = ["TaskGradients", "backward_per_task", "probe_task_gradients", "feature_gradient", "write_trunk_gradient"]


class TaskGradients:
    """The tasks' gradients on the trunk's parameters, one row per head.

    - heads: head names, in the model's order (the rows' order)
    - names, shapes: the trunk's parameters (qualified within the trunk, e.g. "conv.W"), in order
    - matrix: (K, P) float64, row k = head k's gradient on all P trunk weights, flattened in that order
    """

    def __init__(self, heads, names, shapes, matrix):
        self.heads, self.names, self.shapes, self.matrix = list(heads), list(names), list(shapes), matrix
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

    def part(self, name):
        """(K, size) view of every task's gradient on trunk parameter ``name``."""
        i = self.names.index(name)
        return self.matrix[:, self.offsets[i] : self.offsets[i + 1]]

    def cosine(self):
        """cos(g_1, g_2) = g_1 . g_2 / (|g_1| |g_2|) of a two-task model, in float64; None when either
        gradient is zero (a batch without labels for that task), where no angle is defined."""
        if len(self.heads) != 2:
            raise ValueError(f"the conflict cosine needs two tasks, this model has {len(self.heads)}")
        g1, g2 = self.matrix
        norms = float(np.linalg.norm(g1)) * float(np.linalg.norm(g2))
        return None if norms == 0.0 else float(np.dot(g1, g2)) / norms


def _flat_trunk_gradient(trunk):
    return np.concatenate([np.asarray(g, dtype=np.float64).reshape(-1) for g in trunk.grads.values()])


def _collect(model, dfeatures):
    """Run the trunk backward once per head's feature gradient; the rows of a TaskGradients."""
    rows = []
    for name in model.head_names:
        model.trunk.backward(dfeatures[name])  # overwrites the trunk's grads with this task's alone
        rows.append(_flat_trunk_gradient(model.trunk))
    grads = model.trunk.grads
    return TaskGradients(model.head_names, list(grads), [g.shape for g in grads.values()], np.stack(rows))


def backward_per_task(model, dlogits):
    """After ``model.forward(x)``: each head's backward with its own dlogits (read only), leaving the
    heads' gradients in their layers, and each task's trunk gradient apart.

    Inputs: model (MultiHead), dlogits: dict head -> (N, K_head). Returns a :class:`TaskGradients`.
    The trunk's ``grads`` hold the last task's gradient afterwards: write the combination with
    :func:`write_trunk_gradient` before the optimiser step."""
    return _collect(model, {name: model.heads[name].backward(dlogits[name]) for name in model.head_names})


def feature_gradient(head, dout):
    """The gradient for a head's input (the trunk's features), without the first layer's weight gradient.

    The head's layers after the first run their ordinary ``backward``; the first, a Dense layer, gives
    only dx = dout W^T. Needs the head's forward caches (any forward of the same batch)."""
    layers = [layer for _, layer in head.layers]
    if not isinstance(layers[0], Dense):
        raise ValueError(f"a head must start with a Dense layer to probe its feature gradient, got {layers[0]!r}")
    for layer in reversed(layers[1:]):
        dout = layer.backward(dout)
    # the Dense layer's own kernel, not BLAS's dout @ W.T: BLAS's idle threads keep spinning after the
    # call and slow the Numba kernels that follow (minimtl/kernels/dense_numba.py)
    return layers[0].input_gradient(dout)


def probe_task_gradients(model, x, dlogits):
    """Each task's trunk gradient at the current weights, beside a training step, changing nothing it uses.

    Call between the step's ``forward(x)`` and its ``backward_and_update``: the heads' forward caches
    are then this batch's (both steps run the heads' small layers through the layers). The trunk's
    forward pass is rerun on ``x`` (the fused step keeps no conv output): the same deterministic
    kernels give the same values in the same buffers. What the probe writes (the trunk's grads, the
    heads' second Dense layers' grads) the step overwrites before it reads.

    Inputs: model (MultiHead), x (N, C, S, S) the batch's input, dlogits: dict head -> (N, K_head).
    Returns a :class:`TaskGradients`."""
    model.trunk.forward(x)
    return _collect(model, {name: feature_gradient(model.heads[name], dlogits[name]) for name in model.head_names})


def write_trunk_gradient(trunk, flat, task_gradients):
    """Copy the combined shared gradient ``flat`` ((P,), laid out as ``task_gradients``' rows) into the
    trunk layers' own grads arrays, in their dtype."""
    grads = trunk.grads
    for name in task_gradients.names:
        i = task_gradients.names.index(name)
        part = flat[task_gradients.offsets[i] : task_gradients.offsets[i + 1]]
        grads[name][...] = part.reshape(grads[name].shape)
