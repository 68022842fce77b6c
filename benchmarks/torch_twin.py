"""A PyTorch twin of minimtl's networks, targets, loss and Keras Adam, written from the study's description.

Used by the whole-step oracle test (``tests/test_reference_torch.py``, which checks it against
minimtl step by step) and by ``fidelity_collapse.py`` and ``fidelity_divergence.py`` (which train it). The package never
imports torch; this file lives beside the scripts that need it.

Everything here is float32, as the study's Keras models were. The twin is written only from what
the study's networks are, not from minimtl's code, so that agreeing with it means something:

- trunk: ``conv2d`` 32 filters 3x3 valid, ReLU, flatten in C order (channel, row, column);
- each head: ``linear`` to 64 (or 32) units, ReLU, ``linear`` to 2 logits (softmax heads), 1 logit
  (sigmoid heads) or 3 (the multiclass head: 0 normal, 1 TB, 2 pneumonia);
- each head's loss is the mean cross-entropy over the images its mask keeps; the total is the sum;
- Adam as Keras 2 computes it: ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``, epsilon *outside* the
  square root (``torch.optim.Adam`` adds epsilon after bias-correcting v, so it is not used).

Weight layouts follow PyTorch (Linear weight (out, in)); :func:`from_minimtl_layout` and
:meth:`TorchTwin.minimtl_layout` convert from and to minimtl's (Dense W (in, out); Conv2D W
(F, C, kh, kw), the same in both).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "HEAD_UNITS",
    "TorchTwin",
    "KerasAdam",
    "twin_targets",
    "twin_loss",
    "glorot_uniform",
    "from_minimtl_layout",
    "to_minimtl_layout",
    "parameter_shapes",
    "train_step",
]

CONV_FILTERS, KERNEL = 32, 3
# The study's five networks: head name -> hidden units (written out here, not read from minimtl).
HEAD_UNITS = {
    "single-pneumonia": {"pneumonia": 64},
    "single-tb": {"tb": 64},
    "multiclass": {"multiclass": 64},
    "multitask64": {"tb": 64, "pneumonia": 64},
    "multitask32": {"tb": 32, "pneumonia": 32},
}


def head_outputs(arch, head):
    """Logits per head: 3 for the multiclass head, else 1 (sigmoid) or 2 (softmax)."""
    if arch == "multiclass":
        return 3
    return 1 if head == "sigmoid" else 2


def parameter_shapes(arch, image_size, head):
    """dict minimtl-style name -> PyTorch-layout shape, in the order minimtl draws them."""
    side = image_size - KERNEL + 1
    features = CONV_FILTERS * side * side
    shapes = {"trunk.conv.W": (CONV_FILTERS, 1, KERNEL, KERNEL), "trunk.conv.b": (CONV_FILTERS,)}
    for name, units in HEAD_UNITS[arch].items():
        outputs = head_outputs(arch, head)
        shapes[f"heads.{name}.dense1.W"] = (units, features)
        shapes[f"heads.{name}.dense1.b"] = (units,)
        shapes[f"heads.{name}.dense2.W"] = (outputs, units)
        shapes[f"heads.{name}.dense2.b"] = (outputs,)
    return shapes


def glorot_uniform(shape, generator):
    """Keras' glorot-uniform for a PyTorch-layout weight: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).

    Fans as Keras counts them: Linear (out, in) -> fan_in = in, fan_out = out; Conv (F, C, kh, kw) ->
    fan_in = C kh kw, fan_out = F kh kw. (PyTorch's own default, Kaiming-uniform with a = sqrt(5),
    would be another initialisation.) generator: a seeded ``torch.Generator``.
    """
    if len(shape) == 2:
        fan_out, fan_in = shape
    else:
        receptive = shape[2] * shape[3]
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1).mul_(limit).float()


def from_minimtl_layout(params):
    """minimtl's params (dict name -> ndarray) as PyTorch-layout float32 tensors (Dense W transposed)."""
    out = {}
    for name, array in params.items():
        array = np.asarray(array, dtype=np.float32)
        if ".dense" in name and name.endswith(".W"):
            array = array.T  # Dense W (in, out) is Linear weight (out, in)
        out[name] = torch.tensor(np.ascontiguousarray(array))
    return out


class TorchTwin:
    """The network, with its parameters as leaf tensors that require gradients.

    Inputs (constructor):
    - arch: a key of ``HEAD_UNITS``; image_size: S; head: "softmax" or "sigmoid"
    - params: dict name -> float32 tensor of ``parameter_shapes`` (None: Keras init from ``generator``:
      glorot-uniform kernels, zero biases)
    - generator: a seeded ``torch.Generator`` (used only when params is None)
    """

    def __init__(self, arch, image_size, head="softmax", params=None, generator=None):
        self.arch, self.head = arch, head
        self.head_names = list(HEAD_UNITS[arch])
        shapes = parameter_shapes(arch, image_size, head)
        if params is None:
            params = {
                name: glorot_uniform(shape, generator) if name.endswith(".W") else torch.zeros(shape)
                for name, shape in shapes.items()
            }
        if set(params) != set(shapes):
            raise KeyError(f"parameters {sorted(params)} differ from the twin's {sorted(shapes)}")
        self.params = {}
        for name, shape in shapes.items():
            tensor = params[name]
            if tuple(tensor.shape) != shape:
                raise ValueError(f"{name}: shape {tuple(tensor.shape)}, the twin needs {shape}")
            self.params[name] = tensor.detach().to(torch.float32).clone().requires_grad_(True)

    def forward(self, x, preactivations=None):
        """x: float32 tensor (N, 1, S, S) -> dict head -> logits (N, K).

        preactivations: an optional dict that receives what goes into each ReLU: "trunk.conv"
        (N, 32, S-2, S-2) and "heads.<name>.dense1" (N, units).
        """
        p = self.params
        conv = F.conv2d(x, p["trunk.conv.W"], p["trunk.conv.b"])
        features = torch.relu(conv).flatten(1)
        logits = {}
        if preactivations is not None:
            preactivations["trunk.conv"] = conv
        for name in self.head_names:
            dense1 = F.linear(features, p[f"heads.{name}.dense1.W"], p[f"heads.{name}.dense1.b"])
            if preactivations is not None:
                preactivations[f"heads.{name}.dense1"] = dense1
            logits[name] = F.linear(torch.relu(dense1), p[f"heads.{name}.dense2.W"], p[f"heads.{name}.dense2.b"])
        return logits

    def minimtl_layout(self):
        """The weights as minimtl holds them: dict name -> float32 ndarray (Dense W (in, out))."""
        return to_minimtl_layout({name: tensor.detach() for name, tensor in self.params.items()})


def to_minimtl_layout(tensors):
    """PyTorch-layout tensors (dict name -> tensor) as minimtl's float32 ndarrays (Dense W transposed)."""
    out = {}
    for name, tensor in tensors.items():
        array = tensor.numpy()
        out[name] = np.ascontiguousarray(array.T if ".dense" in name and name.endswith(".W") else array)
    return out


def twin_targets(arch, dataset, labels, other_labels):
    """What each head learns from one batch, written from the study's description.

    Inputs: arch; dataset: str array (n,) ("tb" or "pneumonia"); labels: int array (n,), 1 = disease
    within the image's own dataset; other_labels: "negative" (the other dataset's images are
    negatives for a head) or "ignore" (they are left out of that head's loss).

    Returns dict head -> (labels int64 tensor (n,), mask float32 tensor (n,) of 0/1).
    """
    dataset, labels = np.asarray(dataset), np.asarray(labels, dtype=np.int64)
    if arch == "multiclass":  # 0 normal (both datasets), 1 TB, 2 pneumonia; every image counts
        code = np.where(labels == 0, 0, np.where(dataset == "tb", 1, 2))
        return {"multiclass": (torch.tensor(code), torch.ones(len(labels)))}
    out = {}
    for name in HEAD_UNITS[arch]:
        own = dataset == name
        mask = np.ones(len(labels)) if other_labels == "negative" else own.astype(np.float64)
        out[name] = (torch.tensor(np.where(own, labels, 0)), torch.tensor(mask, dtype=torch.float32))
    return out


def twin_loss(logits, targets):
    """Sum over heads of each head's mean cross-entropy over its unmasked images (a scalar tensor).

    A head with no unmasked image adds 0 (and a zero gradient, so its parameters still take an Adam
    step with g = 0, as in minimtl and Keras).
    """
    total = 0.0
    for name, (labels, mask) in targets.items():
        z = logits[name]
        if z.shape[1] == 1:
            per_image = F.binary_cross_entropy_with_logits(z[:, 0], labels.to(z.dtype), reduction="none")
        else:
            per_image = F.cross_entropy(z, labels, reduction="none")
        total = total + (per_image * mask).sum() / max(float(mask.sum()), 1.0)
    return total


class KerasAdam:
    """Adam in Keras' form, on a list of leaf tensors, in place.

        t += 1;  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w -= lr_t m / (sqrt(v) + eps)

    A parameter without a gradient (``grad is None``) steps with g = 0. In-place operations and one
    preallocated buffer per parameter: temporaries the size of a 132-million-weight layer would
    cost more than the arithmetic.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        self.params = list(params)
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.denominator = [torch.empty_like(p) for p in self.params]

    @torch.no_grad()
    def step(self):
        self.t += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)
        for p, m, v, denominator in zip(self.params, self.m, self.v, self.denominator):
            m.mul_(self.beta1)
            v.mul_(self.beta2)
            if p.grad is not None:
                m.add_(p.grad, alpha=1.0 - self.beta1)
                v.addcmul_(p.grad, p.grad, value=1.0 - self.beta2)
            torch.sqrt(v, out=denominator).add_(self.eps)  # epsilon outside the square root, as Keras
            p.addcdiv_(m, denominator, value=-lr_t)

    def zero_grad(self):
        for p in self.params:
            p.grad = None


def train_step(twin, optimizer, x, targets):
    """Forward, loss, backward, Keras Adam step. Returns (loss float, logits dict head -> tensor (N, K))."""
    optimizer.zero_grad()
    logits = twin.forward(x)
    loss = twin_loss(logits, targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach()), {name: z.detach() for name, z in logits.items()}
