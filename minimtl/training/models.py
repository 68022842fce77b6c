"""The study's five architectures, and one control beyond the study, built from the tiny graph.

=================== ============================================ ==================
arch                network                                      trains on
=================== ============================================ ==================
single-pneumonia    Conv2D(32, 3x3) ReLU Flatten | Dense 64 ReLU  Kermany only
                    Dense 2
single-tb           the same                                     Shenzhen only
multiclass          the same trunk | Dense 64 ReLU Dense 3        both (normal, TB,
                    (0 normal, 1 TB, 2 pneumonia)                 pneumonia)
multitask64         shared Conv2D ReLU Flatten | heads ``tb`` and both
                    ``pneumonia``, each Dense 64 ReLU Dense 2
multitask32         the same with Dense 32 heads                 both
single-tb-negatives single-tb's network (one ``tb`` head)        both: every
                                                                 Kermany image a
                                                                 TB negative
=================== ============================================ ==================

``single-tb-negatives`` is the control that tells sharing from extra negatives: it sees exactly the
TB labels multitask64 sees (Shenzhen's own, and "no TB" for every Kermany image) but has no
pneumonia head, so nothing is shared. It is scored on Shenzhen's images only, like single-tb.

Each can sit on the deeper shared trunk of ``trunk="deep"`` (``run --trunk deep``, three
conv-ReLU-maxpool blocks: :mod:`minimtl.training.trunks`) instead of the study's one convolution.
With ``head="sigmoid"`` the two-class heads end in one logit (sigmoid cross-entropy) instead of
two (softmax cross-entropy). All kernels are glorot-uniform, all biases zero, as in Keras.
"""

from dataclasses import dataclass

import numpy as np

from minimtl.nn.graph import MultiHead, Sequential
from minimtl.nn.layers import Dense, ReLU
from minimtl.training.trunks import build_trunk

__all__ = ["ARCHITECTURES", "HEADS", "Architecture", "build_model", "check_arch_and_head"]

HEADS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class Architecture:
    """What an architecture trains on and which heads it has.

    - name: the ``--arch`` value
    - datasets: the datasets whose images it trains on (and whose test images its split keeps)
    - head_units: head name -> hidden units of that head's Dense layer
    - multiclass: True for the single 3-class head
    """

    name: str
    datasets: tuple
    head_units: dict
    multiclass: bool = False

    @property
    def tasks(self):
        """The disease tasks this architecture is scored on (each on its own dataset's images): the
        datasets with a head of their own, or every dataset for the multiclass head."""
        scored = self.datasets if self.multiclass else tuple(self.head_units)
        return tuple(d for d in ("tb", "pneumonia") if d in scored)


ARCHITECTURES = {
    "single-pneumonia": Architecture("single-pneumonia", ("pneumonia",), {"pneumonia": 64}),
    "single-tb": Architecture("single-tb", ("tb",), {"tb": 64}),
    "multiclass": Architecture("multiclass", ("tb", "pneumonia"), {"multiclass": 64}, multiclass=True),
    "multitask64": Architecture("multitask64", ("tb", "pneumonia"), {"tb": 64, "pneumonia": 64}),
    "multitask32": Architecture("multitask32", ("tb", "pneumonia"), {"tb": 32, "pneumonia": 32}),
    "single-tb-negatives": Architecture("single-tb-negatives", ("tb", "pneumonia"), {"tb": 64}),
}


def check_arch_and_head(arch, head, other_labels="negative"):
    """The Architecture of ``arch`` after checking that it exists and can have ``head`` heads (and,
    for an architecture that trains a head on another dataset's images, that ``other_labels`` lets it).

    Raises ValueError naming the option (the ``run`` command calls this before loading any image).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HEADS)}")
    spec = ARCHITECTURES[arch]
    if spec.multiclass and head == "sigmoid":
        raise ValueError(f"--head sigmoid needs two-class heads; --arch {arch} has one 3-class softmax head")
    if other_labels == "ignore" and set(spec.datasets) - set(spec.tasks) and not spec.multiclass:
        raise ValueError(
            f"--other-labels ignore would mask out every image --arch {arch} adds beyond its own task's, making it "
            "single-tb: use --other-labels negative (or --arch single-tb)"
        )
    return spec


def build_model(arch, image_size, rng, head="softmax", dtype=np.float32, trunk="study"):
    """Build a fresh, Keras-initialised network.

    Inputs:
    - arch: a key of ``ARCHITECTURES``
    - image_size: S, the side of the (1, S, S) input images
    - rng: numpy Generator; every weight is drawn from it, layer by layer in a fixed order
      (None: all weights zero, for a model whose weights are about to be loaded)
    - head: "softmax" (two logits per disease head) or "sigmoid" (one logit)
    - dtype: float32 for training, float64 for gradient checks
    - trunk: "study" (one Conv2D, the study's) or "deep" (three conv-ReLU-maxpool blocks), see
      :mod:`minimtl.training.trunks`

    Returns a :class:`minimtl.nn.graph.MultiHead`.
    """
    spec = check_arch_and_head(arch, head)
    trunk, features = build_trunk(trunk, image_size, rng, dtype)
    heads = {}
    for head_name, units in spec.head_units.items():
        outputs = 3 if spec.multiclass else (1 if head == "sigmoid" else 2)
        heads[head_name] = Sequential(
            [
                ("dense1", Dense(features, units, rng=rng, dtype=dtype)),
                ("relu", ReLU()),
                ("dense2", Dense(units, outputs, rng=rng, dtype=dtype)),
            ]
        )
    return MultiHead(trunk, heads, input_shape=(1, image_size, image_size))
