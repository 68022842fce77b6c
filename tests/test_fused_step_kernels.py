"""Fused training-step kernels (conv + ReLU + Dense heads, and their backward + Adam): by hand, and
Numba against the NumPy twin, which is the layer-by-layer computation written out."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimtl.fast import fused_step_numba, fused_step_reference
from minimtl.kernels import conv2d_reference
from tests.strategies import float_dtypes, seeds

BACKENDS = [pytest.param(fused_step_reference, id="reference"), pytest.param(fused_step_numba, id="numba")]
HYPER = (0.9, 0.999, 1e-7)  # beta1, beta2, eps


@st.composite
def step_shapes(draw):
    """(N, C, F, S, kh, kw, widths). Batch 1-9 (groups of four images and every remainder); image
    sides up to 40, so at most ROWS_PER_BLOCK // Wo rows make a block and filters split into
    several blocks, and blocks into several chunks; non-square kernels; one to three heads."""
    N = draw(st.integers(1, 9))
    C = draw(st.integers(1, 2))
    F = draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    S = draw(st.integers(max(kh, kw), 40))
    widths = tuple(draw(st.lists(st.integers(1, 70), min_size=1, max_size=3)))
    return N, C, F, S, kh, kw, widths


def problem(shape, dtype, seed):
    """Random inputs; the conv bias is drawn around 0 so that both dead (all-zero) and live rows occur."""
    N, C, F, S, kh, kw, widths = shape
    rng = np.random.default_rng(seed)
    images = rng.random((N, C, S, S)).astype(dtype)
    Wc = rng.standard_normal((F, C, kh, kw)).astype(dtype)
    bc = (rng.standard_normal(F) * kh * kw * C * 0.5).astype(dtype)
    D = F * (S - kh + 1) * (S - kw + 1)
    Ws = tuple((rng.standard_normal((D, H)) / np.sqrt(D)).astype(dtype) for H in widths)
    bs = tuple(rng.standard_normal(H).astype(dtype) for H in widths)
    ms = tuple((0.01 * rng.standard_normal((D, H))).astype(dtype) for H in widths)
    vs = tuple((0.01 * rng.random((D, H))).astype(dtype) for H in widths)
    douts = tuple(rng.standard_normal((N, H)).astype(dtype) for H in widths)
    return images, Wc, bc, Ws, bs, ms, vs, douts


def features(images, Wc, bc):
    out = np.empty(
        (images.shape[0], Wc.shape[0], images.shape[2] - Wc.shape[2] + 1, images.shape[3] - Wc.shape[3] + 1),
        dtype=images.dtype,
    )
    conv2d_reference.conv2d_forward(images, Wc, bc, out, True)
    return out


@pytest.mark.parametrize("kernels", BACKENDS)
def test_by_hand(kernels):
    """One 2x3 image, one 1x2 filter [1, -1], bias 0: conv rows [1-2, 2-4] = [-1, -2] and
    [5-3, 3-1] = [2, 2]; after the ReLU the features are [0, 0, 2, 2]. One head with one unit."""
    images = np.array([[[[1.0, 2.0, 4.0], [5.0, 3.0, 1.0]]]])
    Wc, bc = np.array([[[[1.0, -1.0]]]]), np.array([0.0])
    W, b = np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([0.5])
    out = np.full((1, 1), np.nan)
    kernels.conv_dense_forward(images, Wc, bc, (W,), (b,), (out,))
    assert out[0, 0] == 0 * 1 + 0 * 2 + 2 * 3 + 2 * 4 + 0.5

    # backward with dout = 2: dfeatures = 2 * W = [2, 4, 6, 8]; the ReLU keeps [0, 0, 6, 8];
    # conv gradient: dWc[0] = 6 * x[1, 0] + 8 * x[1, 1] = 6*5 + 8*3, dWc[1] = 6*3 + 8*1; dbc = 14.
    # Adam on W with g = features * 2 = [0, 0, 4, 4] from m = v = 0.
    m, v = np.zeros_like(W), np.zeros_like(W)
    dWc, dbc = np.full_like(Wc, np.nan), np.full_like(bc, np.nan)
    lr_t = 0.01
    kernels.conv_dense_backward_adam(images, Wc, bc, (W,), (np.array([[2.0]]),), (m,), (v,), dWc, dbc, lr_t, *HYPER)
    np.testing.assert_allclose(dWc.reshape(-1), [6 * 5 + 8 * 3, 6 * 3 + 8 * 1], rtol=1e-15)
    np.testing.assert_allclose(dbc, [14.0], rtol=1e-15)
    g = np.array([[0.0], [0.0], [4.0], [4.0]])
    np.testing.assert_allclose(m, 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(v, 0.001 * g * g, rtol=1e-15)
    step = lr_t * 0.1 * g / (np.sqrt(0.001 * g * g) + 1e-7)
    np.testing.assert_allclose(W, np.array([[1.0], [2.0], [3.0], [4.0]]) - step, rtol=1e-15)


@given(step_shapes(), float_dtypes, seeds)
def test_forward_matches_reference(shape, dtype, seed):
    images, Wc, bc, Ws, bs, _, _, _ = problem(shape, dtype, seed)
    N, widths = shape[0], shape[6]
    fast = tuple(np.full((N, H), np.nan, dtype=dtype) for H in widths)
    ref = tuple(np.empty((N, H), dtype=dtype) for H in widths)
    fused_step_numba.conv_dense_forward(images, Wc, bc, Ws, bs, fast)
    fused_step_reference.conv_dense_forward(images, Wc, bc, Ws, bs, ref)
    # tolerance: float rounding of sums of |terms| (conv sums of kh*kw*C terms feed D-term sums)
    x = features(np.abs(images), np.abs(Wc), np.abs(bc)).reshape(N, -1)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for W, b, f, r in zip(Ws, bs, fast, ref):
        assert np.all(np.abs(f - r) <= tol * (x @ np.abs(W) + np.abs(b)))


@given(step_shapes(), float_dtypes, seeds)
def test_backward_adam_matches_reference(shape, dtype, seed):
    images, Wc, bc, Ws, _, ms, vs, douts = problem(shape, dtype, seed)
    inputs_before = [a.copy() for a in (images, Wc, bc) + douts]
    results = {}
    for name, kernels in (("fast", fused_step_numba), ("ref", fused_step_reference)):
        W2, m2, v2 = (tuple(a.copy() for a in t) for t in (Ws, ms, vs))
        dWc, dbc = np.full_like(Wc, np.nan), np.full_like(bc, np.nan)
        kernels.conv_dense_backward_adam(images, Wc, bc, W2, douts, m2, v2, dWc, dbc, 1e-3, *HYPER)
        results[name] = (W2, m2, v2, dWc, dbc)
    fast, ref = results["fast"], results["ref"]
    # W, m, v: the same Adam formula on a gradient g computed in another order (activations are sums
    # of C*kh*kw products plus a bias, g sums N of them, with fused multiply-adds). g then agrees to
    # `tol` times the sum of its terms' sizes, gscale = act_scale.T @ |dout| where act_scale is the
    # conv of |images| with |Wc|, plus |bc| (an activation can be a small difference of large
    # terms); m and v follow linearly
    # (m += 0.1 g, v += 0.001 g^2), and the step lr * m / (sqrt(v) + eps) to first order. A wrong
    # formula (a lost image or head, dx from the new weights) breaks these bounds by orders of magnitude.
    tol = 1e-6 if dtype == np.float32 else 1e-14
    act_scale = features(np.abs(images), np.abs(Wc), np.abs(bc)).reshape(images.shape[0], -1)
    for h, d in enumerate(douts):
        gscale = act_scale.T @ np.abs(d) + 1e-30
        dm = tol * 0.1 * gscale
        dv = tol * 0.001 * 2 * gscale * gscale  # d(g^2) = 2 g dg and |g| <= gscale
        m, v = ref[1][h], ref[2][h]
        root = np.sqrt(v) + HYPER[2]
        dW = 1e-3 * (dm / root + np.abs(m) * dv / (2 * np.sqrt(v) * root**2 + 1e-30))
        ulps = 4 * np.spacing(np.abs(ref[0][h]).astype(dtype))
        assert np.all(np.abs(fast[1][h] - m) <= 2 * dm + 4 * np.spacing(np.abs(m).astype(dtype)))
        assert np.all(np.abs(fast[2][h] - v) <= 2 * dv + 4 * np.spacing(np.abs(v).astype(dtype)))
        assert np.all(np.abs(fast[0][h] - ref[0][h]) <= 2 * dW + ulps)
    # conv gradients: sums over N * Ho * Wo terms of dfeatures * image, in another order
    act = features(images, Wc, bc)
    dfeat = sum(np.abs(d) @ np.abs(W).T for d, W in zip(douts, Ws)).reshape(act.shape) * (act > 0)
    dW_scale = np.empty_like(Wc)
    db_scale = np.empty_like(bc)
    conv2d_reference.conv2d_backward_weights(np.abs(images), dfeat, dW_scale, db_scale)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.abs(fast[3] - ref[3]) <= tol * dW_scale + 1e-30)
    assert np.all(np.abs(fast[4] - ref[4]) <= tol * db_scale + 1e-30)
    for before, now in zip(inputs_before, (images, Wc, bc) + douts):
        np.testing.assert_array_equal(before, now)  # inputs are read only


def test_dead_rows_still_get_adam():
    """Features that are 0 in every image give g = 0: Adam still decays m and v and moves W."""
    images = np.ones((2, 1, 3, 3))
    Wc, bc = np.zeros((1, 1, 3, 3)), np.array([-1.0])  # every activation is relu(-1) = 0
    W, m, v = np.array([[0.5, -0.5]]), np.array([[0.2, -0.2]]), np.array([[0.04, 0.01]])
    dWc, dbc = np.empty_like(Wc), np.empty_like(bc)
    fused_step_numba.conv_dense_backward_adam(
        images, Wc, bc, (W,), (np.ones((2, 2)),), (m,), (v,), dWc, dbc, 0.01, *HYPER
    )
    np.testing.assert_allclose(m, [[0.9 * 0.2, 0.9 * -0.2]], rtol=1e-15)
    np.testing.assert_allclose(v, [[0.999 * 0.04, 0.999 * 0.01]], rtol=1e-15)
    np.testing.assert_allclose(
        W,
        [[0.5 - 0.01 * 0.18 / (np.sqrt(0.999 * 0.04) + 1e-7), -0.5 + 0.01 * 0.18 / (np.sqrt(0.999 * 0.01) + 1e-7)]],
        rtol=1e-14,
    )
    assert not np.any(dWc) and not np.any(dbc)  # no gradient flows through a dead ReLU


def test_same_inputs_give_the_same_bits():
    """Chunks and blocks depend only on the shapes, and every partial sum is added in a fixed order."""
    results = []
    for _ in range(2):
        images, Wc, bc, Ws, bs, ms, vs, douts = problem((8, 1, 3, 60, 3, 3, (64, 32)), np.float32, 11)
        outs = tuple(np.empty((8, W.shape[1]), np.float32) for W in Ws)
        dWc, dbc = np.empty_like(Wc), np.empty_like(bc)
        fused_step_numba.conv_dense_forward(images, Wc, bc, Ws, bs, outs)
        fused_step_numba.conv_dense_backward_adam(images, Wc, bc, Ws, douts, ms, vs, dWc, dbc, 1e-3, *HYPER)
        results.append(outs + Ws + ms + vs + (dWc, dbc))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
