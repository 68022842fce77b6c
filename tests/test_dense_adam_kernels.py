"""Fused Dense backward + Adam kernel: by hand, and Numba against its NumPy twin (backward, then Adam)."""

import numpy as np
import pytest
from hypothesis import given

from minimtl.kernels import dense_adam_numba, dense_adam_reference
from tests.strategies import float_dtypes, seeds
from tests.test_dense_kernels import head_shapes

BACKENDS = [pytest.param(dense_adam_reference, id="reference"), pytest.param(dense_adam_numba, id="numba")]
HYPER = (0.9, 0.999, 1e-7)  # beta1, beta2, eps


def adam_problem(shape, dtype, seed):
    N, D, widths = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(dtype)
    Ws = tuple(rng.standard_normal((D, H)).astype(dtype) for H in widths)
    ms = tuple((0.1 * rng.standard_normal((D, H))).astype(dtype) for H in widths)
    vs = tuple((0.1 * rng.random((D, H))).astype(dtype) for H in widths)  # second moments are >= 0
    douts = tuple(rng.standard_normal((N, H)).astype(dtype) for H in widths)
    return x, Ws, ms, vs, douts


@pytest.mark.parametrize("kernels", BACKENDS)
def test_by_hand_first_step(kernels):
    """One weight, two images: g = 1*3 + 2*(-1) = 1; from m = v = 0: m = 0.1, v = 0.001.
    dx comes from the weight before the update: dx[n] = W * dout[n]."""
    x = np.array([[1.], [2.]])
    W, m, v = np.array([[0.5]]), np.zeros((1, 1)), np.zeros((1, 1))
    dout = np.array([[3.], [-1.]])
    dx = np.full((2, 1), np.nan)
    lr_t = 0.01
    kernels.dense_backward_adam(x, (W,), (dout,), (m,), (v,), dx, lr_t, *HYPER)
    np.testing.assert_allclose(dx, [[0.5 * 3], [0.5 * -1]], rtol=1e-15)
    np.testing.assert_allclose(m, [[0.1 * 1]], rtol=1e-15)
    np.testing.assert_allclose(v, [[0.001 * 1]], rtol=1e-15)
    np.testing.assert_allclose(W, [[0.5 - lr_t * 0.1 / (np.sqrt(0.001) + 1e-7)]], rtol=1e-15)


@given(head_shapes(), float_dtypes, seeds)
def test_matches_reference(shape, dtype, seed):
    N, D, widths = shape
    problem = adam_problem(shape, dtype, seed)
    x, douts = problem[0], problem[4]
    douts_before = tuple(d.copy() for d in douts)
    results = {}
    for name, kernels in (("fast", dense_adam_numba), ("ref", dense_adam_reference)):
        _, Ws, ms, vs, _ = (tuple(a.copy() for a in t) if isinstance(t, tuple) else t for t in problem)
        dx = np.full((N, D), np.nan, dtype=dtype)
        kernels.dense_backward_adam(x, Ws, douts, ms, vs, dx, 1e-3, *HYPER)
        results[name] = (Ws, ms, vs, dx)
    # dx: a sum of sum(widths) products in another order.
    dx_scale = sum(np.abs(d) @ np.abs(W).T for d, W in zip(douts, problem[1]))
    dx_tol = 1e-6 if dtype == np.float32 else 1e-14
    assert np.all(np.abs(results["fast"][3] - results["ref"][3]) <= dx_tol * dx_scale)
    # W, m, v: the same Adam formula on a gradient g summed over N images in another order
    # (and with fused multiply-adds). m and v are smooth in g; the step m / (sqrt(v) + eps) is
    # bounded by about 3.2 (|m| <= 0.1|g| + 0.9|m_old|), so one step moves W by at most
    # lr * 3.2 and a rounding of g can change it by a few ulps of that.
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for h in range(len(widths)):
        for fast, ref in zip(results["fast"][:3], results["ref"][:3]):
            np.testing.assert_allclose(fast[h], ref[h], rtol=tol, atol=tol)
    for d, before in zip(douts, douts_before):
        np.testing.assert_array_equal(d, before)  # douts are read only


def test_same_inputs_give_the_same_bits():
    first = adam_problem((8, 50_001, (64, 32)), np.float32, 2)
    second = adam_problem((8, 50_001, (64, 32)), np.float32, 2)
    dxs = []
    for x, Ws, ms, vs, douts in (first, second):
        dx = np.empty_like(x)
        dense_adam_numba.dense_backward_adam(x, Ws, douts, ms, vs, dx, 1e-3, *HYPER)
        dxs.append(dx)
    np.testing.assert_array_equal(dxs[0], dxs[1])
    for a, b in zip(first[1:4], second[1:4]):
        for h in range(2):
            np.testing.assert_array_equal(a[h], b[h])
