"""The tiny graph: a chain of layers, and a shared trunk feeding named heads.

Every model in minimtl is a :class:`MultiHead`: a :class:`Sequential` trunk whose output feeds
one or more :class:`Sequential` heads. A single-task network is simply a MultiHead with one head.

Parameters and gradients are exposed by qualified name (``"trunk.conv.W"``,
``"heads.tb.dense1.W"``), so one optimiser and one checkpoint format serve every architecture.
The dicts returned by ``params`` and ``grads`` hold the layers' own arrays (no copies): the
optimiser updates them in place and the layers see the change.
"""

import numpy as np

__all__ = ["Sequential", "MultiHead", "parameter_count"]


def parameter_count(part):
    """The number of weights of a layer or a network: the sizes of its params added up."""
    return sum(int(array.size) for array in part.params.values())


class _Composite:
    """A network made of named parts (layers, or trunk and heads).

    Its ``params`` and ``grads`` are the parts' own, under qualified names "part.key" (the arrays
    themselves, no copies). Subclasses say what their parts are in ``named_parts``.
    """

    def named_parts(self):
        raise NotImplementedError

    def _qualified(self, which):
        return {
            f"{name}.{key}": array for name, part in self.named_parts() for key, array in getattr(part, which).items()
        }

    @property
    def params(self):
        return self._qualified("params")

    @property
    def grads(self):
        return self._qualified("grads")


class Sequential(_Composite):
    """Layers applied one after the other.

    Inputs:
    - layers: list of ``(name, layer)`` pairs; each layer has ``forward``, ``backward``,
      ``params``, ``grads`` and ``output_shape`` (see ``minimtl.nn.layers``).
    """

    def __init__(self, layers):
        names = [name for name, _ in layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self.layers = list(layers)

    def named_parts(self):
        return self.layers

    def __repr__(self):
        return "Sequential(" + ", ".join(f"{name}: {layer!r}" for name, layer in self.layers) + ")"

    def summary_rows(self, input_shape, prefix=""):
        """One row (qualified name, layer, output shape, parameters) per layer, and the final output shape.

        input_shape: one example's input shape (no batch axis)."""
        rows, shape = [], tuple(input_shape)
        for name, layer in self.layers:
            shape = layer.output_shape(shape)
            rows.append((prefix + name, repr(layer), shape, parameter_count(layer)))
        return rows, shape

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


class MultiHead(_Composite):
    """A shared trunk whose output feeds several named heads.

    Inputs:
    - trunk: a :class:`Sequential`, input (N, C, H, W) -> features (N, D)
    - heads: dict head name -> :class:`Sequential`, features (N, D) -> logits (N, K_head)
    - input_shape: one example's input shape (C, H, W), for ``summary`` and ``print(model)``
      (optional)

    ``forward(x)`` returns a dict head name -> logits. ``backward(dlogits)`` takes a dict with
    the same keys (the gradient of the *total* loss for each head's logits).
    """

    def __init__(self, trunk, heads, input_shape=None):
        if not heads:
            raise ValueError("a MultiHead needs at least one head")
        self.trunk = trunk
        self.heads = dict(heads)
        self.head_names = list(self.heads)
        self.input_shape = None if input_shape is None else tuple(input_shape)

    def named_parts(self):
        return [("trunk", self.trunk)] + [(f"heads.{name}", head) for name, head in self.heads.items()]

    def summary(self, input_shape=None):
        """A table of every layer (output shape of one example, parameters) and the total, as
        Keras' ``model.summary()`` prints it. input_shape: (C, H, W), default ``self.input_shape``."""
        input_shape = input_shape or self.input_shape
        if input_shape is None:
            raise ValueError("summary needs the input shape (C, H, W): pass it, or build the model with input_shape")
        rows, features = self.trunk.summary_rows(input_shape, "trunk.")
        for name, head in self.heads.items():
            rows += head.summary_rows(features, f"heads.{name}.")[0]
        table = [("layer", "kind", "output shape", "parameters")]
        table += [(name, kind, str(shape), f"{count:,}") for name, kind, shape, count in rows]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d:>{widths[3]}}" for a, b, c, d in table]
        total = parameter_count(self)
        lines.insert(1, "-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(
            f"input {input_shape}; {total:,} parameters "
            f"({total * 4 / 2**20:,.1f} MiB in float32; Adam's m and v hold twice that again)"
        )
        return "\n".join(lines)

    def __repr__(self):
        if self.input_shape is None:
            return f"MultiHead(trunk={self.trunk!r}, heads={self.heads!r})"
        return self.summary()

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
