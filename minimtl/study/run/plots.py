"""PNG plots of a run: loss curves, ROC curves, confusion matrices."""

import matplotlib

matplotlib.use("Agg")  # files only, no screen needed
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from sklearn.metrics import roc_curve  # noqa: E402

from minimtl.common.atomic import atomic_open
from minimtl.common.run_folder import SAVED_MODELS  # noqa: E402

__all__ = ["plt", "save_figure", "plot_losses", "plot_roc", "plot_confusions"]


def save_figure(fig, path):
    """Write ``fig`` as a PNG to ``path`` atomically, then free it."""
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _title(text, synthetic):
    return f"{text} (SYNTHETIC phantoms)" if synthetic else text


def plot_losses(history, path, synthetic=False):
    """Training and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [row["epoch"] for row in history]
    ax.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    if history and "val_loss" in history[0]:
        ax.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("total loss (sum of heads)")
    ax.set_title(_title("Loss", synthetic))
    ax.legend()
    save_figure(fig, path)


def plot_roc(task_results, path, synthetic=False, weights="last"):
    """ROC curve of each task on its own test images; task_results: task -> {"y_true", "score", "metrics"};
    weights: which saved model they come from ("best" or "last"), for the title."""
    fig, ax = plt.subplots(figsize=(5, 5))
    for task, result in task_results.items():
        auc = result["metrics"]["roc_auc"]["value"]
        if auc is None:
            continue
        fpr, tpr, _ = roc_curve(result["y_true"], result["score"])
        ax.plot(fpr, tpr, label=f"{task} (AUC {auc:.3f}, n={result['metrics']['n']})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (recall)")
    ax.set_title(_title(f"ROC on test images ({SAVED_MODELS[weights][1]})", synthetic))
    ax.legend(loc="lower right")
    save_figure(fig, path)


def plot_confusions(task_results, path, synthetic=False, weights="last"):
    """One confusion matrix per task, rows true, columns predicted; counts in white on dark cells."""
    tasks = list(task_results)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), squeeze=False)
    for k, (ax, task) in enumerate(zip(axes[0], tasks)):
        matrix = task_results[task]["metrics"]["confusion_matrix"]
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1, max(map(max, matrix))))
        threshold = max(map(max, matrix)) / 2
        for i in range(2):
            for j in range(2):
                color = "white" if matrix[i][j] > threshold else "black"
                ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=12, color=color)
        ax.set_xticks([0, 1], ["normal", task])
        ax.set_yticks([0, 1], ["normal", task])
        ax.set_xlabel("predicted")
        if k == 0:  # one "true" label, left of the first matrix only, clear of the other's ticks
            ax.set_ylabel("true")
        ax.set_title(task)
    fig.suptitle(_title(f"Confusion matrices (test, {SAVED_MODELS[weights][1]})", synthetic))
    fig.tight_layout()
    save_figure(fig, path)
