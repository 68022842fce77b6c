"""Rebuild the figures of the docs that do not come from a run: ``python docs/figures.py``.

- docs/images/augment.png: a batch of synthetic phantoms (no patient image is committed) before and
  after ``run --augment`` (minimtl.data.augment), the same seed as a run's first step would draw.
"""

from pathlib import Path

import numpy as np

from minimtl.data import make_phantoms
from minimtl.data.augment import augment_batch
from minimtl.study.run.plots import plt, save_figure

HERE = Path(__file__).resolve().parent


def augment_figure(path, side=128, n=6, seed=0):
    phantoms = make_phantoms(n_per_class=2, image_size=side, seed=seed)
    batch = phantoms.images[np.random.default_rng(seed).permutation(len(phantoms))[:n]]
    augmented = augment_batch(batch, np.random.default_rng([seed, 0]))
    fig, axes = plt.subplots(2, n, figsize=(2 * n, 4.3))
    for k in range(n):
        for row, images in enumerate((batch, augmented)):
            axes[row][k].imshow(images[k], cmap="gray", vmin=0, vmax=255)
            axes[row][k].set_xticks([])
            axes[row][k].set_yticks([])
    axes[0][0].set_ylabel("as stored")
    axes[1][0].set_ylabel("--augment")
    fig.suptitle("One training batch before and after augmentation (synthetic phantoms)")
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    augment_figure(HERE / "images" / "augment.png")
    print(f"wrote {HERE / 'images' / 'augment.png'}")
