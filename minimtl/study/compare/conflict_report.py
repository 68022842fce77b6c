"""Gradient conflict over seeds: do the two tasks disagree on the shared weights, and does disagreement go
with negative transfer? (``OUT/conflict.md``, ``conflict.json``, ``conflict.png``)

Every multi-task run records, per epoch, the mean cosine between the two tasks' gradients on the shared
weights over the measured steps and the share of those steps where it was negative
(:mod:`minimtl.training.conflict`; the tutorial's section 9 has the maths). For one run,
:func:`run_conflict` pools the epochs that made the model its TB head is scored with (epochs 1 to
``epoch_for("tb")``, each weighted by its measured steps):

    mean cosine = sum_e steps_e cos_e / sum_e steps_e,   share negative = sum_e steps_e neg_e / sum_e steps_e

Negative transfer is the run's TB ROC-AUC minus that of the single-task TB model with the same trunk
and seed (same test images): below 0, the second head cost TB something. Runs whose TB head or whose
single-task partner collapsed (by the verdicts recorded before the test) are left out of that
difference and of the correlation, and counted: a collapsed head's 0.5 is not transfer. Per row the
module gives mean [t interval] over seeds; across rows and within each, Spearman's rank correlation
between a run's mean cosine and its transfer (a rank test: the few runs are far from normal).
A correlation across seeds is no proof of cause; the seeds differ in the batches and the start.
"""

import math

from scipy import stats

from minimtl.study.compare.cells import interval, p_value
from minimtl.study.compare.statistics import mean_interval
from minimtl.study.compare.summarise import metric_value
from minimtl.study.compare.variants import ALL_VARIANTS, rows_of
from minimtl.study.run.plots import plt, save_figure

__all__ = [
    "CONFLICT_TASK",
    "run_conflict",
    "single_task_partner",
    "conflict_summary",
    "render_conflict",
    "plot_conflict_over_seeds",
]

CONFLICT_TASK = "tb"  # the head whose model decides which epochs count, and whose transfer is measured


def run_conflict(history, up_to_epoch):
    """One run's gradient conflict over epochs 1..up_to_epoch (all epochs when None).

    Inputs: history: the rows of history.csv (dicts; ``conflict_cosine``, ``conflict_negative``,
    ``conflict_steps`` per epoch, None or absent where not measured); up_to_epoch: int or None.
    Returns {"cosine", "negative" (steps-weighted means), "steps", "epochs_used", "per_epoch": [{"epoch",
    "cosine", "negative", "steps"}] (every measured epoch, for the plot)}, or None when no epoch measured it.
    """
    measured = [
        {"epoch": int(row["epoch"]), "cosine": row["conflict_cosine"], "negative": row["conflict_negative"],
         "steps": int(row["conflict_steps"])}
        for row in history
        if row.get("conflict_steps") and row.get("conflict_cosine") is not None
    ]  # fmt: skip
    if not measured:
        return None
    used = [e for e in measured if up_to_epoch is None or e["epoch"] <= up_to_epoch]
    steps = sum(e["steps"] for e in used)
    return {
        "cosine": sum(e["steps"] * e["cosine"] for e in used) / steps if steps else None,
        "negative": sum(e["steps"] * e["negative"] for e in used) / steps if steps else None,
        "steps": steps,
        "epochs_used": len(used),
        "per_epoch": measured,
    }


def single_task_partner(variant_name):
    """The single-task TB variant with the same trunk as ``variant_name``: its transfer is measured against it."""
    return "single-tb+deep" if dict(ALL_VARIANTS[variant_name].options).get("trunk") == "deep" else "single-tb"


def _spearman(pairs):
    """Spearman's rho and two-sided p of (cosine, transfer) pairs; None below 3 pairs or without spread."""
    if len(pairs) < 3 or len({c for c, _ in pairs}) < 2 or len({t for _, t in pairs}) < 2:
        return None
    rho, p = stats.spearmanr([c for c, _ in pairs], [t for _, t in pairs])
    return {"rho": float(rho), "p": float(p), "n": len(pairs)}


def _trained(entry):
    return entry is not None and not (entry.get("collapsed") or {}).get(CONFLICT_TASK)


def conflict_summary(per_run, seeds, variants):
    """Per table row whose TB model recorded conflict, and pooled over those rows.

    Inputs: per_run: {(variant name, seed): entry} with "conflict" (:func:`run_conflict`), "tasks" and
    "collapsed" (:func:`minimtl.study.compare.runs.run_all`); seeds: list of ints; variants: the comparison's.
    Returns {"rows": {row: {"variant", "partner", "runs", "cosine", "negative" (mean_interval over
    seeds), "transfer" (mean_interval of TB ROC-AUC minus the partner's, seeds where both trained),
    "left_out" (seeds with conflict but a collapsed head on either side, or no partner run),
    "spearman" (within the row, or None), "per_seed": [{"seed", "cosine", "negative", "transfer"}],
    "per_epoch": {epoch: mean_interval of the cosine over the seeds that reached it}}}, "pooled":
    Spearman over every row's pairs (or None)}; rows without conflict are absent.
    """
    rows, _ = rows_of(variants)
    summary, pooled = {}, []
    for row, tasks in rows.items():
        name = tasks.get(CONFLICT_TASK)
        entries = {seed: per_run.get((name, seed)) for seed in seeds} if name else {}
        entries = {s: e for s, e in entries.items() if e is not None and e.get("conflict")}
        if not entries:
            continue
        partner = single_task_partner(name)
        per_seed, left_out = [], 0
        for seed, entry in entries.items():
            other = per_run.get((partner, seed))
            transfer = None
            if _trained(entry) and _trained(other):
                auc, partner_auc = (metric_value(e["tasks"][CONFLICT_TASK], "roc_auc") for e in (entry, other))
                transfer = None if auc is None or partner_auc is None else auc - partner_auc
            left_out += transfer is None
            conflict = entry["conflict"]
            per_seed.append({"seed": seed, "cosine": conflict["cosine"], "negative": conflict["negative"],
                             "transfer": transfer})  # fmt: skip
        pairs = [
            (s["cosine"], s["transfer"]) for s in per_seed if s["cosine"] is not None and s["transfer"] is not None
        ]
        pooled += pairs
        by_epoch = {}
        for entry in entries.values():
            for epoch in entry["conflict"]["per_epoch"]:
                by_epoch.setdefault(epoch["epoch"], []).append(epoch["cosine"])
        summary[row] = {
            "variant": name,
            "partner": partner,
            "runs": len(entries),
            "cosine": mean_interval([s["cosine"] for s in per_seed], bounds=(-1.0, 1.0)),
            "negative": mean_interval([s["negative"] for s in per_seed], bounds=(0.0, 1.0)),
            "transfer": mean_interval([s["transfer"] for s in per_seed]),
            "left_out": left_out,
            "spearman": _spearman(pairs),
            "per_seed": per_seed,
            "per_epoch": {
                epoch: mean_interval(values, bounds=(-1.0, 1.0)) for epoch, values in sorted(by_epoch.items())
            },
        }
    return {"rows": summary, "pooled": _spearman(pooled)}


def _rho_cell(result):
    return "n/a" if result is None else f"{result['rho']:+.2f} (p {p_value(result['p'])}, n {result['n']})"


def render_conflict(summary, settings):
    """conflict.md: per row the mean cosine, the share of steps in conflict, the transfer and their correlation."""
    out = [
        "# Gradient conflict on the shared weights, and negative transfer",
        "",
        f"Protocol {settings['protocol']}, {settings['image_size']} px, "
        f"seeds {', '.join(map(str, settings['seeds']))}, "
        f"model: {settings['model_choice']}. Per run: the mean cosine between the TB and pneumonia gradients on "
        "the shared weights, and the share of measured steps where it was below 0, over the epochs that made "
        "the scored TB model (each epoch weighted by its measured steps). 'TB transfer': the run's TB ROC-AUC "
        "minus that of the single-task TB model with the same trunk and seed (same test images); below 0, the "
        "second head cost TB something; seeds where either TB head collapsed are left out of it and counted. "
        "Mean over seeds [95% t interval]. 'rho': Spearman's rank correlation between a run's mean cosine and "
        "its transfer (positive: the runs whose tasks agreed more lost less). Written by `compare` for every "
        "comparison whose multi-task runs recorded conflict; the maths: `docs/tutorial.md`, section 9.",
        "",
        "| model | mean cosine | share of steps cos < 0 | TB transfer (ROC-AUC) | rho (cosine, transfer) "
        "| runs (left out) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row, entry in summary["rows"].items():
        out.append(
            f"| {row} | {interval(entry['cosine'], signed=True)} "
            f"| {interval(entry['negative'], scale=100, digits=1)}% | "
            f"{interval(entry['transfer'], signed=True)} | {_rho_cell(entry['spearman'])} | "
            f"{entry['runs']} ({entry['left_out']}) |"
        )
    out += ["", f"Every row's runs together: rho {_rho_cell(summary['pooled'])}. A rank correlation over seeds "
            "and methods is an association, not a cause: methods differ in more than their conflict."]  # fmt: skip
    return "\n".join(out) + "\n"


def plot_conflict_over_seeds(summary, path, synthetic=False):
    """conflict.png: per row, the mean cosine per epoch over the seeds that reached that epoch (the
    runs stop at different epochs), with its 95% t band where there are two seeds or more."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row, entry in summary["rows"].items():
        epochs = list(entry["per_epoch"])
        means = [entry["per_epoch"][e]["mean"] for e in epochs]
        (line,) = ax.plot(epochs, means, marker="o", markersize=3, label=row)
        bands = [(e, entry["per_epoch"][e]["ci95"]) for e in epochs if entry["per_epoch"][e]["ci95"]]
        if bands:
            ax.fill_between([e for e, _ in bands], [b[0] for _, b in bands], [b[1] for _, b in bands],
                            color=line.get_color(), alpha=0.15, linewidth=0)  # fmt: skip
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean cos(g_tb, g_pneumonia), shared weights")
    top = max((math.ceil(abs(i["mean"]) * 10) / 10 for e in summary["rows"].values() for i in e["per_epoch"].values()
               if i["mean"] is not None), default=1.0)  # fmt: skip
    ax.set_ylim(-min(1.05, top + 0.1), min(1.05, top + 0.1))
    title = "Gradient conflict per epoch, mean over seeds"
    ax.set_title(f"{title} (SYNTHETIC phantoms)" if synthetic else title)
    ax.legend(fontsize=7, loc="best")
    save_figure(fig, path)
