"""Every architecture over several seeds, aggregated with intervals and paired against its baseline.

The study ran each model once, unseeded, and compared point estimates that were 10 points apart
with about +-10-point intervals. Here each model is trained with seeds 0..S-1 under one of two
protocols:

- ``study``: the study's random image-level 80/20 split, no validation, the last epoch's model;
- ``honest``: a patient-grouped split with 10% of the training side for validation, and the model
  of the epoch with the best validation loss.

With the same seed every architecture sees the same test images (the split has its own random
stream), so a model's per-seed difference from its baseline (single-task for the study's models)
is a *paired* comparison. What runs is in :mod:`minimtl.study.compare.variants`, the statistics in
:mod:`minimtl.study.compare.statistics`; this module puts them together into the tables' rows.
"""

import numpy as np

from minimtl.study.compare.statistics import (
    delong_per_seed,
    detectable_difference,
    mean_interval,
    paired_differences,
    single_seed_detectable,
)
from minimtl.study.compare.variants import METRICS, SECOND_PAIRS, VARIANTS, rows_of
from minimtl.study.explain.shift_test import SHIFTS as SHIFT_ORDER
from minimtl.training.metrics import predicts_one_class

__all__ = ["summarise", "metric_value"]


def metric_value(task_metrics, name):
    """A metric as a plain number (None when undefined) from a metrics.json task entry."""
    entry = task_metrics[name]
    return entry["value"] if isinstance(entry, dict) else entry


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
    "detectable" for ROC-AUC) or None}, "site", "shift" (with saved runs' site and shift results),
    "shift_vs_baseline" ({shift: paired differences of the ROC-AUC change}, where the baseline has
    them too), "also_vs" (rows of :data:`SECOND_PAIRS` whose partner ran): {"row": partner, metric:
    paired differences, "site": ..., "shift": ...}}}}.
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
            baseline = _complete_runs(per_run, rows, base_row, task, seeds, key)
            comparisons = _paired(runs, kept, baseline, key, task, exclude_collapsed) if baseline else {}
            summary[row][task] = {
                "constant_predictions": sum(collapsed),
                "seeds_used": [seed for seed, k in zip(seeds, kept) if k],
                "paired_with": base_row if baseline else None,
            }
            for metric in METRICS:
                values = [metric_value(r[key][task], metric) if k else None for r, k in zip(runs, kept)]
                summary[row][task][metric] = {
                    "per_seed": values,
                    **mean_interval(values, bounds=(0.0, 1.0)),
                    "vs_baseline": comparisons.get(metric),
                }
            if key == "tasks" and all("site" in r for r in runs):
                summary[row][task]["site"] = _site_summary(runs, kept, task)
                summary[row][task]["shift"] = _shift_summary(runs, kept, task)
                if "site" in comparisons:
                    summary[row][task]["site"]["vs_baseline"] = comparisons["site"]
                    summary[row][task]["shift_vs_baseline"] = comparisons["shift"]
            # the study's labelling policy against ignoring the other dataset: same model, same seeds
            other_row = SECOND_PAIRS.get(row)
            other = _complete_runs(per_run, rows, other_row, task, seeds, key)
            if other:
                summary[row][task]["also_vs"] = {
                    "row": other_row,
                    **_paired(runs, kept, other, key, task, exclude_collapsed),
                }
    return summary


def _complete_runs(per_run, rows, row, task, seeds, key):
    """The runs of table row ``row`` for ``task``, one per seed, or None when there is no such row or it
    was not run (or not for every seed)."""
    variant_name = rows.get(row, {}).get(task) if row else None
    runs = [per_run.get((variant_name, seed)) for seed in seeds] if variant_name else []
    return runs if runs and all(r is not None and key in r for r in runs) else None


def _paired(runs, kept, baseline, key, task, exclude_collapsed):
    """Per metric (and for the site separation), the paired comparison of ``runs`` with ``baseline``
    seed by seed; a seed counts only where both runs are kept. ROC-AUC gets DeLong per seed."""
    base_kept = [not exclude_collapsed or not predicts_one_class(b[key][task]["confusion_matrix"]) for b in baseline]
    paired = [k and bk for k, bk in zip(kept, base_kept)]
    out = {}
    for metric in METRICS:
        values = [metric_value(r[key][task], metric) if p else None for r, p in zip(runs, paired)]
        base_values = [metric_value(b[key][task], metric) if p else None for b, p in zip(baseline, paired)]
        out[metric] = paired_differences(values, base_values)
        if metric == "roc_auc" and key == "tasks":
            _add_delong(out[metric], runs, baseline, paired, task)
    if key == "tasks" and all("site" in r for r in runs + baseline):
        separation = [_separation(r, task) if p else None for r, p in zip(runs, paired)]
        base_separation = [_separation(b, task) if p else None for b, p in zip(baseline, paired)]
        out["site"] = paired_differences(separation, base_separation)
        # per shift: the model's ROC-AUC change minus the baseline's (positive: the model loses less)
        changes, base_changes = _auc_changes(runs, paired, task), _auc_changes(baseline, paired, task)
        out["shift"] = {
            name: paired_differences(changes[name], base_changes[name])
            for name in SHIFT_ORDER
            if any(v is not None for v in changes[name] + base_changes[name])
        }
    return out


def _auc_changes(runs, use, task):
    """Per shift (in :data:`SHIFT_ORDER`), each run's change of the task's test ROC-AUC when every test
    image gets that shift; None for a run not ``use``d or a shift not measured."""
    out = {}
    for name in SHIFT_ORDER:
        out[name] = []
        for run, used in zip(runs, use):
            shifted = (run.get("shift") or {}).get("tasks", {}).get(task, {}).get("shifted", {}) if used else {}
            out[name].append(shifted.get(name, {}).get("auc_change"))
    return out


def _separation(run, task):
    head = run["site"]["tasks"].get(task)
    return head["separation"] if head else None


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
    changes = _auc_changes(runs, kept, task)
    return {
        name: mean_interval(values, bounds=(-1.0, 1.0))
        for name, values in changes.items()
        if any(v is not None for v in values)
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
