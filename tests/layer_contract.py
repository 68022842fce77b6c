"""The backward contract every layer keeps, checked the same way for each layer's tests."""

import numpy as np

__all__ = ["assert_backward_contract"]


def assert_backward_contract(layer, dout):
    """Call ``layer.backward(dout)`` twice (after a forward pass) and assert the layer contract:
    ``dout`` is left unchanged, both calls return the same input gradient, and ``grads`` is
    overwritten (not accumulated) in the arrays preallocated at construction (never replaced)."""
    grad_arrays = dict(layer.grads)
    dout_before = dout.copy()
    dx1 = layer.backward(dout)
    first = {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)
    np.testing.assert_array_equal(dx1, dx2)
    for name in first:
        np.testing.assert_array_equal(layer.grads[name], first[name])  # overwritten, not accumulated
        assert layer.grads[name] is grad_arrays[name]  # preallocated, never replaced
