"""Losses: gradient checks with masks (all-zero included), hand values, stability."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimtl.nn.gradcheck import TOLERANCE, check_gradients
from minimtl.nn.losses import sigmoid_cross_entropy, softmax_cross_entropy
from tests.strategies import masks, seeds


def _check_loss_gradient(loss_fn, logits, targets, mask):
    """Max relative error of dlogits against centred differences of the loss."""
    params, grads = {"logits": logits}, {}

    def loss_and_backward():
        loss, grads["logits"] = loss_fn(params["logits"], targets, mask)
        return loss

    return check_gradients(loss_and_backward, params, grads)["logits"]


@given(st.data(), st.integers(1, 4), st.integers(2, 4), seeds)
def test_softmax_gradient_matches_finite_differences(data, n, k, seed):
    rng = np.random.default_rng(seed)
    # Logits within +-3: every probability stays above e^-6 / k, so the gradient entries (p - y) / n
    # stay far above the finite differences' rounding error, 1e-16 |L| / h ~ 1e-11. With a spread
    # of 12 (p ~ 1e-6) the check would measure float64 rounding, not the formula. Large logits have
    # their own stability tests below.
    logits = rng.uniform(-3, 3, size=(n, k))
    labels = rng.integers(0, k, size=n)
    mask = data.draw(masks(n))
    assert _check_loss_gradient(softmax_cross_entropy, logits, labels, mask) < TOLERANCE


@given(st.data(), st.integers(1, 4), seeds, st.booleans())
def test_sigmoid_gradient_matches_finite_differences(data, n, seed, column):
    rng = np.random.default_rng(seed)
    logits = rng.uniform(-3, 3, size=(n, 1) if column else n)  # as for softmax, above
    targets = rng.integers(0, 2, size=n)
    mask = data.draw(masks(n))
    assert _check_loss_gradient(sigmoid_cross_entropy, logits, targets, mask) < TOLERANCE


def test_softmax_by_hand():
    # equal logits over 3 classes: p = 1/3 each, loss = log 3
    loss, d = softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 2]))
    assert loss == pytest.approx(np.log(3))
    np.testing.assert_allclose(d, [[(1 / 3 - 1) / 2, 1 / 3 / 2, 1 / 3 / 2], [1 / 3 / 2, 1 / 3 / 2, (1 / 3 - 1) / 2]])
    # logits [log 1, log 3]: p = [1/4, 3/4]; label 1 -> loss -log(3/4)
    loss, d = softmax_cross_entropy(np.log([[1.0, 3.0]]), np.array([1]))
    assert loss == pytest.approx(-np.log(0.75))
    np.testing.assert_allclose(d, [[0.25, 0.75 - 1]])


def test_sigmoid_by_hand():
    # z = 0: sigmoid 1/2, loss log 2 for either target; z = log 3: sigmoid 3/4
    loss, d = sigmoid_cross_entropy(np.array([0.0, np.log(3.0)]), np.array([1, 0]))
    assert loss == pytest.approx((np.log(2) + -np.log(1 - 0.75)) / 2)
    np.testing.assert_allclose(d, [(0.5 - 1) / 2, (0.75 - 0) / 2])


def test_mask_divides_by_valid_count_and_ignores_masked_labels():
    logits = np.array([[0.0, 0.0], [5.0, -5.0], [1.0, 2.0]])
    full_loss, full_d = softmax_cross_entropy(logits[[0, 2]], np.array([1, 0]))
    loss, d = softmax_cross_entropy(logits, np.array([1, -1, 0]), mask=np.array([1, 0, 1]))
    assert loss == pytest.approx(full_loss)  # mean over the 2 valid rows, not over 3
    np.testing.assert_allclose(d[[0, 2]], full_d)
    assert not np.any(d[1])
    loss, d = sigmoid_cross_entropy(np.array([0.3, 9.0]), np.array([1, -1]), mask=np.array([True, False]))
    assert loss == pytest.approx(np.log1p(np.exp(-0.3)))
    assert d[1] == 0.0


@pytest.mark.parametrize(
    "loss_fn, logits, targets",
    [
        (softmax_cross_entropy, np.ones((3, 2), np.float32), np.array([0, 1, -1])),
        (sigmoid_cross_entropy, np.ones((3, 1), np.float32), np.array([0, 1, -1])),
    ],
)
def test_all_masked_gives_zero_not_nan(loss_fn, logits, targets):
    loss, d = loss_fn(logits, targets, mask=np.zeros(3, dtype=bool))
    assert loss == 0.0 and type(loss) is float
    assert d.shape == logits.shape and d.dtype == np.float32 and not np.any(d)


def test_stable_for_huge_logits():
    loss, d = softmax_cross_entropy(np.array([[1000.0, -1000.0], [-1000.0, 1000.0]]), np.array([0, 0]))
    assert loss == pytest.approx(2000.0 / 2)  # row 1 pays 2000, row 0 nothing
    np.testing.assert_allclose(d, [[0.0, 0.0], [-0.5, 0.5]])
    loss, d = sigmoid_cross_entropy(np.array([800.0, -800.0, 800.0]), np.array([1, 0, 0]))
    assert loss == pytest.approx(800.0 / 3)
    np.testing.assert_allclose(d, [0.0, 0.0, 1 / 3])


def test_dtypes_and_inputs_untouched():
    logits = np.array([[0.5, -0.5]], dtype=np.float32)
    loss, d = softmax_cross_entropy(logits, np.array([0]))
    assert type(loss) is float and d.dtype == np.float32
    loss, d = sigmoid_cross_entropy(logits[:, :1], np.array([1]))
    assert type(loss) is float and d.dtype == np.float32 and d.shape == (1, 1)
    np.testing.assert_array_equal(logits, [[0.5, -0.5]])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"labels of unmasked samples must be in \[0, 2\)"):
        softmax_cross_entropy(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match="labels must be integers"):
        softmax_cross_entropy(np.zeros((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="targets of unmasked samples must be 0 or 1"):
        sigmoid_cross_entropy(np.zeros(2), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"mask must have shape \(2,\)"):
        sigmoid_cross_entropy(np.zeros(2), np.array([0, 1]), mask=np.ones(3))
    with pytest.raises(ValueError, match="mask must be boolean or 0/1"):
        softmax_cross_entropy(np.zeros((2, 2)), np.array([0, 1]), mask=np.array([0.5, 1.0]))
