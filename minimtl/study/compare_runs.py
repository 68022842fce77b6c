"""Run (or reuse) every (variant, seed) of a comparison, and score the study's reshuffled "test".

Each run lives in ``OUT/runs/<variant>-seed<seed>/``. A run with a ``metrics.json`` is reused; one
with only a checkpoint is resumed; so ``compare`` can be stopped and started again at will.
"""

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from minimtl.common.atomic import write_json
from minimtl.common.progress import no_progress
from minimtl.common.run_folder import RunFolder
from minimtl.data import Split, make_phantoms, make_split
from minimtl.study.compare import PROTOCOLS, VARIANTS, run_config
from minimtl.study.run import chosen_tasks, load_model, read_config, score_test_images, train_and_report
from minimtl.training.train import Trainer

__all__ = ["run_dir_of", "estimate_seconds", "run_all", "reshuffled_metrics"]


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
    results, _ = score_test_images(model, spec, collection, fresh.test, config.batch_size)
    return {"train_overlap": overlap, "tasks": {task: r["metrics"] for task, r in results.items()}}


def run_all(
    base, collection, out, protocol, seeds, reshuffled=False, variants=VARIANTS, log=print, progress=no_progress
):
    """Train or reuse every (variant, seed); returns {(variant name, seed): {"tasks", "reshuffled"?}}."""
    per_run = {}
    jobs = [(variant, seed) for seed in seeds for variant in variants]
    trained, training_seconds = 0, 0.0  # for the time-left estimate (reused runs cost nothing)
    for number, (variant, seed) in enumerate(jobs, start=1):
        config = run_config(base, variant, protocol, seed)
        run_dir = run_dir_of(out, variant.name, seed)
        metrics_path = run_dir.metrics
        prefix = f"[{number}/{len(jobs)}] {variant.name} seed {seed}"
        if metrics_path.exists():
            stored, _ = read_config(run_dir)
            if stored != config:
                raise ValueError(
                    f"{run_dir} was run with other options ({stored}); use another --out for these settings"
                )
            metrics = json.loads(metrics_path.read_text())
            log(f"{prefix}: reusing {run_dir}")
        else:
            resume = run_dir.config.exists()  # begun before: resume (from the start if no checkpoint)
            log(f"{prefix}: {'resuming' if resume else 'training'} ...")
            run_started = time.perf_counter()
            metrics = train_and_report(
                config, collection, run_dir, resume=resume, progress=progress, log=lambda line: None
            )
            seconds = time.perf_counter() - run_started
            trained, training_seconds = trained + 1, training_seconds + seconds
            remaining = training_seconds / trained * (len(jobs) - number)
            log(f"{prefix}: done in {seconds:.0f} s; about {remaining / 60:.1f} min left")
        entry = {"tasks": chosen_tasks(metrics)}  # the model the run stands for, as evaluate scores it
        if reshuffled:
            path = run_dir.reshuffled
            if not path.exists():
                write_json(path, reshuffled_metrics(run_dir, collection))
            entry["reshuffled"] = json.loads(path.read_text())["tasks"]
            entry["train_overlap"] = json.loads(path.read_text())["train_overlap"]
        per_run[(variant.name, seed)] = entry
    return per_run
