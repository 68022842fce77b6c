"""The shared trunk under the heads: the study's one convolution, or a deeper one (``run --trunk``).

=========== ================================================================ ==========================
trunk       layers                                                           features at 64 / 256 px
=========== ================================================================ ==========================
study       Conv2D(1 -> 32, 3x3) ReLU, Flatten                               123,008 / 2,064,512
deep        three blocks Conv2D(3x3) ReLU MaxPool2D(2x2) with 16, 32, 32     1,152 / 28,800
            filters, then Flatten
=========== ================================================================ ==========================

In the study the heads share one 3x3 convolution, 320 weights, and each head's first Dense layer
holds almost every weight of the network (132 million at 256 px): whatever the two tasks share, they
share very little. The deep trunk makes the shared part a real feature extractor (14,048 weights in
three blocks) and the heads small (each 64 x 28,800 at 256 px), the setting in which the multi-task
literature asks whether the tasks help or hinder each other. Every ReLU is fused into its Conv2D;
the first convolution computes no input gradient (nothing below it learns).
"""

import numpy as np

from minimtl.nn.graph import Sequential
from minimtl.nn.layers import Conv2D, Flatten, MaxPool2D

__all__ = [
    "TRUNKS",
    "STUDY_FILTERS",
    "DEEP_FILTERS",
    "POOL",
    "KERNEL",
    "build_trunk",
    "trunk_features",
    "trunk_weights",
    "trunk_activations",
]

TRUNKS = ("study", "deep")
STUDY_FILTERS = 32
DEEP_FILTERS = (16, 32, 32)
KERNEL = 3
POOL = 2


def _sides(trunk, image_size):
    """The side of each convolution's output, and of the trunk's last feature map."""
    if trunk == "study":
        return [image_size - KERNEL + 1], image_size - KERNEL + 1
    sides, side = [], image_size
    for _ in DEEP_FILTERS:
        side = side - KERNEL + 1
        sides.append(side)
        side = side // POOL
    return sides, side


def _check(trunk, image_size):
    if trunk not in TRUNKS:
        raise ValueError(f"unknown trunk {trunk!r}; choose one of {', '.join(TRUNKS)}")
    sides, last = _sides(trunk, image_size)
    if min(sides) < (1 if trunk == "study" else POOL) or last < 1:
        smallest = KERNEL if trunk == "study" else next(s for s in range(1, 64) if _sides(trunk, s)[1] >= 1)
        raise ValueError(f"image size {image_size} is too small for --trunk {trunk} (needs at least {smallest} px)")


def trunk_features(trunk, image_size):
    """D, the length of the feature vector the trunk gives each head."""
    _check(trunk, image_size)
    filters = STUDY_FILTERS if trunk == "study" else DEEP_FILTERS[-1]
    return filters * _sides(trunk, image_size)[1] ** 2


def trunk_weights(trunk):
    """How many weights the trunk holds (kernels and biases), at any image size."""
    filters = (STUDY_FILTERS,) if trunk == "study" else DEEP_FILTERS
    channels = (1,) + filters[:-1]
    return sum(f * c * KERNEL * KERNEL + f for c, f in zip(channels, filters))


def trunk_activations(trunk, image_size):
    """Floats of every conv and pooling output of one image (for the memory estimate)."""
    _check(trunk, image_size)
    sides = _sides(trunk, image_size)[0]
    if trunk == "study":
        return STUDY_FILTERS * sides[0] ** 2
    return sum(f * (s * s + (s // POOL) ** 2) for f, s in zip(DEEP_FILTERS, sides))


def build_trunk(trunk, image_size, rng, dtype=np.float32):
    """(Sequential trunk, D): the ``trunk`` ("study" or "deep") for (1, S, S) images, its weights drawn
    from ``rng`` layer by layer (None: zeros, for weights about to be loaded), and its feature count D.
    The study's trunk keeps its layer names ("conv", "flatten") so its checkpoints load unchanged."""
    _check(trunk, image_size)
    if trunk == "study":
        conv = Conv2D(1, STUDY_FILTERS, KERNEL, rng=rng, dtype=dtype, relu=True, input_grad=False)
        layers = [("conv", conv), ("flatten", Flatten())]
    else:
        layers, channels = [], 1
        for block, filters in enumerate(DEEP_FILTERS, start=1):
            conv = Conv2D(channels, filters, KERNEL, rng=rng, dtype=dtype, relu=True, input_grad=block > 1)
            layers += [(f"conv{block}", conv), (f"pool{block}", MaxPool2D(POOL))]
            channels = filters
        layers.append(("flatten", Flatten()))
    return Sequential(layers), trunk_features(trunk, image_size)
