"""A run's written outputs: ``history.csv``, ``metrics.json`` and the readable ``report.md``."""

import csv
import io

from minimtl.common.atomic import write_text
from minimtl.common.messages import plural
from minimtl.common.run_folder import SAVED_MODELS

__all__ = [
    "write_history",
    "write_predictions",
    "write_skipped",
    "format_rate",
    "metrics_table",
    "multiclass_lines",
    "describe_leaks",
    "render_report",
]

RATES = ("precision", "recall", "specificity", "npv", "accuracy")


def write_history(path, history, synthetic=False):
    """One row per epoch; columns are the union of the rows' keys, in first-seen order, and a last
    column ``synthetic`` (1 when the run trained on phantoms, so the file says so on every row)."""
    columns = []
    for row in history:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns + ["synthetic"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "synthetic": int(synthetic)} for row in history)
    write_text(path, buffer.getvalue())


def write_predictions(path, predictions, collection):
    """Every scored test image of every saved model: weights ("last" or "best"), task, file, true
    label, P(disease), prediction, synthetic (1 for phantoms). For ROC curves and audits.

    predictions: dict weights -> task results (as from ``score_tasks``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["weights", "task", "path", "label", "score", "predicted", "synthetic"])
    synthetic = int(collection.synthetic)
    for weights, task_results in predictions.items():
        for task, result in task_results.items():
            for image, label, score, predicted in zip(
                result["image"], result["y_true"], result["score"], result["predicted"]
            ):
                row = [weights, task, collection.paths[image], int(label), repr(float(score)), int(predicted)]
                writer.writerow(row + [synthetic])
    write_text(path, buffer.getvalue())


def write_skipped(path, skipped):
    """The data folder's files that could not be used: path, reason."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "reason"])
    writer.writerows(skipped)
    write_text(path, buffer.getvalue())


def format_rate(entry):
    """'83.3 [72.0, 90.7] (50/60)' from a metrics rate dict, or 'n/a' when undefined."""
    if entry["value"] is None:
        return f"n/a (0/{entry['n']})"
    low, high = entry["ci95"]
    return f"{100 * entry['value']:.1f} [{100 * low:.1f}, {100 * high:.1f}] ({entry['k']}/{entry['n']})"


def metrics_table(tasks):
    """A Markdown table of every task's metrics (tasks: task -> binary_metrics dict)."""
    lines = ["| metric | " + " | ".join(tasks) + " |", "| --- |" + " --- |" * len(tasks)]
    for name in RATES:
        lines.append(f"| {name} | " + " | ".join(format_rate(m[name]) for m in tasks.values()) + " |")
    lines.append(
        "| F1 | " + " | ".join("n/a" if m["f1"] is None else f"{100 * m['f1']:.1f}" for m in tasks.values()) + " |"
    )
    aucs = []
    for m in tasks.values():
        auc = m["roc_auc"]
        aucs.append(
            "n/a" if auc["value"] is None else f"{auc['value']:.3f} [{auc['ci95'][0]:.3f}, {auc['ci95'][1]:.3f}]"
        )
    lines.append("| ROC-AUC | " + " | ".join(aucs) + " |")
    lines.append(
        "| confusion [[TN, FP], [FN, TP]] | " + " | ".join(str(m["confusion_matrix"]) for m in tasks.values()) + " |"
    )
    return "\n".join(lines)


def multiclass_lines(multiclass):
    """One line per model with its 3-class confusion matrix, naming the model's epoch, file and the tasks it
    scores (``multiclass`` as :meth:`minimtl.study.run.saved_run.SavedRun.score` gives it)."""
    models = {}  # file -> (its entry, the tasks it scores)
    for task, entry in multiclass["by_task"].items():
        models.setdefault(entry["file"], (entry, []))[1].append(task)
    return [
        f"3-class confusion matrix of the epoch-{entry['epoch']} model (`{file}`, which scores {', '.join(tasks)}) "
        f"over every scored image (rows true, columns predicted; 0 normal, 1 TB, 2 pneumonia): "
        f"{entry['confusion_matrix']}"
        for file, (entry, tasks) in models.items()
    ]


def describe_leaks(leaks):
    """One sentence from a split's leak report: what crosses between train, validation and test."""
    return (
        f"{leaks['duplicate_groups_crossing']} of {leaks['duplicate_groups']} groups of pixel-identical images "
        f"and {leaks['patients_crossing']} of {leaks['patients']} patients have images on more than one side; "
        f"{leaks['test_images_linked_to_training']} test images are linked to a training image"
    )


def _task_models_section(metrics):
    """Which saved model scores each task (its epoch and file), and whether its head collapsed, as
    decided before the test; nothing for runs that did not record it."""
    models, collapse = metrics.get("task_models"), metrics.get("collapse") or {}
    if not models:
        return []
    rule = {
        "per-task": "each task's own best validation epoch (the lowest loss of its head on its own validation images)",
        "summed": "the epoch with the lowest summed validation loss, for every task",
        None: "the last epoch (no validation split)",
    }[metrics.get("selection")]
    out = [
        f"## The model that scores each task: {rule}",
        "",
        "Collapsed: the head gave every one of its task's validation images (training images, without "
        "validation) the same class; decided before any test image was scored.",
        "",
        "| task | epoch | file | collapsed |",
        "| --- | --- | --- | --- |",
    ]
    for task, model in models.items():
        verdict = collapse.get(task)
        text = "n/a" if not verdict or verdict["collapsed"] is None else ("yes" if verdict["collapsed"] else "no")
        if verdict and verdict["collapsed"] is not None:
            text += f" ({verdict['predicted_positive']}/{verdict['images']} {verdict['decided_on']} images positive)"
        out.append(f"| {task} | {model['epoch']} | `{model['file']}` | {text} |")
    return out + [""]


def render_report(config, metrics, history, files=()):
    """The text of report.md; files: (file name, what it holds) of the run folder, for its last section."""
    out = [f"# Run: {config['arch']}", ""]
    if metrics.get("synthetic"):
        out += ["> **SYNTHETIC DATA.** These numbers come from built-in phantoms, not chest X-rays.", ""]
    split = metrics["split"]
    out += [
        f"- image size {config['image_size']} px ({config['crop']}), batch {config['batch_size']}, "
        f"{plural(config['epochs'], 'epoch')} at most, Adam lr {config['lr']}, seed {config['seed']}, "
        f"{config.get('step', 'fused')} training step",
        f"- heads: {config['head']}; other dataset's images: {config['other_labels']}",
        f"- split `{split['method']}`: {split['train']} train, {split['val']} validation, {split['test']} test images",
        f"- leak check: {describe_leaks(split['leaks'])}",
    ]
    data = metrics.get("data") or {}
    if data.get("skipped"):
        out.append(
            f"- {plural(data['skipped'], 'file')} of the data folder could not be used (listed in "
            f"`{data['skipped_list']}`)"
        )
    out += [
        f"- the model this run stands for: the {SAVED_MODELS[metrics.get('weights', 'last')][1]} "
        "(`evaluate` and `compare` score it)",
        "",
    ]
    out += _task_models_section(metrics)
    out += [
        "## Test metrics of the final (last-epoch) model",
        "",
        "Each task is scored on its own dataset's test images only. Rates in percent with Wilson 95% "
        "intervals and counts; ROC-AUC with a Hanley-McNeil 95% interval.",
        "",
        metrics_table(metrics["tasks"]),
        "",
    ]
    if "multiclass" in metrics:
        out += [
            "3-class confusion matrix over all test images (rows true, columns predicted; "
            "0 normal, 1 TB, 2 pneumonia): " + str(metrics["multiclass"]["confusion_matrix"]),
            "",
        ]
    best = metrics.get("best_val")
    if best and metrics.get("selection") == "per-task":
        epochs = ", ".join(f"{task} epoch {epoch}" for task, epoch in best["task_epochs"].items())
        out += [
            f"## Each task's own best validation epoch ({epochs})",
            "",
            metrics_table(best["tasks"]),
            "",
        ]
    elif best:
        out += [
            f"## The epoch with the best validation loss: {best['epoch']} (loss {best['val_loss']:.4f})",
            "",
            metrics_table(best["tasks"]),
            "",
        ]
    if metrics.get("stopped"):
        out += [f"Stopped early after epoch {metrics['stopped']['epoch']}: {metrics['stopped']['reason']}.", ""]
    if metrics.get("warnings"):
        out += ["## Warnings", ""] + [f"- {warning}" for warning in metrics["warnings"]] + [""]
    if history:
        seconds = [row["seconds"] for row in history]
        out += [f"Training time: {sum(seconds):.1f} s in all, {sum(seconds) / len(seconds):.1f} s per epoch.", ""]
    if files:
        out += ["## Files", ""] + [f"- `{name}`: {what}" for name, what in files] + [""]
    return "\n".join(out)
