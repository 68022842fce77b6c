"""The shared trunks: the study's one convolution and the deep one (three conv-ReLU-maxpool blocks)."""

import numpy as np
import pytest

from minimtl.fast.fused_step import FusedStep, UnsupportedModel
from minimtl.nn.gradcheck import TOLERANCE, check_gradients
from minimtl.nn.graph import MultiHead, Sequential
from minimtl.nn.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from minimtl.nn.optim import Adam
from minimtl.training.config import RunConfig
from minimtl.training.memory import estimate_run_memory
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.tasks import head_targets
from minimtl.training.trunks import trunk_features, trunk_weights


def test_feature_counts_by_hand():
    # study: 32 x (S - 2)^2;  deep: S -> S-2 -> //2 three times, 32 maps at the end
    assert trunk_features("study", 64) == 32 * 62 * 62
    assert trunk_features("deep", 64) == 32 * 6 * 6  # 64 -> 62 -> 31 -> 29 -> 14 -> 12 -> 6
    assert trunk_features("deep", 256) == 32 * 30 * 30  # 256 -> 254 -> 127 -> 125 -> 62 -> 60 -> 30
    assert trunk_weights("study") == 32 * 9 + 32
    assert trunk_weights("deep") == (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 32 * 9 + 32)
    with pytest.raises(ValueError, match="image size 20 is too small for --trunk deep .needs at least 22 px"):
        trunk_features("deep", 20)


def test_the_deep_model_prints_every_layer_and_its_parameters():
    model = build_model("multitask64", 64, np.random.default_rng(0), trunk="deep")
    summary = model.summary()
    for line in ("trunk.conv1", "trunk.pool1  ", "MaxPool2D(2x2)", "(16, 31, 31)", "(32, 6, 6)", "Dense(1152 -> 64)"):
        assert line in summary, line
    trunk_params = sum(a.size for name, a in model.params.items() if name.startswith("trunk."))
    assert trunk_params == trunk_weights("deep")
    assert list(build_model("multitask64", 64, np.random.default_rng(0)).trunk.params) == ["conv.W", "conv.b"]


def small_deep_network(rng):
    """The deep trunk's structure on 12x12 images, small enough to check every entry: Conv(1->2, 3x3, ReLU,
    no input gradient), MaxPool 2, Conv(2->3, 3x3, ReLU), MaxPool 2 (12 -> 10 -> 5 -> 3 -> 1), Flatten;
    heads Dense(3->3) ReLU Dense(3->2)."""
    trunk = Sequential(
        [
            ("conv1", Conv2D(1, 2, 3, rng=rng, dtype=np.float64, relu=True, input_grad=False)),
            ("pool1", MaxPool2D(2)),
            ("conv2", Conv2D(2, 3, 3, rng=rng, dtype=np.float64, relu=True)),
            ("pool2", MaxPool2D(2)),
            ("flatten", Flatten()),
        ]
    )
    heads = {
        name: Sequential(
            [
                ("dense1", Dense(3, 3, rng=rng, dtype=np.float64)),
                ("relu", ReLU()),
                ("dense2", Dense(3, 2, rng=rng, dtype=np.float64)),
            ]
        )
        for name in ("tb", "pneumonia")
    }
    return MultiHead(trunk, heads)


def test_a_deep_two_headed_network_gradients_match_finite_differences():
    """Every entry of every parameter: two convolutions through the pooling routing, and the fan-out sum
    at the trunk's output."""
    rng = np.random.default_rng(11)
    model = small_deep_network(rng)
    for name, array in model.params.items():
        if name.endswith(".b"):
            array[...] = rng.normal(0, 0.1, size=array.shape)
    x = rng.random((3, 1, 12, 12))
    targets = head_targets(
        ARCHITECTURES["multitask32"], np.array(["tb", "pneumonia", "tb"]), np.array([1, 0, 0]), "negative"
    )

    def loss_and_backward():
        total, _, dlogits = total_loss(model.forward(x), targets)
        model.backward(dlogits)
        return total

    errors = check_gradients(loss_and_backward, model.params, model.grads)
    assert set(errors) == set(model.params)
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"
    assert np.abs(model.grads["trunk.conv1.W"]).max() > 0  # the gradient did reach the first layer


def test_the_fused_step_refuses_the_deep_trunk_by_name():
    model = build_model("multitask64", 24, np.random.default_rng(0), trunk="deep")
    with pytest.raises(UnsupportedModel, match="the fused step needs the trunk conv, flatten"):
        FusedStep(model, Adam(model.params))


def test_memory_estimate_follows_the_trunk():
    study = estimate_run_memory(RunConfig(image_size=256), 6000)
    deep = estimate_run_memory(RunConfig(image_size=256, trunk="deep", step="readable"), 6000)
    # the deep trunk's heads read 28,800 features instead of 2,064,512: the model shrinks about 70-fold
    assert deep["model"] < study["model"] / 50 and deep["images"] == study["images"]
