"""Every run of a comparison on a line of its own, beside the means over seeds.

A mean TB ROC-AUC of 0.68 over three seeds can be three heads near 0.68, or two at 0.87 and one that
collapsed at 0.5; the paired tests say how two models differ, not which runs trained. So table.md ends
with the runs one by one, seed by seed (the runs of one seed share their test images): the epochs each
trained, and per task the epoch whose model is scored, whether that head collapsed (the verdict the run
recorded before the test, :func:`minimtl.study.compare.summarise.collapsed`), its test ROC-AUC and
precision / recall, then the TB model's ROC-AUC at each external site (scored after training; nothing
was chosen by them).
"""

from minimtl.study.compare.summarise import collapsed, metric_value

__all__ = ["run_rows", "render_run_list"]

TASKS = ("tb", "pneumonia")


def run_rows(per_run, seeds, variants):
    """One dict per run, seed by seed and in ``variants``' order (runs not in ``per_run`` left out).

    Inputs: per_run: (variant name, seed) -> that run's entry (:func:`minimtl.study.compare.runs.run_all`);
    seeds: list of ints; variants: the comparison's variant names, in order.
    Returns [{"variant", "seed", "trained" (epochs trained), "tasks": {task: {"epoch" (the scored
    model's), "collapsed", "roc_auc", "precision", "recall"}}, "external": {"set/site": TB ROC-AUC}}],
    numbers plain (None where undefined), ready for summary.json.
    """
    rows = []
    for seed in seeds:
        for variant in variants:
            entry = per_run.get((variant, seed))
            if entry is None:
                continue
            epochs = entry["epochs"]
            tasks = {}
            for task in TASKS:
                if task not in entry["tasks"]:
                    continue
                metrics = entry["tasks"][task]
                model_epoch = epochs["model"][task] if isinstance(epochs["model"], dict) else epochs["model"]
                tasks[task] = {
                    "epoch": model_epoch,
                    "collapsed": bool(collapsed(entry, "tasks", task)),
                    **{name: metric_value(metrics, name) for name in ("roc_auc", "precision", "recall")},
                }
            external = {
                f"{name}/{site}": metric_value(result, "roc_auc")
                for name, document in (entry.get("external") or {}).items()
                for site, result in document["tasks"]["tb"]["sites"].items()
            }
            rows.append({"variant": variant, "seed": seed, "trained": epochs["trained"], "tasks": tasks,
                         "external": external})  # fmt: skip
    return rows


def _number(value, scale=1.0, digits=3):
    return "-" if value is None else f"{scale * value:.{digits}f}"


def render_run_list(rows):
    """Markdown lines: the table of :func:`run_rows` under its heading (nothing for no rows). A task's
    columns appear when some run has that task, an external site's when some run was scored there."""
    if not rows:
        return []
    tasks = [task for task in TASKS if any(task in row["tasks"] for row in rows)]
    sites = list(dict.fromkeys(site for row in rows for site in row["external"]))
    header = ["seed", "variant", "epochs trained"]
    for task in tasks:
        header += [f"{task} model's epoch", f"{task} one class", f"{task} ROC-AUC", f"{task} precision / recall"]
    header += [f"{site} ROC-AUC" for site in sites]
    out = [
        "## Each run",
        "",
        "Seed by seed (the runs of one seed share their test images): the epochs each run trained; per task the "
        "epoch whose model is scored, whether its head collapsed ('yes': every image one class, by the verdict "
        "recorded before the test), its test ROC-AUC and precision / recall in percent; the TB model's ROC-AUC at "
        "each external site (scored after training).",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in rows:
        cells = [str(row["seed"]), row["variant"], str(row["trained"])]
        for task in tasks:
            t = row["tasks"].get(task)
            if t is None:
                cells += ["-"] * 4
                continue
            rates = f"{_number(t['precision'], 100, 1)} / {_number(t['recall'], 100, 1)}"
            cells += [str(t["epoch"]), "yes" if t["collapsed"] else "no", _number(t["roc_auc"]), rates]
        cells += [_number(row["external"].get(site)) for site in sites]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]
