"""Run (or reuse) every (variant, seed) of a comparison, and score the study's reshuffled "test".

Each run lives in ``OUT/runs/<variant>-seed<seed>/``. A run with a ``metrics.json`` is reused; one
begun before is resumed; so ``compare`` can be stopped and started again at will. Runs can train in
parallel processes (``--jobs``) or be handed out as ``python cli.py run`` lines (``--plan``) to other
machines that share ``OUT``: a run is the same whichever way it was made.
"""

import os
import shlex
import time
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np
from joblib import Parallel, delayed

from minimtl.common.atomic import write_json
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import RunFolder
from minimtl.data import make_phantoms, make_split, to_input
from minimtl.study.compare.conflict_report import CONFLICT_TASK, run_conflict
from minimtl.study.compare.saliency_report import SALIENCY_TASK
from minimtl.study.compare.variants import PROTOCOLS, VARIANTS, run_config
from minimtl.study.explain.explain_run import saliency_outside_box
from minimtl.study.explain.shift_test import shift_test_of
from minimtl.study.explain.site_separation import site_separation_of
from minimtl.study.run.external import EXTERNAL_TASK, score_on_external, set_name
from minimtl.study.run.saved_run import open_saved_run
from minimtl.study.run.write import train_and_report
from minimtl.training.loop import train_on_batch
from minimtl.training.models import ARCHITECTURES
from minimtl.training.trainer import build_trainer

__all__ = [
    "run_dir_of",
    "estimate_seconds",
    "planned_runs",
    "plan_commands",
    "run_all",
    "reshuffled_metrics",
    "site_and_shift",
    "saliency_of",
    "RUN_OPTIONS",
    "same_options",
    "external_of",
]


def run_dir_of(out, variant_name, seed):
    """The run folder of one (variant, seed) of a comparison in ``out``."""
    return RunFolder(Path(out) / "runs" / f"{variant_name}-seed{seed}")


def estimate_seconds(base, collection, protocol, seeds, variants=VARIANTS, repeats=3):
    """A rough up-front estimate of the whole comparison: time a few real training steps of each
    variant on phantom images of the same size (its trunk, and its weighting method with the conflict
    probe, as the run will train), then scale by the number of steps it will run."""
    probe = make_phantoms(n_per_class=base.batch_size, image_size=base.image_size, seed=0)
    fractions = PROTOCOLS[protocol]
    total = 0.0
    for variant in variants:
        config = run_config(base, variant, protocol, seed=0)
        spec = ARCHITECTURES[config.arch]
        trainer = build_trainer(config, np.random.default_rng(0))  # as the run will build it
        step, update = trainer.step, trainer.update
        batch = np.flatnonzero(np.isin(probe.dataset, spec.datasets))[: base.batch_size]
        x, dataset, labels = to_input(probe.images[batch], config.normalize), probe.dataset[batch], probe.labels[batch]
        train_on_batch(step, spec, x, dataset, labels, update=update)  # warm-up: JIT compilation, first-touch
        started = time.perf_counter()
        for _ in range(repeats):
            train_on_batch(step, spec, x, dataset, labels, update=update)
        step_seconds = (time.perf_counter() - started) / repeats
        n_images = int(np.isin(collection.dataset, spec.datasets).sum())
        train_images = n_images * (1 - base.test_fraction) * (1 - fractions["val_fraction"])
        eval_images = n_images - train_images
        # a forward pass over the validation and test images costs about a third of a step
        steps = train_images / base.batch_size + eval_images / base.batch_size / 3
        total += step_seconds * steps * base.epochs * len(seeds)
    return total


def reshuffled_metrics(run_dir, collection):
    """Score a run's final model the way the study's notebook did for its multi-task 64 row: on a
    fresh random 20% of the images, drawn again after training, so most of them were trained on.

    Returns {"train_overlap": fraction of those images the model trained on, "tasks": metrics}.
    """
    run = open_saved_run(run_dir, weights="last")  # the study scored its final model
    rng = np.random.default_rng(np.random.SeedSequence([run.config.seed, 330]))  # a stream of its own
    fresh = make_split(collection, "random", rng, test_fraction=0.2, val_fraction=0.0)
    fresh = fresh.restrict(collection, list(run.spec.datasets))
    overlap = float(np.isin(fresh.test, run.split(collection).train).mean())
    results, _ = run.score(collection, fresh.test)
    return {"train_overlap": overlap, "tasks": {task: r["metrics"] for task, r in results.items()}}


def same_options(made, wanted):
    """Whether a finished run made with RunConfig ``made`` is the run ``wanted`` asks for. Without
    validation there is no epoch to select, so the selection rule does not matter (a run made before
    the rule existed reads as "summed")."""
    if wanted.val_fraction == 0:
        return replace(made, selection=wanted.selection) == wanted
    return made == wanted


def planned_runs(base, out, protocol, seeds, variants=VARIANTS):
    """(variant, seed, RunConfig, RunFolder) of every run of a comparison, seed by seed, after checking
    that every finished run was made with these options (ValueError otherwise)."""
    runs = []
    for seed in seeds:
        for variant in variants:
            config, run_dir = run_config(base, variant, protocol, seed), run_dir_of(out, variant.name, seed)
            if run_dir.metrics.exists() and not same_options(open_saved_run(run_dir).config, config):
                raise ValueError(
                    f"{run_dir} was run with other options ({open_saved_run(run_dir).config}); use another --out for "
                    "these settings"
                )
            runs.append((variant, seed, config, run_dir))
    return runs


def plan_commands(base, out, protocol, seeds, variants=VARIANTS, data_dir=None, phantoms=False):
    """One ``python cli.py run ...`` line per run of the comparison that has not finished, for GNU
    parallel, ``xargs -P`` or a Slurm job array on machines that share ``out``; ``compare`` then
    aggregates what exists. A run begun before (it has a config.json) is resumed instead.
    ``phantoms``: the runs train on the synthetic phantoms (``run --phantoms``)."""
    lines = []
    for _, _, config, run_dir in planned_runs(base, out, protocol, seeds, variants):
        if run_dir.metrics.exists():
            continue
        if run_dir.config.exists():
            args = ["--resume", str(run_dir)]
        else:
            args = []
            for field, option in RUN_OPTIONS.items():
                value = getattr(config, field)
                if isinstance(value, bool):  # a flag: --crop-borders or --no-crop-borders
                    args.append(option if value else option.replace("--", "--no-", 1))
                else:
                    args += [option, str(value)]
            args += ["--out", str(run_dir.path.parent), "--name", run_dir.path.name]
            if data_dir is not None:
                args += ["--data-dir", str(data_dir)]
            if phantoms:
                args.append("--phantoms")
        lines.append(shlex.join(["python", "cli.py", "run", *args, "--no-progress"]))
    return lines


# RunConfig field -> the ``run`` option that sets it (what a planned command must pass)
RUN_OPTIONS = {
    "arch": "--arch", "head": "--head", "other_labels": "--other-labels", "image_size": "--image-size",
    "crop": "--crop", "batch_size": "--batch-size", "epochs": "--epochs", "lr": "--lr", "patience": "--patience",
    "step": "--step", "split": "--split", "val_fraction": "--val-fraction", "seed": "--seed",
    "normalize": "--normalize", "crop_borders": "--crop-borders", "augment": "--augment", "selection": "--selection",
    "trunk": "--trunk", "weighting": "--weighting", "conflict_every": "--conflict-every",
}  # fmt: skip


def _train_one(config, collection, run_dir, threads=None, progress=no_progress):
    """Train (or resume) one run of a comparison; returns its seconds. In a worker process of
    ``--jobs`` it first takes its share of the cores for Numba's threads."""
    if threads is not None:
        numba.set_num_threads(threads)
    started = time.perf_counter()
    resume = run_dir.config.exists()  # begun before: resume (from the start if it has no checkpoint)
    train_and_report(config, collection, run_dir, resume=resume, progress=progress, log=lambda line: None)
    return time.perf_counter() - started


def run_all(
    base,
    collection_for,
    out,
    protocol,
    seeds,
    reshuffled=False,
    variants=VARIANTS,
    log=print,
    progress=no_progress,
    jobs=1,
    externals_for=None,
    saliency=False,
):
    """Train or reuse every (variant, seed); returns {(variant name, seed): {"tasks", "scores",
    "seconds", "epochs" ({"trained", "model": {task: epoch}}), "collapsed" ({task: verdict recorded
    before the test, or None}), "site", "shift", "reshuffled"?, "train_overlap"?, "external"? ({set:
    :func:`external_of`}, for runs with a TB head), "saliency"? (:func:`saliency_of`, asked with
    ``saliency``, for runs with a TB head), "conflict" (:func:`~minimtl.study.compare.conflict_report.run_conflict`:
    None for runs that did not measure it)}} for the model each run stands for on each task.

    collection_for(config): the images a run of ``config`` trains on (decoded with its
    ``decode_crop``; one collection serves every run that decodes alike). externals_for(config): the
    external TB sets (Collections) to score every finished run on, decoded as the run's images are;
    None for none. External sets are scored after training, on finished runs only, and nothing
    is chosen by them.

    jobs > 1 trains that many runs at once in worker processes (joblib), each with cores / jobs
    Numba threads; results do not depend on the thread count, so they equal those of jobs=1.
    """
    runs = planned_runs(base, out, protocol, seeds, variants)
    pending = [
        (variant, seed, config, run_dir) for variant, seed, config, run_dir in runs if not run_dir.metrics.exists()
    ]
    log(f"{len(runs) - len(pending)} finished runs reused, {len(pending)} to train or resume")
    if jobs > 1 and pending:
        threads = max(1, len(os.sched_getaffinity(0)) // jobs) if hasattr(os, "sched_getaffinity") else 1
        tasks = (
            delayed(_train_one)(config, collection_for(config), run_dir, threads) for _, _, config, run_dir in pending
        )
        finished = Parallel(n_jobs=jobs, return_as="generator")(tasks)
        for number, ((variant, seed, _, _), seconds) in enumerate(zip(pending, finished), start=1):
            log(f"[{number}/{len(pending)}] {variant.name} seed {seed}: done in {seconds:.0f} s")
    else:
        spent = 0.0  # for the time-left estimate
        for number, (variant, seed, config, run_dir) in enumerate(pending, start=1):
            prefix = f"[{number}/{len(pending)}] {variant.name} seed {seed}"
            log(f"{prefix}: {'resuming' if run_dir.config.exists() else 'training'} ...")
            seconds = _train_one(config, collection_for(config), run_dir, progress=progress)
            spent += seconds
            left = spent / number * (len(pending) - number) / 60
            log(f"{prefix}: done in {seconds:.0f} s; about {left:.1f} min left")
    per_run = {}
    for variant, seed, config, run_dir in runs:
        run = open_saved_run(run_dir)
        entry = {"tasks": run.task_metrics(), "scores": run.scores()}
        entry["seconds"] = sum(row["seconds"] for row in run.history)
        entry["epochs"] = {
            "trained": run.metrics["final_epoch"],
            "model": {t: run.epoch_for(t) for t in run.spec.tasks},
        }
        # decided before the test (validation predictions, or training ones without validation); None for runs
        # made before it was recorded
        entry["collapsed"] = {task: run.collapsed_for(task) for task in run.spec.tasks}
        # the tasks' gradient agreement on the shared weights up to the TB model's epoch (multi-task runs
        # since the probe was added; None for the others)
        up_to = run.epoch_for(CONFLICT_TASK) if CONFLICT_TASK in run.spec.tasks else None
        entry["conflict"] = run_conflict(run.history, up_to)
        if reshuffled:
            if run.saved_document(run.folder.reshuffled) is None:
                write_json(run_dir.reshuffled, reshuffled_metrics(run_dir, collection_for(config)))
            stored = run.saved_document(run.folder.reshuffled)
            entry["reshuffled"], entry["train_overlap"] = stored["tasks"], stored["train_overlap"]
        entry["site"], entry["shift"] = site_and_shift(run, collection_for(config))
        if externals_for is not None and EXTERNAL_TASK in run.spec.tasks:
            entry["external"] = {}
            for external in externals_for(config):
                entry["external"][set_name(external.data_dir)] = external_of(run, external, collection_for(config))
        if saliency and SALIENCY_TASK in run.spec.tasks:
            entry["saliency"] = saliency_of(run, collection_for(config))
        per_run[(variant.name, seed)] = entry
    return per_run


def external_of(run, external, own):
    """One run's TB model on one external set (:func:`minimtl.study.run.external.score_on_external`, kept
    in the run folder): {"tasks": {"tb": {"sites", "pooled"}}, "scores": {"tb": {"site", "path", "label",
    "score"}}, "adult_site": the probe against ``own``'s healthy TB test images}."""
    document, predictions = score_on_external(run, external, own)
    return {
        "tasks": document["tasks"],
        "scores": {
            task: {k: v for k, v in columns.items() if k != "predicted"} for task, columns in predictions.items()
        },
        "adult_site": document.get("adult_site"),
    }


def site_and_shift(run, collection):
    """(site separation, shift test) of the model a saved run stands for
    (:mod:`minimtl.study.explain.site_separation`, :mod:`minimtl.study.explain.shift_test`), computed
    once and kept in the run folder."""
    if run.saved_document(run.folder.site) is None or run.saved_document(run.folder.shift) is None:
        write_json(run.folder.site, site_separation_of(run, collection))
        write_json(run.folder.shift, shift_test_of(run, collection))
    return run.saved_document(run.folder.site), run.saved_document(run.folder.shift)


def saliency_of(run, collection, task=SALIENCY_TASK):
    """The share of ``task``'s saliency outside the lung box for the model a saved run stands for
    (:func:`minimtl.study.explain.explain_run.saliency_outside_box` with explain's defaults: 16 images
    per outcome, every method, seed 0), computed once and kept in the run folder (saliency.json).
    Returns that task's summary: {"outside_box": {method: {class sample: mean share}}, "score_range", ...}."""
    if run.saved_document(run.folder.saliency) is None:
        write_json(run.folder.saliency, saliency_outside_box(run.folder, collection, tasks=[task]))
    return run.saved_document(run.folder.saliency)["tasks"][task]
