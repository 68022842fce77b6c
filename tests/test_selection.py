"""Per-task model selection and the collapse verdict, worked by hand."""

import math

import numpy as np
import pytest

from minimtl.training.config import RunConfig
from minimtl.training.models import ARCHITECTURES
from minimtl.training.selection import collapse_verdicts, improved_tasks, task_head, task_losses

DATASET = np.array(["tb", "pneumonia", "tb"])
LABELS = np.array([1, 0, 0])


def test_each_task_loss_is_its_heads_loss_on_its_own_images_only():
    logits = {
        # row 1 is a Kermany image: whatever the TB head says about it must not count in the TB loss
        "tb": np.array([[0.0, math.log(3.0)], [50.0, -50.0], [0.0, 0.0]]),
        "pneumonia": np.array([[9.0, 9.0], [math.log(4.0), 0.0], [-9.0, 9.0]]),
    }
    losses = task_losses(ARCHITECTURES["multitask64"], logits, DATASET, LABELS)
    # TB: row 0 (TB, P(TB) = 3/4) -> -ln 0.75; row 2 (normal, P = 1/2) -> ln 2; mean of the two
    assert losses["tb"] == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)
    # pneumonia: row 1 only (normal, P(normal) = 4/5) -> -ln 0.8
    assert losses["pneumonia"] == pytest.approx(math.log(5 / 4))


def test_the_multiclass_head_is_scored_per_task_on_its_own_images():
    spec = ARCHITECTURES["multiclass"]
    assert task_head(spec, "tb") == "multiclass"
    logits = {"multiclass": np.array([[0.0, 0.0, 0.0], [0.0, 0.0, math.log(2.0)], [math.log(2.0), 0.0, 0.0]])}
    losses = task_losses(spec, logits, DATASET, LABELS)
    # TB rows: row 0 is TB (class 1, P = 1/3), row 2 normal (class 0, P = 2/4) -> (ln 3 + ln 2) / 2
    assert losses["tb"] == pytest.approx((math.log(3) + math.log(2)) / 2)
    # pneumonia row 1 is normal (class 0, P = 1/4)
    assert losses["pneumonia"] == pytest.approx(math.log(4))


def test_a_task_without_images_has_no_loss_and_never_improves():
    logits = {"tb": np.zeros((1, 2)), "pneumonia": np.zeros((1, 2))}
    losses = task_losses(ARCHITECTURES["multitask32"], logits, np.array(["tb"]), np.array([1]))
    assert losses == {"tb": pytest.approx(math.log(2)), "pneumonia": None}
    improved, best = improved_tasks({}, 1, losses)
    assert improved == ["tb"] and set(best) == {"tb"}


def test_each_task_keeps_its_own_best_epoch():
    best = {}
    history = [{"tb": 0.6, "pneumonia": 0.5}, {"tb": 0.5, "pneumonia": 0.55}, {"tb": 0.5, "pneumonia": 0.4}]
    improvements = []
    for epoch, losses in enumerate(history, start=1):
        snapshot = {task: dict(entry) for task, entry in best.items()}
        improved, updated = improved_tasks(best, epoch, losses)
        assert best == snapshot  # the bests passed in are left as they were
        best = updated
        improvements.append(improved)
    assert improvements == [["tb", "pneumonia"], ["tb"], ["pneumonia"]]  # epoch 3's tb ties: the earlier stays
    assert best == {"tb": {"epoch": 2, "val_loss": 0.5}, "pneumonia": {"epoch": 3, "val_loss": 0.4}}
    assert improved_tasks(best, 4, {"tb": float("nan"), "pneumonia": None}) == ([], best)


def test_a_head_that_gives_one_class_to_every_image_of_its_task_is_collapsed():
    logits = {
        "tb": np.array([[2.0, 0.0], [-5.0, 5.0], [1.0, 0.0]]),  # TB images 0 and 2 both "normal"
        "pneumonia": np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]),  # its one image "pneumonia"
    }
    verdicts = collapse_verdicts(ARCHITECTURES["multitask64"], logits, DATASET, "validation")
    assert verdicts["tb"] == {"collapsed": True, "decided_on": "validation", "images": 2, "predicted_positive": 0}
    assert verdicts["pneumonia"]["collapsed"] is True  # one image can only get one class
    logits["tb"][2] = [0.0, 1.0]
    assert collapse_verdicts(ARCHITECTURES["multitask64"], logits, DATASET, "training")["tb"]["collapsed"] is False
    empty = collapse_verdicts(ARCHITECTURES["single-tb"], {"tb": np.zeros((0, 2))}, np.array([], dtype=str), "x")
    assert empty["tb"]["collapsed"] is None


def test_new_runs_select_per_task_and_old_run_folders_read_as_summed():
    assert RunConfig().selection == "per-task"
    stored = RunConfig(selection="per-task").to_dict()
    assert RunConfig.from_dict(stored).selection == "per-task"  # a new config.json reads back as written
    old = {key: value for key, value in stored.items() if key != "selection"}  # written before the field
    assert RunConfig.from_dict(old).selection == "summed"
