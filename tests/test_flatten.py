"""Flatten layer: shapes, order, gradient check."""

import numpy as np
from hypothesis import given

from minimtl.nn.gradcheck import TOLERANCE, check_layer_gradients
from minimtl.nn.layers import Flatten
from tests.strategies import conv_shapes, seeds


@given(conv_shapes(), seeds)
def test_gradients_match_finite_differences(shape, seed):
    N, C, _, H, W, _, _ = shape
    rng = np.random.default_rng(seed)
    errors = check_layer_gradients(Flatten(), rng.standard_normal((N, C, H, W)), rng)
    assert errors["x"] < TOLERANCE, errors


def test_by_hand_channel_then_row_then_column():
    layer = Flatten()
    x = np.arange(12.0).reshape(1, 2, 2, 3)  # channel 0: 0..5, channel 1: 6..11
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [np.arange(12.0)])
    dout = np.arange(12.0, 24.0).reshape(1, 12)
    dx = layer.backward(dout)
    assert dx.shape == (1, 2, 2, 3)
    assert dx[0, 1, 0, 2] == 12.0 + 8  # entry 1*6 + 0*3 + 2 of the flat gradient
    np.testing.assert_array_equal(dout, [np.arange(12.0, 24.0)])
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(1, 2, 2, 3))
    assert layer.params == {} and layer.grads == {}
