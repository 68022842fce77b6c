"""Layers with explicit forward and backward passes (see docs/design.md, "The layer contract").

Every layer has ``params`` and ``grads`` (dicts with the same keys, shapes and
dtype), ``forward(x)`` which caches what backward needs in attributes declared
in ``__init__``, and ``backward(dout)`` which overwrites ``grads``, returns the
gradient for the input and never modifies ``dout``.
"""

from minimtl.nn.layers.conv2d import Conv2D
from minimtl.nn.layers.dense import Dense
from minimtl.nn.layers.flatten import Flatten
from minimtl.nn.layers.maxpool2d import MaxPool2D
from minimtl.nn.layers.relu import ReLU

__all__ = ["Conv2D", "Dense", "Flatten", "MaxPool2D", "ReLU"]
