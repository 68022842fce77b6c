"""What each head is taught, and how each disease task is scored.

Training targets (:func:`head_targets`)
    - single-task: the head sees only its own dataset; label 1 = disease.
    - multiclass: one 3-class head; 0 = normal (Kermany and Shenzhen normals merged, as the study
      did), 1 = TB, 2 = pneumonia.
    - multi-task: every image goes through both heads. For an image of the *other* dataset a head
      either learns "negative" (``other_labels="negative"``, the study's choice: label 0, mask 1)
      or nothing (``other_labels="ignore"``: mask 0, so it is left out of that head's loss).
    - single-tb-negatives: one TB head over both datasets, every Kermany image a TB negative: exactly
      multitask64's TB targets without its pneumonia head.

Scoring (:func:`task_predictions`)
    Each disease task is scored only on its own dataset's images, whatever the training policy:
    the TB task on Shenzhen/Montgomery images, the pneumonia task on Kermany images. A score is the
    model's probability of the disease; the prediction is the argmax (softmax heads), or
    score > 0.5 (sigmoid heads), as the study's confusion matrices did.
"""

import numpy as np

from minimtl.nn.losses import sigmoid, softmax

__all__ = ["MULTICLASS_CODES", "OTHER_LABEL_POLICIES", "head_targets", "task_predictions"]

MULTICLASS_CODES = {"normal": 0, "tb": 1, "pneumonia": 2}
OTHER_LABEL_POLICIES = ("negative", "ignore")


def head_targets(spec, dataset, labels, other_labels="negative"):
    """Labels and masks for every head of one batch.

    Inputs:
    - spec: the model's :class:`minimtl.training.models.Architecture`
    - dataset: str array (n,), the dataset of each image ("tb" or "pneumonia")
    - labels: int array (n,), 0/1 within the image's own dataset
    - other_labels: "negative" or "ignore" (multi-task only)

    Returns dict head name -> (targets int64 (n,), mask float64 (n,) of 0/1).
    """
    if other_labels not in OTHER_LABEL_POLICIES:
        raise ValueError(f"other_labels must be one of {OTHER_LABEL_POLICIES}, got {other_labels!r}")
    labels = np.asarray(labels, dtype=np.int64)
    dataset = np.asarray(dataset)
    n = len(labels)
    if spec.multiclass:
        disease_code = np.where(dataset == "tb", MULTICLASS_CODES["tb"], MULTICLASS_CODES["pneumonia"])
        return {"multiclass": (np.where(labels == 1, disease_code, MULTICLASS_CODES["normal"]), np.ones(n))}
    targets = {}
    for head in spec.head_units:
        own = dataset == head
        head_labels = np.where(own, labels, 0)
        mask = np.ones(n) if other_labels == "negative" else own.astype(np.float64)
        targets[head] = (head_labels, mask)
    return targets


def task_predictions(spec, logits, dataset):
    """Disease scores and predictions of each task, on that task's own images only.

    Inputs:
    - spec: the model's Architecture
    - logits: dict head name -> (n, K) logits for n images
    - dataset: str array (n,), the dataset of each image

    Returns dict task -> (index int64 (m,) of the task's images among the n,
    score float64 (m,) = P(disease), predicted int64 (m,) 0/1).
    """
    dataset = np.asarray(dataset)
    out = {}
    for task in spec.tasks:
        index = np.flatnonzero(dataset == task)
        if spec.multiclass:
            z = np.asarray(logits["multiclass"][index], dtype=np.float64)
            code = MULTICLASS_CODES[task]
            score = softmax(z)[:, code]
            predicted = (z.argmax(axis=1) == code).astype(np.int64)
        else:
            z = np.asarray(logits[task][index], dtype=np.float64)
            if z.shape[1] == 1:
                score = sigmoid(z[:, 0])
                predicted = (z[:, 0] > 0).astype(np.int64)
            else:
                score = softmax(z)[:, 1]
                predicted = z.argmax(axis=1).astype(np.int64)
        out[task] = (index, score, predicted)
    return out
