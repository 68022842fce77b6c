"""PNG figures of ``explain``: image grids with their saliency overlaid, and the mean map per class.

The overlay is a heat colour whose opacity grows with the map's value, on the gray image, so the
low values leave the radiograph visible. Each thumbnail's map is scaled to its own 99th
percentile (one hot pixel does not hide the rest); the mean maps are scaled to their maximum.
"""

import math

import numpy as np

from minimtl.study.explain.maps import CLASS_SAMPLES, LUNG_BOX
from minimtl.study.run.plots import plt, save_figure

__all__ = ["overlay", "plot_group", "plot_mean_maps"]

HEAT = "inferno"


def overlay(ax, image, saliency, scale):
    """Draw ``image`` (S, S) of gray levels 0-255 and ``saliency`` (S, S) >= 0 divided by ``scale``
    (clipped to 1) on ``ax``."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)  # gray levels, or a mean of them
    level = np.clip(saliency / scale, 0, 1) if scale > 0 else np.zeros_like(saliency)
    colours = plt.get_cmap(HEAT)(level)
    colours[..., 3] = 0.85 * level  # transparent where the map is low
    ax.imshow(colours)
    ax.set_xticks([])
    ax.set_yticks([])


def _box(ax, side):
    top, left = LUNG_BOX["top"] * side - 0.5, LUNG_BOX["left"] * side - 0.5
    height, width = (LUNG_BOX["bottom"] - LUNG_BOX["top"]) * side, (LUNG_BOX["right"] - LUNG_BOX["left"]) * side
    ax.add_patch(plt.Rectangle((left, top), width, height, fill=False, edgecolor="cyan", linestyle="--", linewidth=1))


def plot_group(images, maps, probability, score_name, title, path):
    """One grid: ``images`` uint8 (n, S, S) with ``maps`` (n, S, S), each titled with its
    ``probability`` (n,) of ``score_name`` (e.g. "P(tb)"); written to ``path``. n >= 1."""
    columns = max(1, math.ceil(math.sqrt(len(images))))
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.0 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(images) :]:
        ax.axis("off")
    for ax, image, saliency, p in zip(axes.flat, images, maps, probability):
        overlay(ax, image, saliency, np.percentile(saliency, 99))
        ax.set_title(f"{score_name} {p:.2f}", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_mean_maps(task_saliency, collection, inside_share, title, path):
    """Rows: the methods; columns: the class samples (``CLASS_SAMPLES``). Each cell: the sample's mean
    image, its mean map (:meth:`TaskSaliency.mean_map`), the lung box dashed, and the mean share
    outside the box from ``inside_share`` (method -> group -> share or None). Written to ``path``."""
    methods = list(task_saliency.maps)
    groups = list(CLASS_SAMPLES)
    fig, axes = plt.subplots(len(methods), len(groups), figsize=(3.0 * len(groups), 3.5 * len(methods) + 0.5))
    axes = np.asarray(axes).reshape(len(methods), len(groups))
    side = collection.images.shape[1]
    for i, method in enumerate(methods):
        for j, group in enumerate(groups):
            ax, index = axes[i, j], task_saliency.groups[group]
            if len(index) == 0:
                ax.axis("off")
                ax.set_title(f"{CLASS_SAMPLES[group]}: no test images", fontsize=8)
                continue
            mean_map = task_saliency.mean_map(method, group)
            overlay(ax, collection.images[index].mean(axis=0), mean_map, mean_map.max())
            _box(ax, side)
            share = inside_share[method][group]
            ax.set_title(
                f"{method}: {CLASS_SAMPLES[group]} (n={len(index)})\n"
                + ("outside box: n/a" if share is None else f"outside box: {100 * share:.0f}%"),
                fontsize=8,
            )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
