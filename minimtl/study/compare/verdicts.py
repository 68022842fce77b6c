"""What a comparison may say: the primary comparisons, Holm for the rest, and "unchanged" only by TOST.

Every paired comparison of the verdict metrics (:data:`VERDICT_METRICS` on the test images, ROC-AUC on
each external site; each row against its baseline, and the second pairings) is one test. The other
paired numbers of the tables (site separation, the shift test, the adult site probe) describe; their
Wilcoxon p-values are not corrected and no verdict rests on them. Two of them are named before
any run (:data:`PRIMARY`): multitask64 against single-tb on TB ROC-AUC (does sharing help TB?), and
ignoring the other dataset against labelling it negative on TB ROC-AUC (the study's question 2). They
are tested at 5% as they are. Every other comparison is one of many, and its Wilcoxon p is corrected
for multiplicity with Holm's step-down method over all of them.

A difference is called higher or lower only when its (corrected) p < 5%; a ROC-AUC difference is
called unchanged only when the equivalence test (TOST, paired t over seeds) puts it within
+-:data:`~minimtl.study.compare.statistics.EQUIVALENCE_MARGIN`; anything else is "not shown either
way". With S seeds Wilcoxon's exact two-sided p cannot go below 2 / 2**S (0.0625 with 5 seeds), so a
comparison over too few seeds can never be called higher or lower: the tables say so.
"""

from minimtl.study.compare.cells import difference, p_value
from minimtl.study.compare.statistics import EQUIVALENCE_MARGIN, equivalence_test, holm, smallest_wilcoxon_p
from minimtl.study.compare.variants import METRICS

__all__ = ["PRIMARY", "TASKS", "VERDICT_METRICS", "pairs_of", "verdicts", "render_verdicts"]

TASKS = ("tb", "pneumonia")

# (row, the row it is paired with, task, metric) of the comparisons named before any run
PRIMARY = (
    ("multi-task 64", "single-task", "tb", "roc_auc"),
    ("multi-task 64, other labels ignored", "multi-task 64", "tb", "roc_auc"),
)

# the metrics whose paired differences are tested (the paired table's columns)
VERDICT_METRICS = ("roc_auc", "recall", "precision")


def pairs_of(summary, task):
    """(row, the row it is paired with, {metric: paired comparison, and "site" and "shift" where the
    site and shift results were paired, and "external": {set: {site: paired comparison}} where the runs
    were scored on external sets}) for every paired comparison of the task: each row with its baseline,
    then the second pairings (``also_vs``)."""
    pairs = []
    for row in summary:
        cells = summary[row].get(task)
        if not cells:
            continue
        if cells["paired_with"] is not None and cells["roc_auc"]["vs_baseline"] is not None:
            comparisons = {m: cells[m]["vs_baseline"] for m in METRICS}
            if "shift_vs_baseline" in cells:
                comparisons.update(site=cells["site"]["vs_baseline"], shift=cells["shift_vs_baseline"])
            external = {
                name: {site: entry["vs_baseline"] for site, entry in sites.items() if entry.get("vs_baseline")}
                for name, sites in cells.get("external", {}).items()
            }
            if any(external.values()):
                comparisons["external"] = external
            pairs.append((row, cells["paired_with"], comparisons))
        if "also_vs" in cells:
            pairs.append((row, cells["also_vs"]["row"], cells["also_vs"]))
    return pairs


def _verdict(mean, p, tost, alpha):
    if p is not None and p < alpha and mean is not None:
        return "higher" if mean > 0 else "lower"
    if tost is not None and tost["equivalent"]:
        return f"unchanged (within ±{tost['margin']:g})"
    return "not shown either way"


def verdicts(summary, seeds, alpha=0.05, margin=EQUIVALENCE_MARGIN):
    """Every paired comparison of ``summary`` (:func:`minimtl.study.compare.summarise.summarise`) with its
    verdict.

    Returns {"alpha", "margin", "seeds", "smallest_wilcoxon_p" (with this many seeds), "primary": the
    names of :data:`PRIMARY`, "comparisons": [{"row", "vs", "task", "metric", "on" ("test" or
    "<set>/<site>"), "primary", "mean", "ci95", "n", "wilcoxon_p", "holm_p" (None for a primary one),
    "tost" (ROC-AUC only: :func:`~minimtl.study.compare.statistics.equivalence_test`), "verdict"}]},
    the primary comparisons first, then the rest in table order.
    """
    entries = []
    for task in TASKS:
        for row, vs, comparisons in pairs_of(summary, task):
            tested = [(metric, "test", comparisons.get(metric)) for metric in VERDICT_METRICS]
            for name, sites in comparisons.get("external", {}).items():
                tested += [("roc_auc", f"{name}/{site}", comparison) for site, comparison in sites.items()]
            for metric, on, comparison in tested:
                if comparison is None:
                    continue
                entries.append(
                    {
                        "row": row,
                        "vs": vs,
                        "task": task,
                        "metric": metric,
                        "on": on,
                        "primary": on == "test" and (row, vs, task, metric) in PRIMARY,
                        "mean": comparison["mean"],
                        "ci95": comparison["ci95"],
                        "n": comparison["n"],
                        "wilcoxon_p": comparison["wilcoxon_p"],
                        "tost": equivalence_test(comparison["per_seed"], margin) if metric == "roc_auc" else None,
                    }
                )
    rest = [entry for entry in entries if not entry["primary"]]
    for entry, adjusted in zip(rest, holm([entry["wilcoxon_p"] for entry in rest])):
        entry["holm_p"] = adjusted
    for entry in entries:
        entry.setdefault("holm_p", None)
        p = entry["wilcoxon_p"] if entry["primary"] else entry["holm_p"]
        entry["verdict"] = _verdict(entry["mean"], p, entry["tost"], alpha)
    return {
        "alpha": alpha,
        "margin": margin,
        "seeds": len(seeds),
        "smallest_wilcoxon_p": smallest_wilcoxon_p(len(seeds)),
        "primary": [f"{row} vs {vs}, {task} {metric}" for row, vs, task, metric in PRIMARY],
        "comparisons": [e for e in entries if e["primary"]] + rest,
    }


def _difference(entry):
    """The mean difference [95% t]: ROC-AUC as a fraction, rates in percent points."""
    scale, digits = (1, 3) if entry["metric"] == "roc_auc" else (100, 1)
    return difference(entry, scale=scale, digits=digits)


def render_verdicts(document):
    """The verdicts as a table.md section (Markdown lines)."""
    seeds, floor, alpha = document["seeds"], document["smallest_wilcoxon_p"], document["alpha"]
    n_rest = sum(not entry["primary"] for entry in document["comparisons"])
    tested = sum(not entry["primary"] and entry["wilcoxon_p"] is not None for entry in document["comparisons"])
    if floor >= alpha:
        reach = (
            f"so no Wilcoxon test over {seeds} seeds can reach p < {alpha:g}, and no difference below is called "
            "higher or lower"
        )
    elif tested * floor >= alpha:
        # Holm multiplies the family's smallest p by the number of p-values in it: none can get below alpha
        reach = (
            f"below {alpha:g}, so a primary comparison can be shown when every seed agrees; Holm's p of the other "
            f"{tested} with a Wilcoxon p is at least {tested} x {floor:.4g}, so none of them can be called higher or "
            "lower"
        )
    else:
        reach = f"below {alpha:g}, so a difference can be shown when every seed agrees"
    out = [
        "## Verdicts",
        "",
        f"Primary comparisons, named before any run and tested at {alpha:g} as they are: "
        + "; ".join(document["primary"])
        + f". Every other paired comparison ({n_rest} here: ROC-AUC, recall and precision on the test images, ROC-AUC "
        f"on each external site) is corrected for multiplicity with Holm's method; the site, shift and probe "
        f"differences of the other tables describe and are not corrected. A difference is called higher "
        f"or lower only when its p (Holm's, for all but the primary ones) is below {alpha:g}; a ROC-AUC difference "
        f"is called unchanged only when the equivalence test (TOST, paired t over seeds) puts it within "
        f"±{document['margin']:g}; anything else is 'not shown either way'.",
        "",
        f"With {seeds} seeds the smallest two-sided Wilcoxon p possible is {floor:.4g} (every seed on one side), "
        f"{reach}.",
        "",
        "| model | vs | task | metric | on | difference [95% t] | Wilcoxon p | Holm p | TOST p (±"
        f"{document['margin']:g}) | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in document["comparisons"]:
        metric = entry["metric"].replace("roc_auc", "ROC-AUC") + (" (primary)" if entry["primary"] else "")
        tost = entry["tost"]["p"] if entry["tost"] else None
        out.append(
            f"| {entry['row']} | {entry['vs']} | {entry['task']} | {metric} | {entry['on']} | {_difference(entry)} | "
            f"{p_value(entry['wilcoxon_p'])} | {p_value(entry['holm_p'])} | {p_value(tost)} | {entry['verdict']} |"
        )
    return out
