"""Every architecture over several seeds, aggregated with intervals and paired against its baseline.

The study ran each model once, unseeded, and compared point estimates that were 10 points apart
with about +-10-point intervals. Here each model is trained with seeds 0..S-1 under one of two
protocols:

- ``study``: the study's random image-level 80/20 split, no validation, the last epoch's model;
- ``honest``: a patient-grouped split with 10% of the training side for validation, and for each
  task the model of its best validation epoch (``--selection``).

A head counts as collapsed (it gave every image one class) by the verdict its run recorded before
the test, on its validation images (on its training images under the study protocol, which has no
validation; runs made before that verdict existed: by their test predictions).
The site and shift summaries keep the heads that trained apart from the collapsed ones: a constant head
cannot tell the hospitals apart nor lose anything to a shift, which would make it look site-blind and
shift-proof.

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

__all__ = ["summarise", "metric_value", "collapsed"]


def metric_value(task_metrics, name):
    """A metric as a plain number (None when undefined) from a metrics.json task entry."""
    entry = task_metrics[name]
    return entry["value"] if isinstance(entry, dict) else entry


def collapsed(run, key, task):
    """Whether ``task``'s head of one run (a ``per_run`` entry) collapsed: the verdict the run recorded
    before the test (``run["collapsed"]``), or, for runs that did not record one and for the reshuffled
    scores, whether it gave every scored image one class."""
    recorded = (run.get("collapsed") or {}).get(task) if key == "tasks" else None
    return recorded if recorded is not None else predicts_one_class(run[key][task]["confusion_matrix"])


def summarise(per_run, seeds, key="tasks", exclude_collapsed=False, variants=VARIANTS):
    """Aggregate per-run metrics into table rows.

    Inputs:
    - per_run: dict (variant name, seed) -> that run's chosen model:
      ``{"tasks": {task: binary_metrics}, "scores": {task: {"path", "label", "score"}} (optional),
      "collapsed": {task: bool or None} (optional: decided before the test), "reshuffled": {task:
      binary_metrics} (optional), "site", "shift" (optional), "external": {set: external result}
      (optional, :func:`minimtl.study.compare.runs.external_of`)}``
    - seeds: the list of seeds
    - key: "tasks" (the proper test set) or "reshuffled" (the study notebook's way)
    - exclude_collapsed: leave out every run whose head collapsed (:func:`collapsed`; and, in the
      paired comparisons, every seed where either run's did)
    - variants: the comparison's variants (they decide the rows and what each row is paired with)

    Returns {row: {task: {"constant_predictions" (collapsed runs), "collapse_decided" ("before the
    test" or "on test predictions" when some run did not record a verdict), "seeds_used",
    "paired_with", metric: {"per_seed", "mean", "sd", "ci95", "n", "vs_baseline": paired differences
    (with "delong" per seed and "detectable" for ROC-AUC) or None}, "site", "shift" (with saved runs'
    site and shift results; over the heads that trained), "site_collapsed", "shift_collapsed" (the
    collapsed heads, when any), "shift_vs_baseline" ({shift: paired differences of the ROC-AUC
    change}, where the baseline has them too; seeds where both heads trained), "external" ({set:
    :func:`_external_summary`}, where every run was scored on the set), "also_vs" (rows of
    :data:`SECOND_PAIRS` whose partner ran): {"row": partner, metric: paired differences, "site": ...,
    "shift": ..., "external": ...}}}}.
    """
    rows, paired_with = rows_of(variants)
    summary = {}
    for row, by_task in rows.items():
        summary[row] = {}
        for task, variant_name in by_task.items():
            runs = [per_run.get((variant_name, seed)) for seed in seeds]
            if any(r is None or key not in r for r in runs):
                continue
            heads_collapsed = [collapsed(r, key, task) for r in runs]
            kept = [not c or not exclude_collapsed for c in heads_collapsed]
            base_row = paired_with[row]
            baseline = _complete_runs(per_run, rows, base_row, task, seeds, key)
            comparisons = _paired(runs, kept, baseline, key, task, exclude_collapsed) if baseline else {}
            recorded = key == "tasks" and all((r.get("collapsed") or {}).get(task) is not None for r in runs)
            summary[row][task] = {
                "constant_predictions": sum(heads_collapsed),
                "collapse_decided": "before the test" if recorded else "on test predictions",
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
                trained = [not c for c in heads_collapsed]  # a constant head is site-blind and shift-proof
                summary[row][task]["site"] = _site_summary(runs, trained, task)
                summary[row][task]["shift"] = _shift_summary(runs, trained, task)
                if any(heads_collapsed):
                    summary[row][task]["site_collapsed"] = _site_summary(runs, heads_collapsed, task)
                    summary[row][task]["shift_collapsed"] = _shift_summary(runs, heads_collapsed, task)
                if "site" in comparisons:
                    summary[row][task]["site"]["vs_baseline"] = comparisons["site"]
                    summary[row][task]["shift_vs_baseline"] = comparisons["shift"]
            external = _external_summary(runs, kept, task) if key == "tasks" else {}
            for name, by_site in external.items():
                for site, entry in by_site.items():
                    entry["vs_baseline"] = comparisons.get("external", {}).get(name, {}).get(site)
            if external:
                summary[row][task]["external"] = external
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
    """Per metric (and for the site separation, the shift test and each external site), the paired
    comparison of ``runs`` with ``baseline`` seed by seed; a seed counts only where both runs are kept
    (for the site separation and the shift test: where both heads trained). ROC-AUC gets DeLong per seed."""
    base_kept = [not exclude_collapsed or not collapsed(b, key, task) for b in baseline]
    paired = [k and bk for k, bk in zip(kept, base_kept)]
    trained = [not collapsed(r, key, task) and not collapsed(b, key, task) for r, b in zip(runs, baseline)]
    out = {}
    for metric in METRICS:
        values = [metric_value(r[key][task], metric) if p else None for r, p in zip(runs, paired)]
        base_values = [metric_value(b[key][task], metric) if p else None for b, p in zip(baseline, paired)]
        out[metric] = paired_differences(values, base_values)
        if metric == "roc_auc" and key == "tasks":
            _add_delong(out[metric], runs, baseline, paired, task)
    if key == "tasks" and all("site" in r for r in runs + baseline):
        separation = [_separation(r, task) if p else None for r, p in zip(runs, trained)]
        base_separation = [_separation(b, task) if p else None for b, p in zip(baseline, trained)]
        out["site"] = paired_differences(separation, base_separation)
        # per shift: the model's ROC-AUC change minus the baseline's (positive: the model loses less)
        changes, base_changes = _auc_changes(runs, trained, task), _auc_changes(baseline, trained, task)
        out["shift"] = {
            name: paired_differences(changes[name], base_changes[name])
            for name in SHIFT_ORDER
            if any(v is not None for v in changes[name] + base_changes[name])
        }
    if key == "tasks":
        external = _paired_external(runs, baseline, paired, task)
        if external:
            out["external"] = external
    return out


def _external_sets(runs, task):
    """The external sets every run was scored on for ``task``, and each set's sites (in order)."""
    sets = {}
    for name, result in ((runs[0].get("external") or {}) if runs else {}).items():
        if task in result["tasks"] and all(name in (r.get("external") or {}) for r in runs):
            sets[name] = [*result["tasks"][task]["sites"], "pooled"]
    return sets


def _external_auc(run, name, task, site):
    entry = run["external"][name]["tasks"][task]
    return metric_value(entry["pooled"] if site == "pooled" else entry["sites"][site], "roc_auc")


def _external_scores(run, name, task, site):
    """{"path", "label", "score"} of one external site's (or all sites') images, for DeLong."""
    scores = run["external"][name]["scores"][task]
    keep = np.ones(len(scores["path"]), dtype=bool) if site == "pooled" else scores["site"] == site
    return {column: np.asarray(scores[column])[keep] for column in ("path", "label", "score")}


def _external_summary(runs, kept, task):
    """Per external set and site (and "pooled"): the task's ROC-AUC over seeds, and the adult site probe
    (how well P(TB) tells the run's own healthy adults from the site's) over the heads that trained."""
    out = {}
    for name, sites in _external_sets(runs, task).items():
        out[name] = {}
        for site in sites:
            values = [_external_auc(r, name, task, site) if k else None for r, k in zip(runs, kept)]
            probes = [_adult_probe(r, name, site) for r in runs]
            trained = [not collapsed(r, "tasks", task) for r in runs]
            out[name][site] = {
                "roc_auc": {"per_seed": values, **mean_interval(values, bounds=(0.0, 1.0))},
                "adult_site": mean_interval(
                    [p["separation"] if p and t else None for p, t in zip(probes, trained)], bounds=(0.0, 1.0)
                ),
            }
    return out


def _adult_probe(run, name, site):
    probe = run["external"][name].get("adult_site")
    if not probe:
        return None
    return probe["pooled"] if site == "pooled" else probe["sites"].get(site)


def _paired_external(runs, baseline, paired, task):
    """Per external set and site: the ROC-AUC of ``runs`` minus ``baseline``'s seed by seed, with DeLong
    per seed on the same external images, and the paired adult site probe (heads that trained)."""
    out = {}
    both = _external_sets(runs + baseline, task)
    for name, sites in both.items():
        out[name] = {}
        for site in sites:
            values = [_external_auc(r, name, task, site) if p else None for r, p in zip(runs, paired)]
            base_values = [_external_auc(b, name, task, site) if p else None for b, p in zip(baseline, paired)]
            comparison = paired_differences(values, base_values)
            comparison["delong"] = delong_per_seed(
                [_external_scores(r, name, task, site) if p else None for r, p in zip(runs, paired)],
                [_external_scores(b, name, task, site) if p else None for b, p in zip(baseline, paired)],
            )
            trained = [
                not collapsed(r, "tasks", task) and not collapsed(b, "tasks", task) for r, b in zip(runs, baseline)
            ]
            probes = [_adult_probe(r, name, site) if t else None for r, t in zip(runs, trained)]
            base_probes = [_adult_probe(b, name, site) if t else None for b, t in zip(baseline, trained)]
            comparison["adult_site"] = paired_differences(
                [p["separation"] if p else None for p in probes], [p["separation"] if p else None for p in base_probes]
            )
            out[name][site] = comparison
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
