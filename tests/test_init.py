"""Glorot-uniform initialisation with Keras' fan conventions."""

import numpy as np
import pytest

from minimtl.nn.init import glorot_uniform
from minimtl.nn.layers import Conv2D, Dense


def test_limit_and_spread():
    W = glorot_uniform((400, 200), 400, 200, np.random.default_rng(0), np.float64)
    limit = np.sqrt(6.0 / (400 + 200))  # 0.1
    assert np.max(np.abs(W)) <= limit
    assert np.max(np.abs(W)) > 0.99 * limit
    # uniform on [-limit, limit] has standard deviation limit / sqrt(3)
    assert abs(W.std() - limit / np.sqrt(3)) < 0.01 * limit


def test_conv_uses_keras_fans():
    """fan_in = C*kh*kw = 2*3*5 = 30, fan_out = F*kh*kw = 64*3*5 = 960."""
    W = Conv2D(2, 64, (3, 5), rng=np.random.default_rng(1), dtype=np.float64).params["W"]
    limit = np.sqrt(6.0 / (30 + 960))
    assert np.max(np.abs(W)) <= limit
    assert np.max(np.abs(W)) > 0.98 * limit


def test_dense_uses_keras_fans():
    W = Dense(300, 20, rng=np.random.default_rng(2), dtype=np.float64).params["W"]
    limit = np.sqrt(6.0 / (300 + 20))
    assert limit * 0.99 < np.max(np.abs(W)) <= limit


def test_float32_is_float64_rounded_and_seed_determines_values():
    a = glorot_uniform((3, 4), 3, 4, np.random.default_rng(5), np.float32)
    b = glorot_uniform((3, 4), 3, 4, np.random.default_rng(5), np.float64)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b.astype(np.float32))


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="numpy Generator"):
        glorot_uniform((2, 2), 2, 2, np.random.RandomState(0))
    with pytest.raises(ValueError, match="fan_in and fan_out must be positive"):
        glorot_uniform((2, 2), 0, 2, np.random.default_rng(0))


def test_no_rng_leaves_kernels_zero_for_loading():
    """rng=None draws nothing: the weights are zero until a checkpoint is loaded into them."""
    assert not Dense(5, 3, rng=None).params["W"].any()
    assert not Conv2D(1, 2, 3, rng=None).params["W"].any()
