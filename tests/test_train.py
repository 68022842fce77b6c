"""A run folder's training (DurableRun): determinism, Ctrl-C and resume, divergence, patience."""

import json
import signal

import numpy as np
import pytest

import minimtl.training.loop as loop_module
from minimtl.common.run_folder import RunFolder
from minimtl.data import make_phantoms
from minimtl.study.run.saved_run import open_saved_run
from minimtl.study.run.write import train_and_report
from minimtl.training.checkpoint import load_checkpoint
from minimtl.training.config import RunConfig
from minimtl.training.loop import TrainingDiverged
from minimtl.training.tasks import task_predictions
from minimtl.training.train import DurableRun, TrainingInterrupted

QUIET = {"progress": None, "log": lambda line: None}


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=6, image_size=12, seed=1)


def config(**changes):
    base = dict(arch="multitask32", image_size=12, batch_size=4, epochs=3, split="patient", val_fraction=0.2, seed=5)
    base.update(changes)
    return RunConfig(**base)


def final_weights(run_dir, name="checkpoint.npz"):
    with np.load(RunFolder(run_dir).path / name) as stored:
        return {key: stored[key].copy() for key in stored.files if key.startswith("param/")}


def test_same_seed_gives_identical_weights_and_metrics(phantoms, tmp_path):
    first = train_and_report(config(), phantoms, tmp_path / "a", **QUIET)
    second = train_and_report(config(), phantoms, tmp_path / "b", **QUIET)
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert all(np.array_equal(a[key], b[key]) for key in a)
    assert first["tasks"] == second["tasks"]


def test_another_seed_gives_other_weights(phantoms, tmp_path):
    train_and_report(config(epochs=1), phantoms, tmp_path / "a", **QUIET)
    train_and_report(config(epochs=1, seed=6), phantoms, tmp_path / "b", **QUIET)
    a, b = final_weights(tmp_path / "a"), final_weights(tmp_path / "b")
    assert not np.array_equal(a["param/trunk.conv.W"], b["param/trunk.conv.W"])


def steps_per_epoch(run_dir):
    trainer = DurableRun(config(), make_phantoms(n_per_class=6, image_size=12, seed=1), run_dir, **QUIET)
    return -(-len(trainer.make_or_load_split().train) // config().batch_size)


class Crash(Exception):
    """Stands for a killed process: nothing is saved beyond the last epoch's checkpoint."""


@pytest.mark.parametrize("how, epoch, step", [("ctrl-c", 1, 2), ("ctrl-c", 2, 1), ("crash", 2, 2)])
def test_interrupt_then_resume_ends_with_the_uninterrupted_weights(phantoms, tmp_path, monkeypatch, how, epoch, step):
    train_and_report(config(), phantoms, tmp_path / "straight", **QUIET)
    interrupt_at_step = (epoch - 1) * steps_per_epoch(tmp_path / "straight") + step

    real_step = loop_module.train_on_batch
    calls = {"n": 0}

    def step_then_ctrl_c(*args):
        calls["n"] += 1
        result = real_step(*args)
        if calls["n"] == interrupt_at_step:
            if how == "crash":
                raise Crash()
            signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C during this step
        return result

    monkeypatch.setattr(loop_module, "train_on_batch", step_then_ctrl_c)
    inherited = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a background job
    with pytest.raises(TrainingInterrupted if how == "ctrl-c" else Crash):
        train_and_report(config(), phantoms, tmp_path / "resumed", **QUIET)
    monkeypatch.setattr(loop_module, "train_on_batch", real_step)
    assert signal.getsignal(signal.SIGINT) is inherited  # the handler it found is put back

    metrics = train_and_report(config(), phantoms, tmp_path / "resumed", resume=True, **QUIET)
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert np.array_equal(straight[key], resumed[key]), key
    straight_metrics = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert metrics["tasks"] == straight_metrics["tasks"]
    assert metrics["task_models"] == straight_metrics["task_models"]  # each task chose the same epoch
    for name in ("best-tb.npz", "best-pneumonia.npz"):  # and kept the same weights for it
        straight_best, resumed_best = (final_weights(tmp_path / which, name) for which in ("straight", "resumed"))
        assert all(np.array_equal(straight_best[key], resumed_best[key]) for key in straight_best), name
    history = [line.split(",")[2] for line in (tmp_path / "resumed" / "history.csv").read_text().splitlines()]
    straight_history = [line.split(",")[2] for line in (tmp_path / "straight" / "history.csv").read_text().splitlines()]
    assert history == straight_history  # the train losses, interrupted epoch included


def test_diverged_loss_stops_and_keeps_the_last_good_checkpoint(phantoms, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    train_and_report(config(epochs=1), phantoms, run_dir, **QUIET)
    good = final_weights(run_dir)

    def nan_loss(logits, targets):
        return float("nan"), {}, {}

    monkeypatch.setattr(loop_module, "total_loss", nan_loss)
    trainer = DurableRun(config(epochs=2), phantoms, run_dir, **QUIET)
    trainer.make_or_load_split()
    trainer.resume()
    with pytest.raises(TrainingDiverged, match="nan"):
        trainer.fit()
    after = final_weights(run_dir)
    assert all(np.array_equal(good[key], after[key]) for key in good)


def test_checkpoint_holds_adam_state_and_epoch(phantoms, tmp_path):
    run_dir = tmp_path / "run"
    train_and_report(config(epochs=2), phantoms, run_dir, **QUIET)
    trainer = DurableRun(config(epochs=2), phantoms, run_dir, **QUIET)
    state = load_checkpoint(RunFolder(run_dir).checkpoint, trainer.params, trainer.optimizer)
    assert state["epoch"] == 2 and state["in_epoch"] is None
    assert trainer.optimizer.t == 2 * steps_per_epoch(run_dir)
    assert len(state["history"]) == 2


@pytest.mark.parametrize("selection", ["per-task", "summed"])
def test_patience_stops_at_the_first_epoch_without_progress_and_records_why(phantoms, tmp_path, monkeypatch, selection):
    """Summed validation losses 1.0, 0.9, 0.95, 0.97, ...: with patience 2 the run stops after epoch 4 (two
    epochs since the best, epoch 2), whatever the selection rule; it keeps epoch 2's weights as its model
    (summed), or each task's own best epoch (per-task: TB 3, pneumonia 2), and a resume trains no more."""
    losses = iter([(1.0, 0.5, 0.5), (0.9, 0.6, 0.3), (0.95, 0.4, 0.55), (0.97, 0.45, 0.52), (0.5, 0.1, 0.1)])

    def validate(self):
        total, tb, pneumonia = next(losses)
        return {"val_loss": total, "val_task_loss_tb": tb, "val_task_loss_pneumonia": pneumonia}

    monkeypatch.setattr(DurableRun, "validate", validate)
    lines = []
    run_config = config(epochs=6, patience=2, selection=selection)
    metrics = train_and_report(run_config, phantoms, tmp_path / "run", progress=None, log=lines.append)
    assert metrics["final_epoch"] == 4 and metrics["best_val"]["epoch"] == 2 and metrics["weights"] == "best"
    assert metrics["stopped"] == {"epoch": 4, "reason": "no better validation loss for 2 epochs (best: epoch 2)"}
    assert "stopped after epoch 4: no better validation loss for 2 epochs (best: epoch 2)" in lines
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Stopped early after epoch 4" in report
    epochs = {"tb": 3, "pneumonia": 2} if selection == "per-task" else {"tb": 2, "pneumonia": 2}
    files = {"tb": "best-tb.npz", "pneumonia": "best-pneumonia.npz"} if selection == "per-task" else None
    assert metrics["selection"] == selection
    for task, epoch in epochs.items():
        assert metrics["task_models"][task] == {
            "weights": "best", "file": files[task] if files else "best.npz", "epoch": epoch
        }  # fmt: skip
        assert f"| {task} | {epoch} |" in report  # report.md says which epoch scores each task
    saved = {path.name for path in (tmp_path / "run").glob("best*.npz")}
    assert saved == (set(files.values()) if files else {"best.npz"})
    resumed = DurableRun(run_config, phantoms, tmp_path / "run", **QUIET)
    resumed.make_or_load_split()
    resumed.resume()
    resumed.fit()
    assert resumed.epoch == 4  # a finished run stays finished


def test_each_task_keeps_the_weights_of_its_own_best_validation_epoch(phantoms, tmp_path):
    """Per-task selection on real validation losses: each task's epoch is the lowest of its own column
    of history.csv, and its best-<task>.npz holds the weights a run stopped at that epoch ends with."""
    metrics = train_and_report(config(epochs=4, lr=3e-3), phantoms, tmp_path / "run", **QUIET)
    history = open_saved_run(tmp_path / "run").history
    for task in ("tb", "pneumonia"):
        column = [row[f"val_task_loss_{task}"] for row in history]
        epoch = metrics["task_models"][task]["epoch"]
        assert epoch == 1 + int(np.argmin(column))
        shorter = tmp_path / f"until-{task}"
        train_and_report(config(epochs=epoch, lr=3e-3), phantoms, shorter, **QUIET)
        kept, reference = final_weights(tmp_path / "run", f"best-{task}.npz"), final_weights(shorter)
        assert all(np.array_equal(kept[key], reference[key]) for key in reference), task
    run = open_saved_run(tmp_path / "run")
    assert run.epoch_for("tb") == metrics["task_models"]["tb"]["epoch"]
    assert run.weights_file_for("pneumonia").name == "best-pneumonia.npz"
    assert set(metrics["collapse"]) == {"tb", "pneumonia"}
    assert all(verdict["decided_on"] == "validation" for verdict in metrics["collapse"].values())
    # the verdict counts the validation images' predictions of each task's own model, not the test images'
    split = run.split(phantoms)
    assert len(split.val) != len(split.test)  # so a verdict made on the test images could not pass
    for task, verdict in metrics["collapse"].items():
        logits = run.logits(task, phantoms.images, split.val)
        _, _, predicted = task_predictions(run.spec, logits, phantoms.dataset[split.val])[task]
        assert (verdict["images"], verdict["predicted_positive"]) == (len(predicted), int(predicted.sum())), task


def test_patience_without_validation_is_ignored_with_a_message(phantoms, tmp_path):
    lines = []
    metrics = train_and_report(
        config(epochs=2, patience=1, val_fraction=0.0), phantoms, tmp_path / "run", progress=None, log=lines.append
    )
    assert "--patience 1 is ignored: this run has no validation split" in lines
    assert metrics["final_epoch"] == 2 and metrics["stopped"] is None and metrics["weights"] == "last"
    # without validation each task's model is the last epoch's, and its collapse is decided on its
    # training images (still before the test)
    assert metrics["selection"] is None
    assert {m["weights"] for m in metrics["task_models"].values()} == {"last"}
    assert all(v["decided_on"] == "training" and v["images"] > 0 for v in metrics["collapse"].values())
