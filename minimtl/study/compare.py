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
from scipy import stats

from minimtl.training.metrics import predicts_one_class

__all__ = [
    "VARIANTS",
    "Variant",
    "PROTOCOLS",
    "STUDY_TABLE",
    "run_config",
    "summarise",
    "mean_interval",
    "paired_differences",
    "METRICS",
]


@dataclass(frozen=True)
class Variant:
    """One line of the comparison: an architecture and the options that make it."""

    name: str
    arch: str
    other_labels: str = "negative"


VARIANTS = (
    Variant("single-pneumonia", "single-pneumonia"),
    Variant("single-tb", "single-tb"),
    Variant("multiclass", "multiclass"),
    Variant("multitask64", "multitask64"),
    Variant("multitask32", "multitask32"),
    Variant("multitask64-ignore", "multitask64", other_labels="ignore"),
)

# Which run gives each table row's numbers for each task; single-task is two models.
ROWS = {
    "single-task": {"tb": "single-tb", "pneumonia": "single-pneumonia"},
    "multi-class": {"tb": "multiclass", "pneumonia": "multiclass"},
    "multi-task 64": {"tb": "multitask64", "pneumonia": "multitask64"},
    "multi-task 32": {"tb": "multitask32", "pneumonia": "multitask32"},
    "multi-task 64, other labels ignored": {"tb": "multitask64-ignore", "pneumonia": "multitask64-ignore"},
}
BASELINE_ROW = "single-task"

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
    return replace(base, arch=variant.arch, other_labels=variant.other_labels, seed=seed, **PROTOCOLS[protocol])


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
    """Per-seed differences model - baseline (seeds where both are defined) and their interval."""
    diffs = [m - b for m, b in zip(model_values, baseline_values) if m is not None and b is not None]
    return {"per_seed": diffs, **mean_interval(diffs, bounds=(-1.0, 1.0))}


def summarise(per_run, seeds, key="tasks"):
    """Aggregate per-run metrics into table rows.

    Inputs:
    - per_run: dict (variant name, seed) -> metrics dict of that run's chosen model:
      ``{"tasks": {task: binary_metrics}, "reshuffled": {task: binary_metrics} (optional)}``
    - seeds: the list of seeds
    - key: "tasks" (the proper test set) or "reshuffled" (the study notebook's way)

    Returns {row: {task: {metric: {"per_seed", "mean", "sd", "ci95", "n",
    "vs_single_task": paired differences or None}}}}.
    """
    summary = {}
    for row, by_task in ROWS.items():
        summary[row] = {}
        for task, variant_name in by_task.items():
            runs = [per_run.get((variant_name, seed)) for seed in seeds]
            if any(r is None or key not in r for r in runs):
                continue
            summary[row][task] = {
                "constant_predictions": sum(predicts_one_class(r[key][task]["confusion_matrix"]) for r in runs)
            }
            for metric in METRICS:
                values = [metric_value(r[key][task], metric) for r in runs]
                entry = {"per_seed": values, **mean_interval(values, bounds=(0.0, 1.0)), "vs_single_task": None}
                if row != BASELINE_ROW:
                    baseline = [per_run.get((ROWS[BASELINE_ROW][task], seed)) for seed in seeds]
                    if all(b is not None and key in b for b in baseline):
                        base_values = [metric_value(b[key][task], metric) for b in baseline]
                        entry["vs_single_task"] = paired_differences(values, base_values)
                summary[row][task][metric] = entry
    return summary
