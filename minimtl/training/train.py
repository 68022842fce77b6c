"""A run folder's training: the plain loop (:mod:`minimtl.training.loop`) made durable.

:class:`DurableRun` trains one architecture on one collection into a run folder: it makes (or
reads) the run's split, checkpoints after every epoch, keeps the best validation epoch's weights
(``best.npz``), stops early with ``--patience``, warns about an exploding loss or a collapsed head,
and survives every way a run can stop. With per-task selection (``config.selection``, the default) it
keeps each task's best validation epoch instead (``best-tb.npz``, ``best-pneumonia.npz``: the epoch of
the lowest loss of the task's head on the task's own validation images,
:mod:`minimtl.training.selection`); ``summed`` keeps the epoch of the lowest summed validation loss
(``best.npz``). ``--patience`` watches the summed validation loss under either rule: it decides when
the one network that trains every head stops, on the objective that training minimises; a task whose
own best epoch would come later is cut short by it (docs/study.md). The arithmetic is the loop's:
:func:`~minimtl.training.loop.epoch_batches` and :func:`~minimtl.training.loop.train_epoch`, with the
seed's three streams (:func:`~minimtl.training.loop.seed_streams`).

Resuming restores the weights, Adam's moments and step count, the shuffling generator's state
and the history, so a resumed run ends with exactly the weights of an uninterrupted one. Ctrl-C
is noticed between two steps (never in the middle of an optimiser update) and saved as a
checkpoint inside the epoch.
"""

import signal
import time
from contextlib import contextmanager

import numpy as np

from minimtl.common.atomic import save_npz
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import RunFolder
from minimtl.data import Split, make_split
from minimtl.training.checkpoint import load_checkpoint, save_checkpoint
from minimtl.training.loop import (
    LossSums,
    TrainingDiverged,
    epoch_batches,
    seed_streams,
    steps_per_epoch,
    train_epoch,
    validation_scores,
)
from minimtl.training.models import ARCHITECTURES
from minimtl.training.selection import SELECTIONS, improved_tasks
from minimtl.training.steps import scorer
from minimtl.training.trainer import build_trainer

__all__ = ["TrainingInterrupted", "DurableRun"]


class TrainingInterrupted(Exception):
    """Ctrl-C: the state was saved and the run can be resumed."""


@contextmanager
def _sigint_as_flag(flag):
    """While active, the first Ctrl-C only sets ``flag["stop"]``; a second one stops at once."""

    def handler(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class DurableRun:
    """Train one architecture on one collection, durably, into a run folder.

    Inputs:
    - config: a :class:`minimtl.training.config.RunConfig`; ``config.step`` chooses the training
      step (:mod:`minimtl.training.steps`)
    - collection: a :class:`minimtl.data.Collection` (images uint8 (N, S, S))
    - run_dir: the run folder (a path or a :class:`minimtl.common.run_folder.RunFolder`) for the
      checkpoint, the split and the outputs
    - progress: a progress factory (:mod:`minimtl.common.progress`), one bar per epoch; None for none
    - log: callable taking one line of text, for the per-epoch summary
    """

    def __init__(self, config, collection, run_dir, progress=no_progress, log=print):
        self.config = config
        self.collection = collection
        self.folder = RunFolder(run_dir)
        self.progress = progress or no_progress
        self.log = log
        self.spec = ARCHITECTURES[config.arch]
        if config.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {config.selection!r}; choose one of {', '.join(SELECTIONS)}")
        split_rng, init_rng, self.shuffle_rng = seed_streams(config.seed)
        self._split_rng = split_rng
        # the model, Adam, the step, and the weighting method with the gradient-conflict measurement (sum:
        # the step itself, unchanged); a trunk, weighting or step that do not fit stop it before any weight
        trainer = build_trainer(config, init_rng)
        self.model, self.optimizer = trainer.model, trainer.optimizer
        self.train_step, self.update = trainer.step, trainer.update
        # One dict of the layers' own arrays: the optimiser updates them in place.
        self.params = self.model.params
        self.score_forward, self.eval_batch = scorer(config.step, self.model, config.batch_size)
        self.epoch = 0  # epochs completed
        self.history = []  # one dict per completed epoch
        self.best = None  # {"epoch", "val_loss"} of the best (summed) validation loss so far
        self.best_tasks = {}  # per-task selection: task -> {"epoch", "val_loss"} of its own best so far
        self.in_epoch = None  # where a Ctrl-C stopped inside an epoch
        self.stopped = None  # {"epoch", "reason"} when --patience ended the run early
        self.warnings = []  # what the user should know about this run (exploding loss, collapsed heads)
        self.split = None

    # ----- split ---------------------------------------------------------------------------
    def make_or_load_split(self):
        path = self.folder.split
        if path.exists():
            self.split = Split.load(path, self.collection)
        else:
            full = make_split(
                self.collection,
                self.config.split,
                self._split_rng,
                test_fraction=self.config.test_fraction,
                val_fraction=self.config.val_fraction,
            )
            self.split = full.restrict(self.collection, list(self.spec.datasets))
            self.split.save(path, self.collection)
        if len(self.split.train) == 0:
            raise ValueError(f"the split leaves no training images for {self.config.arch}")
        return self.split

    # ----- checkpoints -----------------------------------------------------------------------
    def _state(self, rng_state):
        return {
            "epoch": self.epoch,
            "rng_state": rng_state,
            "history": self.history,
            "best": self.best,
            "best_tasks": self.best_tasks,
            "in_epoch": self.in_epoch,
            "stopped": self.stopped,
            "warnings": self.warnings,
            "multitask": self.update.state_dict(),
        }

    def save(self, rng_state):
        save_checkpoint(
            self.folder.checkpoint, self.params, self.optimizer.state_dict(copy=False), self._state(rng_state)
        )

    def resume(self):
        """Load the checkpoint of an interrupted run; return the RNG state to continue from."""
        state = load_checkpoint(self.folder.checkpoint, self.params, self.optimizer)
        self.epoch, self.history, self.best = state["epoch"], state["history"], state["best"]
        self.best_tasks = state.get("best_tasks", {})
        self.in_epoch = state["in_epoch"]
        self.stopped, self.warnings = state.get("stopped"), state.get("warnings", [])
        self.shuffle_rng.bit_generator.state = state["rng_state"]
        self.update.load_state_dict(state.get("multitask", {}))
        return state

    # ----- the loop, made durable ---------------------------------------------------------------
    def run_epoch(self, stop_flag):
        """Train one epoch (or the rest of one, after a resume); returns the history row."""
        cfg = self.config
        if self.in_epoch is None:
            epoch_rng_state = self.shuffle_rng.bit_generator.state
            start_step, sums, seconds = 0, LossSums(self.model.head_names), 0.0
        else:  # replay the epoch's permutation from the generator state saved at its start
            epoch_rng_state, start_step = self.in_epoch["rng_state"], self.in_epoch["step"]
            sums, seconds = LossSums.from_dict(self.in_epoch["sums"]), self.in_epoch["sums"]["seconds"]
            self.shuffle_rng.bit_generator.state = epoch_rng_state
        batches = epoch_batches(
            self.collection, self.split.train, cfg.batch_size, self.shuffle_rng, cfg.normalize, cfg.augment, start_step
        )
        n_steps = steps_per_epoch(len(self.split.train), cfg.batch_size)
        started = time.perf_counter()
        bar_label = f"epoch {self.epoch + 1}/{cfg.epochs}"
        with self.progress(bar_label, n_steps - start_step, lambda: f"loss {sums.mean():.4f}") as bar:
            watched = self._watched(
                batches, start_step, n_steps, stop_flag, bar, sums, epoch_rng_state, seconds, started
            )
            try:
                train_epoch(self.train_step, self.spec, watched, cfg.other_labels, sums, self.update)
            except TrainingDiverged as error:
                if self.folder.checkpoint.exists():
                    kept = f"The checkpoint of epoch {self.epoch} stays in {self.folder} (for evaluate)."
                else:
                    kept = "No checkpoint was written (it diverged in its first epoch)."
                raise TrainingDiverged(
                    f"{error} in epoch {self.epoch + 1}; nothing of that epoch was saved. {kept} Training is "
                    "deterministic, so --resume would diverge again at the same step: start a new run with a "
                    f"smaller --lr (this one used {cfg.lr:g})."
                ) from None
        seconds += time.perf_counter() - started
        row = {"epoch": self.epoch + 1, "seconds": round(seconds, 3), "train_loss": sums.mean()}
        for head, loss in sums.head_means().items():
            row[f"train_loss_{head}"] = loss
        row.update(self.update.end_epoch())
        row.update(self.validate())
        return row

    def _watched(self, batches, start_step, n_steps, stop_flag, bar, sums, epoch_rng_state, seconds, started):
        """``batches``, one at a time, with the progress bar advanced after each, and a Ctrl-C noticed
        before the next: the place in the epoch is then saved and TrainingInterrupted raised."""
        for step, batch in enumerate(batches, start=start_step):
            if stop_flag["stop"]:
                seconds += time.perf_counter() - started
                self.in_epoch = {
                    "rng_state": epoch_rng_state,
                    "step": step,
                    "sums": {**sums.to_dict(), "seconds": seconds},
                }
                self.save(epoch_rng_state)
                raise TrainingInterrupted(f"interrupted in epoch {self.epoch + 1} at step {step}/{n_steps}")
            yield batch
            bar.update(1)

    def validate(self):
        """Validation loss and each task's ROC-AUC and accuracy (:func:`~minimtl.training.loop.validation_scores`);
        an empty dict when there is no validation split."""
        cfg = self.config
        return validation_scores(
            self.score_forward,
            self.model,
            self.spec,
            self.collection,
            self.split.val,
            self.eval_batch,
            cfg.normalize,
            cfg.other_labels,
        )

    def fit(self, on_epoch_end=None):
        """Train until ``config.epochs`` epochs are done (or ``config.patience`` epochs pass without a
        better validation loss), checkpointing after each.

        ``on_epoch_end(trainer, row)`` is called after each epoch's checkpoint (for the history
        file). Raises TrainingInterrupted after saving on Ctrl-C, TrainingDiverged on NaN loss.
        """
        if self.config.patience and len(self.split.val) == 0 and self.epoch == 0 and self.in_epoch is None:
            self.log(f"--patience {self.config.patience} is ignored: this run has no validation split")
        stop_flag = {"stop": False}
        with _sigint_as_flag(stop_flag):
            while self.epoch < self.config.epochs and self.stopped is None:
                row = self.run_epoch(stop_flag)
                self.in_epoch = None
                self.epoch += 1
                self.history.append(row)
                self._keep_best(row)
                self._check_patience()
                new_warnings = self._check_epoch(row)
                self.save(self.shuffle_rng.bit_generator.state)
                self.log(_epoch_line(row, self.config.epochs))
                for warning in new_warnings:
                    self.log(f"warning: {warning}")
                if self.stopped:
                    self.log(f"stopped after epoch {self.epoch}: {self.stopped['reason']}")
                if on_epoch_end is not None:
                    on_epoch_end(self, row)

    def _keep_best(self, row):
        """After an epoch: note the best summed validation loss (patience watches it), and save the weights
        of the best epoch by the run's selection rule: best.npz (summed) or best-<task>.npz for each task
        whose own validation loss improved (per-task). Saved before the epoch's checkpoint, which records
        the bests, so a run killed in between resumes with the bests of the previous checkpoint."""
        weights = {f"param/{k}": v for k, v in self.params.items()}
        if (
            "val_loss" in row
            and np.isfinite(row["val_loss"])
            and (self.best is None or row["val_loss"] < self.best["val_loss"])
        ):
            self.best = {"epoch": self.epoch, "val_loss": row["val_loss"]}
            if self.config.selection == "summed":
                save_npz(self.folder.best, weights)
        if self.config.selection == "per-task":
            losses = {task: row.get(f"val_task_loss_{task}") for task in self.spec.tasks}
            improved, self.best_tasks = improved_tasks(self.best_tasks, self.epoch, losses)
            for task in improved:
                save_npz(self.folder.model_file("best", task), weights)

    def _check_patience(self):
        """Early stopping: mark the run stopped when ``config.patience`` epochs have passed since the
        best summed validation loss (runs with a validation split only; whatever the selection rule)."""
        patience = self.config.patience
        if patience and self.best is not None and self.epoch - self.best["epoch"] >= patience:
            self.stopped = {
                "epoch": self.epoch,
                "reason": f"no better validation loss for {patience} epochs (best: epoch {self.best['epoch']})",
            }

    def _check_epoch(self, row):
        """Warnings about an epoch that ended badly but finitely; each kind is recorded once per run.

        - the training or validation loss far above what a network that knows nothing scores (ln K
          per K-class head): training is exploding (a too large --lr);
        - a head that gives every validation image the same class: a collapsed head.
        """
        found = []  # (what identifies the kind, the warning)
        chance = sum(np.log(max(2, head[-1].params["W"].shape[1])) for head in self._heads())
        for which, name in (("train_loss", "training"), ("val_loss", "validation")):
            if row.get(which) is not None and row[which] > 100 * chance:
                text = (
                    f"the {name} loss {row[which]:.3g} is over 100 times that of a network that knows nothing "
                    f"({chance:.2f}): training is exploding; try a smaller --lr (now {self.config.lr:g})"
                )
                found.append(("training is exploding", text))
        for key, value in row.items():
            if key.startswith("val_one_class_") and value:
                kind = f"the {key[len('val_one_class_') :]} head predicts one class"
                found.append(
                    (
                        kind,
                        f"{kind} for every validation image (a collapsed head: docs/study.md); its scores may still "
                        "rank the images",
                    )
                )
        new = []
        for kind, text in found:  # each kind once per run
            if not any(kind in warning for warning in self.warnings + new):
                new.append(text)
        self.warnings.extend(f"epoch {self.epoch}: {text}" for text in new)
        return new

    def _heads(self):
        """Each head's list of layers (its last layer gives the number of classes)."""
        return [[layer for _, layer in head.layers] for head in self.model.heads.values()]


def _epoch_line(row, epochs):
    parts = [f"epoch {row['epoch']}/{epochs}", f"train loss {row['train_loss']:.4f}"]
    if "val_loss" in row:
        parts.append(f"val loss {row['val_loss']:.4f}")
    for key, value in row.items():
        if key.startswith("val_auc_") and value is not None:
            task = key[len("val_auc_") :]
            parts.append(f"{task} auc {value:.3f} acc {row[f'val_accuracy_{task}']:.3f}")
    parts.append(f"{row['seconds']:.1f} s")
    return "  ".join(parts)
