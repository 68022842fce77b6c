"""The reader of a run folder (SavedRun): what a finished run stands for, per task, read from its files."""

import json
import shutil

import numpy as np
import pytest

from minimtl.data import make_phantoms
from minimtl.study.run.saved_run import RunError, evaluate_saved_run, open_saved_run
from minimtl.study.run.write import train_and_report
from minimtl.training.config import RunConfig

QUIET = {"progress": None, "log": lambda line: None}


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=6, image_size=12, seed=1)


def finished_run(phantoms, folder, selection):
    run_dir = folder / "run"
    config = RunConfig(
        arch="multitask32", image_size=12, batch_size=4, epochs=3, split="patient", val_fraction=0.2,
        selection=selection,
    )  # fmt: skip
    train_and_report(config, phantoms, run_dir, **QUIET)
    return run_dir


@pytest.fixture(scope="module")
def finished(phantoms, tmp_path_factory):
    """A run with the default, per-task selection."""
    return finished_run(phantoms, tmp_path_factory.mktemp("reader"), "per-task")


@pytest.fixture(scope="module")
def summed(phantoms, tmp_path_factory):
    return finished_run(phantoms, tmp_path_factory.mktemp("summed"), "summed")


@pytest.mark.parametrize("selection", ["per-task", "summed"])
def test_a_finished_run_reads_back_what_it_wrote(finished, summed, phantoms, selection):
    folder = finished if selection == "per-task" else summed
    run = open_saved_run(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert run.finished and run.metrics == metrics and run.synthetic and run.data_dir is None
    assert [int(row["epoch"]) for row in run.history] == [1, 2, 3]
    assert run.chosen_weights == metrics["weights"] == "best"
    for task in ("tb", "pneumonia"):
        epoch = metrics["task_models"][task]["epoch"]
        assert run.weights_for(task) == "best" and run.epoch_for(task) == epoch
        if selection == "summed":
            assert epoch == metrics["best_val"]["epoch"] and run.weights_file_for(task).name == "best.npz"
        else:  # each task's own best epoch: the lowest of its own validation loss column
            column = [row[f"val_task_loss_{task}"] for row in run.history]
            assert epoch == 1 + int(np.argmin(column)) and run.weights_file_for(task).name == f"best-{task}.npz"
        assert len(run.scores()[task]["score"]) == metrics["best_val"]["tasks"][task]["n"]
        assert run.collapsed_for(task) == metrics["collapse"][task]["collapsed"]
    if selection == "summed":
        assert run.model_for("tb") is run.model_for("pneumonia")  # one file, loaded once
    else:
        assert run.model_for("tb") is not run.model_for("pneumonia")  # a model per task
    assert run.task_metrics() == metrics["best_val"]["tasks"]
    assert evaluate_saved_run(run, phantoms)["tasks"] == metrics["best_val"]["tasks"]  # scored again: the same
    last = open_saved_run(finished, weights="last")
    assert last.task_metrics() == metrics["tasks"] and last.epoch_for("tb") == metrics["final_epoch"]
    assert evaluate_saved_run(last, phantoms)["tasks"] == metrics["tasks"]
    with pytest.raises(ValueError, match="multitask32 has no covid head; its tasks are tb, pneumonia"):
        run.weights_for("covid")


def test_an_unfinished_run_stands_for_its_best_epoch_once_it_has_one(finished, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    (copy / "metrics.json").unlink()
    run = open_saved_run(copy)
    assert not run.finished and run.chosen_weights == "best"
    with pytest.raises(RunError, match="has not finished"):
        run.metrics  # noqa: B018
    (copy / "best-tb.npz").unlink()  # history.csv still records validation losses: the file is missing
    with pytest.raises(RunError, match="best-tb.npz, which holds it, is missing"):
        open_saved_run(copy).model_for("tb")
    np.testing.assert_array_equal(
        open_saved_run(copy, weights="last").model_for("tb").params["trunk.conv.W"],
        open_saved_run(finished, weights="last").model_for("tb").params["trunk.conv.W"],
    )
