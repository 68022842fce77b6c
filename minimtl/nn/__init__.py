"""The engine: layers with hand-written forward and backward passes, and what composes and trains them.

- :mod:`minimtl.nn.layers`: ``Conv2D``, ``Dense``, ``ReLU``, ``Flatten``
- :mod:`minimtl.nn.graph`: ``Sequential`` and ``MultiHead`` (a shared trunk feeding named heads)
- :mod:`minimtl.nn.losses`: softmax and sigmoid cross-entropy, fused with their gradients, masked
- :mod:`minimtl.nn.optim`: ``Adam`` (Keras' form) and ``SGD``
- :mod:`minimtl.nn.init`: Keras' glorot-uniform initialisation
- :mod:`minimtl.nn.gradcheck`: the finite-difference checks every backward pass is tested with

Nothing here knows about chest X-rays; the layers call the kernels of :mod:`minimtl.kernels`.
"""
