"""The training loop, plain: a model's step and batches in, losses out; no file is read or written.

A network trains in memory with three calls (``docs/examples/train_in_memory.py``)::

    step = ReadableStep(model, Adam(model.params, lr=1e-3))
    for epoch in range(epochs):
        losses = train_epoch(step, spec, epoch_batches(collection, train_index, batch_size, rng))
        print(losses.mean())

A run folder's training (:mod:`minimtl.training.train`: checkpoints, resume, Ctrl-C, the best
epoch's weights) is this loop made durable, so a run and this loop compute the same numbers.

A multi-task method beyond the study (``run --weighting``, the gradient-conflict probe) enters as the
``update`` of :func:`train_on_batch` and :func:`train_epoch`, a
:class:`~minimtl.training.multitask_update.MultiTaskUpdate`; without one the step's own
``backward_and_update`` runs, the study's arithmetic.

One seed makes every random choice of a run. ``SeedSequence(seed)`` is split into three
independent streams (:func:`seed_streams`): the split, the initial weights, the shuffling. So the
same seed gives the same test images to every architecture, and changing the architecture never
changes the split.
"""

import numpy as np

from minimtl.data import to_input
from minimtl.data.augment import augment_batch
from minimtl.training.evaluation import dataset_loss, predict_logits, score_tasks
from minimtl.training.objective import total_loss
from minimtl.training.selection import task_losses
from minimtl.training.tasks import head_targets

__all__ = [
    "TrainingDiverged",
    "seed_streams",
    "LossSums",
    "steps_per_epoch",
    "epoch_batches",
    "train_on_batch",
    "train_epoch",
    "validation_scores",
]


class TrainingDiverged(Exception):
    """The training loss became NaN or infinite."""


def seed_streams(seed):
    """Three independent generators from one seed: (split, init, shuffle)."""
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))


class LossSums:
    """The running sums of one epoch's training losses: the total, and each head's.

    ``mean()`` is the epoch's mean total loss per batch; ``head_means()`` each head's mean loss per
    batch over the batches that had a valid label for it (under ``other_labels="ignore"`` a batch of
    one dataset's images has none for the other head: its masked loss 0 is no measurement, and is
    left out), None for a head that had none. ``to_dict()`` / ``from_dict()`` carry the sums across
    an interruption inside an epoch.
    """

    def __init__(self, head_names=(), total=0.0, batches=0):
        self.total = total
        self.batches = batches
        self.heads = {head: 0.0 for head in head_names}  # head -> the sum of its batch losses
        self.labelled = {head: 0 for head in head_names}  # head -> how many batches had a label for it

    def add(self, total, per_head):
        """One batch: its total loss and each head's loss (None: no valid label for the head)."""
        self.total += total
        self.batches += 1
        for head, loss in per_head.items():
            self.heads.setdefault(head, 0.0)
            self.labelled.setdefault(head, 0)
            if loss is not None:
                self.heads[head] += loss
                self.labelled[head] += 1

    def mean(self):
        return self.total / max(self.batches, 1)

    def head_means(self):
        return {head: loss / self.labelled[head] if self.labelled[head] else None for head, loss in self.heads.items()}

    def to_dict(self):
        return {
            "total": self.total,
            "batches": self.batches,
            "heads": dict(self.heads),
            "labelled": dict(self.labelled),
        }

    @classmethod
    def from_dict(cls, values):
        sums = cls((), values["total"], values["batches"])
        sums.heads = dict(values["heads"])
        # a checkpoint from before the counts were kept counted every batch for every head
        sums.labelled = dict(values.get("labelled", {head: values["batches"] for head in sums.heads}))
        return sums


def steps_per_epoch(n_images, batch_size):
    """Batches in one epoch over ``n_images``; the last, partial batch is kept."""
    return -(-n_images // batch_size)


def epoch_batches(collection, index, batch_size, shuffle_rng, normalize="none", augment=False, start_step=0):
    """One epoch over ``collection``'s images ``index`` in a fresh random order.

    Yields (network input float32 (n, 1, S, S), dataset str (n,), labels int64 (n,)) per batch of
    ``batch_size`` (the last one may be smaller), from batch ``start_step`` on.

    Draws from ``shuffle_rng``: the permutation, then, only when ``augment``, one seed for the
    epoch's augmentations (:mod:`minimtl.data.augment`), batch k augmented with the generator
    ``default_rng([seed, k])``. So with the generator's state of the epoch's start, a resumed epoch
    (``start_step`` > 0) replays the same order and the same augmentations, and a run without
    augmentation keeps its stream.
    """
    order = shuffle_rng.permutation(index)
    augment_seed = int(shuffle_rng.integers(2**63)) if augment else None
    for step in range(start_step, steps_per_epoch(len(order), batch_size)):
        batch = order[step * batch_size : (step + 1) * batch_size]
        images = collection.images[batch]
        if augment_seed is not None:
            images = augment_batch(images, np.random.default_rng([augment_seed, step]))
        yield to_input(images, normalize), collection.dataset[batch], collection.labels[batch]


def train_on_batch(step, spec, x, dataset, labels, other_labels="negative", update=None):
    """Forward, loss, backward and update on one batch; returns (total loss, {head: loss or None}).

    Inputs: step: a training step (:mod:`minimtl.training.steps`); spec: the model's Architecture;
    x: float32 (n, 1, S, S) network input; dataset: str (n,); labels: int (n,) 0/1 within each
    image's dataset; other_labels: "negative" or "ignore" (:func:`minimtl.training.tasks.head_targets`);
    update: a :class:`minimtl.training.multitask_update.MultiTaskUpdate` built on ``step`` (a weighting
    method, the gradient-conflict probe), or None: the study's ``step.backward_and_update``.
    A head's loss is None when the batch has no valid label for it (``other_labels="ignore"``, a batch
    of the other dataset's images only): its masked loss is 0 with zero gradient, which trains nothing
    and measures nothing, so neither the epoch's mean nor a weighting method may count it as a loss.
    Raises TrainingDiverged, before the update, when the loss is not finite.
    """
    logits = step.forward(x)
    targets = head_targets(spec, dataset, labels, other_labels)
    total, losses, dlogits = total_loss(logits, targets)
    per_head = {head: loss if targets[head][1].any() else None for head, loss in losses.items()}
    if not np.isfinite(total):
        raise TrainingDiverged(f"the training loss became {total}")
    if update is None:
        step.backward_and_update(dlogits)
    else:  # with --weighting sum the same backward_and_update, the probe beside it on some steps
        update.apply(x, dlogits, per_head)
    return total, per_head


def train_epoch(step, spec, batches, other_labels="negative", sums=None, update=None):
    """Train on every batch of ``batches`` (as :func:`epoch_batches` yields them); returns the LossSums.

    sums: the LossSums to add to (a resumed epoch's; default: new ones). update: the MultiTaskUpdate
    for every batch (:func:`train_on_batch`), or None; its ``end_epoch()`` gives the epoch's history
    columns (conflict, the method's weights) after the last batch.
    """
    sums = sums if sums is not None else LossSums()
    for x, dataset, labels in batches:
        sums.add(*train_on_batch(step, spec, x, dataset, labels, other_labels, update))
    return sums


def validation_scores(forward, model, spec, collection, index, batch_size, normalize="none", other_labels="negative"):
    """The validation loss (the training objective over all of ``index``), each task's own loss (the loss
    of the head that scores it on the task's own images, :func:`minimtl.training.selection.task_losses`)
    and each task's ROC-AUC and accuracy, as one history row's columns: ``val_loss``, ``val_loss_<head>``,
    ``val_task_loss_<task>``, ``val_auc_<task>``, ``val_accuracy_<task>``, ``val_one_class_<task>``; an
    empty dict when ``index`` is empty.

    forward: the scoring forward (:func:`minimtl.training.steps.scorer`) of ``model``."""
    if len(index) == 0:
        return {}
    logits = predict_logits(forward, model.head_names, collection.images, index, batch_size, normalize)
    total, per_head = dataset_loss(spec, logits, collection, index, other_labels)
    row = {"val_loss": total}
    row.update({f"val_loss_{head}": loss for head, loss in per_head.items()})
    own = task_losses(spec, logits, collection.dataset[index], collection.labels[index])
    row.update({f"val_task_loss_{task}": loss for task, loss in own.items() if loss is not None})
    for task, result in score_tasks(spec, logits, collection, index).items():
        row[f"val_auc_{task}"] = result["metrics"]["roc_auc"]["value"]
        row[f"val_accuracy_{task}"] = result["metrics"]["accuracy"]["value"]
        row[f"val_one_class_{task}"] = int(result["metrics"]["one_class"])
    return row
