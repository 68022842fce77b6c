"""A saved run, read back: the one reader of a run folder.

``evaluate``, ``explain``, ``compare`` and ``run --resume`` read a run only through a
:class:`SavedRun` (``open_saved_run(run_dir)``): its options (config.json), its metrics
(metrics.json), the model it stands for per task, its split, its history and its test predictions.
Which file holds what is :class:`minimtl.common.run_folder.RunFolder`'s knowledge; what the files
mean is this module's.

The model a run stands for on each task: with a validation split, its best validation epoch by the
run's selection rule (``config.selection``): per task, each task's own best epoch (``best-tb.npz``,
``best-pneumonia.npz``), or for the summed rule (and runs made before per-task selection) one epoch
for every task (``best.npz``); without validation its last epoch (``checkpoint.npz``), as the study
kept. The API asks per task (``run.weights_for(task)``, ``run.model_for(task)``,
``run.epoch_for(task)``, ``run.collapsed_for(task)``), and a finished run records the answer per task
in metrics.json (``task_models``, ``collapse``). A run that stands for its best epoch and has lost
that file is an error naming the missing file, never silently the last epoch.

A model is always scored on images it was not trained on:

- ``run.test_images(collection)``: the run's own test images (``split.json``);
- ``run.full_test(collection)``: the test side of the same seed's split over *every* dataset of the
  collection. The split is made on the whole collection and then restricted to the architecture's
  datasets (:meth:`minimtl.training.train.DurableRun.make_or_load_split`), so the full test side
  restricted to the run's datasets is exactly the run's own test images (checked), and a single-tb
  run gets the same Kermany test images as a multi-task run of the same seed, none of which it has
  seen.
"""

import csv
import hashlib
import json

import numpy as np

from minimtl.common.messages import one_line
from minimtl.common.run_folder import SAVED_MODELS, RunFolder
from minimtl.data import DataError, Split, make_split
from minimtl.data.external import EXTERNAL_LAYOUTS
from minimtl.training.checkpoint import load_params
from minimtl.training.config import RunConfig
from minimtl.training.evaluation import predict_logits, score_images
from minimtl.training.loop import seed_streams
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.steps import scorer
from minimtl.training.tasks import MULTICLASS_CODES, task_predictions

__all__ = [
    "RunError",
    "WEIGHTS",
    "SavedRun",
    "open_saved_run",
    "data_fingerprint",
    "evaluate_saved_run",
    "score_unit",
    "disease_probability",
    "full_test_images",
]

WEIGHTS = tuple(SAVED_MODELS)  # "best", "last"


class RunError(Exception):
    """A run folder that cannot be used as asked; the message says why and what to do."""


def data_fingerprint(collection):
    """sha256 over the sorted (path, pixel hash) pairs: the same images give the same fingerprint."""
    digest = hashlib.sha256()
    for path, pixel_hash in sorted(zip(collection.paths, collection.pixel_hash)):
        # a file name that is not valid UTF-8 is hashed as its original bytes
        digest.update(f"{path}\t{pixel_hash}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def open_saved_run(run_dir, weights=None):
    """Open the run folder ``run_dir`` for reading.

    weights: None (each task's model is the one the run stands for) or "best" / "last" (that saved
    model for every task, as ``--weights`` asks). Reads config.json only; every other file is read
    when first asked for. Raises RunError when ``run_dir`` holds no run or its config.json is damaged.
    """
    folder = RunFolder(run_dir)
    if not folder.config.is_file():
        raise RunError(
            f"{folder} is not a minimtl run folder (it has no config.json; a run writes it first thing). "
            "Check the path, or start the run again with the same options"
        )
    try:
        stored = json.loads(folder.config.read_text(encoding="utf-8"))
        config = RunConfig.from_dict(stored["options"])
        for key in ("data_dir", "synthetic", "fingerprint"):
            stored["data"][key]  # noqa: B018  (present, or the file is damaged)
    except (ValueError, KeyError, TypeError) as error:
        raise RunError(
            f"{folder.config} is damaged ({one_line(error)}); the run's options cannot be read: "
            "start a new run (the damaged folder can be deleted)"
        ) from None
    if weights is not None and weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}, not {weights!r}")
    return SavedRun(folder, config, stored, weights)


class SavedRun:
    """One run folder, read.

    - folder: RunFolder; config: RunConfig; stored: config.json as a dict; spec: Architecture
    - data_dir (None for phantoms), synthetic: the images the run was trained on
    - metrics: metrics.json (RunError while the run is unfinished); finished: whether it exists
    - weights: "best" / "last" as asked, or None (each task's standing model)
    - weights_for(task), epoch_for(task), weights_file_for(task), model_for(task): the model per task
    - task_metrics(), scores(): each task's test metrics and test scores of its model
    - history: the rows of history.csv; split(collection), test_images(collection), full_test(collection)
    """

    def __init__(self, folder, config, stored, weights=None):
        self.folder = folder
        self.config = config
        self.stored = stored
        self.spec = ARCHITECTURES[config.arch]
        self.weights = weights
        self._metrics = None
        self._models = {}  # weights file -> loaded model (tasks that share a file share the model)
        self._on = None  # (collection, test, full_test, scope) of the last collection asked about

    def __repr__(self):
        return f"SavedRun({str(self.folder)!r})"

    # ----- what the run was trained on -----------------------------------------------------------
    @property
    def data_dir(self):
        """The run's data folder as config.json records it; None for the built-in phantoms."""
        return self.stored["data"]["data_dir"] or None

    @property
    def synthetic(self):
        return bool(self.stored["data"]["synthetic"])

    def same_data(self, collection):
        """Whether ``collection`` holds exactly the images the run was trained on (same fingerprint)."""
        return data_fingerprint(collection) == self.stored["data"]["fingerprint"]

    def trained_on(self):
        """The run's images in words: "<folder or the built-in phantoms> (<n> images)"."""
        return f"{self.data_dir or 'the built-in phantoms'} ({self.stored['data'].get('images', '?')} images)"

    # ----- metrics.json and history.csv -----------------------------------------------------------
    @property
    def finished(self):
        """A run is finished once metrics.json exists (it is written last)."""
        return self.folder.metrics.is_file()

    @property
    def metrics(self):
        """metrics.json as a dict; RunError while the run is unfinished or when the file is damaged."""
        if self._metrics is None:
            if not self.finished:
                raise RunError(
                    f"{self.folder} has not finished (it has no metrics.json); finish it with: "
                    f"python cli.py run --resume {self.folder}"
                )
            try:
                self._metrics = json.loads(self.folder.metrics.read_text(encoding="utf-8"))
            except ValueError as error:
                raise RunError(
                    f"{self.folder.metrics} is damaged ({one_line(error)}); delete it and finish the run again "
                    f"with: python cli.py run --resume {self.folder}"
                ) from None
        return self._metrics

    @property
    def history(self):
        """One dict per finished epoch from history.csv (numbers as floats, an empty cell as None);
        an empty list before the first epoch ends."""
        if not self.folder.history.is_file():
            return []
        with open(self.folder.history, newline="", encoding="utf-8") as handle:
            return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(handle)]

    def saved_document(self, path):
        """A JSON file that ``compare`` keeps in the run folder (``folder.reshuffled``, ``folder.site``,
        ``folder.shift``), as a dict; None when it has not been written."""
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    # ----- the model of each task ---------------------------------------------------------------
    def _check_task(self, task):
        if task not in self.spec.tasks:
            raise ValueError(f"{self.spec.name} has no {task} head; its tasks are {', '.join(self.spec.tasks)}")

    def _best_epoch_recorded(self, task=None):
        """The best validation epoch the run recorded (metrics.json, else history.csv), or None: with a
        ``task`` and per-task selection that task's own (the epoch of best-<task>.npz), else the epoch of
        the best summed validation loss (best.npz's)."""
        per_task = task is not None and self.config.selection == "per-task"
        if self.finished:
            best = self.metrics.get("best_val")
            if not best:
                return None
            return best.get("task_epochs", {}).get(task, best["epoch"]) if per_task else best["epoch"]
        column = f"val_task_loss_{task}" if per_task else "val_loss"
        epochs = [row for row in self.history if _finite(row.get(column))]
        return int(min(epochs, key=lambda row: row[column])["epoch"]) if epochs else None

    def standing_weights(self):
        """ "best" when the run stands for its best validation epoch, else "last": a finished run
        says which in metrics.json (older ones: "best" when they recorded a best epoch); an unfinished
        one stands for its best epoch once a validation loss has been recorded (best.npz written)."""
        if self.finished:
            return self.metrics.get("weights") or ("best" if self.metrics.get("best_val") else "last")
        return "best" if self.folder.best.is_file() or self._best_epoch_recorded() is not None else "last"

    @property
    def chosen_weights(self):
        """ "best" or "last": the model asked for (``weights``), else the one the run stands for."""
        return self.weights or self.standing_weights()

    def weights_for(self, task):
        """Which saved model scores ``task``: "best" or "last". The one asked for (``weights``); else what
        a finished run recorded for the task (metrics.json ``task_models``; older runs: one model for
        every task, :attr:`chosen_weights`); else, for an unfinished run with per-task selection, "best"
        once the task's own validation loss has been recorded."""
        self._check_task(task)
        if self.weights is not None:
            return self.weights
        if self.finished and "task_models" in self.metrics:
            return self.metrics["task_models"][task]["weights"]
        if not self.finished and self.config.selection == "per-task" and self.config.val_fraction > 0:
            recorded = any(_finite(row.get(f"val_task_loss_{task}")) for row in self.history)
            return "best" if recorded or self.weights_file(task, "best").is_file() else "last"
        return self.chosen_weights

    def epoch_for(self, task):
        """The epoch of ``task``'s model (finished runs): its own best validation epoch (per-task
        selection), the best summed validation epoch, or the final one."""
        weights = self.weights_for(task)
        recorded = self.metrics.get("task_models", {}).get(task)
        if recorded and recorded["weights"] == weights:
            return recorded["epoch"]
        if weights == "best":
            return self.metrics["best_val"].get("task_epochs", {}).get(task, self.metrics["best_val"]["epoch"])
        return self.metrics["final_epoch"]

    def weights_file(self, task, weights):
        """The file of the ``weights`` model for ``task`` (present or not): with per-task selection "best" is
        the task's own best-<task>.npz, else best.npz; "last" is checkpoint.npz."""
        return self.folder.model_file(weights, task if self.config.selection == "per-task" else None)

    def weights_file_for(self, task):
        """The file of ``task``'s model; RunError, naming the cause, when it is missing."""
        weights = self.weights_for(task)
        path = self.weights_file(task, weights)
        if not path.is_file():
            raise RunError(self._missing_model_reason(weights, path.name, task))
        return path

    def weights_files(self):
        """{task: file of its model} for every task; RunError when one is missing (check this before
        loading the images)."""
        return {task: self.weights_file_for(task) for task in self.spec.tasks}

    def model_for(self, task):
        """``task``'s model (a MultiHead) with its saved weights; loaded once per file."""
        path = self.weights_file_for(task)
        if path not in self._models:
            model = build_model(
                self.config.arch, self.config.image_size, rng=None, head=self.config.head, trunk=self.config.trunk
            )
            load_params(path, model.params)  # the weights of a freshly built zero model
            self._models[path] = model
        return self._models[path]

    def _missing_model_reason(self, weights, name, task):
        """Why the file ``name`` of ``task``'s ``weights`` model is missing, and what to do: one message."""
        folder = self.folder
        if weights == "last":
            if self.finished:
                return (
                    f"{folder} has no checkpoint.npz, which holds the model of its last epoch: the file was deleted "
                    "or not copied with the run. Restore it, or train the run again"
                )
            return (
                f"{folder} has no checkpoint.npz: the run stopped before its first epoch ended. Finish it "
                f"with: python cli.py run --resume {folder}"
            )
        if self.config.val_fraction == 0:
            return (
                f"{folder} has no {name}: the run had no validation split (--val-fraction 0), so it kept only "
                "its last epoch; use --weights last"
            )
        if self.finished and self.metrics["split"]["val"] == 0:
            return (
                f"{folder} has no {name}: its validation split was empty (too few images for --val-fraction "
                f"{self.config.val_fraction:g}), so it kept only its last epoch; use --weights last"
            )
        best_epoch = self._best_epoch_recorded(task)
        if best_epoch is not None:
            return (
                f"{folder} stands for the model of its best validation epoch ({best_epoch}), but {name}, "
                f"which holds it, is missing (deleted, or not copied with the run). Restore {name}, train the "
                "run again, or score the last epoch's model with --weights last"
            )
        if not self.history:
            return (
                f"{folder} has no {name}: no epoch has finished yet. Finish the run with: "
                f"python cli.py run --resume {folder}"
            )
        return (
            f"{folder} has no {name}: no epoch had a finite validation loss, so no best epoch was chosen; "
            "use --weights last"
        )

    # ----- what the model of each task scored ------------------------------------------------------
    def task_metrics(self):
        """{task: its test metrics} of each task's model, from metrics.json."""
        metrics = self.metrics
        return {
            task: (metrics["best_val"]["tasks"] if self.weights_for(task) == "best" else metrics["tasks"])[task]
            for task in metrics["tasks"]
        }

    def collapsed_for(self, task):
        """Whether ``task``'s head collapsed, as decided before the test (metrics.json ``collapse``: on the
        validation images, or the training images without validation); None for runs that did not record
        it (older runs: callers judge from the test predictions, and say so)."""
        if self.weights is not None and self.weights != self.metrics.get("task_models", {}).get(task, {}).get(
            "weights"
        ):
            return None  # the verdict is about the model the run stands for, not the one asked for
        verdict = self.metrics.get("collapse", {}).get(task)
        return None if verdict is None else verdict["collapsed"]

    def scores(self):
        """Each task's test images scored by its model, from predictions.csv: {task: {"path": str array,
        "label": int array, "score": float array}} (for DeLong's test and the ROC curves). Files
        written before predictions.csv had a weights column hold the last model."""
        out = {}
        with open(self.folder.predictions, newline="", encoding="utf-8", errors="surrogateescape") as handle:
            for row in csv.DictReader(handle):
                if row.get("weights", "last") == self.weights_for(row["task"]):
                    task = out.setdefault(row["task"], {"path": [], "label": [], "score": []})
                    task["path"].append(row["path"])
                    task["label"].append(int(row["label"]))
                    task["score"].append(float(row["score"]))
        return {task: {key: np.array(values) for key, values in columns.items()} for task, columns in out.items()}

    # ----- the run's images ------------------------------------------------------------------------
    def split(self, collection):
        """The run's split (split.json) on ``collection``, which must hold the run's images."""
        if not self.folder.split.is_file():
            raise RunError(
                f"{self.folder} has no split.json, so its test images are unknown; score the model on "
                "another data folder (--data-dir), or train the run again"
            )
        try:
            return Split.load(self.folder.split, collection)
        except DataError as error:
            raise RunError(str(error)) from None

    def _images_on(self, collection):
        if self._on is None or self._on[0] is not collection:
            if not self.same_data(collection):
                raise RunError(
                    f"{self.folder} was trained on other images than {collection.data_dir or 'the built-in phantoms'}; "
                    "explain scores the run's own test images: leave out --data-dir, or point it at the run's data "
                    "folder"
                )
            test = self.split(collection).test
            self._on = (collection, test, *self._full_test(collection, test))
        return self._on

    def test_images(self, collection):
        """int64 (m,) indices into ``collection`` (the run's own images) of the run's test images."""
        return self._images_on(collection)[1]

    def full_test(self, collection):
        """(int64 (k,) indices, how they were obtained in words): the test side of the seed's split over
        every dataset of ``collection`` (the run's own test images included)."""
        return self._images_on(collection)[2:]

    def _full_test(self, collection, test):
        """The test side of the run's split rebuilt over every dataset, or, if it does not reproduce the
        run's own test images (an older split, say), ``test`` plus every image of the datasets the run
        did not train on."""
        config = self.config
        full = make_split(
            collection,
            config.split,
            seed_streams(config.seed)[0],  # the split's own stream, as DurableRun drew it
            test_fraction=config.test_fraction,
            val_fraction=config.val_fraction,
        ).test
        own = np.isin(collection.dataset[full], self.spec.datasets)
        if np.array_equal(full[own], test):
            return full, "the test side of the run's split (seed and method of config.json) over every dataset"
        others = np.flatnonzero(~np.isin(collection.dataset, self.spec.datasets))
        return np.union1d(test, others), "the run's test images, and every image of the datasets it did not train on"

    def logits(self, task, images, index):
        """Every head's logits of ``task``'s model for ``images[index]``, scored as the run's own metrics
        were (its step's forward and its normalisation): dict head -> float64 (len(index), K)."""
        model = self.model_for(task)
        forward, per_pass = scorer(self.config.step, model, self.config.batch_size)
        return predict_logits(forward, model.head_names, images, index, per_pass, self.config.normalize)

    def score(self, collection, index, tasks=None):
        """Each task's metrics on ``collection``'s images ``index``, each scored by its own model.
        tasks: the tasks to score (default: all).

        Returns (results, extra): results as :func:`minimtl.training.evaluation.score_images`; extra, for
        the multiclass architecture, ``{"multiclass": {"classes", "by_task": {task: {"weights", "file",
        "epoch", "confusion_matrix"}}}}``: the 3x3 matrix over all of ``index`` belongs to one model, so
        each task gets the matrix of the model that scores it, named (with per-task selection the TB and
        the pneumonia epochs differ, and so do their matrices; epoch None for an unfinished run); else {}.
        """
        tasks_of = {}  # model file -> the tasks it scores (one per task with per-task selection)
        for task in tasks or self.spec.tasks:
            tasks_of.setdefault(self.weights_file_for(task), []).append(task)
        results, extra = {}, {}
        for path, tasks in tasks_of.items():
            scored, scored_extra = score_images(self.model_for(tasks[0]), self.config, collection, index)
            results.update({task: result for task, result in scored.items() if task in tasks})
            if "multiclass" in scored_extra:
                matrix = scored_extra["multiclass"]
                by_task = extra.setdefault("multiclass", {"classes": matrix["classes"], "by_task": {}})["by_task"]
                for task in tasks:
                    by_task[task] = {
                        "weights": self.weights_for(task),
                        "file": path.name,
                        "epoch": self.epoch_for(task) if self.finished else None,
                        "confusion_matrix": matrix["confusion_matrix"],
                    }
        return results, extra


def _number(cell):
    if cell is None or cell == "":
        return None
    try:
        return float(cell)
    except ValueError:
        return cell


def _finite(value):
    return isinstance(value, float) and np.isfinite(value)


def evaluate_saved_run(run, collection):
    """Score the saved model(s) of ``run`` (a :class:`SavedRun`) on ``collection``.

    When ``collection`` holds exactly the run's images (same fingerprint), only the run's own test
    images are scored (read from ``split.json``), so the run's test metrics are reproduced exactly.
    Otherwise (another site, say) every image of each task's dataset is a test image.

    Returns a metrics dict ``{"run", "weights", "data", "scope", "tasks", ...}``.
    """
    run.weights_files()  # a missing model is named before any image is scored
    if run.same_data(collection):
        index = run.split(collection).test
        scope = "the run's own test images (split.json)"
    else:
        index = np.flatnonzero(np.isin(collection.dataset, run.spec.datasets))
        scope = "every image of the data folder for each task"
    if len(index) == 0:
        raise RunError(
            f"no images of {', '.join(run.spec.datasets)} in {collection.data_dir or 'the collection'}: evaluate reads "
            "the training sets' own layouts (chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/, CHNCXR_0001_0.png-style "
            "NLM files) or an external TB set, laid out as " + " or as ".join(EXTERNAL_LAYOUTS)
        )
    results, extra = run.score(collection, index)
    return {
        "run": str(run.folder),
        "weights": run.chosen_weights,
        "data": collection.data_dir,
        "synthetic": bool(collection.synthetic),
        "scope": scope,
        "tasks": {task: r["metrics"] for task, r in results.items()},
        **extra,
    }


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
    """P(``task``'s disease) that the run's model of ``task`` gives ``images[index]``, whatever dataset
    they come from (a TB head scores Kermany images too): float64 (len(index),). The same softmax or
    sigmoid as the run's metrics (:func:`minimtl.training.tasks.task_predictions`), applied to every image."""
    index = np.asarray(index, dtype=np.int64)
    if len(index) == 0:
        return np.zeros(0)
    logits = run.logits(task, images, index)
    return task_predictions(run.spec, logits, np.full(len(index), task))[task][1]


def full_test_images(run, collection, dataset, label=None):
    """Indices of the run's full test side (:meth:`SavedRun.full_test`) of ``dataset`` (and of ``label``
    0/1 when given)."""
    full, _ = run.full_test(collection)
    index = full[collection.dataset[full] == dataset]
    return index if label is None else index[collection.labels[index] == label]
