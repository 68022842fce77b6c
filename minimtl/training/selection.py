"""Which model a run stands for on each task, and whether its head collapsed: both decided before the test.

Model selection (``RunConfig.selection``)
    ``per-task`` (the honest protocol's rule): for each task, the epoch with the lowest loss of the
    head that scores it on that task's own validation images (the TB head on Shenzhen's validation
    images, the pneumonia head on Kermany's; the multiclass head on each task's images). A two-headed
    model is then two models, one per task. ``summed``: the epoch with the lowest validation value of
    the training objective (the heads' losses summed over every validation image), one model for all
    tasks; in a two-headed model the pneumonia loss, over about nine times as many images, dominates it.

Collapse
    A head that gives every image one class has collapsed. Whether it did is decided on the chosen
    model's predictions for the validation images of its task (the training images, for a run
    without validation), before any test image is scored, so a collapsed run can be set apart
    without looking at the test.
"""

import numpy as np

from minimtl.training.objective import total_loss
from minimtl.training.tasks import head_targets, task_predictions

__all__ = ["SELECTIONS", "task_head", "task_losses", "improved_tasks", "collapse_verdicts"]

SELECTIONS = ("per-task", "summed")


def task_head(spec, task):
    """The head whose logits score ``task``: the multiclass head, or the task's own."""
    return "multiclass" if spec.multiclass else task


def task_losses(spec, logits, dataset, labels):
    """Each task's validation loss: the loss of the head that scores it, over that task's own images.

    Inputs: spec: the Architecture; logits: dict head -> (n, K) for n images; dataset: str (n,);
    labels: int (n,), 0/1 within each image's dataset.

    Returns {task: float}, or None for a task with no image among the n. The head's targets on its
    own images do not depend on the other-labels policy (both keep and label them alike), so neither
    does this loss.
    """
    dataset, labels = np.asarray(dataset), np.asarray(labels)
    out = {}
    for task in spec.tasks:
        rows = np.flatnonzero(dataset == task)
        if len(rows) == 0:
            out[task] = None
            continue
        head = task_head(spec, task)
        targets = head_targets(spec, dataset[rows], labels[rows], "negative")[head]
        _, per_head, _ = total_loss({head: logits[head][rows]}, {head: targets})
        out[task] = per_head[head]
    return out


def improved_tasks(best, epoch, losses):
    """Tasks whose loss this epoch is finite and below their best so far, and the updated bests.

    best: {task: {"epoch", "val_loss"}} so far (not modified); epoch: the epoch just finished (1-based);
    losses: {task: float or None}. Returns (list of improved tasks in ``losses`` order, new best dict).
    Ties keep the earlier epoch.
    """
    updated, improved = dict(best), []
    for task, loss in losses.items():
        if loss is None or not np.isfinite(loss):
            continue
        if task not in best or loss < best[task]["val_loss"]:
            updated[task] = {"epoch": epoch, "val_loss": float(loss)}
            improved.append(task)
    return improved, updated


def collapse_verdicts(spec, logits, dataset, decided_on):
    """Per task: did the head give every one of the task's images the same class?

    Inputs: spec; logits: dict head -> (n, K) of the chosen model (for a per-task choice, each task's
    entry is read from the logits of its own model, so pass those); dataset: str (n,); decided_on:
    "validation" or "training", recorded with the verdict.

    Returns {task: {"collapsed": bool or None (no image), "decided_on", "images", "predicted_positive"}}.
    """
    out = {}
    for task, (_, _, predicted) in task_predictions(spec, logits, np.asarray(dataset)).items():
        n, positive = int(len(predicted)), int(predicted.sum())
        out[task] = {
            "collapsed": None if n == 0 else bool(positive == 0 or positive == n),
            "decided_on": decided_on,
            "images": n,
            "predicted_positive": positive,
        }
    return out
