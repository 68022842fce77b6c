"""A run folder's training (DurableRun): determinism, Ctrl-C and resume, divergence, patience."""

import json
import signal

import numpy as np
import pytest

import minimtl.training.loop as loop_module
from minimtl.common.run_folder import RunFolder
from minimtl.data import make_phantoms
from minimtl.study.run.write import train_and_report
from minimtl.training.checkpoint import load_checkpoint
from minimtl.training.config import RunConfig
from minimtl.training.loop import TrainingDiverged
from minimtl.training.train import DurableRun, TrainingInterrupted

QUIET = {"progress": None, "log": lambda line: None}


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=6, image_size=12, seed=1)


def config(**changes):
    base = dict(arch="multitask32", image_size=12, batch_size=4, epochs=3, split="patient", val_fraction=0.2, seed=5)
    base.update(changes)
    return RunConfig(**base)


def final_weights(run_dir):
    with np.load(RunFolder(run_dir).checkpoint) as stored:
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


def test_patience_stops_at_the_first_epoch_without_progress_and_records_why(phantoms, tmp_path, monkeypatch):
    """Validation losses 1.0, 0.9, 0.95, 0.97, ...: with patience 2 the run stops after epoch 4 (two
    epochs since the best, epoch 2), keeps epoch 2's weights as its model, and a resume trains no more."""
    losses = iter([1.0, 0.9, 0.95, 0.97, 0.5, 0.4])

    def validate(self):
        return {"val_loss": next(losses)}

    monkeypatch.setattr(DurableRun, "validate", validate)
    lines = []
    metrics = train_and_report(
        config(epochs=6, patience=2), phantoms, tmp_path / "run", progress=None, log=lines.append
    )
    assert metrics["final_epoch"] == 4 and metrics["best_val"]["epoch"] == 2 and metrics["weights"] == "best"
    assert metrics["stopped"] == {"epoch": 4, "reason": "no better validation loss for 2 epochs (best: epoch 2)"}
    assert "stopped after epoch 4: no better validation loss for 2 epochs (best: epoch 2)" in lines
    assert "Stopped early after epoch 4" in (tmp_path / "run" / "report.md").read_text()
    resumed = DurableRun(config(epochs=6, patience=2), phantoms, tmp_path / "run", **QUIET)
    resumed.make_or_load_split()
    resumed.resume()
    resumed.fit()
    assert resumed.epoch == 4  # a finished run stays finished


def test_patience_without_validation_is_ignored_with_a_message(phantoms, tmp_path):
    lines = []
    metrics = train_and_report(
        config(epochs=2, patience=1, val_fraction=0.0), phantoms, tmp_path / "run", progress=None, log=lines.append
    )
    assert "--patience 1 is ignored: this run has no validation split" in lines
    assert metrics["final_epoch"] == 2 and metrics["stopped"] is None and metrics["weights"] == "last"
