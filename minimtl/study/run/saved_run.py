"""A saved run opened for inspection: its model, its test images, and disease scores on any image.

``explain``'s numbers (site separation, shift test, saliency) all start here. A model is always
scored on images it was not trained on:

- ``run.test``: the run's own test images (``split.json``);
- ``run.full_test``: the test side of the same seed's split over *every* dataset of the collection.
  The split is made on the whole collection and then restricted to the architecture's datasets
  (``Trainer.make_or_load_split``), so ``full_test`` restricted to the run's datasets is exactly
  ``run.test`` (checked), and a single-tb run gets the same Kermany test images as a multi-task run
  of the same seed, none of which it has seen.
"""

from dataclasses import dataclass

import numpy as np

from minimtl.common.run_folder import RunFolder
from minimtl.data import DataError, Split, make_split
from minimtl.nn.graph import MultiHead
from minimtl.study.run.write import RunError, data_fingerprint, load_model, standing_weights
from minimtl.training.config import RunConfig
from minimtl.training.evaluation import predict_logits
from minimtl.training.models import Architecture
from minimtl.training.steps import scorer
from minimtl.training.tasks import MULTICLASS_CODES, task_predictions
from minimtl.training.train import seed_streams

__all__ = ["SavedRun", "open_saved_run", "score_unit", "disease_probability", "full_test_images"]


@dataclass(frozen=True, eq=False)
class SavedRun:
    """One saved model of a run and the images it may be scored on.

    - folder: RunFolder; config: RunConfig; stored: config.json as a dict; spec: Architecture;
      model: MultiHead with the ``weights`` ("best" or "last") loaded
    - test: int64 (m,) indices into the collection, the run's own test images (split.json)
    - full_test: int64 (k,) the test side of the seed's split over every dataset (``test`` included)
    - full_test_scope: how ``full_test`` was obtained, in words
    """

    folder: RunFolder
    config: RunConfig
    stored: dict
    spec: Architecture
    model: MultiHead
    weights: str
    test: np.ndarray
    full_test: np.ndarray
    full_test_scope: str

    @property
    def batch_size(self):
        return self.config.batch_size

    def logits(self, images, index):
        """Every head's logits for ``images[index]``, scored as the run's own metrics were (its step's
        forward and its normalisation): dict head -> float64 (len(index), K)."""
        forward, per_pass = scorer(self.config.step, self.model, self.config.batch_size)
        return predict_logits(forward, self.model.head_names, images, index, per_pass, self.config.normalize)


def _full_test(config, spec, collection, test):
    """(full_test, scope): the test side of the run's split rebuilt over every dataset, or, if it does
    not reproduce the run's own test images (an older split, say), ``test`` plus every image of the
    datasets the run did not train on."""
    full = make_split(
        collection,
        config.split,
        seed_streams(config.seed)[0],  # the split's own stream, as the Trainer drew it
        test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
    ).test
    own = np.isin(collection.dataset[full], spec.datasets)
    if np.array_equal(full[own], test):
        return full, "the test side of the run's split (seed and method of config.json) over every dataset"
    others = np.flatnonzero(~np.isin(collection.dataset, spec.datasets))
    return np.union1d(test, others), "the run's test images, and every image of the datasets it did not train on"


def open_saved_run(run_dir, collection, weights=None):
    """Load a run's model and its test images on ``collection``, which must hold the run's own images.

    Inputs: run_dir (path or RunFolder); collection: the run's data (same fingerprint as config.json);
    weights: "best", "last" or None (the model the run stands for, :func:`standing_weights`).
    Returns a :class:`SavedRun`. Raises RunError (not a run folder, no such checkpoint, other images,
    no split.json).
    """
    folder = RunFolder(run_dir)
    weights = weights or standing_weights(folder)
    config, stored, spec, model = load_model(folder, weights)
    if data_fingerprint(collection) != stored["data"]["fingerprint"]:
        raise RunError(
            f"{folder} was trained on other images than {collection.data_dir or 'the built-in phantoms'}; explain "
            "scores the run's own test images: leave out --data-dir, or point it at the run's data folder"
        )
    if not folder.split.is_file():
        raise RunError(f"{folder} has no split.json, so its test images are unknown; train the run again")
    try:
        test = Split.load(folder.split, collection).test
    except DataError as error:
        raise RunError(str(error)) from None
    full_test, scope = _full_test(config, spec, collection, test)
    return SavedRun(folder, config, stored, spec, model, weights, test, full_test, scope)


def score_unit(spec, task, head_kind):
    """(head name, logit index) whose logit is the score of ``task``'s disease: the multiclass head's
    class of that task, a sigmoid head's only logit, or a softmax head's logit 1. ValueError when
    the architecture has no such task."""
    if task not in spec.tasks:
        raise ValueError(f"{spec.name} has no {task} head; its tasks are {', '.join(spec.tasks)}")
    if spec.multiclass:
        return "multiclass", MULTICLASS_CODES[task]
    return task, 0 if head_kind == "sigmoid" else 1


def disease_probability(run, task, images, index):
    """P(``task``'s disease) that the run's model gives ``images[index]``, whatever dataset they come
    from (a TB head scores Kermany images too): float64 (len(index),). The same softmax or sigmoid
    as the run's metrics (:func:`minimtl.training.tasks.task_predictions`), applied to every image."""
    index = np.asarray(index, dtype=np.int64)
    if len(index) == 0:
        return np.zeros(0)
    logits = run.logits(images, index)
    return task_predictions(run.spec, logits, np.full(len(index), task))[task][1]


def full_test_images(run, collection, dataset, label=None):
    """Indices of ``run.full_test`` images of ``dataset`` (and of ``label`` 0/1 when given)."""
    index = run.full_test[collection.dataset[run.full_test] == dataset]
    return index if label is None else index[collection.labels[index] == label]
