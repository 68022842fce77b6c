"""The training loop: seeded, checkpointed every epoch, resumable to the same last bit.

One seed makes every random choice. ``SeedSequence(seed)`` is split into three independent
streams: the split, the initial weights, the shuffling. So the same seed gives the same test
images to every architecture, and changing the architecture never changes the split.

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
from minimtl.data import Split, make_split, to_input
from minimtl.data.augment import augment_batch
from minimtl.nn.optim import Adam
from minimtl.training.checkpoint import load_checkpoint, save_checkpoint
from minimtl.training.evaluation import dataset_loss, predict_logits, score_tasks
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.multitask_update import MultiTaskUpdate, check_method_options
from minimtl.training.objective import total_loss
from minimtl.training.steps import make_step, scorer
from minimtl.training.tasks import head_targets

__all__ = ["TrainingDiverged", "TrainingInterrupted", "Trainer", "seed_streams"]


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class TrainingInterrupted(Exception):
    """Ctrl-C: the state was saved and the run can be resumed."""


def seed_streams(seed):
    """Three independent generators from one seed: (split, init, shuffle)."""
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))


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


class Trainer:
    """Train one architecture on one collection, writing into a run folder.

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
        split_rng, init_rng, self.shuffle_rng = seed_streams(config.seed)
        self._split_rng = split_rng
        check_method_options(config)  # before any model is built: a trunk, weighting or step that do not fit
        self.model = build_model(config.arch, config.image_size, init_rng, head=config.head, trunk=config.trunk)
        # One dict of the layers' own arrays: the optimiser updates them in place.
        self.params = self.model.params
        self.optimizer = Adam(self.params, lr=config.lr, beta1=config.beta1, beta2=config.beta2, eps=config.eps)
        self.train_step = make_step(config.step, self.model, self.optimizer)
        # the weighting method and the gradient-conflict measurement (sum: the step itself, unchanged)
        self.update = MultiTaskUpdate(config, self.model, self.optimizer, self.train_step)
        self.score_forward, self.eval_batch = scorer(config.step, self.model, config.batch_size)
        self.epoch = 0  # epochs completed
        self.history = []  # one dict per completed epoch
        self.best = None  # {"epoch", "val_loss"} of the best validation loss so far
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
        self.in_epoch = state["in_epoch"]
        self.stopped, self.warnings = state.get("stopped"), state.get("warnings", [])
        self.shuffle_rng.bit_generator.state = state["rng_state"]
        self.update.load_state_dict(state.get("multitask", {}))
        return state

    # ----- one step ----------------------------------------------------------------------------
    def step(self, batch_index, augment_rng=None):
        """Forward, loss, backward and Adam update on one batch; returns (total, per-head losses).

        augment_rng: a Generator to augment the batch's images with (:mod:`minimtl.data.augment`),
        or None."""
        c = self.collection
        images = c.images[batch_index] if augment_rng is None else augment_batch(c.images[batch_index], augment_rng)
        x = to_input(images, self.config.normalize)
        logits = self.train_step.forward(x)
        targets = head_targets(self.spec, c.dataset[batch_index], c.labels[batch_index], self.config.other_labels)
        total, per_head, dlogits = total_loss(logits, targets)
        if not np.isfinite(total):
            if self.folder.checkpoint.exists():
                kept = f"The checkpoint of epoch {self.epoch} stays in {self.folder} (for evaluate)."
            else:
                kept = "No checkpoint was written (it diverged in its first epoch)."
            raise TrainingDiverged(
                f"the training loss became {total} in epoch {self.epoch + 1}; nothing of that epoch was saved. "
                f"{kept} Training is deterministic, so --resume would diverge again at the same step: start a "
                f"new run with a smaller --lr (this one used {self.config.lr:g})."
            )
        self.update.apply(x, dlogits, per_head)
        return total, per_head

    # ----- the loop ------------------------------------------------------------------------------
    def run_epoch(self, stop_flag):
        """Train one epoch (or the rest of one, after a resume); returns the history row."""
        cfg = self.config
        if self.in_epoch is None:
            epoch_rng_state = self.shuffle_rng.bit_generator.state
            start_step, sums = (
                0,
                {"total": 0.0, "batches": 0, "heads": {h: 0.0 for h in self.model.head_names}, "seconds": 0.0},
            )
        else:  # replay the epoch's permutation from the generator state saved at its start
            epoch_rng_state, start_step, sums = (
                self.in_epoch["rng_state"],
                self.in_epoch["step"],
                self.in_epoch["sums"],
            )
            self.shuffle_rng.bit_generator.state = epoch_rng_state
        order = self.shuffle_rng.permutation(self.split.train)
        # --augment: one seed per epoch from the same stream, so a resumed epoch redraws the same
        # augmentations (drawn only when augmenting: runs without it keep their stream)
        augment_seed = int(self.shuffle_rng.integers(2**63)) if cfg.augment else None
        n_steps = -(-len(order) // cfg.batch_size)  # the last, partial batch is kept
        started = time.perf_counter()
        bar_label = f"epoch {self.epoch + 1}/{cfg.epochs}"
        status = lambda: f"loss {sums['total'] / max(sums['batches'], 1):.4f}"  # noqa: E731
        with self.progress(bar_label, n_steps - start_step, status) as bar:
            for step in range(start_step, n_steps):
                if stop_flag["stop"]:
                    sums["seconds"] += time.perf_counter() - started
                    self.in_epoch = {"rng_state": epoch_rng_state, "step": step, "sums": sums}
                    self.save(epoch_rng_state)
                    raise TrainingInterrupted(f"interrupted in epoch {self.epoch + 1} at step {step}/{n_steps}")
                batch = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                augment_rng = None if augment_seed is None else np.random.default_rng([augment_seed, step])
                total, per_head = self.step(batch, augment_rng)
                sums["total"] += total
                sums["batches"] += 1
                for head, loss in per_head.items():
                    sums["heads"][head] += loss
                bar.update(1)
        seconds = sums["seconds"] + time.perf_counter() - started
        row = {"epoch": self.epoch + 1, "seconds": round(seconds, 3), "train_loss": sums["total"] / sums["batches"]}
        for head, loss in sums["heads"].items():
            row[f"train_loss_{head}"] = loss / sums["batches"]
        row.update(self.update.end_epoch())
        row.update(self.validate())
        return row

    def validate(self):
        """Validation loss (the training objective over the whole validation set) and each task's
        ROC-AUC and accuracy; an empty dict when there is no validation split."""
        val = self.split.val
        if len(val) == 0:
            return {}
        logits = predict_logits(
            self.score_forward,
            self.model.head_names,
            self.collection.images,
            val,
            self.eval_batch,
            self.config.normalize,
        )
        total, per_head = dataset_loss(self.spec, logits, self.collection, val, self.config.other_labels)
        row = {"val_loss": total}
        row.update({f"val_loss_{head}": loss for head, loss in per_head.items()})
        for task, result in score_tasks(self.spec, logits, self.collection, val).items():
            row[f"val_auc_{task}"] = result["metrics"]["roc_auc"]["value"]
            row[f"val_accuracy_{task}"] = result["metrics"]["accuracy"]["value"]
            row[f"val_one_class_{task}"] = int(result["metrics"]["one_class"])
        return row

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
                if (
                    "val_loss" in row
                    and np.isfinite(row["val_loss"])
                    and (self.best is None or row["val_loss"] < self.best["val_loss"])
                ):
                    self.best = {"epoch": self.epoch, "val_loss": row["val_loss"]}
                    save_npz(self.folder.best, {f"param/{k}": v for k, v in self.params.items()})
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

    def _check_patience(self):
        """Early stopping: mark the run stopped when ``config.patience`` epochs have passed since the
        best validation loss (runs with a validation split only)."""
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
