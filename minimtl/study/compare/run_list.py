"""Every run of a comparison on a line of its own, beside the means over seeds.

A mean TB ROC-AUC of 0.68 over three seeds can be three heads near 0.68, or two at 0.87 and one that
collapsed at 0.5; the paired tests say how two models differ, not which runs trained. So table.md ends
with the runs one by one, seed by seed (the runs of one seed share their test images): the epochs each
trained, and per task the epoch whose model is scored, whether that head collapsed (the verdict the run
recorded before the test, :func:`minimtl.study.compare.summarise.collapsed`), its test ROC-AUC and
precision / recall, then the TB model's ROC-AUC at each external site (per site, scored after training;
nothing was chosen by them).
"""

from minimtl.study.compare.summarise import collapsed, metric_value
from minimtl.study.compare.verdicts import TASKS

__all__ = ["run_rows", "render_run_list"]


def run_rows(per_run, seeds, variant_names):
    """One dict per run, seed by seed and in ``variant_names``' order (runs not in ``per_run`` left out).

    Inputs: per_run: (variant name, seed) -> that run's entry (:func:`minimtl.study.compare.runs.run_all`);
    seeds: list of ints; variant_names: the comparison's variant names (strings, as in ``per_run``'s
    keys), in order.
    Returns [{"variant", "seed", "trained" (epochs trained), "tasks": {task: {"epoch" (the scored
    model's), "collapsed", "collapse_decided" ("before the test": the run's recorded verdict; "on the
    test": a run that recorded none, judged by its test predictions), "roc_auc", "precision", "recall"}},
    "external": {"set/site": TB ROC-AUC}}], numbers plain (None where undefined), ready for summary.json.
    """
    rows = []
    for seed in seeds:
        for variant in variant_names:
            entry = per_run.get((variant, seed))
            if entry is None:
                continue
            tasks = {}
            for task in TASKS:
                if task not in entry["tasks"]:
                    continue
                recorded = (entry.get("collapsed") or {}).get(task)
                tasks[task] = {
                    "epoch": entry["epochs"]["model"][task],
                    "collapsed": bool(collapsed(entry, "tasks", task)),
                    "collapse_decided": "on the test" if recorded is None else "before the test",
                    **{name: metric_value(entry["tasks"][task], name) for name in ("roc_auc", "precision", "recall")},
                }
            external = {
                f"{name}/{site}": metric_value(result, "roc_auc")
                for name, document in (entry.get("external") or {}).items()
                for site, result in document["tasks"]["tb"]["sites"].items()
            }
            rows.append({"variant": variant, "seed": seed, "trained": entry["epochs"]["trained"], "tasks": tasks,
                         "external": external})  # fmt: skip
    return rows


def _number(value, scale=1.0, digits=3):
    """'0.866' (``digits`` decimals of ``scale`` * value), or '-' where the number is undefined."""
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
        "the run recorded before the test; '(test)': a run that recorded none, judged by its test predictions), "
        "its test ROC-AUC and precision / recall in percent; the TB model's ROC-AUC at each external site, per "
        "site (scored after training).",
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
            verdict = "yes" if t["collapsed"] else "no"
            if t["collapse_decided"] == "on the test":
                verdict += " (test)"
            cells += [str(t["epoch"]), verdict, _number(t["roc_auc"]), rates]
        cells += [_number(row["external"].get(site)) for site in sites]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]
