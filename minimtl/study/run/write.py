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

import importlib.metadata
import platform

import numpy as np

from minimtl.common.atomic import remove_temp_files, write_json, write_text
from minimtl.common.lock import claim
from minimtl.common.messages import plural
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import SAVED_MODELS, RunFolder
from minimtl.kernels import KERNELS_ENV, kernel_set
from minimtl.study.run.conflict_plot import has_conflict, plot_conflict
from minimtl.study.run.plots import plot_confusions, plot_losses, plot_roc
from minimtl.study.run.report import render_report, write_history, write_predictions, write_skipped
from minimtl.study.run.saved_run import RunError, data_fingerprint, open_saved_run
from minimtl.training.evaluation import score_images
from minimtl.training.metrics import half_dead_warning
from minimtl.training.selection import collapse_verdicts
from minimtl.training.train import DurableRun

__all__ = ["library_versions", "config_document", "train_and_report", "collapse_before_test", "half_dead_warnings"]


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


def check_same_data(run, collection):
    """RunError unless ``collection`` holds the images the saved ``run`` was trained on."""
    if not run.same_data(collection):
        now = collection.data_dir or "the built-in phantoms"
        raise RunError(
            f"{run.folder} was trained on the images of {run.trained_on()}; {now} holds other images "
            f"({len(collection)}). Resume it on its own images (leave out --data-dir), or start a new run on these"
        )


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
            check_same_data(open_saved_run(folder), collection)
        elif folder.config.exists():
            raise RunError(f"{folder} already holds a run; pick another --name, or continue it with --resume {folder}")
        trainer = DurableRun(config, collection, folder, progress=progress, log=log)
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

    # Which model stands for each task, and whether its head collapsed: both settled before any test image
    # is scored (the collapse on the validation images, or the training images without validation).
    run = open_saved_run(folder)
    choice = {task: run.weights_for(task) for task in trainer.spec.tasks}
    task_models = {
        task: {
            "weights": weights,
            "file": run.weights_file_for(task).name,
            "epoch": _model_epoch(trainer, task, weights),
        }
        for task, weights in choice.items()
    }
    collapse = collapse_before_test(run, collection, split)

    results, extra = score_images(trainer.model, config, collection, split.test)  # the final model
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
        "selection": config.selection if len(split.val) else None,
        "task_models": task_models,  # per task: the saved model that scores it ("best"/"last"), its file, epoch
        "collapse": collapse,  # per task: decided on validation (or training) predictions, before the test
        "tasks": {task: r["metrics"] for task, r in results.items()},
        **extra,
        "best_val": None,
        "warnings": list(trainer.warnings),
    }
    predictions = {"last": results}
    best_tasks = [task for task, weights in choice.items() if weights == "best"]
    if best_tasks:
        # The study kept the last epoch; we also score the epoch(s) a validation set chooses, read back
        # from their files as every reader of the run will read them.
        best_results, _ = open_saved_run(folder, weights="best").score(collection, split.test, tasks=best_tasks)
        metrics["best_val"] = {
            **(trainer.best or {"epoch": None, "val_loss": None}),  # the best summed validation loss (patience)
            "task_epochs": {task: task_models[task]["epoch"] for task in best_tasks},
            "tasks": {t: r["metrics"] for t, r in best_results.items()},
        }
        predictions["best"] = best_results
    metrics["weights"] = "best" if best_tasks else "last"  # the model the run stands for
    for task, verdict in collapse.items():
        if verdict["collapsed"]:
            metrics["warnings"].append(
                f"the {task} head (of the epoch-{task_models[task]['epoch']} model, which scores {task}) predicts one "
                f"class for every {verdict['decided_on']} image of {task}: a collapsed head, decided before the test "
                "(docs/study.md)"
            )
    standing = {task: predictions[weights][task] for task, weights in choice.items()}
    metrics["warnings"] += half_dead_warnings(standing, collection, task_models)
    for warning in metrics["warnings"][len(trainer.warnings) :]:
        log(f"warning: {warning}")
    write_predictions(folder.predictions, predictions, collection)
    plot_losses(trainer.history, folder.loss_plot, collection.synthetic)
    if has_conflict(trainer.history):
        plot_conflict(trainer.history, folder.conflict_plot, collection.synthetic)
    plot_roc(standing, folder.roc_plot, collection.synthetic, metrics["weights"])
    plot_confusions(standing, folder.confusion_plot, collection.synthetic, metrics["weights"])
    files = [(name, what) for name, what in folder.existing(also=(folder.metrics,)) if name != folder.report.name]
    write_text(folder.report, render_report(config.to_dict(), metrics, trainer.history, files))
    # metrics.json last: it marks the run finished (compare reuses it, --resume stops at it), so a run
    # killed while writing its report is resumed and writes everything again
    write_json(folder.metrics, metrics)
    return metrics


def half_dead_warnings(standing, collection, task_models):
    """The warnings of :func:`minimtl.training.metrics.half_dead_warning` for each task's scored test images
    (``standing``: per task, the result of ``score_images`` for the model that scores it; ``task_models``:
    per task, that model's "weights" and "epoch", as metrics.json records them)."""
    warnings = []
    for task, result in standing.items():
        model = task_models[task]
        words = f"epoch-{model['epoch']} model ({SAVED_MODELS[model['weights']][1]})"
        warning = half_dead_warning(task, result["score"], collection.pixel_hash[result["image"]], words)
        if warning:
            warnings.append(warning)
    return warnings


def _model_epoch(trainer, task, weights):
    """The epoch of the model that scores ``task``: its own best (per-task), the best summed validation
    loss's, or the last."""
    if weights == "last":
        return trainer.epoch
    if trainer.config.selection == "per-task":
        return trainer.best_tasks[task]["epoch"]
    return trainer.best["epoch"]


def collapse_before_test(run, collection, split):
    """Per task: did the head of the model that stands for the run on that task give every one of the
    task's validation images one class (the training images, for a run without validation)? Decided
    without any test image (:func:`minimtl.training.selection.collapse_verdicts`)."""
    index, decided_on = (split.val, "validation") if len(split.val) else (split.train, "training")
    verdicts, logits_of = {}, {}
    for task in run.spec.tasks:
        path = run.weights_file_for(task)
        if path not in logits_of:  # tasks that share a model share its logits
            logits_of[path] = run.logits(task, collection.images, index)
        verdicts[task] = collapse_verdicts(run.spec, logits_of[path], collection.dataset[index], decided_on)[task]
    return verdicts
