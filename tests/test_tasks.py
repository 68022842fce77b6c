"""Targets per head and per-task scoring: the label conventions of the study, written out."""

import numpy as np
import pytest

from minimtl.nn.losses import sigmoid, softmax
from minimtl.training.models import ARCHITECTURES, check_arch_and_head
from minimtl.training.tasks import head_targets, task_predictions

DATASET = np.array(["tb", "pneumonia", "tb", "pneumonia"])
LABELS = np.array([1, 1, 0, 0])


def test_multitask_negative_policy_labels_other_dataset_zero_and_keeps_it():
    targets = head_targets(ARCHITECTURES["multitask64"], DATASET, LABELS, "negative")
    tb_labels, tb_mask = targets["tb"]
    p_labels, p_mask = targets["pneumonia"]
    assert tb_labels.tolist() == [1, 0, 0, 0]  # the pneumonia image is a TB negative
    assert p_labels.tolist() == [0, 1, 0, 0]  # the TB image is a pneumonia negative
    assert tb_mask.tolist() == [1, 1, 1, 1] and p_mask.tolist() == [1, 1, 1, 1]


def test_multitask_ignore_policy_masks_other_dataset_out():
    targets = head_targets(ARCHITECTURES["multitask32"], DATASET, LABELS, "ignore")
    assert targets["tb"][1].tolist() == [1, 0, 1, 0]
    assert targets["pneumonia"][1].tolist() == [0, 1, 0, 1]


def test_multiclass_merges_normals_of_both_sites():
    targets = head_targets(ARCHITECTURES["multiclass"], DATASET, LABELS)
    assert targets["multiclass"][0].tolist() == [1, 2, 0, 0]


def test_single_task_head_sees_its_own_labels():
    targets = head_targets(ARCHITECTURES["single-tb"], np.array(["tb", "tb"]), np.array([0, 1]))
    assert list(targets) == ["tb"]
    assert targets["tb"][0].tolist() == [0, 1]


def test_the_negatives_control_gets_multitask64s_tb_targets_and_no_pneumonia_head():
    control = head_targets(ARCHITECTURES["single-tb-negatives"], DATASET, LABELS, "negative")
    multitask = head_targets(ARCHITECTURES["multitask64"], DATASET, LABELS, "negative")
    assert list(control) == ["tb"]
    assert control["tb"][0].tolist() == multitask["tb"][0].tolist() == [1, 0, 0, 0]  # Kermany: TB negative
    assert control["tb"][1].tolist() == multitask["tb"][1].tolist() == [1, 1, 1, 1]
    spec = ARCHITECTURES["single-tb-negatives"]
    assert spec.datasets == ("tb", "pneumonia") and spec.tasks == ("tb",)  # trains on both, scored on TB only


def test_the_negatives_control_refuses_to_ignore_its_extra_images():
    with pytest.raises(ValueError, match="--other-labels ignore"):
        check_arch_and_head("single-tb-negatives", "softmax", "ignore")
    assert check_arch_and_head("multitask64", "softmax", "ignore").name == "multitask64"
    assert check_arch_and_head("single-tb", "softmax", "ignore").name == "single-tb"  # nothing else to mask


def test_unknown_policy_is_an_error():
    with pytest.raises(ValueError, match="other_labels"):
        head_targets(ARCHITECTURES["multitask64"], DATASET, LABELS, "maybe")


def test_each_task_is_scored_on_its_own_images_only():
    logits = {
        "tb": np.array([[0.0, 2.0], [5.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        "pneumonia": np.array([[0.0, 1.0], [0.0, 3.0], [0.0, 1.0], [2.0, 0.0]]),
    }
    out = task_predictions(ARCHITECTURES["multitask64"], logits, DATASET)
    tb_index, tb_score, tb_pred = out["tb"]
    assert tb_index.tolist() == [0, 2]
    assert tb_pred.tolist() == [1, 0]
    assert tb_score[0] == pytest.approx(1 / (1 + np.exp(-2.0)))  # softmax of (0, 2), class 1
    p_index, _, p_pred = out["pneumonia"]
    assert p_index.tolist() == [1, 3]
    assert p_pred.tolist() == [1, 0]


def test_multiclass_one_vs_rest_on_own_images():
    logits = {"multiclass": np.array([[0, 5, 0], [0, 0, 5], [0, 0, 5], [5, 0, 0.0]])}
    out = task_predictions(ARCHITECTURES["multiclass"], logits, DATASET)
    assert out["tb"][2].tolist() == [1, 0]  # image 2 predicted pneumonia: not TB
    assert out["pneumonia"][2].tolist() == [1, 0]


def test_sigmoid_head_predicts_positive_logit():
    logits = {"tb": np.array([[3.0], [-1.0]])}
    _, score, predicted = task_predictions(ARCHITECTURES["single-tb"], logits, np.array(["tb", "tb"]))["tb"]
    assert predicted.tolist() == [1, 0]
    assert score == pytest.approx(1 / (1 + np.exp(-np.array([3.0, -1.0]))))


def test_softmax_and_sigmoid_are_stable_at_extremes():
    assert np.all(np.isfinite(softmax(np.array([[1000.0, -1000.0]]))))
    assert sigmoid(np.array([-1000.0, 1000.0])).tolist() == [0.0, 1.0]
