"""Saliency maps of a saved run's test images: which images, their maps, and the share outside the lungs.

For one task, every random choice comes from the seed through the task's own streams
(:func:`task_streams`), so ``--task tb`` picks the same TB images as a run over every task.

Images (indices into the collection; all test images, none seen in training):

- the outcome groups ``tp``, ``fp``, ``fn``, ``tn``: up to N each of the task's own test images,
  by the model's decision (the figures' grids);
- the class samples ``disease``, ``normal``: up to 4N each of the task's own test images, drawn at
  random whatever the decision, and ``other_normal``: up to 4N normal test images of the *other*
  dataset (the other hospital), which the head should find unremarkable. The mean maps and the
  share outside the box are taken over these samples, so they describe the classes, not the
  errors.

The lung box: :data:`LUNG_BOX`, rows 15%-85% and columns 20%-80% of the image (70% of the
height, 60% of the width, about 42% of the area after rounding to pixels), a fixed stand-in for
the lung fields of a stretched PA chest film, drawn around both lungs on the mean image of each
dataset at 64 px. It is not a segmentation: it also holds the mediastinum and the heart, and
misses the costophrenic angles of a large chest. A map spread evenly over the image would put
59% of its mass outside at 64 px (58% at 128 and 256 px: the rounding).
"""

from dataclasses import dataclass

import numpy as np

from minimtl.data import to_input
from minimtl.nn.saliency import gradcam_map, gradient_map, smoothgrad_map
from minimtl.study.run.saved_run import disease_probability, full_test_images, score_unit
from minimtl.training.tasks import task_predictions

__all__ = [
    "METHODS",
    "OUTCOMES",
    "CLASS_SAMPLES",
    "LUNG_BOX",
    "SMOOTHGRAD",
    "box_mask",
    "outside_share",
    "task_streams",
    "saliency_maps",
    "TaskSaliency",
    "task_saliency",
]

METHODS = ("gradient", "smoothgrad", "gradcam")
# outcome -> (true label, predicted label, in words)
OUTCOMES = {
    "tp": (1, 1, "true positives"),
    "fp": (0, 1, "false positives"),
    "fn": (1, 0, "false negatives"),
    "tn": (0, 0, "true negatives"),
}
CLASS_SAMPLES = {"disease": "with the disease", "normal": "normal", "other_normal": "normal, other hospital"}
LUNG_BOX = {"top": 0.15, "bottom": 0.85, "left": 0.20, "right": 0.80}  # shares of the side (see module docstring)
SMOOTHGRAD = {"samples": 16, "noise": 0.15}  # K noisy copies; sigma = 15% of each image's range (Smilkov et al.)
TASK_ORDER = ("tb", "pneumonia")  # each task's streams are spawned in this fixed order


def box_mask(side, box=LUNG_BOX):
    """bool (side, side), True inside the box (rows top..bottom, columns left..right, as shares)."""
    inside = np.zeros((side, side), dtype=bool)
    top, bottom = round(box["top"] * side), round(box["bottom"] * side)
    left, right = round(box["left"] * side), round(box["right"] * side)
    inside[top:bottom, left:right] = True
    return inside


def outside_share(maps, inside):
    """Share of each map's mass outside the box: float64 (n,) from maps (n, S, S) >= 0 and the box
    mask (S, S); NaN for a map that is zero everywhere (no mass to share)."""
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.sum(axis=(1, 2))
    outside = maps[:, ~inside].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, outside / total, np.nan)


def task_streams(seed, task):
    """(pick, noise): the two Generators of ``task`` (a name of TASK_ORDER), from one seed."""
    per_task = np.random.SeedSequence(seed).spawn(len(TASK_ORDER))[TASK_ORDER.index(task)]
    return tuple(np.random.default_rng(s) for s in per_task.spawn(2))


def saliency_maps(run, task, images, method, noise_rng, smoothgrad=SMOOTHGRAD):
    """Maps of one method of ``task``'s score (:func:`score_unit`, by the run's model of ``task``) for
    uint8 ``images`` (n, S, S), in the run's batches: float64 (n, S, S).
    noise_rng: the Generator SmoothGrad draws from (unused by the other methods)."""
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
    head, unit = score_unit(run.spec, task, run.config.head)
    model, batch_size = run.model_for(task), run.config.batch_size
    out = np.zeros(images.shape, dtype=np.float64)
    for start in range(0, len(images), batch_size):
        x = to_input(images[start : start + batch_size], run.config.normalize)
        if method == "gradient":
            maps = gradient_map(model, x, head, unit)
        elif method == "smoothgrad":
            maps = smoothgrad_map(model, x, head, unit, noise_rng, **smoothgrad)
        else:
            maps = gradcam_map(model, x, head, unit)
        out[start : start + len(x)] = maps
    return out


def _mean_or_none(shares):
    """Mean of the shares that exist (a zero map has none, NaN); None when none exists."""
    shares = shares[~np.isnan(shares)]
    return float(shares.mean()) if len(shares) else None


def _pick(index, count, rng):
    """Up to ``count`` of ``index``, drawn without replacement, sorted."""
    if len(index) <= count:
        return np.sort(index)
    return np.sort(rng.choice(index, size=count, replace=False))


@dataclass(frozen=True, eq=False)
class TaskSaliency:
    """One task's chosen images and their maps.

    - task, head, unit: the score (``logits[head][:, unit]``)
    - groups: name (``OUTCOMES`` and ``CLASS_SAMPLES`` keys) -> int64 indices into the collection
    - available: name -> how many test images the group could have been drawn from
    - computed: sorted int64 (m,), every image of the groups; probability: float64 (m,), its P(disease)
    - maps: method -> float64 (m, S, S), aligned with ``computed``
    """

    task: str
    head: str
    unit: int
    groups: dict
    available: dict
    computed: np.ndarray
    probability: np.ndarray
    maps: dict

    def rows(self, group):
        """Positions of a group's images in ``computed`` (and so in ``probability`` and ``maps``)."""
        return np.searchsorted(self.computed, self.groups[group])

    def mean_map(self, method, group):
        """The mean of a group's maps after scaling each to sum 1 (every image weighs the same):
        float64 (S, S); zeros when the group is empty. Maps that are zero everywhere are left out."""
        maps = self.maps[method][self.rows(group)]
        total = maps.sum(axis=(1, 2))
        maps = maps[total > 0] / total[total > 0, None, None]
        return maps.mean(axis=0) if len(maps) else np.zeros(self.maps[method].shape[1:])

    def summary(self, collection, inside):
        """JSON-ready numbers: the score, how many maps were computed, the range of their images'
        P(disease) (``score_range``, 0 for a collapsed head), how many maps are zero
        everywhere (per method), each group's images (paths) and how many were available, and per
        method the mean share of saliency outside the box (``inside``: bool (S, S)) for each
        class sample and for ``own`` (disease and normal together); None for an empty group."""
        outside = {}
        for method, maps in self.maps.items():
            share = outside_share(maps, inside)
            rows = {group: self.rows(group) for group in CLASS_SAMPLES}
            rows["own"] = np.r_[rows["disease"], rows["normal"]]
            outside[method] = {group: _mean_or_none(share[r]) for group, r in rows.items()}
        return {
            "head": self.head,
            "unit": self.unit,
            "maps": int(len(self.computed)),
            # one P(disease) for every image: a collapsed head (docs/study.md), whose maps say nothing
            "score_range": float(np.ptp(self.probability)) if len(self.probability) else None,
            # a map is zero everywhere when the head's hidden units are all off for the image (or, for
            # Grad-CAM, when its ReLU finds the weighted sum of the conv maps negative at every pixel)
            "all_zero_maps": {method: int(np.sum(maps.max(axis=(1, 2)) <= 0)) for method, maps in self.maps.items()},
            "images": {
                group: {"available": self.available[group], "paths": collection.paths[index].tolist()}
                for group, index in self.groups.items()
            },
            "outside_box": outside,
        }


def task_saliency(run, collection, task, per_group=16, methods=METHODS, seed=0, smoothgrad=SMOOTHGRAD):
    """Pick the task's images (module docstring) and compute their maps.

    Inputs: run: a :class:`minimtl.study.run.saved_run.SavedRun`; collection: its images; task: "tb" or
    "pneumonia"; per_group: N, images per outcome group (4N per class sample); methods: some of
    ``METHODS``; seed: int; smoothgrad: its ``samples`` and ``noise``.
    Returns a :class:`TaskSaliency`.
    """
    head, unit = score_unit(run.spec, task, run.config.head)
    pick_rng, noise_rng = task_streams(seed, task)
    test = run.test_images(collection)
    own = test[collection.dataset[test] == task]
    logits = run.logits(task, collection.images, own)
    _, _, predicted = task_predictions(run.spec, logits, collection.dataset[own])[task]
    truth = collection.labels[own]
    other = next(d for d in TASK_ORDER if d != task)
    pools = {name: own[(truth == t) & (predicted == p)] for name, (t, p, _) in OUTCOMES.items()}
    pools |= {
        "disease": own[truth == 1],
        "normal": own[truth == 0],
        "other_normal": full_test_images(run, collection, other, label=0),
    }
    groups = {
        name: _pick(pool, per_group if name in OUTCOMES else 4 * per_group, pick_rng) for name, pool in pools.items()
    }
    computed = np.unique(np.concatenate(list(groups.values()))).astype(np.int64)
    images = collection.images[computed]
    maps = {method: saliency_maps(run, task, images, method, noise_rng, smoothgrad) for method in methods}
    return TaskSaliency(
        task=task,
        head=head,
        unit=unit,
        groups=groups,
        available={name: int(len(pool)) for name, pool in pools.items()},
        computed=computed,
        probability=disease_probability(run, task, collection.images, computed),
        maps=maps,
    )
