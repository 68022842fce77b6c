"""Metrics: hand-computed examples, and sklearn as an independent oracle."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from minimtl.training.metrics import binary_metrics, rate, roc_auc, wilson_interval


def test_wilson_interval_textbook_example():
    # 81 of 263 (Newcombe 1998, example): Wilson interval 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=1e-4)
    assert high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_interval_edges_stay_inside_zero_one():
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(3, 10)[0] > 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    # 0 of 10: upper bound z^2 / (n + z^2) = 3.8415 / 13.8415
    assert wilson_interval(0, 10)[1] == pytest.approx(3.841458820694124 / 13.841458820694124)


def test_rate_with_zero_denominator_is_none_not_nan():
    assert rate(0, 0) == {"value": None, "k": 0, "n": 0, "ci95": None}


def test_binary_metrics_hand_example():
    # TN=2, FP=1, FN=1, TP=3
    y_true = [0, 0, 0, 1, 1, 1, 1]
    predicted = [0, 0, 1, 0, 1, 1, 1]
    score = [0.1, 0.2, 0.7, 0.4, 0.8, 0.9, 0.6]
    m = binary_metrics(y_true, predicted, score)
    assert m["confusion_matrix"] == [[2, 1], [1, 3]]
    assert m["precision"]["value"] == 3 / (3 + 1)
    assert m["recall"]["value"] == 3 / (3 + 1)
    assert m["specificity"]["value"] == 2 / (2 + 1)
    assert m["npv"]["value"] == 2 / (2 + 1)
    assert m["accuracy"]["value"] == 5 / 7
    assert m["f1"] == 2 * 3 / (2 * 3 + 1 + 1)
    # AUC: of the 4 x 3 (positive, negative) pairs, 0.4 < 0.7 and 0.6 < 0.7 are misordered -> 10/12
    assert m["roc_auc"]["value"] == pytest.approx(10 / 12)


def test_auc_ties_count_one_half():
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([1, 1], [0.2, 0.3]) is None


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=60))
def test_binary_metrics_match_sklearn(rows):
    y_true = np.array([r[0] for r in rows])
    predicted = np.array([r[1] for r in rows])
    score = np.array([r[2] for r in rows]) / 20.0  # coarse scores: many ties
    m = binary_metrics(y_true, predicted, score)
    if predicted.sum() > 0:
        assert m["precision"]["value"] == pytest.approx(precision_score(y_true, predicted))
    if y_true.sum() > 0:
        assert m["recall"]["value"] == pytest.approx(recall_score(y_true, predicted))
    if m["f1"] is not None:
        assert m["f1"] == pytest.approx(f1_score(y_true, predicted))
    if 0 < y_true.sum() < len(y_true):
        assert m["roc_auc"]["value"] == pytest.approx(roc_auc_score(y_true, score))
        low, high = m["roc_auc"]["ci95"]
        assert low <= m["roc_auc"]["value"] <= high
    for name in ("precision", "recall", "specificity", "accuracy"):
        entry = m[name]
        if entry["value"] is not None:
            assert entry["ci95"][0] <= entry["value"] <= entry["ci95"][1]
            assert not math.isnan(entry["ci95"][0])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0], [0.1, 0.2])
