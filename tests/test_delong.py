"""DeLong's test for two correlated ROC curves: a hand-worked example, and the bootstrap as a check."""

import numpy as np
import pytest
from scipy.stats import norm

from minimtl.study.compare.delong import bootstrap_auc_difference, delong_test, placements
from minimtl.training.metrics import roc_auc


def test_by_hand():
    """Positives score 0.9 and 0.4, negatives 0.6 and 0.1 under model a; b ranks every pair right.

    a: the positive 0.9 beats both negatives (V10 = 1), 0.4 beats one (0.5); the negative 0.6 is
    beaten by one positive (V01 = 0.5), 0.1 by both (1): AUC_a = 3/4. b: all placements 1, AUC 1.
    Var = (var(V10_a) + var(V10_b) - 2 cov) / 2 + (var(V01_a) + ... ) / 2 = (0.125 + 0) / 2 + 0.125 / 2,
    with var([1, 0.5]) = 0.125 (n - 1 in the denominator): SE = sqrt(0.125), z = -0.25 / SE.
    """
    y = [1, 1, 0, 0]
    v10, v01, auc = placements(y, [0.9, 0.4, 0.6, 0.1])
    np.testing.assert_allclose(v10, [1.0, 0.5])
    np.testing.assert_allclose(v01, [0.5, 1.0])
    assert auc == 0.75
    result = delong_test(y, [0.9, 0.4, 0.6, 0.1], [0.8, 0.7, 0.3, 0.2])
    assert (result["auc_a"], result["auc_b"], result["difference"]) == (0.75, 1.0, -0.25)
    assert result["se"] == pytest.approx(np.sqrt(0.125), rel=1e-12)
    assert result["z"] == pytest.approx(-0.25 / np.sqrt(0.125), rel=1e-12)
    assert result["p"] == pytest.approx(2 * norm.sf(0.25 / np.sqrt(0.125)), rel=1e-12)


def test_ties_count_one_half_and_the_auc_is_the_mann_whitney_statistic():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    y[:2] = [0, 1]
    score = rng.integers(0, 5, 60) / 4  # many ties
    assert placements(y, score)[2] == pytest.approx(roc_auc(y, score), abs=1e-12)


def test_identical_models_differ_by_nothing():
    rng = np.random.default_rng(0)
    y, score = np.r_[np.zeros(20), np.ones(20)], rng.random(40)
    result = delong_test(y, score, score)
    assert result["difference"] == 0 and result["se"] == 0 and result["p"] == 1.0


def test_swapping_the_models_flips_the_sign_only():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(30), np.ones(25)]
    a, b = y + rng.normal(0, 1, 55), y + rng.normal(0, 1.5, 55)
    ab, ba = delong_test(y, a, b), delong_test(y, b, a)
    assert ab["difference"] == -ba["difference"] and ab["se"] == ba["se"] and ab["p"] == pytest.approx(ba["p"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_standard_error_agrees_with_a_paired_bootstrap(seed):
    """Two correlated models on 300 images: DeLong's SE within 12% of 2000 bootstrap draws' (the
    bootstrap SE itself varies by about 1/sqrt(2 * 2000) = 1.6%, and both estimate the same quantity
    only asymptotically)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(300) < 0.4).astype(int)
    shared = rng.normal(0, 1, 300)  # what makes an image hard for both models: the correlation
    a = 1.0 * y + shared + rng.normal(0, 0.7, 300)
    b = 0.8 * y + shared + rng.normal(0, 0.7, 300)
    result = delong_test(y, a, b)
    boot_mean, boot_se = bootstrap_auc_difference(y, a, b, np.random.default_rng(seed + 10), n_boot=2000)
    assert result["se"] == pytest.approx(boot_se, rel=0.12)
    assert boot_mean == pytest.approx(result["difference"], abs=0.3 * boot_se)


def test_both_classes_are_needed():
    with pytest.raises(ValueError, match="positive and negative"):
        delong_test([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
