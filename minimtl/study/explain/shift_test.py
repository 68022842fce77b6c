"""The shift test: score a run's test images again after a change a disease detector should ignore.

Each shift of :data:`SHIFTS` (one at a time, with fixed parameters) is applied to the task's own
test images (split.json), and the ROC-AUC on the shifted images is compared with the AUC on the
originals. A head that reads the lungs loses little; a head that leans on a border, a text marker
or the exposure can lose much, or gain. The mean disease probability and the share predicted
positive are reported too: a shift can move every score (the decision threshold) without changing
their order (the AUC).
"""

import numpy as np

from minimtl.data.transforms import black_border, burn_in_text, change_contrast, change_gamma, zoom
from minimtl.study.run.saved_run import disease_probability, open_saved_run
from minimtl.training.metrics import roc_auc

__all__ = ["SHIFTS", "shift_test", "shift_test_of"]

# name -> (what it does, in words; the transform; its parameters)
SHIFTS = {
    "border": ("black frame, 8% of the side on each edge", black_border, {"fraction": 0.08}),
    "text": ('"PA ERECT" burned in white, top-right corner', burn_in_text, {"text": "PA ERECT", "corner": "top-right"}),
    "gamma-0.7": ("gamma 0.7 (mid-grays brighter)", change_gamma, {"gamma": 0.7}),
    "gamma-1.4": ("gamma 1.4 (mid-grays darker)", change_gamma, {"gamma": 1.4}),
    "contrast-0.7": ("contrast x 0.7 about each image's mean", change_contrast, {"factor": 0.7}),
    "zoom-1.05": ("zoom in 5% about the centre", zoom, {"factor": 1.05}),
}


def _scores(run, task, images, y_true):
    probability = disease_probability(run, task, images, np.arange(len(images)))
    return {
        "auc": roc_auc(y_true, probability),
        "mean_probability": float(probability.mean()),
        "predicted_positive": float(np.mean(probability > 0.5)),
    }


def shift_test_of(run, collection, tasks=None, shifts=None):
    """:func:`shift_test` for a run already opened (:func:`minimtl.study.run.saved_run.open_saved_run`)."""
    shifts = SHIFTS if shifts is None else shifts
    results = {}
    for task in tasks or run.spec.tasks:
        test = run.test_images(collection)
        index = test[collection.dataset[test] == task]
        y_true = collection.labels[index]
        original = collection.images[index]
        baseline = _scores(run, task, original, y_true)
        shifted = {}
        for name, (_, transform, parameters) in shifts.items():
            try:
                moved = transform(original, **parameters)
            except ValueError as error:  # e.g. the text does not fit a tiny image: say so, go on
                shifted[name] = {"skipped": str(error)}
                continue
            after = _scores(run, task, moved, y_true)
            change = None if after["auc"] is None or baseline["auc"] is None else after["auc"] - baseline["auc"]
            shifted[name] = {
                **after,
                "auc_change": change,
                "mean_probability_change": after["mean_probability"] - baseline["mean_probability"],
            }
        results[task] = {"images": int(len(index)), "positives": int(y_true.sum()), **baseline, "shifted": shifted}
    return {
        "run": str(run.folder),
        "weights": run.chosen_weights,
        "synthetic": bool(collection.synthetic),
        "images": "each task's own test images (split.json)",
        "shifts": {name: {"what": what, "parameters": parameters} for name, (what, _, parameters) in shifts.items()},
        "tasks": results,
    }


def shift_test(run_dir, collection, weights=None, tasks=None):
    """ROC-AUC of each task of a saved run on its test images, before and after each shift of :data:`SHIFTS`.

    Inputs: run_dir: a run folder; collection: the run's own images; weights: "best", "last" or
    None (the model the run stands for); tasks: None (every task of the run) or a list.

    Returns a JSON-ready dict: ``run``, ``weights``, ``synthetic``, ``images``, ``shifts`` (name ->
    ``what``, ``parameters``) and ``tasks``: task -> ``images``, ``positives``, ``auc``,
    ``mean_probability``, ``predicted_positive`` (share with P > 0.5) on the originals, and
    ``shifted``: shift name -> the same three after the shift plus ``auc_change`` (shifted - original)
    and ``mean_probability_change`` (or ``skipped``: why, when the shift cannot be applied at this
    image size). Raises RunError for an unusable run.
    """
    return shift_test_of(open_saved_run(run_dir, weights), collection, tasks)
