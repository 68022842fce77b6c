"""Convolution kernels: hand-computed examples, and Numba against its NumPy twin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimtl.kernels import conv2d_numba, conv2d_reference
from tests.strategies import conv_shapes, float_dtypes, seeds

# Kernel widths up to 7 reach both the three-columns-at-a-time loop and its remainder.
kernel_shapes = conv_shapes(max_kernel=7)

BACKENDS = [pytest.param(conv2d_reference, id="reference"), pytest.param(conv2d_numba, id="numba")]

# A 3x3 image, a 2x2 kernel, bias 0.5 (one image, one channel, one filter).
IMAGE = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).reshape(1, 1, 3, 3)
KERNEL = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
BIAS = np.array([0.5])


@pytest.mark.parametrize("kernels", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_by_hand(kernels, dtype):
    out = np.full((1, 1, 2, 2), np.nan, dtype=dtype)
    kernels.conv2d_forward(IMAGE.astype(dtype), KERNEL.astype(dtype), BIAS.astype(dtype), out, False)
    # cross-correlation: the kernel is laid on the image unflipped
    expected = [
        [1 * 1 + 2 * 2 + 3 * 4 + 4 * 5 + 0.5, 1 * 2 + 2 * 3 + 3 * 5 + 4 * 6 + 0.5],
        [1 * 4 + 2 * 5 + 3 * 7 + 4 * 8 + 0.5, 1 * 5 + 2 * 6 + 3 * 8 + 4 * 9 + 0.5],
    ]
    np.testing.assert_array_equal(out[0, 0], expected)  # 37.5, 47.5, 67.5, 77.5


@pytest.mark.parametrize("kernels", BACKENDS)
def test_forward_fused_relu_by_hand(kernels):
    out = np.empty((1, 1, 2, 2))
    kernels.conv2d_forward(IMAGE, KERNEL, np.array([-50.0]), out, True)
    # before the ReLU: 37 - 50, 47 - 50, 67 - 50, 77 - 50
    np.testing.assert_array_equal(out[0, 0], [[0.0, 0.0], [67.0 - 50, 77.0 - 50]])


@pytest.mark.parametrize("kernels", BACKENDS)
def test_backward_by_hand(kernels):
    dout = np.array([[1.0, 0.0], [0.0, 2.0]]).reshape(1, 1, 2, 2)
    dW, db, dx = np.empty((1, 1, 2, 2)), np.empty(1), np.full((1, 1, 3, 3), np.nan)
    kernels.conv2d_backward_weights(IMAGE, dout, dW, db)
    # dW[i, j] = 1 * x[i, j] + 2 * x[1 + i, 1 + j]
    np.testing.assert_array_equal(dW[0, 0], [[1 + 2 * 5, 2 + 2 * 6], [4 + 2 * 8, 5 + 2 * 9]])
    np.testing.assert_array_equal(db, [1 + 2])
    kernels.conv2d_backward_input(dout, KERNEL, dx)
    # 1 * kernel placed at the top left plus 2 * kernel placed at the bottom right
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4 + 2 * 1, 2 * 2], [0, 2 * 3, 2 * 4]])


@pytest.mark.parametrize("kernels", BACKENDS)
def test_non_square_by_hand(kernels):
    """A 2x4 image with a 1x2 kernel [1, -1]: horizontal differences, Ho=2, Wo=3."""
    x = np.array([[1.0, 4.0, 9.0, 16.0], [2.0, 3.0, 5.0, 7.0]]).reshape(1, 1, 2, 4)
    W = np.array([1.0, -1.0]).reshape(1, 1, 1, 2)
    out = np.empty((1, 1, 2, 3))
    kernels.conv2d_forward(x, W, np.zeros(1), out, False)
    np.testing.assert_array_equal(out[0, 0], [[1 - 4, 4 - 9, 9 - 16], [2 - 3, 3 - 5, 5 - 7]])


def _random_problem(shape, dtype, seed):
    N, C, F, H, W, kh, kw = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    weights = rng.standard_normal((F, C, kh, kw)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    dout = rng.standard_normal((N, F, H - kh + 1, W - kw + 1)).astype(dtype)
    return x, weights, b, dout


def _assert_close(actual, expected, dtype):
    """float64: agree to ~1e-12 of the largest entry; float32: to ~1e-5 (sums in another order)."""
    tol = 1e-5 if dtype == np.float32 else 1e-12
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


@given(kernel_shapes, float_dtypes, seeds, st.booleans())
def test_forward_matches_reference(shape, dtype, seed, relu):
    x, W, b, _ = _random_problem(shape, dtype, seed)
    out_shape = (x.shape[0], W.shape[0], x.shape[2] - W.shape[2] + 1, x.shape[3] - W.shape[3] + 1)
    expected, actual = np.empty(out_shape, dtype), np.full(out_shape, np.nan, dtype)
    conv2d_reference.conv2d_forward(x, W, b, expected, relu)
    conv2d_numba.conv2d_forward(x, W, b, actual, relu)
    assert actual.dtype == dtype
    _assert_close(actual, expected, dtype)


@given(kernel_shapes, float_dtypes, seeds)
def test_backward_weights_matches_reference(shape, dtype, seed):
    x, W, _, dout = _random_problem(shape, dtype, seed)
    dW_ref, db_ref = np.empty_like(W), np.empty(W.shape[0], dtype)
    dW, db = np.full_like(W, np.nan), np.full(W.shape[0], np.nan, dtype)  # garbage: must be overwritten
    conv2d_reference.conv2d_backward_weights(x, dout, dW_ref, db_ref)
    conv2d_numba.conv2d_backward_weights(x, dout, dW, db)
    _assert_close(dW, dW_ref, dtype)
    _assert_close(db, db_ref, dtype)


@given(kernel_shapes, float_dtypes, seeds)
def test_backward_input_matches_reference(shape, dtype, seed):
    x, W, _, dout = _random_problem(shape, dtype, seed)
    dx_ref, dx = np.empty_like(x), np.full_like(x, np.nan)
    conv2d_reference.conv2d_backward_input(dout, W, dx_ref)
    conv2d_numba.conv2d_backward_input(dout, W, dx)
    _assert_close(dx, dx_ref, dtype)


@given(kernel_shapes, float_dtypes, seeds)
def test_relu_backward_mask_matches_reference(shape, dtype, seed):
    _, _, _, dout = _random_problem(shape, dtype, seed)
    out = np.maximum(np.random.default_rng(seed + 1).standard_normal(dout.shape), 0).astype(dtype)
    out.flat[0] = 0.0  # the kink: gradient 0
    expected, actual = np.empty_like(dout), np.full_like(dout, np.nan)
    conv2d_reference.relu_backward_mask(dout, out, expected)
    conv2d_numba.relu_backward_mask(dout, out, actual)
    np.testing.assert_array_equal(actual, expected)
    assert actual.flat[0] == 0.0


def test_numba_kernels_are_deterministic_and_leave_inputs_alone():
    """Same inputs => bit-identical outputs on a second call (threads must not change sums)."""
    x, W, b, dout = _random_problem((4, 3, 8, 21, 34, 3, 2), np.float32, seed=7)
    copies = [a.copy() for a in (x, W, b, dout)]
    results = []
    for _ in range(2):
        out = np.empty(dout.shape, np.float32)
        dW, db, dx = np.empty_like(W), np.empty_like(b), np.empty_like(x)
        dW_relu, db_relu = np.empty_like(W), np.empty_like(b)
        conv2d_numba.conv2d_forward(x, W, b, out, True)
        conv2d_numba.conv2d_backward_weights(x, dout, dW, db)
        conv2d_numba.conv2d_backward_weights_relu(x, dout, out, dW_relu, db_relu)
        conv2d_numba.conv2d_backward_input(dout, W, dx)
        results.append((out, dW, db, dx, dW_relu, db_relu))
    for first, second in zip(*results):
        np.testing.assert_array_equal(first, second)
    for original, now in zip(copies, (x, W, b, dout)):
        np.testing.assert_array_equal(original, now)


@pytest.mark.parametrize("kernels", BACKENDS)
def test_backward_weights_with_fused_relu_by_hand(kernels):
    """The ReLU's mask keeps dout only where out > 0 (0 at the kink): out = [[0, 5], [3, 0]] keeps
    dout[0, 1] = 2 and dout[1, 0] = 3, so dW[i, j] = 2 * x[i, 1 + j] + 3 * x[1 + i, j]."""
    dout = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    out = np.array([[0.0, 5.0], [3.0, 0.0]]).reshape(1, 1, 2, 2)
    dW, db = np.full((1, 1, 2, 2), np.nan), np.full(1, np.nan)
    kernels.conv2d_backward_weights_relu(IMAGE, dout, out, dW, db)
    np.testing.assert_array_equal(dW[0, 0], [[2 * 2 + 3 * 4, 2 * 3 + 3 * 5], [2 * 5 + 3 * 7, 2 * 6 + 3 * 8]])
    np.testing.assert_array_equal(db, [2 + 3])


@given(kernel_shapes, float_dtypes, seeds)
def test_backward_weights_with_fused_relu_matches_reference(shape, dtype, seed):
    x, W, _, dout = _random_problem(shape, dtype, seed)
    out = np.maximum(np.random.default_rng(seed + 2).standard_normal(dout.shape), 0).astype(dtype)
    dout_before, out_before = dout.copy(), out.copy()
    dW_ref, db_ref = np.empty_like(W), np.empty(W.shape[0], dtype)
    dW, db = np.full_like(W, np.nan), np.full(W.shape[0], np.nan, dtype)
    conv2d_reference.conv2d_backward_weights_relu(x, dout, out, dW_ref, db_ref)
    conv2d_numba.conv2d_backward_weights_relu(x, dout, out, dW, db)
    _assert_close(dW, dW_ref, dtype)
    _assert_close(db, db_ref, dtype)
    np.testing.assert_array_equal(dout, dout_before)
    np.testing.assert_array_equal(out, out_before)
