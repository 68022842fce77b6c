"""A whole run: train (or resume), score the test images, write every output file.

The run folder (``runs/<name>/``) receives the files listed in
:data:`minimtl.common.run_folder.RUN_FILES`: the options, the split, a checkpoint after every
epoch, the best validation epoch's weights, the history, the metrics, the test predictions, the
report and its plots.

A run folder has one writer at a time (:func:`minimtl.common.lock.claim`), and every way a run
can stop leaves a folder that ``--resume`` accepts: with a checkpoint it continues from it; without
one (stopped in its first epoch) it trains again from the start, which with the same seed gives
the same result.
"""

import hashlib
import importlib.metadata
import json
import platform

import numpy as np

from minimtl.common.atomic import remove_temp_files, write_json, write_text
from minimtl.common.lock import claim
from minimtl.common.messages import one_line, plural
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import SAVED_MODELS, RunFolder
from minimtl.data import Split
from minimtl.kernels import KERNELS_ENV, kernel_set
from minimtl.study.conflict_plot import has_conflict, plot_conflict
from minimtl.study.plots import plot_confusions, plot_losses, plot_roc
from minimtl.study.report import render_report, write_history, write_predictions, write_skipped
from minimtl.training.checkpoint import load_params
from minimtl.training.config import RunConfig
from minimtl.training.evaluation import multiclass_confusion, predict_logits, score_tasks
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.steps import scorer
from minimtl.training.train import Trainer

__all__ = [
    "RunError",
    "WEIGHTS",
    "data_fingerprint",
    "library_versions",
    "train_and_report",
    "score_test_images",
    "read_config",
    "standing_weights",
    "chosen_weights",
    "chosen_tasks",
    "chosen_epoch",
    "load_model",
    "evaluate_saved_run",
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


def library_versions():
    import numba
    import PIL
    import scipy
    import sklearn

    from minimtl import __version__

    return {
        "minimtl": __version__,
        "kernels": kernel_set(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "pillow": PIL.__version__,
        "scikit-learn": sklearn.__version__,
        "click": importlib.metadata.version("click"),
    }


def read_config(run_dir):
    """(RunConfig, the whole stored config.json) of a run folder; RunError when there is none or
    it cannot be read."""
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
    return config, stored


def config_document(config, collection):
    """What config.json holds: the options, the data (folder, fingerprint) and the library versions."""
    return {
        "options": config.to_dict(),
        "data": {
            "data_dir": collection.data_dir,
            "synthetic": bool(collection.synthetic),
            "images": len(collection),
            "fingerprint": data_fingerprint(collection),
        },
        "versions": library_versions(),
    }


def check_same_data(stored, collection, folder):
    """RunError unless ``collection`` holds the images the run in ``folder`` was trained on."""
    if data_fingerprint(collection) != stored["data"]["fingerprint"]:
        was = stored["data"]["data_dir"] or "the built-in phantoms"
        now = collection.data_dir or "the built-in phantoms"
        raise RunError(
            f"{folder} was trained on the images of {was} ({stored['data'].get('images', '?')} images); {now} holds "
            f"other images ({len(collection)}). Resume it on its own images (leave out --data-dir), or start a "
            "new run on these"
        )


def score_test_images(model, config, collection, test_index):
    """Each task's metrics on the test images (and the 3x3 matrix for multiclass), scored the way the
    run's step scores (:func:`minimtl.training.steps.scorer`)."""
    spec = ARCHITECTURES[config.arch]
    forward, batch_size = scorer(config.step, model, config.batch_size)
    logits = predict_logits(forward, model.head_names, collection.images, test_index, batch_size, config.normalize)
    results = score_tasks(spec, logits, collection, test_index)
    extra = {}
    if spec.multiclass:
        extra["multiclass"] = {
            "classes": ["normal", "tb", "pneumonia"],
            "confusion_matrix": multiclass_confusion(logits, collection, test_index),
        }
    return results, extra


def train_and_report(config, collection, run_dir, resume=False, progress=no_progress, log=print):
    """Train ``config`` on ``collection`` into ``run_dir`` (resuming if asked), then write all outputs.

    progress: a progress factory (:mod:`minimtl.common.progress`); log: one line of text at a time.
    Returns the metrics dict that is also written to ``metrics.json``. Raises RunError for a folder
    that holds another run (or, resuming, other images), and FolderBusy while another process
    writes the folder.
    """
    folder = RunFolder(run_dir)
    with claim(folder.path):
        # we hold the folder's lock: any temporary file in it was left by a writer that was killed
        removed, freed = remove_temp_files(folder.path)
        if removed:
            log(
                f"removed {plural(removed, 'temporary file')} ({freed / 2**20:.1f} MiB) left in {folder} by a "
                "write that was killed"
            )
        if resume:
            check_same_data(read_config(folder)[1], collection, folder)
        elif folder.config.exists():
            raise RunError(f"{folder} already holds a run; pick another --name, or continue it with --resume {folder}")
        trainer = Trainer(config, collection, folder, progress=progress, log=log)
        if resume and folder.checkpoint.exists():
            trainer.make_or_load_split()
            state = trainer.resume()
            log(
                f"resuming {folder} after epoch {state['epoch']}"
                + (f", step {state['in_epoch']['step']} of epoch {state['epoch'] + 1}" if state["in_epoch"] else "")
            )
        else:
            if resume:
                log(
                    f"{folder} has no checkpoint yet (the run stopped in its first epoch): training it again from "
                    "the start; the same seed gives the same result"
                )
            write_json(folder.config, config_document(config, collection))
            trainer.make_or_load_split()
        return _train_and_write(trainer, config, collection, folder, log)


def _train_and_write(trainer, config, collection, folder, log):
    split = trainer.split
    log(
        f"{config.arch}: {len(split.train)} train, {len(split.val)} validation, {len(split.test)} test images"
        + (" (SYNTHETIC phantoms)" if collection.synthetic else "")
    )
    if collection.skipped:
        write_skipped(folder.skipped, collection.skipped)
        log(
            f"skipped {plural(len(collection.skipped), 'unreadable file')} of the data folder (listed in "
            f"{folder.skipped})"
        )
    log(repr(trainer.model))
    if kernel_set() != "numba":
        log(f"{KERNELS_ENV}={kernel_set()}: every kernel runs as its NumPy twin (slow; for reading and debugging)")

    def write_progress(t, row):
        write_history(folder.history, t.history, collection.synthetic)

    trainer.fit(on_epoch_end=write_progress)
    write_history(folder.history, trainer.history, collection.synthetic)

    results, extra = score_test_images(trainer.model, config, collection, split.test)
    metrics = {
        "arch": config.arch,
        "synthetic": bool(collection.synthetic),
        "data": {
            "images": len(collection),
            "skipped": len(collection.skipped),
            "skipped_list": folder.skipped.name if collection.skipped else None,
        },
        "final_epoch": trainer.epoch,
        "stopped": trainer.stopped,  # {"epoch", "reason"} when --patience ended the run early
        "split": {
            "method": split.method,
            "train": len(split.train),
            "val": len(split.val),
            "test": len(split.test),
            "leaks": split.leaks,
        },
        "tasks": {task: r["metrics"] for task, r in results.items()},
        **extra,
        "best_val": None,
        "warnings": list(trainer.warnings),
    }
    predictions = {"last": results}
    if trainer.best is not None:
        # The study kept the last epoch; we also score the epoch a validation set would choose.
        load_params(folder.best, trainer.params)
        best_results, _ = score_test_images(trainer.model, config, collection, split.test)
        metrics["best_val"] = {**trainer.best, "tasks": {t: r["metrics"] for t, r in best_results.items()}}
        predictions["best"] = best_results
        load_params(folder.checkpoint, trainer.params)  # back to the final model
    metrics["weights"] = standing_weights(folder)
    for task, task_metrics in chosen_tasks(metrics).items():
        if task_metrics["one_class"]:
            metrics["warnings"].append(
                f"the {task} head of the {SAVED_MODELS[metrics['weights']][1]}'s model predicts one class for every "
                "test image (a collapsed head: docs/study.md)"
            )
    for warning in metrics["warnings"][len(trainer.warnings) :]:
        log(f"warning: {warning}")
    write_predictions(folder.predictions, predictions, collection)
    plot_losses(trainer.history, folder.loss_plot, collection.synthetic)
    if has_conflict(trainer.history):
        plot_conflict(trainer.history, folder.conflict_plot, collection.synthetic)
    plot_roc(predictions[metrics["weights"]], folder.roc_plot, collection.synthetic, metrics["weights"])
    plot_confusions(predictions[metrics["weights"]], folder.confusion_plot, collection.synthetic, metrics["weights"])
    files = [(name, what) for name, what in folder.existing(also=(folder.metrics,)) if name != folder.report.name]
    write_text(folder.report, render_report(config.to_dict(), metrics, trainer.history, files))
    # metrics.json last: it marks the run finished (compare reuses it, --resume stops at it), so a run
    # killed while writing its report is resumed and writes everything again
    write_json(folder.metrics, metrics)
    return metrics


def standing_weights(run_dir):
    """Which model a run stands for: "best" (the best validation epoch, best.npz) when the run had a
    validation split, else "last" (the final epoch, as the study kept). ``compare``, ``evaluate`` and
    ``explain`` all score this model unless told otherwise."""
    return "best" if RunFolder(run_dir).best.is_file() else "last"


def chosen_weights(metrics):
    """The model a finished run stands for, from its metrics.json document: ``metrics["weights"]``
    ("best" or "last"), or for older runs, which did not record it, "best" when they had a validation split."""
    return metrics.get("weights") or ("best" if metrics.get("best_val") else "last")


def chosen_tasks(metrics, weights=None):
    """The per-task test metrics of the ``weights`` model ("best" or "last"; default: the one the run
    stands for, :func:`chosen_weights`) from a metrics.json document."""
    weights = weights or chosen_weights(metrics)
    return metrics["best_val"]["tasks"] if weights == "best" else metrics["tasks"]


def chosen_epoch(metrics):
    """The epoch of the model the run stands for (the best validation epoch, or the final one)."""
    return metrics["best_val"]["epoch"] if chosen_weights(metrics) == "best" else metrics["final_epoch"]


def load_model(run_dir, weights="last"):
    """(config, stored config.json, architecture spec, model) with the run's ``weights``: "last" (the
    final epoch's, from checkpoint.npz) or "best" (the best validation epoch's, from best.npz)."""
    folder = RunFolder(run_dir)
    config, stored = read_config(folder)
    path = folder.model_file(weights)
    if not path.is_file():
        if weights == "best":
            raise RunError(
                f"{folder} has no best.npz: the run had no validation split (or no epoch finished); use --weights last"
            )
        raise RunError(
            f"{folder} has no checkpoint.npz: the run stopped before its first epoch ended. Finish it "
            f"with: python cli.py run --resume {folder}"
        )
    model = build_model(config.arch, config.image_size, rng=None, head=config.head, trunk=config.trunk)  # loaded next
    load_params(path, model.params)
    return config, stored, ARCHITECTURES[config.arch], model


def evaluate_saved_run(run_dir, collection, weights=None):
    """Score a saved model of ``run_dir`` on ``collection``.

    weights: "best", "last" or None (the model the run stands for: :func:`standing_weights`).
    When ``collection`` holds exactly the run's images (same fingerprint), only the run's own test
    images are scored (read from ``split.json``), so the run's test metrics are reproduced exactly.
    Otherwise (another site, say) every image of each task's dataset is a test image.

    Returns a metrics dict ``{"run", "weights", "data", "scope", "tasks", ...}``.
    """
    folder = RunFolder(run_dir)
    weights = weights or standing_weights(folder)
    config, stored, spec, model = load_model(folder, weights)
    same_data = data_fingerprint(collection) == stored["data"]["fingerprint"]
    if same_data:
        if not folder.split.is_file():
            raise RunError(
                f"{folder} has no split.json, so its test images are unknown; score the model on "
                "another data folder (--data-dir), or train the run again"
            )
        index = Split.load(folder.split, collection).test
        scope = "the run's own test images (split.json)"
    else:
        index = np.flatnonzero(np.isin(collection.dataset, spec.datasets))
        scope = "every image of the data folder for each task"
    if len(index) == 0:
        raise RunError(f"no images of {', '.join(spec.datasets)} in {collection.data_dir or 'the collection'}")
    results, extra = score_test_images(model, config, collection, index)
    return {
        "run": str(folder),
        "weights": weights,
        "data": collection.data_dir,
        "synthetic": bool(collection.synthetic),
        "scope": scope,
        "tasks": {task: r["metrics"] for task, r in results.items()},
        **extra,
    }
