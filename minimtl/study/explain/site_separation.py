"""The site shortcut as a number: can a disease head tell the two hospitals' *healthy* images apart?

Neither Kermany's normal children nor Shenzhen's normal adults have TB or pneumonia, so a head
that reads the lungs should give both groups about the same disease probability. For each task's
score (the TB head's P(TB), the pneumonia head's P(pneumonia); the multiclass head's class
probabilities) we take the normal test images of the two datasets and compute

    AUC = P(score of a normal image of the task's own dataset > score of a normal image of the other)

(the ROC-AUC with label = dataset, ties counting one half). 0.5: the score does not know the
hospital. Near 1: the head gives its own hospital's healthy images more disease probability than
the other's: it has learned the site, as ``--other-labels negative`` teaches it to (every image of
the other hospital is a "no" for this head). Near 0 separates as well, the other way round;
``separation = max(AUC, 1 - AUC)`` says how well either way.

Images: the test side of the run's seed split over both datasets (:mod:`minimtl.study.run.saved_run`),
so every architecture of one seed is measured on the same images, none seen in training.
"""

import numpy as np

from minimtl.study.run.saved_run import disease_probability, full_test_images, open_saved_run, score_unit
from minimtl.training.metrics import roc_auc, roc_auc_interval

__all__ = ["DATASETS", "site_separation", "site_separation_of"]

# the two datasets; each task is named after its own (whose normals are the "positives" of the AUC)
DATASETS = ("tb", "pneumonia")


def _sites(collection, index):
    return sorted(set(collection.site[index].tolist()))


def site_separation_of(run, collection, tasks=None):
    """:func:`site_separation` for a run already opened (:func:`open_saved_run`); tasks: the tasks
    to measure (default: every task of the run)."""
    groups = {}
    for dataset in DATASETS:
        index = full_test_images(run, collection, dataset, label=0)
        groups[dataset] = {"normal_test_images": int(len(index)), "sites": _sites(collection, index), "index": index}
    heads = {}
    for task in tasks or run.spec.tasks:
        head, unit = score_unit(run.spec, task, run.config.head)
        own, other = task, next(d for d in DATASETS if d != task)
        own_index, other_index = groups[own]["index"], groups[other]["index"]
        entry = {"head": head, "unit": unit, "positive": own, "negative": other}
        if len(own_index) == 0 or len(other_index) == 0:
            heads[task] = {**entry, "auc": None, "separation": None, "ci95": None, "mean_probability": None}
            continue
        score_own = disease_probability(run, task, collection.images, own_index)
        score_other = disease_probability(run, task, collection.images, other_index)
        label = np.r_[np.ones(len(own_index)), np.zeros(len(other_index))]
        auc = roc_auc(label, np.r_[score_own, score_other])
        heads[task] = {
            **entry,
            "auc": auc,
            "separation": max(auc, 1 - auc),
            "ci95": roc_auc_interval(auc, len(own_index), len(other_index)),
            "mean_probability": {own: float(score_own.mean()), other: float(score_other.mean())},
        }
    return {
        "run": str(run.folder),
        "weights": run.chosen_weights,
        "synthetic": bool(collection.synthetic),
        "images": run.full_test(collection)[1] + ": the normal (label 0) images of each dataset",
        "groups": {d: {k: v for k, v in g.items() if k != "index"} for d, g in groups.items()},
        "tasks": heads,
    }


def site_separation(run_dir, collection, weights=None, tasks=None):
    """How well each disease score of a saved run separates the two hospitals' normal test images.

    Inputs:
    - run_dir: a run folder; collection: the run's own images (as ``load_run_data`` gives them)
    - weights: "best", "last" or None (the model the run stands for); tasks: None (all) or a list

    Returns a JSON-ready dict: ``run``, ``weights``, ``synthetic``, ``images`` (which, in words),
    ``groups`` (dataset -> ``normal_test_images``, ``sites``) and ``tasks``: task -> ``auc``
    (own dataset's normals as positives), ``separation`` (max(AUC, 1 - AUC)), ``ci95`` (Hanley-McNeil),
    ``mean_probability`` (dataset -> mean P(disease)), ``head``, ``unit``, ``positive``, ``negative``;
    the numbers are None when one of the groups has no image. Raises RunError for an unusable run.
    """
    return site_separation_of(open_saved_run(run_dir, weights), collection, tasks)
