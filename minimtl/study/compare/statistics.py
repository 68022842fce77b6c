"""The statistics of a comparison: means with Student-t intervals over seeds, paired differences with
Wilcoxon's signed-rank test, DeLong's test seed by seed, the smallest difference a design can
detect, Holm's correction for the comparisons beyond the primary ones, an equivalence test (TOST)
for saying "unchanged", and the smallest p-value Wilcoxon's test can give with a number of seeds."""

import math

import numpy as np
from scipy import optimize, stats

from minimtl.study.compare.delong import delong_test

__all__ = [
    "mean_interval",
    "paired_differences",
    "delong_per_seed",
    "detectable_difference",
    "single_seed_detectable",
    "holm",
    "equivalence_test",
    "EQUIVALENCE_MARGIN",
    "smallest_wilcoxon_p",
]

# The margin within which a ROC-AUC difference counts as "unchanged" (TOST), in ROC-AUC units. Fixed
# when the test was added (issue 22), before any run was scored with it; never to be tuned on results.
EQUIVALENCE_MARGIN = 0.02


def mean_interval(values, confidence=0.95, bounds=None):
    """Mean, sample standard deviation and Student-t interval of per-seed values.

    Undefined values (None) are dropped; with fewer than two values the interval is None.
    ``bounds`` (low, high) clips the interval to the metric's possible range: with 3 seeds the
    t quantile is 4.3, and a rate's interval would otherwise run past 0 or 1.
    """
    values = np.array([v for v in values if v is not None], dtype=np.float64)
    if len(values) == 0:
        return {"mean": None, "sd": None, "ci95": None, "n": 0}
    mean = float(values.mean())
    if len(values) < 2:
        return {"mean": mean, "sd": None, "ci95": None, "n": 1}
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * sd / math.sqrt(len(values))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"mean": mean, "sd": sd, "ci95": [low, high], "n": int(len(values))}


def paired_differences(model_values, baseline_values):
    """Per-seed differences model - baseline (seeds where both are defined), their mean with a
    Student-t interval, Wilcoxon's signed-rank p-value, and how many seeds favour each side.

    Wilcoxon makes no normality assumption (with few seeds and collapsed runs the differences are far
    from normal); it is None with fewer than two nonzero differences.
    """
    # rounded: rates are ratios of counts, and 0.9 - 0.8 must tie with 0.8 - 0.7 (float rounding aside)
    diffs = [round(m - b, 12) for m, b in zip(model_values, baseline_values) if m is not None and b is not None]
    nonzero = [d for d in diffs if d != 0]
    wilcoxon_p = float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= 2 else None
    return {
        "per_seed": diffs,
        **mean_interval(diffs, bounds=(-1.0, 1.0)),
        "wilcoxon_p": wilcoxon_p,
        "seeds_better": sum(d > 0 for d in diffs),
        "seeds_worse": sum(d < 0 for d in diffs),
        "seeds_equal": sum(d == 0 for d in diffs),
    }


def delong_per_seed(model_scores, baseline_scores):
    """DeLong's test of the model's ROC-AUC against the baseline's on the same test images, seed by
    seed. Inputs: lists (one per seed) of {"path", "label", "score"} dicts of arrays, or None.
    Returns a list (one per seed) of DeLong results (see minimtl.study.compare.delong) or None."""
    results = []
    for model, baseline in zip(model_scores, baseline_scores):
        if model is None or baseline is None:
            results.append(None)
            continue
        order = {path: i for i, path in enumerate(baseline["path"])}
        if sorted(order) != sorted(model["path"]) or len(set(model["label"])) < 2:
            results.append(None)  # not the same images (should not happen with the same seed), or one class
            continue
        aligned = np.array([order[path] for path in model["path"]])
        results.append(delong_test(model["label"], model["score"], np.asarray(baseline["score"])[aligned]))
    return results


def detectable_difference(sd, n, power=0.8, alpha=0.05):
    """The smallest true mean difference a two-sided paired t-test over ``n`` seeds detects with
    ``power``, when the per-seed differences have standard deviation ``sd`` (noncentral t)."""
    if sd is None or n < 2 or not sd > 0:
        return None
    critical = stats.t.ppf(1 - alpha / 2, n - 1)

    def shortfall(effect):
        shift = effect / (sd / math.sqrt(n))
        # P(T > c) + P(T < -c) for T ~ noncentral t; the second written as P(T' > c) with the shift
        # negated (the noncentral t's symmetry), which stays finite where the direct cdf underflows
        achieved = stats.nct.sf(critical, n - 1, shift) + stats.nct.sf(critical, n - 1, -shift)
        return achieved - power

    # power is alpha at effect 0 and tends to 1: widen the bracket until it holds the root (the bracket
    # scales with the standard error, so a tiny sd, such as equal differences up to rounding, works too)
    high = 20 * sd / math.sqrt(n)
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high))


def single_seed_detectable(se, power=0.8, alpha=0.05):
    """The smallest AUC difference one seed's DeLong test detects with ``power``: (z_{1-a/2} + z_power) se."""
    return None if se is None else float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se)


def holm(p_values):
    """Holm's step-down adjustment of a family of p-values (None entries are left out and stay None).

    Sort the m defined p-values p_(1) <= ... <= p_(m); the adjusted p_(i) is the running maximum of
    (m - j + 1) p_(j) over j <= i, capped at 1. Rejecting where the adjusted p < alpha keeps the
    chance of any false rejection in the family at most alpha, whatever the tests' dependence.
    Returns a list of the same length as ``p_values``, in its order.
    """
    defined = [(p, i) for i, p in enumerate(p_values) if p is not None]
    m = len(defined)
    adjusted = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(defined)):  # ties keep their input order
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def equivalence_test(differences, margin=EQUIVALENCE_MARGIN, alpha=0.05):
    """Two one-sided paired t-tests (TOST) of "the true mean difference lies within +-margin".

    differences: per-seed differences (None entries dropped). With mean d, standard error
    se = sd / sqrt(n) and n - 1 degrees of freedom: p_low = P(T > (d + margin) / se) tests the mean
    against -margin, p_high = P(T < (d - margin) / se) against +margin; p = max(p_low, p_high).
    p < alpha is the same as the (1 - 2 alpha) t interval lying inside (-margin, +margin).

    Returns {"margin", "p", "equivalent": p < alpha, "n"}; p is None (and equivalent False) with
    fewer than two differences; with a zero sd the interval is the mean itself.
    """
    values = np.array([d for d in differences if d is not None], dtype=np.float64)
    n = len(values)
    out = {"margin": margin, "p": None, "equivalent": False, "n": int(n)}
    if n < 2:
        return out
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    if sd == 0.0:
        p = 0.0 if abs(mean) < margin else 1.0
    else:
        se = sd / math.sqrt(n)
        p_low = float(stats.t.sf((mean + margin) / se, n - 1))
        p_high = float(stats.t.cdf((mean - margin) / se, n - 1))
        p = max(p_low, p_high)
    return {**out, "p": p, "equivalent": p < alpha}


def smallest_wilcoxon_p(seeds):
    """The smallest two-sided p-value Wilcoxon's exact signed-rank test can give with ``seeds`` nonzero
    paired differences: every difference on one side, 2 / 2**seeds (1 with fewer than two seeds).
    With 5 seeds it is 0.0625, so no test over 5 seeds reaches p < 0.05."""
    return 1.0 if seeds < 2 else 2.0 ** (1 - seeds)
