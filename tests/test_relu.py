"""ReLU layer: gradient checks away from the kink, the kink by hand, the contract."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minimtl.nn.gradcheck import TOLERANCE, check_layer_gradients
from minimtl.nn.layers import ReLU
from tests.strategies import away_from_zero, seeds


@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), seeds)
def test_gradients_match_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    x = away_from_zero(rng.standard_normal(shape))  # |x| >= 0.1 >> h: no kink inside a difference
    errors = check_layer_gradients(ReLU(), x, rng)
    assert errors["x"] < TOLERANCE, errors


def test_by_hand_including_the_kink():
    layer = ReLU()
    out = layer.forward(np.array([[-1.5, 0.0, 2.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    dout = np.array([[10.0, 20.0, 30.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 30.0]])  # gradient 0 at x == 0, as Keras
    np.testing.assert_array_equal(dout, [[10.0, 20.0, 30.0]])  # dout untouched
    assert layer.params == {} and layer.grads == {}


def test_keeps_dtype_and_backward_twice_is_the_same():
    layer = ReLU()
    x = np.array([-1.0, 3.0], dtype=np.float32)
    assert layer.forward(x).dtype == np.float32
    dout = np.array([1.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(layer.backward(dout), layer.backward(dout))
    np.testing.assert_array_equal(x, [-1.0, 3.0])
