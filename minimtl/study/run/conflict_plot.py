"""The gradient-conflict plot of a multi-task run (``conflict.png``): the tasks' agreement per epoch."""

from minimtl.study.run.plots import plt, save_figure

__all__ = ["has_conflict", "plot_conflict"]


def has_conflict(history):
    """Whether any epoch measured the gradient conflict (multi-task runs)."""
    return any(row.get("conflict_steps") for row in history)


def plot_conflict(history, path, synthetic=False):
    """Per epoch: the mean cosine between the two tasks' gradients on the shared weights (left axis) and
    the share of measured steps where it was negative (right axis). Epochs without a measurement are gaps."""
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [row["epoch"] for row in history]
    cosine = [row.get("conflict_cosine") for row in history]
    negative = [row.get("conflict_negative") for row in history]
    nan = float("nan")
    ax.plot(epochs, [nan if c is None else c for c in cosine], marker="o", color="tab:blue", label="mean cosine")
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean cos(g_tb, g_pneumonia) on the shared weights")
    share = ax.twinx()
    share.plot(epochs, [nan if s is None else s for s in negative], marker="s", color="tab:red", label="share < 0")
    share.set_ylim(-0.025, 1.025)
    share.set_ylabel("share of measured steps in conflict (cos < 0)")
    steps = sum(row.get("conflict_steps") or 0 for row in history)
    title = f"Gradient conflict ({steps} measured steps)"
    ax.set_title(f"{title} (SYNTHETIC phantoms)" if synthetic else title)
    lines = ax.get_lines()[:1] + share.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="lower left")
    save_figure(fig, path)
