"""A whole run: train (or resume), score the test images, write every output file.

The run folder (``runs/<name>/``) receives the files listed in
:data:`minimtl.common.run_folder.RUN_FILES`: the options, the split, a checkpoint after every
epoch, the best validation epoch's weights, the history, the metrics, the test predictions, the
report and its plots.
"""

import hashlib
import importlib.metadata
import json
import platform

import numpy as np

from minimtl.common.atomic import write_json, write_text
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import RunFolder
from minimtl.data import Split
from minimtl.kernels import KERNELS_ENV, kernel_set
from minimtl.study.plots import plot_confusions, plot_losses, plot_roc
from minimtl.study.report import render_report, write_history, write_predictions
from minimtl.training.checkpoint import load_params
from minimtl.training.config import RunConfig
from minimtl.training.evaluation import multiclass_confusion, predict_logits, score_tasks
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.train import Trainer

__all__ = [
    "data_fingerprint",
    "library_versions",
    "train_and_report",
    "score_test_images",
    "read_config",
    "load_final_model",
    "evaluate_saved_run",
]


def data_fingerprint(collection):
    """sha256 over the sorted (path, pixel hash) pairs: the same images give the same fingerprint."""
    digest = hashlib.sha256()
    for path, pixel_hash in sorted(zip(collection.paths, collection.pixel_hash)):
        digest.update(f"{path}\t{pixel_hash}\n".encode())
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
    """(RunConfig, the whole stored config.json) of a run folder."""
    path = RunFolder(run_dir).config
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a minimtl run folder?") from None
    return RunConfig.from_dict(stored["options"]), stored


def score_test_images(model, spec, collection, test_index, batch_size):
    """Each task's metrics on the test images (and the 3x3 matrix for multiclass)."""
    logits = predict_logits(model, collection.images, test_index, batch_size)
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
    Returns the metrics dict that is also written to ``metrics.json``.
    """
    folder = RunFolder(run_dir)
    trainer = Trainer(config, collection, folder, progress=progress, log=log)
    if resume:
        trainer.make_or_load_split()
        state = trainer.resume()
        log(
            f"resuming {folder} after epoch {state['epoch']}"
            + (f", step {state['in_epoch']['step']} of epoch {state['epoch'] + 1}" if state["in_epoch"] else "")
        )
    else:
        folder.path.mkdir(parents=True, exist_ok=True)
        write_json(
            folder.config,
            {
                "options": config.to_dict(),
                "data": {
                    "data_dir": collection.data_dir,
                    "synthetic": bool(collection.synthetic),
                    "images": len(collection),
                    "fingerprint": data_fingerprint(collection),
                },
                "versions": library_versions(),
            },
        )
        trainer.make_or_load_split()
    split = trainer.split
    log(
        f"{config.arch}: {len(split.train)} train, {len(split.val)} validation, {len(split.test)} test images"
        + (" (SYNTHETIC phantoms)" if collection.synthetic else "")
    )
    log(repr(trainer.model))
    if kernel_set() != "numba":
        log(f"{KERNELS_ENV}={kernel_set()}: every kernel runs as its NumPy twin (slow; for reading and debugging)")

    def write_progress(t, row):
        write_history(folder.history, t.history)

    trainer.fit(on_epoch_end=write_progress)
    write_history(folder.history, trainer.history)

    results, extra = score_test_images(trainer.model, trainer.spec, collection, split.test, config.batch_size)
    metrics = {
        "arch": config.arch,
        "synthetic": bool(collection.synthetic),
        "final_epoch": trainer.epoch,
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
    }
    if trainer.best is not None:
        # The study kept the last epoch; we also score the epoch a validation set would choose.
        load_params(folder.best, trainer.params)
        best_results, _ = score_test_images(trainer.model, trainer.spec, collection, split.test, config.batch_size)
        metrics["best_val"] = {**trainer.best, "tasks": {t: r["metrics"] for t, r in best_results.items()}}
        load_params(folder.checkpoint, trainer.params)  # back to the final model
    write_predictions(folder.predictions, results, collection)
    write_json(folder.metrics, metrics)
    plot_losses(trainer.history, folder.loss_plot, collection.synthetic)
    plot_roc(results, folder.roc_plot, collection.synthetic)
    plot_confusions(results, folder.confusion_plot, collection.synthetic)
    # last, so that its list of files is complete
    files = [(name, what) for name, what in folder.existing() if name != folder.report.name]
    write_text(folder.report, render_report(config.to_dict(), metrics, trainer.history, files))
    return metrics


def load_final_model(run_dir):
    """(config, stored config.json, architecture spec, model with the run's final weights)."""
    config, stored = read_config(run_dir)
    model = build_model(config.arch, config.image_size, rng=None, head=config.head)  # weights loaded next
    load_params(RunFolder(run_dir).checkpoint, model.params)
    return config, stored, ARCHITECTURES[config.arch], model


def evaluate_saved_run(run_dir, collection, batch_size=None):
    """Score the final model of ``run_dir`` on ``collection``.

    When ``collection`` holds exactly the run's images (same fingerprint), only the run's own test
    images are scored (read from ``split.json``), so the run's test metrics are reproduced exactly.
    Otherwise (another site, say) every image of each task's dataset is a test image.

    Returns a metrics dict ``{"run", "data", "scope", "tasks", ...}``.
    """
    config, stored, spec, model = load_final_model(run_dir)
    same_data = data_fingerprint(collection) == stored["data"]["fingerprint"]
    if same_data:
        index = Split.load(RunFolder(run_dir).split, collection).test
        scope = "the run's own test images (split.json)"
    else:
        index = np.flatnonzero(np.isin(collection.dataset, spec.datasets))
        scope = "every image of the data folder for each task"
    if len(index) == 0:
        raise ValueError(f"no images of {', '.join(spec.datasets)} in {collection.data_dir or 'the collection'}")
    results, extra = score_test_images(model, spec, collection, index, batch_size or config.batch_size)
    return {
        "run": str(run_dir),
        "data": collection.data_dir,
        "synthetic": bool(collection.synthetic),
        "scope": scope,
        "tasks": {task: r["metrics"] for task, r in results.items()},
        **extra,
    }
