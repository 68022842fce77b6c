"""``table.md``, ``summary.json`` and the plots of a comparison."""

import csv

from sklearn.metrics import roc_curve

from minimtl.common.atomic import write_json
from minimtl.study.compare import ROWS, STUDY_TABLE
from minimtl.study.compare_runs import run_dir_of
from minimtl.study.plots import plt, save_figure

__all__ = ["render_table", "write_summary", "plot_metric_dots", "plot_roc_curves"]

TASKS = ("tb", "pneumonia")


def _pct(entry):
    if entry["mean"] is None:
        return "n/a"
    if entry["ci95"] is None:
        return f"{100 * entry['mean']:.1f}"
    low, high = entry["ci95"]
    return f"{100 * entry['mean']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _auc(entry):
    if entry["mean"] is None:
        return "n/a"
    if entry["ci95"] is None:
        return f"{entry['mean']:.3f}"
    return f"{entry['mean']:.3f} [{entry['ci95'][0]:.3f}, {entry['ci95'][1]:.3f}]"


def _diff(entry, scale=100, digits=1):
    paired = entry.get("vs_single_task")
    if not paired or paired["mean"] is None:
        return ""
    if paired["ci95"] is None:
        return f"{scale * paired['mean']:+.{digits}f}"
    low, high = paired["ci95"]
    return f"{scale * paired['mean']:+.{digits}f} [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"


def render_table(summary, settings, reshuffled_summary=None, overlap=None):
    """The comparison as Markdown: per task, the study's numbers beside ours."""
    out = [f"# Comparison: {settings['protocol']} protocol", ""]
    if settings.get("synthetic"):
        out += ["> **SYNTHETIC DATA.** These numbers come from built-in phantoms, not chest X-rays.", ""]
    out += [
        f"Settings: {settings['image_size']} px, {settings['epochs']} epochs, batch {settings['batch_size']}, "
        f"seeds {settings['seeds']}, split `{settings['split']}`, validation {settings['val_fraction']:.0%}, "
        f"model: {settings['model_choice']}.",
        "",
        "Cells: mean over seeds [95% Student-t interval over seeds], in percent (ROC-AUC as a fraction). "
        "'vs single' is the paired per-seed difference from the single-task model on the same test "
        "images, with its 95% interval: an interval containing 0 shows no detectable difference. "
        "Intervals are clipped to the metric's range. 'one class': seeds whose head gave every test image "
        "the same class (a collapsed head; they are included in the means).",
        "",
    ]
    for task in TASKS:
        out += [
            f"## {'Tuberculosis' if task == 'tb' else 'Pneumonia'}",
            "",
            "| model | study P / R | precision | recall | specificity | F1 | ROC-AUC | recall vs single "
            "| ROC-AUC vs single | one class |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in ROWS:
            if task not in summary.get(row, {}):
                continue
            cells = summary[row][task]
            study = STUDY_TABLE.get(row, {}).get(task)
            study_text = f"{study[0]:.1f} / {study[1]:.1f}" if study else "-"
            out.append(
                f"| {row} | {study_text} | {_pct(cells['precision'])} | {_pct(cells['recall'])} | "
                f"{_pct(cells['specificity'])} | {_pct(cells['f1'])} | {_auc(cells['roc_auc'])} | "
                f"{_diff(cells['recall'])} | {_diff(cells['roc_auc'], scale=1, digits=3)} | "
                f"{cells['constant_predictions']}/{len(cells['recall']['per_seed'])} |"
            )
        out.append("")
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
        for row in ROWS:
            for task in TASKS:
                cells = reshuffled_summary.get(row, {}).get(task)
                if cells:
                    out.append(
                        f"| {row} | {task} | {_pct(cells['precision'])} | {_pct(cells['recall'])} | "
                        f"{_auc(cells['roc_auc'])} |"
                    )
        out.append("")
    return "\n".join(out)


def write_summary(path, summary, settings, reshuffled_summary=None):
    write_json(path, {"settings": settings, "summary": summary, "reshuffled": reshuffled_summary})


def plot_metric_dots(summary, path, synthetic=False):
    """Per task and metric: each seed's value as a dot, the mean with its 95% interval as a bar."""
    metrics = ("precision", "recall", "roc_auc")
    fig, axes = plt.subplots(len(TASKS), len(metrics), figsize=(4.2 * len(metrics), 3.6 * len(TASKS)), squeeze=False)
    rows = list(ROWS)
    for i, task in enumerate(TASKS):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            for y, row in enumerate(rows):
                cells = summary.get(row, {}).get(task)
                if not cells:
                    continue
                entry = cells[metric]
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
            ax.set_yticks(range(len(rows)), rows if j == 0 else [""] * len(rows))
            ax.set_title(f"{task}: {metric}")
            ax.invert_yaxis()
    if synthetic:
        fig.suptitle("SYNTHETIC phantoms")
    fig.tight_layout()
    save_figure(fig, path)


def plot_roc_curves(out, per_variant_seeds, path, synthetic=False):
    """ROC curves of every model and seed on its test images, one panel per task (from predictions.csv)."""
    fig, axes = plt.subplots(1, len(TASKS), figsize=(5 * len(TASKS), 5), squeeze=False)
    for ax, task in zip(axes[0], TASKS):
        for color, row in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], ROWS):
            variant = ROWS[row][task]
            for k, seed in enumerate(per_variant_seeds):
                file = run_dir_of(out, variant, seed).predictions
                if not file.exists():
                    continue
                with open(file, newline="") as handle:
                    rows = [r for r in csv.DictReader(handle) if r["task"] == task]
                labels = [int(r["label"]) for r in rows]
                if len(set(labels)) < 2:
                    continue
                fpr, tpr, _ = roc_curve(labels, [float(r["score"]) for r in rows])
                ax.plot(fpr, tpr, color=color, alpha=0.6, linewidth=1, label=row if k == 0 else None)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
        ax.set_title(f"{task} (final models, every seed)" + (" SYNTHETIC" if synthetic else ""))
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right", fontsize=8)
    save_figure(fig, path)
