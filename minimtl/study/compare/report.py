"""``table.md``, ``summary.json`` and the plots of a comparison."""

import numpy as np
from sklearn.metrics import roc_curve

from minimtl.common.atomic import write_json
from minimtl.common.messages import plural
from minimtl.study.compare.cells import auc_cell, delong_cell, difference, interval, p_value, percent, seed_counts
from minimtl.study.compare.external_report import external_columns, external_tables
from minimtl.study.compare.run_list import render_run_list
from minimtl.study.compare.variants import STUDY_TABLE
from minimtl.study.compare.verdicts import pairs_of, render_verdicts, verdicts
from minimtl.study.run.plots import plt, save_figure

__all__ = ["render_table", "write_summary", "plot_metric_dots", "plot_roc_curves"]

TASKS = ("tb", "pneumonia")
TASK_TITLES = {"tb": "Tuberculosis", "pneumonia": "Pneumonia"}


def _task_tables(summary, task, study_numbers=True):
    """The metrics table of one task, then its paired comparisons with each row's baseline."""
    rows = [row for row in summary if task in summary[row]]
    out = [
        "| model | study P / R | precision | recall | specificity | F1 | ROC-AUC | one class | seeds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        cells = summary[row][task]
        study = STUDY_TABLE.get(row, {}).get(task) if study_numbers else None
        study_text = f"{study[0]:.1f} / {study[1]:.1f}" if study else "-"
        out.append(
            f"| {row} | {study_text} | {percent(cells['precision'])} | {percent(cells['recall'])} | "
            f"{percent(cells['specificity'])} | {percent(cells['f1'])} | {auc_cell(cells['roc_auc'])} | "
            f"{cells['constant_predictions']}/{len(cells['recall']['per_seed'])} | {len(cells['seeds_used'])} |"
        )
    pairs = pairs_of(summary, task)
    if not pairs:  # no baseline in this comparison (say, no single-pneumonia run)
        return out
    out += [
        "",
        "Paired with its baseline on the same seeds and test images (model - baseline; the baseline is "
        "single-task for the study's models, the same model under the study's settings for the options "
        "beyond it): mean difference [95% t interval over seeds], Wilcoxon signed-rank p, seeds "
        "better/worse/equal; DeLong: seeds whose per-seed test (same test images) gives p < 0.05, and how "
        "many of those favour the model.",
        "",
        "| model | vs | ROC-AUC diff | Wilcoxon p | seeds +/-/= | DeLong p<0.05 | recall diff | Wilcoxon p | "
        "precision diff | Wilcoxon p |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row, vs, comparisons in pairs:
        auc, recall, precision = (comparisons[m] for m in ("roc_auc", "recall", "precision"))
        out.append(
            f"| {row} | {vs} | {difference(auc, scale=1, digits=3)} | {p_value(auc['wilcoxon_p'])} | "
            f"{seed_counts(auc)} | {delong_cell(auc)} | {difference(recall)} | {p_value(recall['wilcoxon_p'])} | "
            f"{difference(precision)} | {p_value(precision['wilcoxon_p'])} |"
        )
    detectable = [(f"{row} vs {vs}", comparisons["roc_auc"].get("detectable")) for row, vs, comparisons in pairs]
    lines = [
        f"{name}: {_power_text(d)}" for name, d in detectable if d and (d["one_seed"] is not None or d["all_seeds"])
    ]
    if lines:
        out += ["", "What this design could detect (80% power, two-sided 5%):", ""] + [f"- {line}" for line in lines]
    return out


def _site_tables(summary, task):
    """Does the task's head know the hospital? Site separation and the shift test, per row."""
    rows = [row for row in summary if "site" in summary[row].get(task, {})]
    if not rows:
        return []
    shifts = list(summary[rows[0]][task]["shift"])
    other = "pneumonia" if task == "tb" else "tb"
    out = [
        f"Does the {task} score know the hospital? 'separates sites': how well P({task}) tells the healthy test "
        f"images of the two hospitals apart, max(AUC, 1 - AUC) (0.5: not at all; 1: perfectly); then the mean "
        f"P({task}) of each hospital's healthy images; then the change of the {task} test ROC-AUC after each "
        "shift (mean over seeds [95% t interval]). A head that reads the lungs shows about 0.5 and small changes. "
        "Heads that trained and collapsed heads are on lines of their own: a constant head cannot tell the "
        "hospitals apart nor lose anything to a shift, so it would look site-blind and shift-proof; the paired "
        "differences count only seeds where both heads trained.",
        "",
        f"| model | separates sites | vs baseline (Wilcoxon p) | P({task}), {task} healthy | "
        f"P({task}), {other} healthy | " + " | ".join(shifts) + " |",
        "| --- | --- | --- | --- | --- |" + " --- |" * len(shifts),
    ]
    for row in rows:
        cells = summary[row][task]
        runs, collapsed = len(cells["recall"]["per_seed"]), cells["constant_predictions"]
        lines = [
            (row if not collapsed else f"{row}: trained heads ({runs - collapsed})", cells["site"], cells["shift"])
        ]
        if "site_collapsed" in cells:
            lines.append((f"{row}: collapsed heads ({collapsed})", cells["site_collapsed"], cells["shift_collapsed"]))
        for label, site, shift in lines:
            out.append(
                f"| {label} | {auc_cell(site['separation'])} | {_site_vs(site.get('vs_baseline'))} | "
                f"{auc_cell(site[f'probability_{task}'])} | "
                f"{auc_cell(site[f'probability_{other}'])} | "
                + " | ".join(interval(shift.get(name), signed=True) for name in shifts)
                + " |"
            )
    for row in rows:
        also = summary[row][task].get("also_vs")
        if also and also.get("site"):
            out += ["", f"Separates sites, {row} minus {also['row']}: {_site_vs(also['site'])}."]
    return out + _site_pairs_table(summary, task, shifts)


def _site_pairs_table(summary, task, shifts):
    """Paired with its baseline (and second partner): the change of the site separation and of each
    shift's ROC-AUC change, seed by seed on the same test images."""
    pairs = [(row, vs, paired) for row, vs, paired in pairs_of(summary, task) if paired.get("shift") is not None]
    if not pairs:
        return []
    out = [
        "",
        f"The same, paired with each row's baseline on the same seeds and test images (model - baseline, mean over "
        f"seeds [95% t interval]): below 0 under 'separates sites', the model's {task} score knows the hospital "
        f"less; above 0 under a shift, the model's ROC-AUC drops less under that shift than the baseline's.",
        "",
        "| model | vs | separates sites | " + " | ".join(shifts) + " |",
        "| --- | --- | --- |" + " --- |" * len(shifts),
    ]
    for row, vs, paired in pairs:
        cells = [interval(paired["site"], signed=True, missing="")] + [
            interval(paired["shift"].get(name), signed=True, missing="") for name in shifts
        ]
        out.append(f"| {row} | {vs} | " + " | ".join(cells) + " |")
    return out


def _site_vs(paired):
    if not paired or paired["mean"] is None:
        return ""
    return f"{interval(paired, signed=True)} ({p_value(paired['wilcoxon_p']) or 'n/a'})"


def _power_text(d):
    parts = []
    if d["one_seed"] is not None:
        parts.append(f"one seed's test images (mean DeLong SE {d['mean_delong_se']:.3f}) detect an AUC difference "
                     f"of {d['one_seed']:.3f}")  # fmt: skip
    if d["all_seeds"] is not None:
        parts.append(f"the paired t-test over {plural(d['seeds'], 'seed')} detects {d['all_seeds']:.3f}")
    return "; ".join(parts)


def _delong_details(summary, task, seeds):
    """Per seed and paired comparison: the DeLong AUC difference, its standard error and p."""
    out = ["| model | vs | seed | AUC diff | SE | p |", "| --- | --- | --- | --- | --- | --- |"]
    for row, vs, comparisons in pairs_of(summary, task):
        for seed, result in zip(seeds, comparisons["roc_auc"].get("delong", [])):
            if result is not None:
                out.append(
                    f"| {row} | {vs} | {seed} | {result['difference']:+.3f} | {result['se']:.3f} | "
                    f"{p_value(result['p'])} |"
                )
    return out if len(out) > 2 else []


def render_table(
    summary, settings, reshuffled_summary=None, overlap=None, without_collapsed=None, verdict_document=None,
    runs=None,
):  # fmt: skip
    """The comparison as Markdown: per task, the study's numbers beside ours, the paired tests, the site
    and shift tables, each external site's TB ROC-AUC, the same again without the collapsed runs; then
    the verdicts (:mod:`minimtl.study.compare.verdicts`; computed here unless given), the runs per
    variant and, given ``runs`` (:func:`minimtl.study.compare.run_list.run_rows`), each run."""
    out = [f"# Comparison: {settings['protocol']} protocol", ""]
    if settings.get("synthetic"):
        out += ["> **SYNTHETIC DATA.** These numbers come from built-in phantoms, not chest X-rays.", ""]
    out += [
        f"Settings: {settings['image_size']} px, at most {plural(settings['epochs'], 'epoch')}"
        + (f" (patience {settings['patience']})" if settings.get("patience") else "")
        + f", batch {settings['batch_size']}, seeds {settings['seeds']}, split `{settings['split']}`, "
        f"validation {settings['val_fraction']:.0%}, model: {settings['model_choice']}.",
        "",
        "Cells: mean over seeds [95% Student-t interval over seeds], in percent (ROC-AUC as a fraction). "
        "Intervals are clipped to the metric's range. 'one class': runs whose head collapsed (gave every image "
        f"one class), as each run decided on its {'validation' if settings.get('val_fraction') else 'training'} "
        "images before the test (runs that did not record it: on their test images). 'seeds': the runs the row's "
        "numbers come from.",
        "",
    ]
    for task in TASKS:
        if not any(task in cells for cells in summary.values()):
            continue
        out += [f"## {TASK_TITLES[task]}: every run", ""] + _task_tables(summary, task) + [""]
        site = _site_tables(summary, task)
        if site:
            out += site + [""]
        external = external_tables(summary, task)
        if external:
            out += external + [""]
        details = _delong_details(summary, task, settings["seeds"])
        if details:
            out += [f"DeLong's test per seed ({TASK_TITLES[task]}, ROC-AUC of the model minus the other's):", ""]
            out += details + [""]
        if without_collapsed is not None:
            out += [f"## {TASK_TITLES[task]}: without collapsed runs", ""]
            out += _task_tables(without_collapsed, task, study_numbers=False) + [""]
            # a collapsed head scores about 0.5 at any hospital too: the external sites again, without those runs
            external = external_tables(without_collapsed, task)
            if external:
                out += external + [""]
    out += render_verdicts(verdict_document or verdicts(summary, settings["seeds"])) + [""]
    out += _runs_table(settings)
    if reshuffled_summary:
        out += [
            "## Scored the study notebook's way: on a freshly reshuffled 20%",
            "",
            f"After training, a new random 20% is drawn and scored; on average {100 * overlap:.0f}% of those "
            "images were training images. This is how the study's multi-task 64 row was produced.",
            "",
            "| model | task | precision | recall | ROC-AUC |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in reshuffled_summary:
            for task in TASKS:
                cells = reshuffled_summary[row].get(task)
                if cells:
                    out.append(
                        f"| {row} | {task} | {percent(cells['precision'])} | {percent(cells['recall'])} | "
                        f"{auc_cell(cells['roc_auc'])} |"
                    )
        out.append("")
    out += render_run_list(runs or [])
    return "\n".join(out)


def _runs_table(settings):
    """Per variant: the epoch whose model is scored, the epochs trained and the training time per run
    (median [min, max] over seeds)."""
    epochs, seconds = settings.get("run_epochs"), settings.get("run_seconds")
    if not epochs:
        return []

    def spread(values, scale=1.0, digits=0):
        values = sorted(v * scale for v in values)
        return f"{np.median(values):.{digits}f} [{values[0]:.{digits}f}, {values[-1]:.{digits}f}]"

    out = [
        "## Runs",
        "",
        "Per variant, median [min, max] over seeds: the epoch whose model scores each task (with per-task "
        "selection each task's own), the epochs trained (early stopping included) and the training time per run "
        "(epochs only; scoring and loading not counted).",
        "",
        "| variant | runs | model's epoch | epochs trained | minutes per run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for variant in settings["variants"]:
        names = [f"{variant}-seed{seed}" for seed in settings["seeds"] if f"{variant}-seed{seed}" in epochs]
        if names:
            model = [epochs[n]["model"] for n in names]
            if isinstance(model[0], dict):  # per task
                model = "; ".join(f"{task} {spread([m[task] for m in model])}" for task in model[0])
            else:  # one epoch for every task (a summary written before per-task selection)
                model = spread(model)
            out.append(
                f"| {variant} | {len(names)} | {model} | "
                f"{spread([epochs[n]['trained'] for n in names])} | "
                f"{spread([seconds[n] for n in names], scale=1 / 60, digits=1)} |"
            )
    return out + [""]


def write_summary(
    path, summary, settings, reshuffled_summary=None, without_collapsed=None, verdict_document=None, runs=None
):
    """summary.json: the settings, the rows (with and without collapsed runs, and reshuffled), the
    verdicts (:func:`minimtl.study.compare.verdicts.verdicts`; computed here unless given) and each run
    (:func:`minimtl.study.compare.run_list.run_rows`; None unless given)."""
    write_json(
        path,
        {
            "settings": settings,
            "summary": summary,
            "without_collapsed": without_collapsed,
            "reshuffled": reshuffled_summary,
            "verdicts": verdict_document or verdicts(summary, settings["seeds"]),
            "runs": runs,
        },
    )


def plot_metric_dots(summary, path, synthetic=False):
    """Per task and metric: each seed's value as a dot, the mean with its 95% interval as a bar, and
    the study's own precision and recall (one unseeded run) as a red cross; then, beside the test ROC-AUC,
    the ROC-AUC on each external site where the runs were scored on one (TB only). Returns the titles of
    the panels drawn, row by row."""
    metrics = ("precision", "recall", "roc_auc")
    external = {task: external_columns(summary, task) for task in TASKS}
    n_columns = len(metrics) + max(len(columns) for columns in external.values())
    fig, axes = plt.subplots(len(TASKS), n_columns, figsize=(4.2 * n_columns, 3.6 * len(TASKS)), squeeze=False)
    rows = list(summary)
    drawn = []
    for i, task in enumerate(TASKS):
        panels = [(metric, f"{task}: {metric}" + (" (test)" if metric == "roc_auc" else "")) for metric in metrics]
        panels += [((name, site), f"{task}: roc_auc on {name}/{site}") for name, site in external[task]]
        for j in range(n_columns):
            ax = axes[i][j]
            if j >= len(panels):
                ax.axis("off")
                continue
            which, title = panels[j]
            drawn.append(title)
            for y, row in enumerate(rows):
                cells = summary.get(row, {}).get(task)
                if not cells:
                    continue
                entry = cells[which] if isinstance(which, str) else _external_entry(cells, *which)
                if entry is None:
                    continue
                _dots(ax, entry, y)
                study = STUDY_TABLE.get(row, {}).get(task)
                if study and which in ("precision", "recall"):  # the study's one run, for comparison
                    value = study[0 if which == "precision" else 1] / 100
                    first = not any(line.get_label() == "study" for line in ax.lines)
                    ax.plot([value], [y], "x", color="tab:red", markersize=9, label="study" if first else None)
            ax.set_yticks(range(len(rows)), rows if j == 0 else [""] * len(rows))
            if which in ("precision", "recall") and any(h.get_label() == "study" for h in ax.lines):
                ax.legend(loc="lower left", fontsize=8)
            ax.set_title(title)
            ax.invert_yaxis()
    if synthetic:
        fig.suptitle("SYNTHETIC phantoms")
    fig.tight_layout()
    save_figure(fig, path)
    return drawn


def _external_entry(cells, name, site):
    entry = cells.get("external", {}).get(name, {}).get(site)
    return entry["roc_auc"] if entry else None


def _dots(ax, entry, y):
    """One row of a metric panel: each seed's value as a dot, the mean and its 95% interval as a bar."""
    values = [v for v in entry["per_seed"] if v is not None]
    ax.plot(values, [y] * len(values), "o", alpha=0.5, color="tab:blue")
    if entry["ci95"] is not None:
        ax.errorbar(
            entry["mean"],
            y,
            xerr=[[entry["mean"] - entry["ci95"][0]], [entry["ci95"][1] - entry["mean"]]],
            fmt="s",
            color="black",
            capsize=3,
        )


def plot_roc_curves(per_run, seeds, rows, path, model_choice, synthetic=False):
    """ROC curves of every model and seed on its test images, one panel per task, for the model each
    run stands for (the same model the table scores; ``model_choice`` says which, for the title).
    rows: table row -> {task: variant name} (:func:`minimtl.study.compare.rows_of`)."""
    fig, axes = plt.subplots(1, len(TASKS), figsize=(5 * len(TASKS), 5), squeeze=False)
    for ax, task in zip(axes[0], TASKS):
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for color, row in zip(colors * (1 + len(rows) // len(colors)), rows):
            if task not in rows[row]:
                continue
            for k, seed in enumerate(seeds):
                scores = per_run.get((rows[row][task], seed), {}).get("scores", {}).get(task)
                if scores is None or len(set(scores["label"])) < 2:
                    continue
                fpr, tpr, _ = roc_curve(scores["label"], scores["score"])
                ax.plot(fpr, tpr, color=color, alpha=0.6, linewidth=1, label=row if k == 0 else None)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set_title(f"{task} ({model_choice}, every seed)" + (" SYNTHETIC" if synthetic else ""))
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        if ax.get_legend_handles_labels()[1]:  # a task no row is scored on has an empty panel, no legend
            ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)
