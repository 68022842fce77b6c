"""The tiny graph: a chain of layers, and a shared trunk feeding named heads.

Every model in minimtl is a :class:`MultiHead`: a :class:`Sequential` trunk whose output feeds
one or more :class:`Sequential` heads. A single-task network is simply a MultiHead with one head.

Parameters and gradients are exposed by qualified name (``"trunk.conv.W"``,
``"heads.tb.dense1.W"``), so one optimiser and one checkpoint format serve every architecture.
The dicts returned by ``params`` and ``grads`` hold the layers' own arrays (no copies): the
optimiser updates them in place and the layers see the change.
"""

import numpy as np

__all__ = ["Sequential", "MultiHead"]


class Sequential:
    """Layers applied one after the other.

    Inputs:
    - layers: list of ``(name, layer)`` pairs; each layer has ``forward``, ``backward``,
      ``params`` and ``grads`` (see ``minimtl.layers``).
    """

    def __init__(self, layers):
        names = [name for name, _ in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self.layers = list(layers)

    def _qualified(self, which):
        """The layers' ``params`` or ``grads`` under "layer.key" names (the arrays themselves)."""
        return {f"{name}.{key}": array for name, layer in self.layers for key, array in getattr(layer, which).items()}

    @property
    def params(self):
        return self._qualified("params")

    @property
    def grads(self):
        return self._qualified("grads")

    def forward(self, x):
        """x: input of the first layer. Returns the last layer's output."""
        for _, layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        """dout: gradient of the loss for the last output. Returns the gradient for the input
        (``None`` when the first layer does not compute one). Each layer overwrites its grads."""
        for _, layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout


class MultiHead:
    """A shared trunk whose output feeds several named heads.

    Inputs:
    - trunk: a :class:`Sequential`, input (N, C, H, W) -> features (N, D)
    - heads: dict head name -> :class:`Sequential`, features (N, D) -> logits (N, K_head)

    ``forward(x)`` returns a dict head name -> logits. ``backward(dlogits)`` takes a dict with
    the same keys (the gradient of the *total* loss for each head's logits).
    """

    def __init__(self, trunk, heads):
        if not heads:
            raise ValueError("a MultiHead needs at least one head")
        self.trunk = trunk
        self.heads = dict(heads)
        self.head_names = list(self.heads)

    def _qualified(self, which):
        """``params`` or ``grads`` of the trunk and every head under "trunk.*" / "heads.NAME.*"."""
        out = {f"trunk.{key}": array for key, array in getattr(self.trunk, which).items()}
        for head_name, head in self.heads.items():
            out.update({f"heads.{head_name}.{key}": array for key, array in getattr(head, which).items()})
        return out

    @property
    def params(self):
        return self._qualified("params")

    @property
    def grads(self):
        return self._qualified("grads")

    def forward(self, x):
        features = self.trunk.forward(x)
        return {name: head.forward(features) for name, head in self.heads.items()}

    def backward(self, dlogits):
        if set(dlogits) != set(self.heads):
            raise ValueError(f"backward needs a gradient for every head {self.head_names}, got {sorted(dlogits)}")
        # The trunk's features fan out to every head, so by the chain rule the loss gradient
        # for the features is the SUM of what each head sends back (total loss = sum of heads).
        # We add the heads' contributions explicitly, in a fixed order (head_names), so the
        # sum is the same bit for bit on every run.
        dfeatures = None
        for name in self.head_names:
            dfeatures_from_head = self.heads[name].backward(dlogits[name])
            if dfeatures is None:
                dfeatures = np.array(dfeatures_from_head, copy=True)
            else:
                dfeatures += dfeatures_from_head
        return self.trunk.backward(dfeatures)
