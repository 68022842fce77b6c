"""Saliency maths (minimtl.nn.saliency): the input gradient by finite differences, and each map on a
tiny network whose answer is known by hand."""

import numpy as np
import pytest

from minimtl.nn.gradcheck import TOLERANCE, numerical_gradient, rel_error
from minimtl.nn.graph import MultiHead, Sequential
from minimtl.nn.layers import Conv2D, Dense, Flatten, ReLU
from minimtl.nn.saliency import gradcam_map, gradient_map, score_gradient, smoothgrad_map
from minimtl.training.models import build_model

SIDE = 7  # tiny images: 7 x 7, conv output 5 x 5


def tiny_network(rng, conv_bias):
    """Conv(1->2, 3x3, fused ReLU, no input grad) on 7x7 images; head "tb": Dense(50->1) ReLU
    Dense(1->1); head "other": Dense(50->2) ReLU Dense(2->2), random (its logits are not the score)."""
    conv = Conv2D(1, 2, 3, rng=rng, dtype=np.float64, relu=True, input_grad=False)
    conv.params["b"][...] = conv_bias
    features = 2 * (SIDE - 2) ** 2
    tb = Sequential(  # zero weights (rng=None): each test sets the few it needs
        [
            ("dense1", Dense(features, 1, dtype=np.float64)),
            ("relu", ReLU()),
            ("dense2", Dense(1, 1, dtype=np.float64)),
        ]
    )
    other = Sequential(
        [
            ("dense1", Dense(features, 2, rng=rng, dtype=np.float64)),
            ("relu", ReLU()),
            ("dense2", Dense(2, 2, rng=rng, dtype=np.float64)),
        ]
    )
    return MultiHead(Sequential([("conv", conv), ("flatten", Flatten())]), {"tb": tb, "other": other})


def feature_index(f, y, x):
    """Row of the flattened conv output (NCHW, C order) for filter f at output position (y, x)."""
    return (f * (SIDE - 2) + y) * (SIDE - 2) + x


def corner_network(rng):
    """The tb score depends on the top-left 3x3 pixels only: score = 1.5 (1 + 2 A[0, 0, 0]).

    The conv bias 10 keeps every ReLU active for images in [-1.5, 2.5] (|W| <= 0.47 here, 9 taps),
    so the score is linear and d score / d x[p, q] = 3 W_conv[0, 0, p, q] for p, q < 3, else 0.
    """
    model = tiny_network(rng, conv_bias=10.0)
    dense1, dense2 = model.heads["tb"].layers[0][1], model.heads["tb"].layers[2][1]
    dense1.params["W"][feature_index(0, 0, 0), 0] = 2.0
    dense1.params["b"][0] = 1.0
    dense2.params["W"][0, 0] = 1.5
    return model


@pytest.mark.parametrize(
    "arch, head_kind, head, unit",
    [
        ("multitask32", "softmax", "tb", 1),
        ("multitask32", "softmax", "pneumonia", 1),
        ("multitask32", "sigmoid", "tb", 0),
        ("multiclass", "softmax", "multiclass", 2),
        ("single-tb", "softmax", "tb", 1),
    ],
)
def test_input_gradient_matches_finite_differences(arch, head_kind, head, unit):
    """Every entry of d score / d x, in float64, against centred differences (TOLERANCE, h = 1e-5)."""
    rng = np.random.default_rng(3)
    model = build_model(arch, 9, rng, head=head_kind, dtype=np.float64)
    for name, array in model.params.items():  # biases start at zero: move them off that special point
        if name.endswith(".b"):
            array[...] = rng.normal(0, 0.1, size=array.shape)
    x = rng.random((2, 1, 9, 9))
    before = x.copy()
    _, analytic = score_gradient(model, x, head, unit)
    np.testing.assert_array_equal(x, before)  # the argument is left alone

    def summed_score():  # the images do not interact, so the sum's gradient is each image's own
        return float(model.forward(x)[head][:, unit].sum())

    numeric = numerical_gradient(summed_score, x)
    assert np.abs(numeric).max() > 1e-3  # a real gradient, not two zeros agreeing
    assert rel_error(analytic, numeric) < TOLERANCE
    assert model.trunk.layers[0][1].input_grad is False  # training still skips the input gradient


def test_the_input_gradient_flag_is_restored_after_an_error():
    model = build_model("single-tb", 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no head 'pneumonia'"):
        score_gradient(model, np.zeros((1, 1, 8, 8), np.float32), "pneumonia", 1)
    assert model.trunk.layers[0][1].input_grad is False


def test_gradient_map_lights_exactly_the_corner_the_score_reads():
    rng = np.random.default_rng(1)
    model = corner_network(rng)
    x = rng.random((3, 1, SIDE, SIDE))
    saliency = gradient_map(model, x, "tb", 0)
    expected = np.zeros((SIDE, SIDE))
    expected[:3, :3] = np.abs(3.0 * model.trunk.layers[0][1].params["W"][0, 0])
    np.testing.assert_allclose(saliency, np.broadcast_to(expected, saliency.shape), rtol=1e-12, atol=0)


def test_smoothgrad_of_a_linear_score_is_its_gradient_and_is_seeded():
    rng = np.random.default_rng(2)
    model = corner_network(rng)
    x = rng.random((3, 1, SIDE, SIDE))
    smooth = smoothgrad_map(model, x, "tb", 0, np.random.default_rng(5), samples=4, noise=0.2)
    # linear score: every noisy copy has the same gradient, so the mean is that gradient (float64 rounding)
    np.testing.assert_allclose(smooth, gradient_map(model, x, "tb", 0), rtol=1e-12, atol=0)
    assert np.all(smooth[:, 3:, :] == 0) and np.all(smooth[:, :, 3:] == 0)


def test_smoothgrad_is_deterministic_under_a_seed_and_independent_of_batching():
    rng = np.random.default_rng(4)
    model = build_model("multitask32", 10, rng, dtype=np.float64)
    x = rng.random((5, 1, 10, 10))

    def run(seed, batches):
        generator = np.random.default_rng(seed)
        return np.concatenate([smoothgrad_map(model, x[b], "tb", 1, generator, samples=3) for b in batches])

    whole = run(7, [slice(0, 5)])
    np.testing.assert_array_equal(whole, run(7, [slice(0, 5)]))
    # the same noise per image in two batches; only the kernels' summation order may differ (float64 rounding)
    np.testing.assert_allclose(whole, run(7, [slice(0, 2), slice(2, 5)]), rtol=1e-12, atol=1e-15)
    assert not np.allclose(whole, run(8, [slice(0, 5)]))  # the noise matters in a ReLU network


def gradcam_network(sign):
    """Filter 0 averages its 3x3 window, filter 1 is its negative (its ReLU is 0 on non-negative
    images). Score = sign * ReLU(sum of filter 0's map): alpha_0 = sign, alpha_1 = 0."""
    model = tiny_network(np.random.default_rng(0), conv_bias=0.0)
    conv = model.trunk.layers[0][1]
    conv.params["W"][0] = 1 / 9
    conv.params["W"][1] = -1 / 9
    dense1, dense2 = model.heads["tb"].layers[0][1], model.heads["tb"].layers[2][1]
    dense1.params["W"][: feature_index(1, 0, 0), 0] = 1.0  # every feature of filter 0
    dense2.params["W"][0, 0] = sign
    return model


def test_gradcam_lights_the_corner_where_the_rewarded_filter_fires():
    x = np.zeros((2, 1, SIDE, SIDE))
    x[:, 0, :2, :2] = 1.0  # a bright 2x2 patch in the top-left corner, black elsewhere
    cam = gradcam_map(gradcam_network(+1.0), x, "tb", 0)
    assert cam.shape == (2, SIDE, SIDE)
    # windows touching the patch: output rows/cols 0..1, i.e. input centres 1..2, plus the copied edge ring
    expected = np.zeros((SIDE, SIDE))
    window_means = np.array([[4, 2], [2, 1]]) / 9  # patch pixels in the windows at output (0..1, 0..1)
    expected[1:3, 1:3] = window_means
    expected[0, 1:3], expected[1:3, 0], expected[0, 0] = window_means[0], window_means[:, 0], window_means[0, 0]
    np.testing.assert_allclose(cam, np.broadcast_to(expected, cam.shape), rtol=1e-12, atol=1e-15)


def test_gradcam_keeps_only_what_speaks_for_the_score():
    x = np.zeros((1, 1, SIDE, SIDE))
    x[:, 0, :2, :2] = 1.0
    # the same filter now lowers the score: alpha_0 = -1, and the ReLU of the weighted maps is 0
    assert np.all(gradcam_map(gradcam_network(-1.0), x, "tb", 0) == 0)


def test_maps_leave_the_weights_alone():
    rng = np.random.default_rng(6)
    model = build_model("multitask32", 8, rng)
    before = {name: array.copy() for name, array in model.params.items()}
    x = rng.random((2, 1, 8, 8)).astype(np.float32)
    for saliency in (gradient_map(model, x, "tb", 1), gradcam_map(model, x, "pneumonia", 1)):
        assert saliency.shape == (2, 8, 8) and np.isfinite(saliency).all() and (saliency >= 0).all()
    smoothgrad_map(model, x, "tb", 1, np.random.default_rng(0), samples=2)
    for name, array in model.params.items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)
