"""Binary classification metrics with their counts and 95% intervals.

Every rate is reported as ``{"value", "k", "n", "ci95"}``: k successes out of n, and the Wilson
score interval (Wilson 1927), which behaves well for small n and rates near 0 or 1, unlike the
normal approximation. A rate whose denominator is 0 (no predicted positives, say) is ``None``.

ROC-AUC is the Mann-Whitney probability that a random positive scores above a random negative
(ties count one half), with the Hanley & McNeil (1982) standard error for its interval.
"""

import math

import numpy as np
from scipy.stats import rankdata

__all__ = [
    "Z95",
    "wilson_interval",
    "rate",
    "roc_auc",
    "roc_auc_interval",
    "predicts_one_class",
    "binary_metrics",
    "largest_score_tie",
    "half_dead_warning",
    "HALF_DEAD_SHARE",
]

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson_interval(k, n, z=Z95):
    """Wilson score interval for k successes out of n trials. Returns (low, high); n must be > 0."""
    if n <= 0:
        raise ValueError("the Wilson interval needs n > 0")
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At k = 0 (k = n) the bound is exactly 0 (1); say so rather than leave a rounding residue.
    low = 0.0 if k == 0 else max(0.0, centre - half_width)
    high = 1.0 if k == n else min(1.0, centre + half_width)
    return low, high


def rate(k, n):
    """A proportion with its counts and Wilson 95% interval, or value None when n == 0."""
    k, n = int(k), int(n)
    if n == 0:
        return {"value": None, "k": k, "n": n, "ci95": None}
    low, high = wilson_interval(k, n)
    return {"value": k / n, "k": k, "n": n, "ci95": [low, high]}


def roc_auc(y_true, score):
    """Area under the ROC curve; None when only one class is present.

    Computed from ranks: AUC = (sum of positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg),
    with tied scores sharing their average rank (so a tie counts one half).
    """
    y_true = np.asarray(y_true).astype(bool)
    n_pos = int(y_true.sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_interval(auc, n_pos, n_neg, z=Z95):
    """Hanley-McNeil 95% interval for an AUC from n_pos positives and n_neg negatives."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    half_width = z * math.sqrt(max(variance, 0.0))
    return [max(0.0, auc - half_width), min(1.0, auc + half_width)]


def predicts_one_class(confusion_matrix):
    """True when a head gave every image the same class ([[TN, FP], [FN, TP]] with no predicted
    positive, or no predicted negative): a collapsed ("dead") head. Its scores may still rank the
    images, so its ROC-AUC can be above 0.5.

    With Keras' defaults, Adam's first steps move every weight of the 100k-2M-input Dense layer by
    about lr in the same direction; a unit's pre-activation can jump by tens and its ReLU die for
    every image. When all of a head's units die, its output is constant and it predicts one class.
    """
    (tn, fp), (fn, tp) = confusion_matrix
    return tp + fp == 0 or tn + fn == 0


def binary_metrics(y_true, predicted, score):
    """All of a task's metrics at the model's decision rule, plus ROC-AUC from the scores.

    Inputs:
    - y_true: int array (n,), 1 = disease
    - predicted: int array (n,), the model's 0/1 decision
    - score: float array (n,), the model's P(disease), for ROC-AUC

    Returns a JSON-ready dict: ``n``, ``positives``, ``negatives``, ``confusion_matrix``
    (rows true, columns predicted: [[TN, FP], [FN, TP]]), the rates ``precision``, ``recall``
    (sensitivity), ``specificity``, ``npv``, ``accuracy`` (each as :func:`rate`), ``f1`` and
    ``roc_auc`` (``{"value", "ci95"}``), and ``one_class``: True when every image got the same
    prediction (a collapsed head).
    """
    y_true = np.asarray(y_true).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    if y_true.shape != predicted.shape or y_true.shape != np.shape(score):
        raise ValueError("y_true, predicted and score must have the same shape")
    tp = int(np.sum((y_true == 1) & (predicted == 1)))
    tn = int(np.sum((y_true == 0) & (predicted == 0)))
    fp = int(np.sum((y_true == 0) & (predicted == 1)))
    fn = int(np.sum((y_true == 1) & (predicted == 0)))
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else None
    auc = roc_auc(y_true, score)
    n_pos, n_neg = tp + fn, tn + fp
    return {
        "n": int(len(y_true)),
        "positives": n_pos,
        "negatives": n_neg,
        "confusion_matrix": [[tn, fp], [fn, tp]],
        "precision": rate(tp, tp + fp),
        "recall": rate(tp, tp + fn),
        "specificity": rate(tn, tn + fp),
        "npv": rate(tn, tn + fn),
        "accuracy": rate(tp + tn, len(y_true)),
        "f1": f1,
        "roc_auc": {"value": auc, "ci95": None if auc is None else roc_auc_interval(auc, n_pos, n_neg)},
        "one_class": predicts_one_class([[tn, fp], [fn, tp]]),
    }


HALF_DEAD_SHARE = 0.05  # a head giving one exact score to this share of its distinct test images is half dead


def largest_score_tie(score, pixel_hash):
    """The largest group of *different* images that got exactly the same score.

    Inputs:
    - score: float array (n,), each image's P(disease)
    - pixel_hash: array (n,), each image's pixel hash (pixel-identical copies count once)

    Returns (images, value): how many different images share the most shared score, and that score;
    (0, None) when no two different images share one. Scores of exactly 0 or 1 are left out: those
    are a confident head's saturated probabilities, not a tie.

    Two different images get bit-identical scores when the head computes the same thing for both:
    when every hidden unit of the head is off (ReLU) for them, the head's output is its last bias,
    whatever the image.
    """
    score = np.asarray(score, dtype=np.float64)
    pixel_hash = np.asarray(pixel_hash)
    inside = (score > 0) & (score < 1)
    distinct = {(float(s), h) for s, h in zip(score[inside], pixel_hash[inside])}
    values, counts = np.unique(np.array([s for s, _ in distinct], dtype=np.float64), return_counts=True)
    if len(counts) == 0 or counts.max() < 2:
        return 0, None
    best = int(np.argmax(counts))
    return int(counts[best]), float(values[best])


def half_dead_warning(task, score, pixel_hash, model_words):
    """A warning when many test images of ``task`` got one and the same score (a half-dead head), else None.

    Inputs:
    - task: str; score, pixel_hash: as for :func:`largest_score_tie`, over the task's test images
    - model_words: which model was scored, e.g. "epoch-7 model (best validation epoch)"

    The head is called half dead when at least 3 different images, and at least ``HALF_DEAD_SHARE``
    of them, share one score: for those images the head's hidden units are all off, so it says
    nothing about them (``python cli.py explain`` finds their saliency maps zero everywhere).
    """
    tied, value = largest_score_tie(score, pixel_hash)
    distinct = len(set(np.asarray(pixel_hash).tolist()))
    if tied < 3 or tied < HALF_DEAD_SHARE * distinct:
        return None
    return (
        f"the {task} head of the {model_words} gives {tied} of {distinct} different test images exactly "
        f"the same P({task}) = {value:.6f}: for those images every hidden unit of the head is off (ReLU), so the "
        "score is the head's bias alone and says nothing about the image (a half-dead head; `python cli.py "
        "explain` finds their saliency maps zero everywhere)"
    )
