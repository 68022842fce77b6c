"""Dense layer: gradient checks, a hand example, the layer contract."""

import numpy as np
import pytest
from hypothesis import given

from minimtl.nn.gradcheck import TOLERANCE, check_layer_gradients
from minimtl.nn.layers import Dense
from tests.layer_contract import assert_backward_contract
from tests.strategies import dense_shapes, seeds


@given(dense_shapes(), seeds)
def test_gradients_match_finite_differences(shape, seed):
    N, n_in, n_out = shape
    rng = np.random.default_rng(seed)
    layer = Dense(n_in, n_out, rng=rng, dtype=np.float64)
    layer.params["b"][...] = rng.standard_normal(n_out)
    errors = check_layer_gradients(layer, rng.standard_normal((N, n_in)), rng)
    assert set(errors) == {"W", "b", "x"}
    assert max(errors.values()) < TOLERANCE, errors


def test_by_hand():
    layer = Dense(2, 3, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"][...] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    layer.params["b"][...] = [0.5, 0.0, -1.0]
    out = layer.forward(np.array([[1.0, -1.0]]))
    np.testing.assert_array_equal(out, [[1 - 4 + 0.5, 2 - 5 + 0.0, 3 - 6 - 1.0]])
    dx = layer.backward(np.array([[1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(dx, [[1 * 1 + 3 * 2, 4 * 1 + 6 * 2]])  # dout @ W.T
    np.testing.assert_array_equal(layer.grads["W"], [[1.0, 0.0, 2.0], [-1.0, 0.0, -2.0]])  # x.T @ dout
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 0.0, 2.0])


def test_backward_leaves_dout_alone_and_overwrites_preallocated_grads():
    rng = np.random.default_rng(1)
    layer = Dense(5, 4, rng=rng, dtype=np.float32)
    layer.forward(rng.standard_normal((3, 5)).astype(np.float32))
    assert_backward_contract(layer, rng.standard_normal((3, 4)).astype(np.float32))
    assert all(grad.dtype == np.float32 for grad in layer.grads.values())


def test_input_gradient_alone_writes_no_grads_and_needs_no_forward():
    layer = Dense(2, 3, rng=np.random.default_rng(0), dtype=np.float64)
    layer.params["W"][...] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    dout = np.array([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]])
    before = {name: grad.copy() for name, grad in layer.grads.items()}
    dx = layer.input_gradient(dout)  # no forward has run
    np.testing.assert_array_equal(dx, [[1 + 6, 4 + 12], [-2 + 3, -5 + 6]])  # dout @ W.T
    for name, grad in layer.grads.items():
        np.testing.assert_array_equal(grad, before[name])
    with pytest.raises(ValueError, match=r"expects dout of shape \(N, 3\)"):
        layer.input_gradient(np.zeros((2, 4)))


def test_keras_shapes_and_same_seed_same_weights():
    a = Dense(7, 3, rng=np.random.default_rng(9))
    b = Dense(7, 3, rng=np.random.default_rng(9))
    assert a.params["W"].shape == (7, 3) and a.params["b"].shape == (3,)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    assert not np.any(a.params["b"])


def test_bad_input_shape_is_named():
    layer = Dense(4, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects input \(N, 4\)"):
        layer.forward(np.zeros((2, 5), dtype=np.float32))
