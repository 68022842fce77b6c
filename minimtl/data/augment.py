"""Augmentation: every training batch changed at random in the ways one hospital's images differ from
another's, so that a head cannot score by recognising them (``run --augment``, off by default).

Per image, with the parameters drawn from one numpy Generator (:data:`AUGMENTATION` lists the ranges):

- a small shift (up to 4% of the side in each direction) and zoom (0.95 to 1.05), together;
- a contrast change (factor 0.85 to 1.15 about the image's mean) and a gamma change (0.8 to 1.25);
- with probability 0.3, black borders along all four or two of the edges (2% to 10% of the side);
- with probability 0.3, a burned-in marker ("PA ERECT", "AP", "L", "R", ...) in a random corner
  (a marker too wide for a small image is left out).

Each step is the transform of :mod:`minimtl.data.transforms` of the same name, with the same
rounding; the geometric and gray-level ones run in one kernel pass per image
(:mod:`minimtl.data.augment_numba`, with its NumPy twin :mod:`minimtl.data.augment_reference`), so
augmenting costs a few percent of a training step. The
Generator is made per training step from a seed drawn from the run's shuffling stream at the start of
each epoch (:func:`minimtl.training.loop.epoch_batches`), so a resumed run draws the same augmentations.
"""

import numpy as np

from minimtl.data import augment_numba, augment_reference
from minimtl.data.transforms import BORDER_SIDES, CORNERS, black_border, burn_in_text, zoom_positions
from minimtl.kernels import chosen

augment_kernels = chosen(augment_numba, augment_reference)  # the NumPy twin under MINIMTL_KERNELS=reference

__all__ = ["AUGMENTATION", "MARKERS", "MARKER_HEIGHT", "augment_batch"]

AUGMENTATION = {
    "shift": 0.04,  # largest shift, a share of the side, in each direction
    "zoom": (0.95, 1.05),
    "contrast": (0.85, 1.15),
    "gamma": (0.8, 1.25),
    "border_probability": 0.3,
    "border": (0.02, 0.10),  # band width, a share of the side
    "marker_probability": 0.3,
}
MARKERS = ("PA ERECT", "AP", "PA", "L", "R", "PORTABLE", "SUPINE")
MARKER_HEIGHT = 0.08  # letter height, a share of the side


def _fits(marker, side):
    """Whether ``burn_in_text`` can place ``marker`` in a ``side`` px image (its width plus margins)."""
    scale = max(1, int(round(MARKER_HEIGHT * side / 5)))
    return (4 * len(marker) - 1) * scale + 2 * int(round(0.04 * side)) <= side


def augment_batch(images, rng):
    """A new batch: each image of ``images`` (uint8 (n, S, S), unchanged) augmented with parameters
    drawn from ``rng`` (a numpy Generator). Returns uint8 (n, S, S)."""
    a, (n, side, _) = AUGMENTATION, images.shape
    limit = a["shift"] * side
    shifts = rng.uniform(-limit, limit, size=(n, 2))
    zooms = rng.uniform(*a["zoom"], size=n)
    contrasts = rng.uniform(*a["contrast"], size=n)
    gammas = rng.uniform(*a["gamma"], size=n)
    borders = rng.random(n) < a["border_probability"]
    widths, sides = rng.uniform(*a["border"], size=n), rng.integers(len(BORDER_SIDES), size=n)
    marked = rng.random(n) < a["marker_probability"]
    markers, corners = rng.integers(len(MARKERS), size=n), rng.integers(len(CORNERS), size=n)

    # zoom and shift (transforms.zoom), contrast about each image's mean (transforms.change_contrast),
    # then gamma (transforms.change_gamma, as a lookup table per image): one kernel pass per image
    rows = np.stack([zoom_positions(side, z, dy) for z, (dy, _) in zip(zooms, shifts)])
    columns = np.stack([zoom_positions(side, z, dx) for z, (_, dx) in zip(zooms, shifts)])
    tables = np.rint(255.0 * (np.arange(256) / 255.0)[None, :] ** gammas[:, None]).astype(np.uint8)
    out = np.empty_like(images)
    augment_kernels.warp_and_tone(images, rows, columns, contrasts, tables, out)
    for k in range(n):  # borders and markers: a few slices on some of the images
        if borders[k]:
            out[k : k + 1] = black_border(out[k : k + 1], widths[k], BORDER_SIDES[sides[k]])
        if marked[k] and _fits(MARKERS[markers[k]], side):
            out[k : k + 1] = burn_in_text(out[k : k + 1], MARKERS[markers[k]], CORNERS[corners[k]], MARKER_HEIGHT)
    return out
