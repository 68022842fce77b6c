"""The weighting methods and the conflict measurement inside the training loop: sum is the study's step bit
for bit, the measurement changes no number, every method resumes bit-identically, bad options are named."""

import json
import signal
from dataclasses import replace

import numpy as np
import pytest

import minimtl.training.loop as loop_module
import minimtl.training.multitask_update as update_module
from minimtl.common.run_folder import RunFolder
from minimtl.data import make_phantoms, to_input
from minimtl.fast.fused_step import FusedStep
from minimtl.nn.optim import Adam
from minimtl.study.run.saved_run import open_saved_run
from minimtl.study.run.write import train_and_report
from minimtl.training.config import RunConfig
from minimtl.training.loop import LossSums, seed_streams, train_epoch, train_on_batch
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.multitask_update import MultiTaskUpdate, check_method_options, readable_if_needed
from minimtl.training.objective import total_loss
from minimtl.training.steps import ReadableStep, make_step
from minimtl.training.tasks import head_targets
from minimtl.training.train import DurableRun, TrainingInterrupted

QUIET = {"progress": None, "log": lambda line: None}


@pytest.fixture(scope="module")
def phantoms():
    return make_phantoms(n_per_class=6, image_size=24, seed=1)


def config(**changes):
    base = dict(
        arch="multitask32", image_size=12, batch_size=4, epochs=3, split="patient", val_fraction=0.2, seed=5,
        conflict_every=2,
    )  # fmt: skip
    base.update(changes)
    return RunConfig(**base)


def trained(cfg, collection, run_dir):
    trainer = DurableRun(cfg, collection, run_dir, **QUIET)
    trainer.make_or_load_split()
    trainer.fit()
    return trainer


def small(phantoms, size=12):
    return make_phantoms(n_per_class=6, image_size=size, seed=1) if size != phantoms.image_size else phantoms


@pytest.mark.parametrize("step", ["fused", "readable"])
def test_sum_is_the_study_step_bit_for_bit(phantoms, tmp_path, step):
    """The loop as it was before the weighting methods existed, written out by hand: the same weights."""
    collection = small(phantoms)
    cfg = config(step=step, epochs=2, conflict_every=1)  # the conflict probe on every step
    trainer = trained(cfg, collection, tmp_path / "run")
    assert type(trainer.train_step) is (FusedStep if step == "fused" else ReadableStep)
    assert [row["conflict_steps"] for row in trainer.history] == [len(trainer.split.train) // 4 + 1] * 2

    _, init_rng, shuffle_rng = seed_streams(cfg.seed)
    model = build_model(cfg.arch, cfg.image_size, init_rng)
    optimizer = Adam(model.params, lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, eps=cfg.eps)
    by_hand = make_step(step, model, optimizer)
    spec = ARCHITECTURES[cfg.arch]
    for _ in range(cfg.epochs):
        order = shuffle_rng.permutation(trainer.split.train)
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start : start + cfg.batch_size]
            logits = by_hand.forward(to_input(collection.images[batch], "none"))
            targets = head_targets(spec, collection.dataset[batch], collection.labels[batch], "negative")
            by_hand.backward_and_update(total_loss(logits, targets)[2])
    for name, w in model.params.items():
        assert np.array_equal(trainer.params[name], w), name


@pytest.mark.parametrize("changes", [{}, {"step": "readable"}, {"weighting": "uncertainty"}, {"weighting": "dwa"}])
def test_the_conflict_probe_changes_no_training_number(phantoms, tmp_path, changes):
    collection = small(phantoms)
    measured = trained(config(conflict_every=1, **changes), collection, tmp_path / "measured")
    unmeasured = trained(config(conflict_every=0, **changes), collection, tmp_path / "unmeasured")
    for name, w in measured.params.items():
        assert np.array_equal(unmeasured.params[name], w), name
    assert all(row["conflict_steps"] > 0 for row in measured.history)
    assert all(row["conflict_steps"] == 0 and row["conflict_cosine"] is None for row in unmeasured.history)
    assert all(-1 <= row["conflict_cosine"] <= 1 and 0 <= row["conflict_negative"] <= 1 for row in measured.history)


def test_uncertainty_and_dwa_train_alike_on_both_steps(phantoms, tmp_path):
    collection = small(phantoms)
    for weighting in ("uncertainty", "dwa"):
        fused = trained(config(weighting=weighting), collection, tmp_path / f"{weighting}-fused")
        readable = trained(config(weighting=weighting, step="readable"), collection, tmp_path / f"{weighting}-readable")
        for name, w in readable.params.items():
            np.testing.assert_allclose(fused.params[name], w, rtol=0, atol=1e-5, err_msg=name)


class Crash(Exception):
    """Stands for a killed process: nothing is saved beyond the last epoch's checkpoint."""


METHOD_RUNS = [
    pytest.param({"weighting": "uncertainty"}, id="uncertainty"),
    pytest.param({"weighting": "uncertainty", "other_labels": "ignore"}, id="uncertainty-ignore"),
    pytest.param({"weighting": "dwa"}, id="dwa"),
    pytest.param({"weighting": "dwa", "other_labels": "ignore"}, id="dwa-ignore"),
    pytest.param({"weighting": "gradnorm", "step": "readable"}, id="gradnorm"),
    pytest.param({"weighting": "pcgrad", "step": "readable"}, id="pcgrad"),
    pytest.param({"weighting": "mgda", "step": "readable"}, id="mgda"),
    pytest.param({"trunk": "deep", "step": "readable", "image_size": 24}, id="deep"),
    pytest.param({"trunk": "deep", "step": "readable", "image_size": 24, "weighting": "pcgrad"}, id="deep-pcgrad"),
]


@pytest.mark.parametrize("how, at_step", [("ctrl-c", 5), ("crash", 6)])
@pytest.mark.parametrize("changes", METHOD_RUNS)
def test_interrupt_then_resume_is_bit_identical(phantoms, tmp_path, monkeypatch, changes, how, at_step):
    """Stopped inside epoch 2 (Ctrl-C: a checkpoint inside the epoch; crash: back to epoch 1's), then resumed:
    the weights, the method's whole state and the history equal an uninterrupted run's."""
    cfg = config(**changes)
    collection = small(phantoms, cfg.image_size)
    train_and_report(cfg, collection, tmp_path / "straight", **QUIET)
    real_step, calls = loop_module.train_on_batch, {"n": 0}

    def step_then_stop(*args):
        calls["n"] += 1
        result = real_step(*args)
        if calls["n"] == at_step:
            if how == "crash":
                raise Crash()
            signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(loop_module, "train_on_batch", step_then_stop)
    with pytest.raises(TrainingInterrupted if how == "ctrl-c" else Crash):
        train_and_report(cfg, collection, tmp_path / "resumed", **QUIET)
    monkeypatch.setattr(loop_module, "train_on_batch", real_step)
    train_and_report(cfg, collection, tmp_path / "resumed", resume=True, **QUIET)

    stored = {}
    for run in ("straight", "resumed"):
        with np.load(RunFolder(tmp_path / run).checkpoint) as checkpoint:
            stored[run] = {key: checkpoint[key].copy() for key in checkpoint.files if key != "state_json"}
            stored[run]["multitask"] = json.loads(str(checkpoint["state_json"]))["multitask"]
    assert stored["straight"].keys() == stored["resumed"].keys()
    for key, value in stored["straight"].items():
        if key == "multitask":
            assert value == stored["resumed"][key] and value["weighting"] is not None
        else:
            assert np.array_equal(value, stored["resumed"][key]), key
    histories = [(tmp_path / run / "history.csv").read_text().splitlines() for run in ("straight", "resumed")]
    assert [line.split(",")[2:] for line in histories[0]] == [line.split(",")[2:] for line in histories[1]]
    assert (tmp_path / "resumed" / "conflict.png").is_file()


def ignore_run_parts(weighting, step="fused"):
    """A multitask32 model at 12 px, its training step and its MultiTaskUpdate, under --other-labels ignore."""
    cfg = config(weighting=weighting, step=step, other_labels="ignore")
    model = build_model(cfg.arch, cfg.image_size, seed_streams(cfg.seed)[1])
    optimizer = Adam(model.params, lr=cfg.lr, beta1=cfg.beta1, beta2=cfg.beta2, eps=cfg.eps)
    train_step = make_step(cfg.step, model, optimizer)
    return train_step, MultiTaskUpdate(cfg, model, optimizer, train_step)


def mixed_then_pneumonia_only(collection):
    """Two batches as epoch_batches yields them: two tb and two pneumonia images, then four pneumonia images."""
    tb, pneumonia = (np.flatnonzero(collection.dataset == name) for name in ("tb", "pneumonia"))
    for batch in (np.r_[tb[:2], pneumonia[:2]], pneumonia[2:6]):
        yield to_input(collection.images[batch], "none"), collection.dataset[batch], collection.labels[batch]


def test_a_batch_without_tb_labels_moves_no_uncertainty_of_tb(phantoms):
    """The all-pneumonia batch has no tb label: s_tb stays as the mixed batch left it (its masked loss 0 was
    counted as a loss before, and the regulariser's gradient 1/2 moved s_tb), s_pneumonia moves."""
    train_step, update = ignore_run_parts("uncertainty")
    spec, (mixed, pneumonia_only) = ARCHITECTURES["multitask32"], mixed_then_pneumonia_only(small(phantoms))
    train_on_batch(train_step, spec, *mixed, "ignore", update)
    s_tb, s_pneumonia = update.weighting.params["log_variance"].copy()
    losses = train_on_batch(train_step, spec, *pneumonia_only, "ignore", update)[1]
    assert update.weighting.params["log_variance"][0] == s_tb != 0
    assert update.weighting.params["log_variance"][1] != s_pneumonia
    assert losses["tb"] is None and losses["pneumonia"] > 0


def test_the_epoch_mean_losses_leave_out_the_batches_without_the_task(phantoms):
    """DWA's epoch loss of tb and the history's train_loss_tb are the mean over the batches with tb labels:
    here the mixed batch's alone (counting the all-pneumonia batch's 0 would halve it)."""
    train_step, update = ignore_run_parts("dwa")
    spec, batches = ARCHITECTURES["multitask32"], mixed_then_pneumonia_only(small(phantoms))
    sums = train_epoch(train_step, spec, batches, "ignore", update=update)
    update.end_epoch()
    tb_loss = sums.heads["tb"]  # the mixed batch's: the other batch had no tb label
    assert tb_loss > 0 and update.weighting.epoch_losses[0][0] == tb_loss
    assert sums.head_means() == {"tb": tb_loss, "pneumonia": sums.heads["pneumonia"] / 2}
    assert sums.batches == 2 and sums.labelled == {"tb": 1, "pneumonia": 2}
    older = {"total": 1.0, "batches": 2, "heads": {"tb": 0.6}}  # in-epoch sums saved before the counts
    assert LossSums.from_dict(older).head_means() == {"tb": 0.3}


@pytest.mark.parametrize("weighting", ["gradnorm", "pcgrad", "mgda"])
def test_a_gradient_method_trains_the_trunk_on_the_present_task_alone(phantoms, monkeypatch, weighting):
    """On the all-pneumonia batch tb's trunk gradient is 0 and its loss None: the shared weights take the
    pneumonia task's own (weighted) gradient. MGDA took the smallest vector of {0, g_pneumonia}: zero."""
    train_step, update = ignore_run_parts(weighting, step="readable")
    spec, (mixed, pneumonia_only) = ARCHITECTURES["multitask32"], mixed_then_pneumonia_only(small(phantoms))
    written, real_write = [], update_module.write_trunk_gradient

    def keep(trunk, flat, task_gradients):
        written.append((flat.copy(), task_gradients.matrix.copy()))
        real_write(trunk, flat, task_gradients)

    monkeypatch.setattr(update_module, "write_trunk_gradient", keep)
    train_on_batch(train_step, spec, *mixed, "ignore", update)
    train_on_batch(train_step, spec, *pneumonia_only, "ignore", update)
    flat, (g_tb, g_pneumonia) = written[-1]
    assert not g_tb.any() and np.abs(g_pneumonia).max() > 0
    np.testing.assert_array_equal(flat, g_pneumonia)


def test_methods_are_recorded_and_the_history_has_their_columns(phantoms, tmp_path):
    collection = small(phantoms)
    train_and_report(config(weighting="mgda", step="readable", epochs=1), collection, tmp_path / "run", **QUIET)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())["options"]
    assert (stored["weighting"], stored["trunk"], stored["conflict_every"]) == ("mgda", "study", 2)
    assert open_saved_run(tmp_path / "run").config == config(weighting="mgda", step="readable", epochs=1)
    header = (tmp_path / "run" / "history.csv").read_text().splitlines()[0].split(",")
    assert {"conflict_cosine", "conflict_negative", "conflict_steps", "mgda_weight_tb"} <= set(header)
    single = make_phantoms(n_per_class=6, image_size=12, seed=1)
    train_and_report(config(arch="single-tb", epochs=1), single, tmp_path / "single", **QUIET)
    assert "conflict_cosine" not in (tmp_path / "single" / "history.csv").read_text()
    assert not (tmp_path / "single" / "conflict.png").exists()


def test_options_that_do_not_fit_are_named():
    with pytest.raises(ValueError, match="--weighting pcgrad weighs two tasks.*--arch single-tb has one head"):
        check_method_options(config(arch="single-tb", weighting="pcgrad", step="readable"))
    with pytest.raises(ValueError, match="--arch multiclass has one head"):
        check_method_options(config(arch="multiclass", weighting="uncertainty"))
    with pytest.raises(ValueError, match="--trunk deep: the fused step covers only the study's.*--step readable"):
        check_method_options(config(trunk="deep"))
    with pytest.raises(ValueError, match="--weighting gradnorm needs each task's gradient.*--step readable"):
        check_method_options(config(weighting="gradnorm"))
    with pytest.raises(ValueError, match="unknown weighting 'nash'"):
        check_method_options(config(weighting="nash"))
    check_method_options(config(arch="single-tb", trunk="deep", step="readable"))  # a deep single-task model is fine
    check_method_options(config(weighting="uncertainty"))  # loss scaling runs on the fused step

    converted, message = readable_if_needed(config(trunk="deep"))
    assert converted == replace(config(trunk="deep"), step="readable")
    assert "fused step covers only the study's one-convolution trunk" in message and "--step readable" in message
    assert readable_if_needed(config(weighting="dwa")) == (config(weighting="dwa"), None)
    assert readable_if_needed(config(weighting="mgda", step="readable"))[1] is None
