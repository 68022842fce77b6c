"""A whole two-headed network checked end to end by finite differences.

This is the test of the fan-out: the shared convolution's gradient is the sum of what both
heads send back, so if MultiHead.backward dropped or doubled a head, the conv weights would fail.
"""

import numpy as np
import pytest

from minimtl.nn.gradcheck import TOLERANCE, check_gradients
from minimtl.nn.graph import MultiHead, Sequential
from minimtl.nn.layers import Conv2D, Dense, Flatten, ReLU
from minimtl.training.models import ARCHITECTURES
from minimtl.training.objective import total_loss
from minimtl.training.tasks import head_targets


def small_two_headed_network(rng, sigmoid_tb=False):
    """Conv(1->2, 2x3, fused ReLU, no input grad) on 5x6 images, heads Dense(24->3) ReLU Dense(3->K)."""
    trunk = Sequential(
        [("conv", Conv2D(1, 2, (2, 3), rng=rng, dtype=np.float64, relu=True, input_grad=False)), ("flatten", Flatten())]
    )
    features = 2 * 4 * 4

    def head(outputs):
        return Sequential(
            [
                ("dense1", Dense(features, 3, rng=rng, dtype=np.float64)),
                ("relu", ReLU()),
                ("dense2", Dense(3, outputs, rng=rng, dtype=np.float64)),
            ]
        )

    return MultiHead(trunk, {"tb": head(1 if sigmoid_tb else 2), "pneumonia": head(2)})


@pytest.mark.parametrize("other_labels", ["negative", "ignore"])
@pytest.mark.parametrize("sigmoid_tb", [False, True])
def test_two_headed_network_gradients_match_finite_differences(other_labels, sigmoid_tb):
    rng = np.random.default_rng(7)
    model = small_two_headed_network(rng, sigmoid_tb)
    # Biases start at zero (Keras); move them so the check is not at a special point.
    for name, array in model.params.items():
        if name.endswith(".b"):
            array[...] = rng.normal(0, 0.1, size=array.shape)
    x = rng.random((4, 1, 5, 6))
    dataset = np.array(["tb", "pneumonia", "tb", "pneumonia"])
    labels = np.array([1, 0, 0, 1])
    targets = head_targets(ARCHITECTURES["multitask64"], dataset, labels, other_labels)
    params, grads = model.params, model.grads

    def loss_and_backward():
        total, _, dlogits = total_loss(model.forward(x), targets)
        model.backward(dlogits)
        return total

    errors = check_gradients(loss_and_backward, params, grads)
    assert set(errors) == set(params)  # every entry of every parameter was checked
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"


def test_trunk_gradient_is_the_sum_of_both_heads():
    rng = np.random.default_rng(3)
    model = small_two_headed_network(rng)
    x = rng.random((3, 1, 5, 6))
    logits = model.forward(x)
    dlogits = {name: rng.normal(size=z.shape) for name, z in logits.items()}

    def conv_grad_with(heads_on):
        model.forward(x)
        model.backward({name: d if name in heads_on else np.zeros_like(d) for name, d in dlogits.items()})
        return model.grads["trunk.conv.W"].copy()

    both = conv_grad_with({"tb", "pneumonia"})
    only_tb = conv_grad_with({"tb"})
    only_pneumonia = conv_grad_with({"pneumonia"})
    np.testing.assert_allclose(both, only_tb + only_pneumonia, rtol=1e-12, atol=1e-14)
    assert np.abs(only_tb).max() > 0 and np.abs(only_pneumonia).max() > 0


def test_backward_needs_every_head():
    model = small_two_headed_network(np.random.default_rng(0))
    logits = model.forward(np.zeros((1, 1, 5, 6)))
    with pytest.raises(ValueError, match="every head"):
        model.backward({"tb": np.zeros_like(logits["tb"])})
