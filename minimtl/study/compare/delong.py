"""DeLong's test: are two ROC-AUCs measured on the same images different?

Two models scored on the same test images give correlated AUCs: an image that is hard for one is
usually hard for the other, so the difference of the AUCs varies much less than two independent
AUCs would. DeLong, DeLong & Clarke-Pearson (1988) estimate that variance without assuming any
distribution of the scores, from each image's *placement*:

    for a positive image i:  V10[i] = share of the negatives it outscores  (ties count one half)
    for a negative image j:  V01[j] = share of the positives that outscore it

The AUC is the mean of either (the Mann-Whitney statistic). For models a and b, with m positives
and n negatives,

    Var(AUC_a - AUC_b) = (s10_aa + s10_bb - 2 s10_ab) / m + (s01_aa + s01_bb - 2 s01_ab) / n

where s10 is the covariance matrix of (V10_a, V10_b) over the positives and s01 that of
(V01_a, V01_b) over the negatives; z = (AUC_a - AUC_b) / sqrt(Var) is compared with the standard
normal. The placements come from ranks (Sun & Xu 2014): a positive's placement is its rank among
all images minus its rank among the positives, divided by n.
"""

import math

import numpy as np
from scipy.stats import norm, rankdata

__all__ = ["placements", "delong_test", "bootstrap_auc_difference"]


def placements(y_true, score):
    """(V10 over the positives, V01 over the negatives, AUC) of one model's scores.

    Inputs: y_true (n_images,) of 0/1, score (n_images,) floats. Both classes must be present.
    """
    y_true = np.asarray(y_true).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    m, n = int(y_true.sum()), int((~y_true).sum())
    if m == 0 or n == 0:
        raise ValueError("DeLong's test needs positive and negative images")
    all_ranks = rankdata(score)  # midranks: ties count one half
    pos_ranks, neg_ranks = rankdata(score[y_true]), rankdata(score[~y_true])
    v10 = (all_ranks[y_true] - pos_ranks) / n  # negatives below each positive
    v01 = 1.0 - (all_ranks[~y_true] - neg_ranks) / m  # positives above each negative
    return v10, v01, float(v10.mean())


def delong_test(y_true, score_a, score_b):
    """DeLong's test of AUC_a - AUC_b for two models scored on the same images.

    Returns a dict: ``auc_a``, ``auc_b``, ``difference`` (a - b), ``se`` (its standard error),
    ``z``, ``p`` (two-sided) and ``ci95`` of the difference. When the two models rank the images
    identically the variance is 0: difference 0, p 1.
    """
    v10_a, v01_a, auc_a = placements(y_true, score_a)
    v10_b, v01_b, auc_b = placements(y_true, score_b)
    s10 = np.cov(np.vstack([v10_a, v10_b]))  # 2 x 2, over the positives
    s01 = np.cov(np.vstack([v01_a, v01_b]))  # 2 x 2, over the negatives
    m, n = len(v10_a), len(v01_a)
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    difference = auc_a - auc_b
    se = math.sqrt(max(float(variance), 0.0)) if m > 1 and n > 1 else float("nan")
    if not se > 0:  # identical rankings (or too few images to estimate a spread)
        z, p = (0.0, 1.0) if difference == 0 else (float("nan"), float("nan"))
    else:
        z = difference / se
        p = float(2 * norm.sf(abs(z)))
    half = 1.959963984540054 * se if se == se else float("nan")
    return {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "difference": difference,
        "se": se,
        "z": z,
        "p": p,
        "ci95": [difference - half, difference + half],
    }


def bootstrap_auc_difference(y_true, score_a, score_b, rng, n_boot=2000):
    """The paired bootstrap's standard error of AUC_a - AUC_b: resample the positives and the
    negatives (with replacement, each class on its own) and score both models on the same draw.
    The check that DeLong's variance is right; returns (mean difference, standard error)."""
    y_true = np.asarray(y_true).astype(bool)
    score_a, score_b = np.asarray(score_a, float), np.asarray(score_b, float)
    pos, neg = np.flatnonzero(y_true), np.flatnonzero(~y_true)
    diffs = np.empty(n_boot)
    for k in range(n_boot):
        index = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        labels = y_true[index]
        diffs[k] = placements(labels, score_a[index])[2] - placements(labels, score_b[index])[2]
    return float(diffs.mean()), float(diffs.std(ddof=1))
