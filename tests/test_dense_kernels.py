"""Dense kernels: by hand, and Numba against the NumPy twin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimtl.kernels import dense_numba, dense_reference
from tests.strategies import float_dtypes, seeds

BACKENDS = [pytest.param(dense_reference, id="reference"), pytest.param(dense_numba, id="numba")]


@st.composite
def dense_shapes(draw):
    """(N, D, H): batch 1-9 (groups of four images and every remainder), D up to 2,100 (several
    chunks of rows in both kernels, and every remainder of four rows), H up to 70."""
    N = draw(st.integers(1, 9))
    D = draw(st.one_of(st.integers(1, 9), st.integers(250, 2100)))
    H = draw(st.integers(1, 70))
    return N, D, H


def random_problem(shape, dtype, seed):
    N, D, H = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    W = rng.standard_normal((D, H)).astype(dtype)
    b = rng.standard_normal(H).astype(dtype)
    dout = rng.standard_normal((N, H)).astype(dtype)
    return x, W, b, dout


def tolerance(dtype, D):
    """Summing D products in float32 in another order: a few ulps of the sum of |terms| times sqrt(D)."""
    return 1e-6 * np.sqrt(D) if dtype == np.float32 else 1e-13 * np.sqrt(D)


def assert_close(actual, expected, scale, tol):
    """|actual - expected| <= tol * scale, where scale bounds the sum of |terms| of each entry."""
    assert actual.shape == expected.shape
    assert np.all(np.abs(actual - expected) <= tol * scale), np.max(np.abs(actual - expected) / scale)


@pytest.mark.parametrize("kernels", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_by_hand(kernels, dtype):
    """x = [[1, -1, 2]], W 3x2, b = [0.5, 0]."""
    x = np.array([[1.0, -1.0, 2.0]], dtype=dtype)
    W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=dtype)
    b = np.array([0.5, 0.0], dtype=dtype)
    out = np.full((1, 2), np.nan, dtype=dtype)
    kernels.dense_forward(x, W, b, out)
    np.testing.assert_array_equal(out, [[1 - 3 + 10 + 0.5, 2 - 4 + 12 + 0.0]])

    dout = np.array([[1.0, 2.0]], dtype=dtype)
    dW, db, dx = np.full_like(W, np.nan), np.full_like(b, np.nan), np.full_like(x, np.nan)
    kernels.dense_backward(x, W, dout, dW, db, dx)
    np.testing.assert_array_equal(dW, [[1, 2], [-1, -2], [2, 4]])  # x.T @ dout
    np.testing.assert_array_equal(db, [1, 2])
    np.testing.assert_array_equal(dx, [[1 + 4, 3 + 8, 5 + 12]])  # dout @ W.T
    alone = np.full_like(x, np.nan)
    kernels.dense_input_gradient(W, dout, alone)
    np.testing.assert_array_equal(alone, dx)


@given(dense_shapes(), float_dtypes, seeds)
def test_forward_matches_reference(shape, dtype, seed):
    x, W, b, _ = random_problem(shape, dtype, seed)
    N, D, H = shape
    fast, ref = np.full((N, H), np.nan, dtype=dtype), np.empty((N, H), dtype=dtype)
    dense_numba.dense_forward(x, W, b, fast)
    dense_reference.dense_forward(x, W, b, ref)
    assert_close(fast, ref, np.abs(x) @ np.abs(W) + np.abs(b), tolerance(dtype, D))


@given(dense_shapes(), float_dtypes, seeds)
def test_backward_matches_reference(shape, dtype, seed):
    x, W, _, dout = random_problem(shape, dtype, seed)
    N, D, H = shape
    dout_before = dout.copy()
    out = {}
    for name, kernels in (("fast", dense_numba), ("ref", dense_reference)):
        dW, db, dx = (
            np.full((D, H), np.nan, dtype=dtype),
            np.full(H, np.nan, dtype=dtype),
            np.full((N, D), np.nan, dtype=dtype),
        )
        kernels.dense_backward(x, W, dout, dW, db, dx)
        out[name] = (dW, db, dx)
    tol = tolerance(dtype, max(D, N, H))
    assert_close(out["fast"][0], out["ref"][0], np.abs(x).T @ np.abs(dout), tol)
    assert_close(out["fast"][1], out["ref"][1], np.abs(dout).sum(axis=0), tol)
    assert_close(out["fast"][2], out["ref"][2], np.abs(dout) @ np.abs(W).T, tol)
    np.testing.assert_array_equal(dout, dout_before)  # dout is read only


@given(dense_shapes(), float_dtypes, seeds)
def test_input_gradient_matches_reference(shape, dtype, seed):
    _, W, _, dout = random_problem(shape, dtype, seed)
    N, D, H = shape
    dout_before, W_before = dout.copy(), W.copy()
    fast, ref = np.full((N, D), np.nan, dtype=dtype), np.full((N, D), np.nan, dtype=dtype)
    dense_numba.dense_input_gradient(W, dout, fast)
    dense_reference.dense_input_gradient(W, dout, ref)
    assert_close(fast, ref, np.abs(dout) @ np.abs(W).T, tolerance(dtype, max(D, N, H)))
    np.testing.assert_array_equal(dout, dout_before)  # inputs are read only
    np.testing.assert_array_equal(W, W_before)


def test_same_inputs_give_the_same_bits():
    """Chunk boundaries depend only on the shapes and every sum has a fixed order."""
    x, W, b, dout = random_problem((8, 70_001, 64), np.float32, 4)
    results = []
    for _ in range(2):
        out, dW, db, dx = np.empty((8, 64), np.float32), np.empty_like(W), np.empty(64, np.float32), np.empty_like(x)
        dense_numba.dense_forward(x, W, b, out)
        dense_numba.dense_backward(x, W, dout, dW, db, dx)
        results.append((out, dW, db, dx))
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)
