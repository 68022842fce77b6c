"""MaxPool2D: the kernels by hand, Numba against its NumPy twin, the layer's gradient check and contract."""

import numpy as np
import pytest
from hypothesis import given

from minimtl.kernels import maxpool2d_numba, maxpool2d_reference
from minimtl.nn.gradcheck import TOLERANCE, check_layer_gradients
from minimtl.nn.layers import MaxPool2D
from tests.layer_contract import assert_backward_contract
from tests.strategies import distinct_values, float_dtypes, pool_shapes, seeds

BACKENDS = [pytest.param(maxpool2d_reference, id="reference"), pytest.param(maxpool2d_numba, id="numba")]

# One 3x5 plane, pool 2: windows cover rows 0-1 and columns 0-3; row 2 and column 4 are not pooled.
PLANE = np.array([[1.0, 5.0, 2.0, 0.0, 9.0], [3.0, 4.0, 7.0, 6.0, 9.0], [9.0, 9.0, 9.0, 9.0, 9.0]]).reshape(1, 1, 3, 5)


@pytest.mark.parametrize("kernels", BACKENDS)
def test_forward_and_backward_by_hand(kernels):
    out, argmax = np.empty((1, 1, 1, 2)), np.empty((1, 1, 1, 2), dtype=np.int64)
    kernels.maxpool2d_forward(PLANE, 2, out, argmax)
    # window 1: [[1, 5], [3, 4]] -> 5 at offset (0, 1) = 1; window 2: [[2, 0], [7, 6]] -> 7 at (1, 0) = 2
    np.testing.assert_array_equal(out[0, 0], [[5.0, 7.0]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 2]])
    dx = np.full((1, 1, 3, 5), np.nan)
    kernels.maxpool2d_backward(np.array([[[[10.0, 20.0]]]]), argmax, 2, dx)
    expected = np.zeros((3, 5))
    expected[0, 1], expected[1, 2] = 10.0, 20.0  # the winners; the unpooled row and column get 0
    np.testing.assert_array_equal(dx[0, 0], expected)


@pytest.mark.parametrize("kernels", BACKENDS)
def test_a_tie_sends_the_gradient_to_the_first_maximum(kernels):
    x = np.array([[4.0, 4.0], [4.0, 1.0]]).reshape(1, 1, 2, 2)
    out, argmax = np.empty((1, 1, 1, 1)), np.empty((1, 1, 1, 1), dtype=np.int64)
    kernels.maxpool2d_forward(x, 2, out, argmax)
    assert out[0, 0, 0, 0] == 4.0 and argmax[0, 0, 0, 0] == 0  # row-major first of the three 4s
    dx = np.empty_like(x)
    kernels.maxpool2d_backward(np.full((1, 1, 1, 1), 3.0), argmax, 2, dx)
    np.testing.assert_array_equal(dx[0, 0], [[3.0, 0.0], [0.0, 0.0]])


@given(pool_shapes(), float_dtypes, seeds)
def test_numba_equals_the_numpy_twin_bit_for_bit(shape, dtype, seed):
    N, C, H, W, pool = shape
    rng = np.random.default_rng(seed)
    # rounded values, so ties occur and both sides must break them the same way
    x = np.round(rng.standard_normal((N, C, H, W)), 1).astype(dtype)
    dout = rng.standard_normal((N, C, H // pool, W // pool)).astype(dtype)
    results = []
    for kernels in (maxpool2d_reference, maxpool2d_numba):
        out = np.empty((N, C, H // pool, W // pool), dtype)
        argmax = np.empty(out.shape, np.int64)
        dx = np.full(x.shape, np.nan, dtype)
        kernels.maxpool2d_forward(x, pool, out, argmax)
        kernels.maxpool2d_backward(dout, argmax, pool, dx)
        results.append((out, argmax, dx))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


@given(pool_shapes(), seeds)
def test_gradients_match_finite_differences(shape, seed):
    N, C, H, W, pool = shape
    rng = np.random.default_rng(seed)
    x = distinct_values(rng, (N, C, H, W))  # no ties: every window's max is a smooth function of x
    errors = check_layer_gradients(MaxPool2D(pool), x, rng)
    assert errors["x"] < TOLERANCE, errors


def test_contract_shapes_and_repr():
    layer = MaxPool2D(2)
    rng = np.random.default_rng(0)
    x = distinct_values(rng, (2, 3, 5, 4)).astype(np.float32)
    out = layer.forward(x)
    assert out.shape == (2, 3, 2, 2) and out.dtype == np.float32
    assert layer.output_shape((3, 5, 4)) == (3, 2, 2)
    assert repr(layer) == "MaxPool2D(2x2)" and layer.params == {} and layer.grads == {}
    assert_backward_contract(layer, rng.standard_normal(out.shape).astype(np.float32))
    assert layer.backward(np.ones(out.shape, np.float32)).dtype == np.float32


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="pool size"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match="expects input"):
        MaxPool2D(3).forward(np.zeros((1, 1, 2, 5)))
    with pytest.raises(RuntimeError, match="before forward"):
        MaxPool2D().backward(np.zeros((1, 1, 1, 1)))
