"""Conv2D layer: gradient checks on random shapes, a hand example, and the layer contract."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minimtl.kernels import conv2d_reference
from minimtl.nn.gradcheck import TOLERANCE, check_layer_gradients
from minimtl.nn.layers import Conv2D
from tests.layer_contract import assert_backward_contract
from tests.strategies import conv_shapes, seeds


def _layer_and_input(shape, seed, **options):
    N, C, F, H, W, kh, kw = shape
    rng = np.random.default_rng(seed)
    layer = Conv2D(C, F, (kh, kw), rng=rng, dtype=np.float64, **options)
    layer.params["b"][...] = rng.standard_normal(F)  # non-zero biases, so db is really tested
    return layer, rng.standard_normal((N, C, H, W)), rng


@given(conv_shapes(), seeds, st.booleans())
def test_gradients_match_finite_differences(shape, seed, input_grad):
    layer, x, rng = _layer_and_input(shape, seed, input_grad=input_grad)
    # Without a ReLU the loss is linear in every entry: no truncation error at any h, and h = 1e-4
    # has ten times less rounding error than 1e-5 (see the fused-ReLU test below).
    errors = check_layer_gradients(layer, x, rng, h=1e-4)
    assert set(errors) == ({"W", "b", "x"} if input_grad else {"W", "b"})
    assert max(errors.values()) < TOLERANCE, errors


@given(conv_shapes(), seeds)
def test_fused_relu_gradients_match_finite_differences(shape, seed):
    layer, x, rng = _layer_and_input(shape, seed, relu=True)
    pre = np.empty((x.shape[0], shape[2], x.shape[2] - shape[5] + 1, x.shape[3] - shape[6] + 1))
    conv2d_reference.conv2d_forward(x, layer.params["W"], layer.params["b"], pre, False)
    # Stay off the kink (the kink is tested by hand below). Moving one entry of x, W or b by h moves
    # a pre-activation by at most h * max(|W|, |x|, 1); with the margin below no step crosses a kink,
    # so the loss is linear along every step and centred differences have no truncation error. That
    # allows h = 1e-4 rather than 1e-5: ten times less rounding error, which matters for input-gradient
    # entries that are sums of nearly cancelling terms (seen: 2.3e-6 at h = 1e-5 for an entry ~1e-5).
    h = 1e-4
    reach = h * max(1.0, np.abs(x).max(), np.abs(layer.params["W"]).max())
    assume(np.min(np.abs(pre)) > max(1e-3, 2 * reach))
    errors = check_layer_gradients(layer, x, rng, h=h)
    assert max(errors.values()) < TOLERANCE, errors


def test_forward_backward_by_hand_with_fused_relu():
    layer = Conv2D(1, 1, 2, rng=np.random.default_rng(0), dtype=np.float64, relu=True)
    layer.params["W"][...] = [[[[1.0, 2.0], [3.0, 4.0]]]]
    layer.params["b"][...] = -50.0
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    out = layer.forward(x)
    # pre-activations 37 - 50 = -13, 47 - 50 = -3, 67 - 50 = 17, 77 - 50 = 27
    np.testing.assert_array_equal(out[0, 0], [[0.0, 0.0], [17.0, 27.0]])
    dx = layer.backward(np.array([[[[5.0, 6.0], [1.0, 2.0]]]]))
    # the ReLU stops the top row; dW[i, j] = 1 * x[1 + i, j] + 2 * x[1 + i, 1 + j]
    np.testing.assert_array_equal(layer.grads["W"][0, 0], [[4 + 2 * 5, 5 + 2 * 6], [7 + 2 * 8, 8 + 2 * 9]])
    np.testing.assert_array_equal(layer.grads["b"], [1 + 2])
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0], [1, 2 + 2 * 1, 2 * 2], [3, 4 + 2 * 3, 2 * 4]])


def test_kink_gets_zero_gradient():
    """A pre-activation of exactly 0 passes no gradient (Keras' convention)."""
    layer = Conv2D(1, 1, 1, rng=np.random.default_rng(0), dtype=np.float64, relu=True)
    layer.params["W"][...] = 1.0
    layer.forward(np.array([[[[0.0, 2.0]]]]))
    dx = layer.backward(np.array([[[[3.0, 4.0]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 4.0]]]])
    np.testing.assert_array_equal(layer.grads["W"], [[[[2.0 * 4.0]]]])


@pytest.mark.parametrize("relu", [False, True])
def test_backward_leaves_dout_alone_and_overwrites_grads(relu):
    layer, x, rng = _layer_and_input((2, 2, 3, 6, 5, 3, 2), seed=1, relu=relu)
    out = layer.forward(x)
    assert_backward_contract(layer, rng.standard_normal(out.shape))


def test_first_layer_returns_no_input_gradient():
    layer, x, rng = _layer_and_input((2, 1, 2, 5, 4, 2, 2), seed=2, input_grad=False)
    out = layer.forward(x)
    assert layer.backward(rng.standard_normal(out.shape)) is None
    assert np.any(layer.grads["W"] != 0)


def test_float32_matches_float64_and_same_seed_gives_same_numbers():
    x = np.random.default_rng(3).standard_normal((3, 2, 9, 7))
    layers = [
        Conv2D(2, 4, (3, 2), rng=np.random.default_rng(5), dtype=dt, relu=True)
        for dt in (np.float32, np.float64, np.float32)
    ]
    outs = [layer.forward(x).copy() for layer in layers]
    assert outs[0].dtype == np.float32 and outs[1].dtype == np.float64
    np.testing.assert_array_equal(outs[0], outs[2])  # same seed, same numbers
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    dout = np.random.default_rng(4).standard_normal(outs[0].shape)
    dxs = [layer.backward(dout.astype(layer.dtype)) for layer in layers]
    np.testing.assert_array_equal(dxs[0], dxs[2])
    np.testing.assert_allclose(dxs[0], dxs[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layers[0].grads["W"], layers[1].grads["W"], rtol=1e-5, atol=1e-5)


def test_output_buffer_is_reused_until_the_batch_shape_changes():
    layer, x, _ = _layer_and_input((2, 1, 2, 6, 6, 3, 3), seed=6)
    first = layer.forward(x)
    assert layer.forward(x * 2) is first
    smaller = layer.forward(x[:1])
    assert smaller is not first and smaller.shape == (1, 2, 4, 4)
    expected = np.empty((1, 2, 4, 4))
    conv2d_reference.conv2d_forward(x[:1], layer.params["W"], layer.params["b"], expected, False)
    np.testing.assert_allclose(smaller, expected, rtol=1e-12, atol=1e-12)


def test_parameter_shapes_follow_the_keras_pytorch_layout():
    layer = Conv2D(3, 5, (2, 4), rng=np.random.default_rng(0))
    assert layer.params["W"].shape == (5, 3, 2, 4) and layer.params["b"].shape == (5,)
    assert {k: v.shape for k, v in layer.grads.items()} == {k: v.shape for k, v in layer.params.items()}
    assert layer.params["W"].dtype == np.float32 and not np.any(layer.params["b"])


@pytest.mark.parametrize("bad_shape", [(2, 2, 6, 6), (2, 1, 2, 6), (1, 6, 6)])
def test_bad_input_shape_is_named(bad_shape):
    layer = Conv2D(1, 2, 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects input \(N, 1, H>=3, W>=3\)"):
        layer.forward(np.zeros(bad_shape, dtype=np.float32))
