"""Every architecture over several seeds, aggregated with intervals and paired against single-task.

The study ran each model once, unseeded, and compared point estimates that were 10 points apart
with about +-10-point intervals. Here each model is trained with seeds 0..S-1 under one of two
protocols:

- ``study``: the study's random image-level 80/20 split, no validation, the last epoch's model;
- ``honest``: a patient-grouped split with 10% of the training side for validation, and the model
  of the epoch with the best validation loss.

With the same seed every architecture sees the same test images (the split has its own random
stream), so a model's per-seed difference from the single-task baseline is a *paired* comparison.
"""

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, stats

from minimtl.study.delong import delong_test
from minimtl.study.shift_test import SHIFTS as SHIFT_ORDER
from minimtl.training.metrics import predicts_one_class

__all__ = [
    "VARIANTS",
    "GENERALIZATION_OPTIONS",
    "GENERALIZATION_VARIANTS",
    "ALL_VARIANTS",
    "Variant",
    "rows_of",
    "PROTOCOLS",
    "STUDY_TABLE",
    "run_config",
    "summarise",
    "mean_interval",
    "paired_differences",
    "delong_per_seed",
    "detectable_difference",
    "single_seed_detectable",
    "METRICS",
]


@dataclass(frozen=True)
class Variant:
    """One line of the comparison: an architecture and the options that make it.

    ``options`` are RunConfig fields set on top of the comparison's own (for the options beyond the
    study: normalize, crop_borders, augment); ``baseline`` names the variant it is paired with in
    the tables (None: the single-task model of each task, as for the study's own models).
    """

    name: str
    arch: str
    other_labels: str = "negative"
    options: tuple = ()  # ((RunConfig field, value), ...)
    baseline: str | None = None


VARIANTS = (
    Variant("single-pneumonia", "single-pneumonia"),
    Variant("single-tb", "single-tb"),
    Variant("multiclass", "multiclass"),
    Variant("multitask64", "multitask64"),
    Variant("multitask32", "multitask32"),
    Variant("multitask64-ignore", "multitask64", other_labels="ignore"),
)

# The options beyond the study, each as compare can run it on top of a study model: name -> fields.
GENERALIZATION_OPTIONS = {
    "image": (("normalize", "image"),),
    "equalize": (("normalize", "equalize"),),
    "borders": (("crop_borders", True),),
    "augment": (("augment", True),),
    "all": (("normalize", "image"), ("crop_borders", True), ("augment", True)),
}
GENERALIZATION_VARIANTS = tuple(
    Variant(f"{base.name}+{option}", base.arch, base.other_labels, fields, baseline=base.name)
    for base in VARIANTS
    if base.name in ("single-tb", "multitask64", "multitask64-ignore")
    for option, fields in GENERALIZATION_OPTIONS.items()
)
ALL_VARIANTS = {v.name: v for v in VARIANTS + GENERALIZATION_VARIANTS}

# The table rows of the study's models: which run gives each row's numbers for each task
# (single-task is two models, one per task).
ROWS = {
    "single-task": {"tb": "single-tb", "pneumonia": "single-pneumonia"},
    "multi-class": {"tb": "multiclass", "pneumonia": "multiclass"},
    "multi-task 64": {"tb": "multitask64", "pneumonia": "multitask64"},
    "multi-task 32": {"tb": "multitask32", "pneumonia": "multitask32"},
    "multi-task 64, other labels ignored": {"tb": "multitask64-ignore", "pneumonia": "multitask64-ignore"},
}
BASELINE_ROW = "single-task"


def rows_of(variants=VARIANTS):
    """(rows, paired_with) for a comparison of ``variants``: table row -> {task: variant name}, in
    order, and table row -> the row it is paired with (None for the baseline itself). The study's
    models keep their rows above; each variant with an option gets a row of its own, paired with the
    same model under the study's settings."""
    names = {v.name for v in variants}
    rows = {row: {t: n for t, n in tasks.items() if n in names} for row, tasks in ROWS.items()}
    rows = {row: tasks for row, tasks in rows.items() if tasks}
    paired = {row: (None if row == BASELINE_ROW else BASELINE_ROW) for row in rows}
    row_of_variant = {name: row for row, tasks in ROWS.items() for name in tasks.values()}
    for variant in variants:
        if variant.baseline is None:
            continue
        base_row = row_of_variant[variant.baseline]
        option = variant.name.split("+", 1)[1]
        tasks = ("tb",) if variant.arch == "single-tb" else ("tb", "pneumonia")
        row = f"{'single-tb' if variant.arch == 'single-tb' else base_row} + {option}"
        rows[row] = {task: variant.name for task in tasks}
        paired[row] = base_row
    return rows, paired


PROTOCOLS = {
    "study": {"split": "random", "val_fraction": 0.0},
    "honest": {"split": "patient", "val_fraction": 0.1},
}

# The study's Table 1 (precision, recall in percent; test = one random 20%, one unseeded run).
STUDY_TABLE = {
    "single-task": {"pneumonia": (95.7, 97.3), "tb": (81.0, 78.3)},
    "multi-class": {"pneumonia": (96.1, 95.5), "tb": (85.7, 77.1)},
    "multi-task 64": {"pneumonia": (99.5, 99.3), "tb": (98.7, 97.5)},
    "multi-task 32": {"pneumonia": (94.0, 96.0), "tb": (88.9, 81.2)},
}

METRICS = ("precision", "recall", "specificity", "f1", "roc_auc")


def run_config(base, variant, protocol, seed):
    """The RunConfig of one (variant, seed) under a protocol, from the user's base options."""
    return replace(
        base,
        arch=variant.arch,
        other_labels=variant.other_labels,
        seed=seed,
        **PROTOCOLS[protocol],
        **dict(variant.options),
    )


def metric_value(task_metrics, name):
    """A metric as a plain number (None when undefined) from a metrics.json task entry."""
    entry = task_metrics[name]
    return entry["value"] if isinstance(entry, dict) else entry


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
    Returns a list (one per seed) of DeLong results (see minimtl.study.delong) or None."""
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

    # power is about 0.05 at effect 0 and about 1 at 20 standard errors: the root lies between
    return float(optimize.brentq(shortfall, 1e-12, 20 * sd / math.sqrt(n)))


def single_seed_detectable(se, power=0.8, alpha=0.05):
    """The smallest AUC difference one seed's DeLong test detects with ``power``: (z_{1-a/2} + z_power) se."""
    return None if se is None else float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se)


def summarise(per_run, seeds, key="tasks", exclude_collapsed=False, variants=VARIANTS):
    """Aggregate per-run metrics into table rows.

    Inputs:
    - per_run: dict (variant name, seed) -> that run's chosen model:
      ``{"tasks": {task: binary_metrics}, "scores": {task: {"path", "label", "score"}} (optional),
      "reshuffled": {task: binary_metrics} (optional)}``
    - seeds: the list of seeds
    - key: "tasks" (the proper test set) or "reshuffled" (the study notebook's way)
    - exclude_collapsed: leave out every run whose head gave all its test images one class (and, in
      the paired comparisons, every seed where either run did)
    - variants: the comparison's variants (they decide the rows and what each row is paired with)

    Returns {row: {task: {"constant_predictions", "seeds_used", "paired_with", metric: {"per_seed",
    "mean", "sd", "ci95", "n", "vs_baseline": paired differences (with "delong" per seed and
    "detectable" for ROC-AUC) or None}}}}.
    """
    rows, paired_with = rows_of(variants)
    summary = {}
    for row, by_task in rows.items():
        summary[row] = {}
        for task, variant_name in by_task.items():
            runs = [per_run.get((variant_name, seed)) for seed in seeds]
            if any(r is None or key not in r for r in runs):
                continue
            collapsed = [predicts_one_class(r[key][task]["confusion_matrix"]) for r in runs]
            kept = [not c or not exclude_collapsed for c in collapsed]
            base_row = paired_with[row]
            base_name = rows.get(base_row, {}).get(task) if base_row else None
            baseline = [per_run.get((base_name, seed)) for seed in seeds]
            has_baseline = base_name is not None and all(b is not None and key in b for b in baseline)
            if has_baseline:
                base_kept = [
                    not exclude_collapsed or not predicts_one_class(b[key][task]["confusion_matrix"]) for b in baseline
                ]
                paired = [k and bk for k, bk in zip(kept, base_kept)]
            summary[row][task] = {
                "constant_predictions": sum(collapsed),
                "seeds_used": [seed for seed, k in zip(seeds, kept) if k],
                "paired_with": base_row if has_baseline else None,
            }
            for metric in METRICS:
                values = [metric_value(r[key][task], metric) if k else None for r, k in zip(runs, kept)]
                entry = {"per_seed": values, **mean_interval(values, bounds=(0.0, 1.0)), "vs_baseline": None}
                if has_baseline:
                    model_paired = [v if p else None for v, p in zip(values, paired)]
                    base_values = [metric_value(b[key][task], metric) if p else None for b, p in zip(baseline, paired)]
                    entry["vs_baseline"] = paired_differences(model_paired, base_values)
                    if metric == "roc_auc" and key == "tasks":
                        _add_delong(entry["vs_baseline"], runs, baseline, paired, task)
                summary[row][task][metric] = entry
            if key == "tasks" and all("site" in r for r in runs):
                summary[row][task]["site"] = _site_summary(runs, kept, task)
                summary[row][task]["shift"] = _shift_summary(runs, kept, task)
    return summary


def _site_summary(runs, kept, task):
    """Over seeds: how well the task's disease score tells the hospitals' healthy test images apart
    (max(AUC, 1 - AUC)), the AUC itself, and the mean P(disease) of each hospital's healthy images."""
    heads = [r["site"]["tasks"].get(task) if k else None for r, k in zip(runs, kept)]
    out = {
        name: mean_interval([h[name] if h else None for h in heads], bounds=(0.0, 1.0))
        for name in ("separation", "auc")
    }
    for dataset in ("tb", "pneumonia"):
        out[f"probability_{dataset}"] = mean_interval(
            [h["mean_probability"][dataset] if h and h["mean_probability"] else None for h in heads], bounds=(0.0, 1.0)
        )
    return out


def _shift_summary(runs, kept, task):
    """Over seeds: each shift's change of the task's test ROC-AUC."""
    shifted = [r["shift"]["tasks"].get(task, {}).get("shifted", {}) if k else {} for r, k in zip(runs, kept)]
    names = [name for name in SHIFT_ORDER if any(name in s for s in shifted)]
    return {
        name: mean_interval([s.get(name, {}).get("auc_change") for s in shifted], bounds=(-1.0, 1.0)) for name in names
    }


def _add_delong(comparison, runs, baseline, paired, task):
    """Per-seed DeLong tests and what the design could detect, into a ROC-AUC comparison."""

    def scores(entries):
        return [e.get("scores", {}).get(task) if p else None for e, p in zip(entries, paired)]

    per_seed = delong_per_seed(scores(runs), scores(baseline))
    comparison["delong"] = per_seed
    ses = [r["se"] for r in per_seed if r is not None and r["se"] == r["se"]]
    mean_se = float(np.mean(ses)) if ses else None
    comparison["detectable"] = {
        "one_seed": single_seed_detectable(mean_se),
        "all_seeds": detectable_difference(comparison["sd"], comparison["n"]),
        "mean_delong_se": mean_se,
        "seeds": comparison["n"],
    }
