"""Dense kernels (one or several heads sharing the input): by hand, and Numba against the NumPy twin."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minimtl.kernels import dense_numba, dense_reference
from tests.strategies import float_dtypes, seeds

BACKENDS = [pytest.param(dense_reference, id="reference"), pytest.param(dense_numba, id="numba")]


@st.composite
def head_shapes(draw):
    """(N, D, widths): batch 1-9 (groups of four images and every remainder), D up to 2,100 (several
    chunks of rows in both kernels, and every remainder of four rows), one to three heads."""
    N = draw(st.integers(1, 9))
    D = draw(st.one_of(st.integers(1, 9), st.integers(250, 2100)))
    widths = tuple(draw(st.lists(st.integers(1, 70), min_size=1, max_size=3)))
    return N, D, widths


def random_problem(shape, dtype, seed):
    N, D, widths = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    Ws = tuple(rng.standard_normal((D, H)).astype(dtype) for H in widths)
    bs = tuple(rng.standard_normal(H).astype(dtype) for H in widths)
    douts = tuple(rng.standard_normal((N, H)).astype(dtype) for H in widths)
    return x, Ws, bs, douts


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
    """Two heads on x = [[1, -1, 2]]: head a has 2 units, head b has 1."""
    x = np.array([[1., -1., 2.]], dtype=dtype)
    Wa = np.array([[1., 2.], [3., 4.], [5., 6.]], dtype=dtype)
    Wb = np.array([[1.], [0.], [-1.]], dtype=dtype)
    ba, bb = np.array([0.5, 0.], dtype=dtype), np.array([-1.], dtype=dtype)
    outa, outb = np.full((1, 2), np.nan, dtype=dtype), np.full((1, 1), np.nan, dtype=dtype)
    kernels.dense_forward(x, (Wa, Wb), (ba, bb), (outa, outb))
    np.testing.assert_array_equal(outa, [[1 - 3 + 10 + 0.5, 2 - 4 + 12 + 0.]])
    np.testing.assert_array_equal(outb, [[1 - 0 - 2 - 1.]])

    da, db = np.array([[1., 2.]], dtype=dtype), np.array([[3.]], dtype=dtype)
    dWa, dWb = np.full_like(Wa, np.nan), np.full_like(Wb, np.nan)
    dba, dbb = np.full_like(ba, np.nan), np.full_like(bb, np.nan)
    dx = np.full_like(x, np.nan)
    kernels.dense_backward(x, (Wa, Wb), (da, db), (dWa, dWb), (dba, dbb), dx)
    np.testing.assert_array_equal(dWa, [[1, 2], [-1, -2], [2, 4]])    # x.T @ da
    np.testing.assert_array_equal(dWb, [[3], [-3], [6]])               # x.T @ db
    np.testing.assert_array_equal(dba, [1, 2])
    np.testing.assert_array_equal(dbb, [3])
    # da @ Wa.T + db @ Wb.T: the input feeds both heads, so their gradients add
    np.testing.assert_array_equal(dx, [[(1 + 4) + 3, (3 + 8) + 0, (5 + 12) - 3]])


@given(head_shapes(), float_dtypes, seeds)
def test_forward_matches_reference(shape, dtype, seed):
    x, Ws, bs, _ = random_problem(shape, dtype, seed)
    N, D, widths = shape
    fast = tuple(np.full((N, H), np.nan, dtype=dtype) for H in widths)
    ref = tuple(np.empty((N, H), dtype=dtype) for H in widths)
    dense_numba.dense_forward(x, Ws, bs, fast)
    dense_reference.dense_forward(x, Ws, bs, ref)
    for W, b, f, r in zip(Ws, bs, fast, ref):
        assert_close(f, r, np.abs(x) @ np.abs(W) + np.abs(b), tolerance(dtype, D))


@given(head_shapes(), float_dtypes, seeds)
def test_backward_matches_reference(shape, dtype, seed):
    x, Ws, _, douts = random_problem(shape, dtype, seed)
    N, D, widths = shape
    douts_before = tuple(d.copy() for d in douts)
    out = {}
    for name, kernels in (("fast", dense_numba), ("ref", dense_reference)):
        dWs = tuple(np.full((D, H), np.nan, dtype=dtype) for H in widths)
        dbs = tuple(np.full(H, np.nan, dtype=dtype) for H in widths)
        dx = np.full((N, D), np.nan, dtype=dtype)
        kernels.dense_backward(x, Ws, douts, dWs, dbs, dx)
        out[name] = (dWs, dbs, dx)
    tol = tolerance(dtype, max(D, N, sum(widths)))
    for h in range(len(widths)):
        assert_close(out["fast"][0][h], out["ref"][0][h], np.abs(x).T @ np.abs(douts[h]), tol)
        assert_close(out["fast"][1][h], out["ref"][1][h], np.abs(douts[h]).sum(axis=0), tol)
    dx_scale = sum(np.abs(d) @ np.abs(W).T for d, W in zip(douts, Ws))
    assert_close(out["fast"][2], out["ref"][2], dx_scale, tol)
    for d, before in zip(douts, douts_before):
        np.testing.assert_array_equal(d, before)  # douts are read only


def test_same_inputs_give_the_same_bits():
    """Chunk boundaries depend only on the shapes and every sum has a fixed order."""
    x, Ws, bs, douts = random_problem((8, 70_001, (64, 64)), np.float32, 4)
    results = []
    for _ in range(2):
        outs = tuple(np.empty((8, 64), np.float32) for _ in Ws)
        dWs = tuple(np.empty_like(W) for W in Ws)
        dbs = tuple(np.empty(64, np.float32) for _ in Ws)
        dx = np.empty_like(x)
        dense_numba.dense_forward(x, Ws, bs, outs)
        dense_numba.dense_backward(x, Ws, douts, dWs, dbs, dx)
        results.append(outs + dWs + dbs + (dx,))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
