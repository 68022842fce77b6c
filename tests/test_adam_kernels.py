"""Fused Adam kernel against its NumPy twin."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimtl.kernels import adam_numba, adam_reference
from tests.strategies import float_dtypes, seeds


def _arrays(n, dtype, seed):
    rng = np.random.default_rng(seed)
    w, g, m = (rng.standard_normal(n).astype(dtype) for _ in range(3))
    v = rng.random(n).astype(dtype)  # second moments are non-negative
    return w, g, m, v


@given(st.integers(1, 50_000), float_dtypes, seeds)
def test_matches_reference_bit_for_bit(n, dtype, seed):
    """Odd sizes split unevenly between threads. Both compute in the arrays' dtype, operation by
    operation (no fused multiply-add), so the results are identical, not just close."""
    ref = _arrays(n, dtype, seed)
    fused = tuple(a.copy() for a in ref)
    g_before = ref[1].copy()
    adam_reference.adam_update(*ref, 1e-3, 0.9, 0.999, 1e-7)
    adam_numba.adam_update(*fused, 1e-3, 0.9, 0.999, 1e-7)
    for r, f in zip(ref, fused):
        assert f.dtype == dtype
        np.testing.assert_array_equal(f, r)
    np.testing.assert_array_equal(fused[1], g_before)  # g is read only


def test_by_hand_first_step():
    """m = 0.1 g, v = 0.001 g^2; with g = 2: m = 0.2, v = 0.004, w -= lr_t * 0.2 / (sqrt(0.004) + eps)."""
    w, g, m, v = np.array([1.0]), np.array([2.0]), np.zeros(1), np.zeros(1)
    adam_numba.adam_update(w, g, m, v, 0.5, 0.9, 0.999, 1e-7)
    assert m[0] == pytest.approx(0.2) and v[0] == pytest.approx(0.004)
    assert w[0] == pytest.approx(1.0 - 0.5 * 0.2 / (np.sqrt(0.004) + 1e-7))


def test_deterministic():
    first, second = _arrays(100_003, np.float32, 3), _arrays(100_003, np.float32, 3)
    for arrays in (first, second):
        adam_numba.adam_update(*arrays, 1e-3, 0.9, 0.999, 1e-7)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
