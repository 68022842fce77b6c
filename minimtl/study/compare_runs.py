"""Run (or reuse) every (variant, seed) of a comparison, and score the study's reshuffled "test".

Each run lives in ``OUT/runs/<variant>-seed<seed>/``. A run with a ``metrics.json`` is reused; one
begun before is resumed; so ``compare`` can be stopped and started again at will. Runs can train in
parallel processes (``--jobs``) or be handed out as ``python cli.py run`` lines (``--plan``) to other
machines that share ``OUT``: a run is the same whichever way it was made.
"""

import csv
import json
import os
import shlex
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from joblib import Parallel, delayed

from minimtl.common.atomic import write_json
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import RunFolder
from minimtl.data import Split, make_phantoms, make_split
from minimtl.study.run import (
    chosen_epoch,
    chosen_tasks,
    chosen_weights,
    load_model,
    read_config,
    score_test_images,
    train_and_report,
)
from minimtl.study.saved_run import open_saved_run
from minimtl.study.shift_test import shift_test_of
from minimtl.study.site_separation import site_separation_of
from minimtl.study.variants import PROTOCOLS, VARIANTS, run_config
from minimtl.training.train import Trainer

__all__ = [
    "run_dir_of",
    "estimate_seconds",
    "planned_runs",
    "plan_commands",
    "run_all",
    "read_scores",
    "reshuffled_metrics",
    "site_and_shift",
    "RUN_OPTIONS",
]


def run_dir_of(out, variant_name, seed):
    """The run folder of one (variant, seed) of a comparison in ``out``."""
    return RunFolder(Path(out) / "runs" / f"{variant_name}-seed{seed}")


def estimate_seconds(base, collection, protocol, seeds, variants=VARIANTS, repeats=3):
    """A rough up-front estimate of the whole comparison: time a few real training steps of each
    variant on phantom images of the same size, then scale by the number of steps it will run."""
    probe = make_phantoms(n_per_class=base.batch_size, image_size=base.image_size, seed=0)
    fractions = PROTOCOLS[protocol]
    total = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for variant in variants:
            config = run_config(base, variant, protocol, seed=0)
            trainer = Trainer(config, probe, scratch, log=lambda line: None)
            batch = np.flatnonzero(np.isin(probe.dataset, trainer.spec.datasets))[: base.batch_size]
            trainer.step(batch)  # warm-up: JIT compilation and first-touch of the buffers
            started = time.perf_counter()
            for _ in range(repeats):
                trainer.step(batch)
            step_seconds = (time.perf_counter() - started) / repeats
            n_images = int(np.isin(collection.dataset, trainer.spec.datasets).sum())
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
    config, _, spec, model = load_model(run_dir, "last")  # the study scored its final model
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 330]))  # a stream of its own
    fresh = make_split(collection, "random", rng, test_fraction=0.2, val_fraction=0.0)
    fresh = fresh.restrict(collection, list(spec.datasets))
    trained_on = Split.load(RunFolder(run_dir).split, collection).train
    overlap = float(np.isin(fresh.test, trained_on).mean())
    results, _ = score_test_images(model, config, collection, fresh.test)
    return {"train_overlap": overlap, "tasks": {task: r["metrics"] for task, r in results.items()}}


def read_scores(run_dir, weights):
    """Each task's test images of one saved model ("best" or "last"), from predictions.csv:
    {task: {"path": str array, "label": int array, "score": float array}} (for DeLong's test and the
    ROC curves). Files written before predictions.csv had a weights column hold the last model."""
    out = {}
    with open(RunFolder(run_dir).predictions, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        for row in csv.DictReader(handle):
            if row.get("weights", "last") == weights:
                task = out.setdefault(row["task"], {"path": [], "label": [], "score": []})
                task["path"].append(row["path"])
                task["label"].append(int(row["label"]))
                task["score"].append(float(row["score"]))
    return {task: {key: np.array(values) for key, values in columns.items()} for task, columns in out.items()}


def planned_runs(base, out, protocol, seeds, variants=VARIANTS):
    """(variant, seed, RunConfig, RunFolder) of every run of a comparison, seed by seed, after checking
    that every finished run was made with these options (ValueError otherwise)."""
    runs = []
    for seed in seeds:
        for variant in variants:
            config, run_dir = run_config(base, variant, protocol, seed), run_dir_of(out, variant.name, seed)
            if run_dir.metrics.exists() and read_config(run_dir)[0] != config:
                raise ValueError(
                    f"{run_dir} was run with other options ({read_config(run_dir)[0]}); use another --out for these "
                    "settings"
                )
            runs.append((variant, seed, config, run_dir))
    return runs


def plan_commands(base, out, protocol, seeds, variants=VARIANTS, data_dir=None):
    """One ``python cli.py run ...`` line per run of the comparison that has not finished, for GNU
    parallel, ``xargs -P`` or a Slurm job array on machines that share ``out``; ``compare`` then
    aggregates what exists. A run begun before (it has a config.json) is resumed instead."""
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
        lines.append(shlex.join(["python", "cli.py", "run", *args, "--no-progress"]))
    return lines


# RunConfig field -> the ``run`` option that sets it (what a planned command must pass)
RUN_OPTIONS = {
    "arch": "--arch", "head": "--head", "other_labels": "--other-labels", "image_size": "--image-size",
    "crop": "--crop", "batch_size": "--batch-size", "epochs": "--epochs", "lr": "--lr", "patience": "--patience",
    "step": "--step", "split": "--split", "val_fraction": "--val-fraction", "seed": "--seed",
    "normalize": "--normalize", "crop_borders": "--crop-borders", "augment": "--augment",
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
):
    """Train or reuse every (variant, seed); returns {(variant name, seed): {"tasks", "scores",
    "reshuffled"?}} for the model each run stands for.

    collection_for(config): the images a run of ``config`` trains on (decoded with its
    ``decode_crop``; one collection serves every run that decodes alike).

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
        metrics = json.loads(run_dir.metrics.read_text())
        entry = {"tasks": chosen_tasks(metrics), "scores": read_scores(run_dir, chosen_weights(metrics))}
        entry["seconds"] = sum(row["seconds"] for row in _history(run_dir))
        entry["epochs"] = {"trained": metrics["final_epoch"], "model": chosen_epoch(metrics)}
        if reshuffled:
            if not run_dir.reshuffled.exists():
                write_json(run_dir.reshuffled, reshuffled_metrics(run_dir, collection_for(config)))
            stored = json.loads(run_dir.reshuffled.read_text())
            entry["reshuffled"], entry["train_overlap"] = stored["tasks"], stored["train_overlap"]
        entry["site"], entry["shift"] = site_and_shift(run_dir, collection_for(config))
        per_run[(variant.name, seed)] = entry
    return per_run


def site_and_shift(run_dir, collection):
    """(site separation, shift test) of the model a run stands for (:mod:`minimtl.study.site_separation`,
    :mod:`minimtl.study.shift_test`), computed once and kept in the run folder."""
    folder = RunFolder(run_dir)
    if not (folder.site.exists() and folder.shift.exists()):
        run = open_saved_run(folder, collection)
        write_json(folder.site, site_separation_of(run, collection))
        write_json(folder.shift, shift_test_of(run, collection))
    return json.loads(folder.site.read_text()), json.loads(folder.shift.read_text())


def _history(run_dir):
    with open(run_dir.history, newline="") as handle:
        return [{"seconds": float(row["seconds"])} for row in csv.DictReader(handle)]
