"""Score a model on a set of images: logits in batches, the loss, and each task's metrics."""

import numpy as np

from minimtl.data.batches import to_input
from minimtl.training.metrics import binary_metrics
from minimtl.training.models import ARCHITECTURES
from minimtl.training.objective import total_loss
from minimtl.training.steps import scorer
from minimtl.training.tasks import head_targets, task_predictions

__all__ = ["predict_logits", "dataset_loss", "score_tasks", "multiclass_confusion", "score_images"]


def predict_logits(forward, head_names, images, index, batch_size, normalize="none"):
    """Logits of every head for ``images[index]``, in batches: dict head -> float64 (len(index), K).

    forward: a callable from network input (n, 1, S, S) to dict head -> logits, e.g. ``model.forward``
    or :func:`minimtl.training.steps.scorer`'s; head_names: the model's heads; normalize: how the
    pixels become input (the run's own, :func:`minimtl.data.to_input`).
    """
    chunks = {name: [] for name in head_names}
    for start in range(0, len(index), batch_size):
        logits = forward(to_input(images[index[start : start + batch_size]], normalize))
        for name, z in logits.items():
            chunks[name].append(np.asarray(z, dtype=np.float64))
    if len(index) == 0:
        return {name: np.zeros((0, 0)) for name in head_names}
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def dataset_loss(spec, logits, collection, index, other_labels):
    """The training objective over a whole set (not averaged per batch): (total, per-head dict)."""
    targets = head_targets(spec, collection.dataset[index], collection.labels[index], other_labels)
    total, per_head, _ = total_loss(logits, targets)
    return total, per_head


def score_tasks(spec, logits, collection, index):
    """Each task's metrics on its own dataset's images among ``index``.

    Returns dict task -> {"metrics": binary_metrics(...), "image", "y_true", "score", "predicted"}
    where ``image`` holds the collection indices of the task's images; the raw arrays serve the ROC
    plots and the predictions file, not metrics.json.
    """
    results = {}
    for task, (where, score, predicted) in task_predictions(spec, logits, collection.dataset[index]).items():
        y_true = collection.labels[index][where]
        results[task] = {
            "metrics": binary_metrics(y_true, predicted, score),
            "image": np.asarray(index)[where],
            "y_true": y_true,
            "score": score,
            "predicted": predicted,
        }
    return results


def multiclass_confusion(logits, collection, index):
    """The 3x3 confusion matrix of the multiclass head, rows true, columns predicted
    (0 normal, 1 TB, 2 pneumonia), over all the images of ``index``."""
    dataset = collection.dataset[index]
    labels = collection.labels[index]
    true = np.where(labels == 1, np.where(dataset == "tb", 1, 2), 0)
    predicted = logits["multiclass"].argmax(axis=1)
    matrix = np.zeros((3, 3), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix.tolist()


def score_images(model, config, collection, index):
    """Each task's metrics on ``collection``'s images ``index`` (and the 3x3 matrix for multiclass),
    scored the way the run of ``config`` scores (its step's forward, :func:`minimtl.training.steps.scorer`,
    and its normalisation).

    Returns (results, extra): results as :func:`score_tasks`; extra: ``{"multiclass": {"classes",
    "confusion_matrix"}}`` for the multiclass architecture, else empty.
    """
    spec = ARCHITECTURES[config.arch]
    forward, batch_size = scorer(config.step, model, config.batch_size)
    logits = predict_logits(forward, model.head_names, collection.images, index, batch_size, config.normalize)
    results = score_tasks(spec, logits, collection, index)
    extra = {}
    if spec.multiclass:
        extra["multiclass"] = {
            "classes": ["normal", "tb", "pneumonia"],
            "confusion_matrix": multiclass_confusion(logits, collection, index),
        }
    return results, extra
