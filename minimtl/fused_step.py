"""The fused training step: the same arithmetic as backward + Adam, with each big weight matrix touched once.

This is an optimisation, documented as such (docs/performance.md); the readable path is
``model.forward``, ``model.backward`` and ``Adam.step``, layer by layer, and the tests check
that both paths give the same weights to float32 rounding.

Where the time goes. Our networks are Conv2D(32, 3x3) ReLU Flatten, then one or two heads
Dense(64) ReLU Dense(K). At 256 px each head's first Dense layer has 132 million weights
(528 MB in float32); everything else is small. The layer-by-layer path reads that matrix for
the forward pass, reads it again for the input gradient, writes its gradient dW, and Adam then
reads W, dW, m and v and writes W, m and v: about 48 bytes per weight and step. The fused step
moves the minimum, 28 bytes: the forward pass reads each W once, all heads in one pass
(:func:`minimtl.kernels.dense_numba.dense_forward`), and the backward pass reads and writes
each row of W, m and v once, computing the row's gradient on the fly and its share of the input
gradient from the old weights before Adam overwrites them
(:func:`minimtl.kernels.dense_adam_numba.dense_backward_adam`).

Everything else (the convolution, the ReLUs, the small Dense layers, the loss) runs through the
ordinary layers, and the small parameters are updated with the same Adam kernel as in
``Adam.step``. The Adam state (t, m, v) is the optimiser's own, so checkpoints and resuming
work unchanged; the big layers' ``grads["W"]`` are left untouched (never stored).
"""

import numpy as np

from minimtl.kernels import adam_numba, dense_adam_numba, dense_numba
from minimtl.layers import Conv2D, Dense, Flatten, ReLU
from minimtl.optim import Adam

__all__ = ["FusedStep", "UnsupportedModel", "adam_lr_t"]


class UnsupportedModel(ValueError):
    """The model is not a conv trunk feeding Dense-ReLU-Dense heads, or the optimiser is not Adam."""


def adam_lr_t(optimizer, t):
    """Adam's bias-corrected step size at step t: lr * sqrt(1 - beta2**t) / (1 - beta1**t).

    The same expression as in :meth:`minimtl.optim.Adam.step` (a test checks that one fused step
    and one ``Adam.step`` give the same update).
    """
    return optimizer.lr * np.sqrt(1.0 - optimizer.beta2 ** t) / (1.0 - optimizer.beta1 ** t)


def _layer_types(sequential):
    return [(name, type(layer)) for name, layer in sequential.layers]


class FusedStep:
    """Forward pass and backward pass + Adam update for a :class:`minimtl.graph.MultiHead` model.

    Inputs (constructor):
    - model: a MultiHead whose trunk is ``[("conv", Conv2D), ("flatten", Flatten)]`` and whose
      heads are each ``[("dense1", Dense), ("relu", ReLU), ("dense2", Dense)]`` (every
      architecture of :func:`minimtl.models.build_model`)
    - optimizer: the :class:`minimtl.optim.Adam` that owns the model's parameters

    Raises UnsupportedModel for anything else. Usage, per batch::

        logits = fused.forward(x)                 # dict head -> (N, K), as model.forward(x)
        fused.backward_and_update(dlogits)        # as model.backward(dlogits); optimizer.step(grads)
    """

    def __init__(self, model, optimizer):
        if not isinstance(optimizer, Adam):
            raise UnsupportedModel(f"the fused step implements Adam only, got {type(optimizer).__name__}")
        if _layer_types(model.trunk) != [("conv", Conv2D), ("flatten", Flatten)]:
            raise UnsupportedModel(f"the fused step needs the trunk conv, flatten; got {_layer_types(model.trunk)}")
        for head_name, head in model.heads.items():
            if _layer_types(head) != [("dense1", Dense), ("relu", ReLU), ("dense2", Dense)]:
                raise UnsupportedModel(f"the fused step needs heads dense1, relu, dense2; head {head_name!r} "
                                       f"is {_layer_types(head)}")
        params = model.params
        if set(optimizer.params) != set(params) or any(optimizer.params[k] is not params[k] for k in params):
            raise UnsupportedModel("the optimiser must hold the model's own parameter arrays")
        self.model = model
        self.optimizer = optimizer
        self.head_names = list(model.head_names)
        self.dense1 = [dict(model.heads[h].layers)["dense1"] for h in self.head_names]
        self.big_names = [f"heads.{h}.dense1.W" for h in self.head_names]
        grads = model.grads
        # every other parameter: updated from its layer's grads, as Adam.step would
        self.small = [(name, params[name], grads[name]) for name in params if name not in self.big_names]
        self.features = None   # (N, D) trunk output of the last forward; the backward pass reads it
        self.hidden = None     # tuple of (N, H_h) dense1 outputs, reused while N stays the same
        self.dfeatures = None  # (N, D) gradient for the trunk output, reused while N stays the same

    def forward(self, x):
        """x: (N, C, S, S) images -> dict head -> logits (N, K_head), as ``model.forward(x)``.

        The trunk runs layer by layer; the heads' first Dense layers run in one pass over the
        features. Caches what ``backward_and_update`` needs (here and in the small layers).
        """
        features = self.model.trunk.forward(x)
        N = features.shape[0]
        if self.hidden is None or self.hidden[0].shape[0] != N:
            self.hidden = tuple(np.empty((N, layer.params["W"].shape[1]), dtype=features.dtype)
                                for layer in self.dense1)
            self.dfeatures = np.empty_like(features)
        dense_numba.dense_forward(features, tuple(layer.params["W"] for layer in self.dense1),
                                  tuple(layer.params["b"] for layer in self.dense1), self.hidden)
        self.features = features
        logits = {}
        for name, hidden in zip(self.head_names, self.hidden):
            layers = dict(self.model.heads[name].layers)
            logits[name] = layers["dense2"].forward(layers["relu"].forward(hidden))
        return logits

    def backward_and_update(self, dlogits):
        """dlogits: dict head -> (N, K_head), the gradient of the total loss (read only).

        Same result as ``model.backward(dlogits)`` then ``optimizer.step(model.grads)``, except
        that the big layers' ``grads["W"]`` are not written.
        """
        if self.features is None:
            raise RuntimeError("FusedStep.backward_and_update called before forward")
        if set(dlogits) != set(self.head_names):
            raise ValueError(f"backward needs a gradient for every head {self.head_names}, got {sorted(dlogits)}")
        dhidden = []
        for name, dense1 in zip(self.head_names, self.dense1):
            layers = dict(self.model.heads[name].layers)
            d = np.ascontiguousarray(layers["relu"].backward(layers["dense2"].backward(dlogits[name])),
                                     dtype=self.features.dtype)
            np.sum(d, axis=0, out=dense1.grads["b"])
            dhidden.append(d)
        opt = self.optimizer
        opt.t += 1
        lr_t = adam_lr_t(opt, opt.t)
        dense_adam_numba.dense_backward_adam(
            self.features, tuple(layer.params["W"] for layer in self.dense1), tuple(dhidden),
            tuple(opt.m[name] for name in self.big_names), tuple(opt.v[name] for name in self.big_names),
            self.dfeatures, lr_t, opt.beta1, opt.beta2, opt.eps)
        self.model.trunk.backward(self.dfeatures)
        for name, w, g in self.small:
            adam_numba.adam_update(w.reshape(-1), g.reshape(-1), opt.m[name].reshape(-1), opt.v[name].reshape(-1),
                                   lr_t, opt.beta1, opt.beta2, opt.eps)
