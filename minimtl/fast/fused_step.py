"""The fused training step: the same arithmetic as backward + Adam, with each big weight matrix touched once.

This is an optimisation, documented as such (docs/performance.md); the readable path is
``model.forward``, ``model.backward`` and ``Adam.step``, layer by layer, and the tests check
that both paths give the same weights to float32 rounding.

Where the time goes. Our networks are Conv2D(32, 3x3) ReLU Flatten, then one or two heads
Dense(64) ReLU Dense(K). At 256 px each head's first Dense layer has 132 million weights
(528 MB in float32); everything else is small. The layer-by-layer path reads that matrix for
the forward pass, reads it again for the input gradient, writes its gradient dW, and Adam then
reads W, dW, m and v and writes W, m and v: about 48 bytes per weight and step, plus 66 MB
activation arrays written and read several times. The fused step moves the minimum, 28 bytes
per weight: the forward pass reads each W once, all heads in one pass, and the backward pass
reads and writes each row of W, m and v once, computing the row's gradient on the fly and its
share of the feature gradient from the old weights before Adam overwrites them. The conv + ReLU
activations are recomputed block by block from the small input images and never stored, and so
is their gradient (see :mod:`minimtl.fast.fused_step_numba`).

The small layers (the heads' ReLU and second Dense layer, the loss) run through the ordinary
layers, and the small parameters (the conv's, the biases, the second Dense layers') are updated
by ``Adam.update``, as in ``Adam.step``. The step begins with ``Adam.begin_step`` (the step count
and its step size) and the big layers' update uses the optimiser's own moments
(``Adam.moments``), so checkpoints and resuming work unchanged. The conv's and the first Dense layers' ``grads["W"]``
are not a product of this path: the conv's hold the last fused step's gradient, the big layers'
are never written.
"""

import numpy as np

from minimtl.fast import fused_step_numba, fused_step_reference
from minimtl.kernels import chosen
from minimtl.nn.layers import Conv2D, Dense, Flatten, ReLU
from minimtl.nn.optim import Adam

fused_kernels = chosen(fused_step_numba, fused_step_reference)  # the NumPy twin under MINIMTL_KERNELS=reference

__all__ = ["FusedForward", "FusedStep", "UnsupportedModel"]


class UnsupportedModel(ValueError):
    """The model is not a conv trunk feeding Dense-ReLU-Dense heads, or the optimiser is not Adam."""


def _layer_types(sequential):
    return [(name, type(layer)) for name, layer in sequential.layers]


class FusedForward:
    """The fused forward pass alone, for scoring: conv, ReLU, Flatten and every head's first Dense
    layer in one pass over the big weights, without the activation array (so it scores a batch of 64
    images in the memory a batch of 8 takes layer by layer).

    Inputs (constructor): model, a MultiHead whose trunk is ``[("conv", Conv2D(relu=True)),
    ("flatten", Flatten)]`` and whose heads are each ``[("dense1", Dense), ("relu", ReLU), ("dense2",
    Dense)]`` (every architecture of :func:`minimtl.training.models.build_model`). Raises
    UnsupportedModel for anything else.
    """

    def __init__(self, model):
        if _layer_types(model.trunk) != [("conv", Conv2D), ("flatten", Flatten)]:
            raise UnsupportedModel(f"the fused step needs the trunk conv, flatten; got {_layer_types(model.trunk)}")
        if not dict(model.trunk.layers)["conv"].relu:
            raise UnsupportedModel("the fused step needs the conv layer's fused ReLU (Conv2D(relu=True))")
        for head_name, head in model.heads.items():
            if _layer_types(head) != [("dense1", Dense), ("relu", ReLU), ("dense2", Dense)]:
                raise UnsupportedModel(
                    f"the fused step needs heads dense1, relu, dense2; head {head_name!r} is {_layer_types(head)}"
                )
        self.model = model
        self.head_names = list(model.head_names)
        self.conv = dict(model.trunk.layers)["conv"]
        self.dense1 = [dict(model.heads[h].layers)["dense1"] for h in self.head_names]
        self.images = None  # (N, C, S, S) input of the last forward; the backward pass recomputes from it
        self.hidden = None  # tuple of (N, H_h) first Dense outputs, reused while N stays the same

    def forward(self, x):
        """x: (N, C, S, S) images -> dict head -> logits (N, K_head), as ``model.forward(x)`` (to
        float32 rounding).

        Conv, ReLU, Flatten and every head's first Dense layer run in one fused pass; the rest of
        each head runs layer by layer. Caches what ``FusedStep.backward_and_update`` needs.
        """
        conv = self.conv
        images = np.ascontiguousarray(x, dtype=conv.dtype)
        F, C, kh, kw = conv.params["W"].shape
        if images.ndim != 4 or images.shape[1] != C or images.shape[2] < kh or images.shape[3] < kw:
            raise ValueError(f"FusedStep expects images (N, {C}, H>={kh}, W>={kw}), got shape {images.shape}")
        N = images.shape[0]
        if self.hidden is None or self.hidden[0].shape[0] != N:
            self.hidden = tuple(np.empty((N, layer.params["W"].shape[1]), dtype=conv.dtype) for layer in self.dense1)
        fused_kernels.conv_dense_forward(
            images,
            conv.params["W"],
            conv.params["b"],
            tuple(layer.params["W"] for layer in self.dense1),
            tuple(layer.params["b"] for layer in self.dense1),
            self.hidden,
        )
        self.images = images
        logits = {}
        for name, hidden in zip(self.head_names, self.hidden):
            layers = dict(self.model.heads[name].layers)
            logits[name] = layers["dense2"].forward(layers["relu"].forward(hidden))
        return logits


class FusedStep(FusedForward):
    """Forward pass and backward pass + Adam update for a :class:`minimtl.nn.graph.MultiHead` model.

    Inputs (constructor):
    - model: as for :class:`FusedForward`
    - optimizer: the :class:`minimtl.nn.optim.Adam` that owns the model's parameters

    Raises UnsupportedModel for anything else. Usage, per batch::

        logits = fused.forward(x)                 # dict head -> (N, K), as model.forward(x)
        fused.backward_and_update(dlogits)        # as model.backward(dlogits); optimizer.step(grads)
    """

    def __init__(self, model, optimizer):
        if not isinstance(optimizer, Adam):
            raise UnsupportedModel(f"the fused step implements Adam only, got {type(optimizer).__name__}")
        super().__init__(model)
        params = model.params
        if set(optimizer.params) != set(params) or any(optimizer.params[k] is not params[k] for k in params):
            raise UnsupportedModel("the optimiser must hold the model's own parameter arrays")
        self.optimizer = optimizer
        self.big_names = [f"heads.{h}.dense1.W" for h in self.head_names]
        grads = model.grads
        # every other parameter: updated from its layer's grads, as Adam.step would
        self.small = [(name, grads[name]) for name in params if name not in self.big_names]

    def backward_and_update(self, dlogits):
        """dlogits: dict head -> (N, K_head), the gradient of the total loss (read only).

        Same result as ``model.backward(dlogits)`` then ``optimizer.step(model.grads)``, except
        that the big layers' ``grads["W"]`` are not written.
        """
        if self.images is None:
            raise RuntimeError("FusedStep.backward_and_update called before forward")
        if set(dlogits) != set(self.head_names):
            raise ValueError(f"backward needs a gradient for every head {self.head_names}, got {sorted(dlogits)}")
        dhidden = []
        for name, dense1 in zip(self.head_names, self.dense1):
            layers = dict(self.model.heads[name].layers)
            d = np.ascontiguousarray(
                layers["relu"].backward(layers["dense2"].backward(dlogits[name])), dtype=self.conv.dtype
            )
            np.sum(d, axis=0, out=dense1.grads["b"])
            dhidden.append(d)
        opt = self.optimizer
        lr_t = opt.begin_step()
        moments = [opt.moments(name) for name in self.big_names]
        conv = self.conv
        fused_kernels.conv_dense_backward_adam(
            self.images,
            conv.params["W"],
            conv.params["b"],
            tuple(layer.params["W"] for layer in self.dense1),
            tuple(dhidden),
            tuple(m for m, _ in moments),
            tuple(v for _, v in moments),
            conv.grads["W"],
            conv.grads["b"],
            lr_t,
            opt.beta1,
            opt.beta2,
            opt.eps,
        )
        for name, grad in self.small:
            opt.update(name, grad, lr_t)
