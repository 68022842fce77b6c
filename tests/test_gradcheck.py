"""The gradient checker itself: it must find wrong gradients and leave its arguments alone."""

import numpy as np
import pytest

from minimtl.nn.gradcheck import TOLERANCE, check_gradients, check_layer_gradients, numerical_gradient, rel_error
from minimtl.nn.layers import Dense


def test_numerical_gradient_of_a_known_function():
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda: np.sum(a**3), a)
    np.testing.assert_allclose(grad, 3 * a**2, rtol=1e-8)  # d/da sum(a^3) = 3 a^2


def test_numerical_gradient_restores_the_array_even_when_f_fails():
    a = np.array([0.1, 0.2, 0.3])
    before = a.copy()
    calls = []

    def f():
        calls.append(a.copy())
        if len(calls) == 4:
            raise RuntimeError("boom")
        return a.sum()

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, a)
    np.testing.assert_array_equal(a, before)  # bit-identical
    assert calls[3][1] == 0.2 - 1e-5  # it really was perturbed in place


def test_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32))


def test_rel_error_floor_and_values():
    assert rel_error(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(2.0 / 4.0)
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-12 / 1e-8)  # the floor, not 1.0
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


class _TransposedDense(Dense):
    """A deliberately wrong layer: dx uses W instead of W.T (possible only for square W)."""

    def backward(self, dout):
        super().backward(dout)
        return dout @ self.params["W"]


class _AccumulatingDense(Dense):
    """A deliberately wrong layer: grads["b"] doubled, as if accumulated over two calls."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["b"] *= 2
        return dx


@pytest.mark.parametrize("broken, key", [(_TransposedDense, "x"), (_AccumulatingDense, "b")])
def test_check_layer_gradients_catches_wrong_backward(broken, key):
    rng = np.random.default_rng(0)
    layer = broken(3, 3, rng=rng, dtype=np.float64)
    errors = check_layer_gradients(layer, rng.standard_normal((2, 3)), rng)
    assert errors[key] > 0.01
    assert errors["W"] < TOLERANCE


def test_check_layer_gradients_leaves_x_and_params_alone():
    rng = np.random.default_rng(1)
    layer = Dense(4, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((3, 4))
    x_before, W_before = x.copy(), layer.params["W"].copy()
    W_array = layer.params["W"]
    errors = check_layer_gradients(layer, x, rng)
    assert max(errors.values()) < TOLERANCE
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(layer.params["W"], W_before)
    assert layer.params["W"] is W_array


def test_check_gradients_on_a_two_layer_model():
    """The generic helper, as a whole model uses it: forward, loss, backward, then compare."""
    rng = np.random.default_rng(2)
    first, second = Dense(3, 4, rng=rng, dtype=np.float64), Dense(4, 2, rng=rng, dtype=np.float64)
    params = {"1.W": first.params["W"], "1.b": first.params["b"], "2.W": second.params["W"], "2.b": second.params["b"]}
    grads = {"1.W": first.grads["W"], "1.b": first.grads["b"], "2.W": second.grads["W"], "2.b": second.grads["b"]}
    x, target = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))

    def loss_and_backward():
        out = second.forward(np.tanh(first.forward(x)))
        loss = 0.5 * np.sum((out - target) ** 2)
        dh = second.backward(out - target)
        first.backward(dh * (1 - np.tanh(first.forward(x)) ** 2))
        return loss

    errors = check_gradients(loss_and_backward, params, grads)
    assert set(errors) == set(params)
    assert max(errors.values()) < TOLERANCE, errors
