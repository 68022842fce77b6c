"""What each multi-task method costs per training step, against the default step (--weighting sum, fused).

One training step of multitask64 (the study's multi-task network, batch 8, S px images) is timed for
each way ``run`` can train it: ``--weighting`` sum on the fused step (the default) and on the readable
step, uncertainty and dwa (which keep the fused step), gradnorm, pcgrad and mgda (which need each task's
gradient on the shared weights apart, so ``run`` trains them with the readable step), ``--trunk deep``
(readable step, sum), and the sum's fused step with the gradient-conflict measurement on every step
(``--conflict-every 1``, :mod:`minimtl.training.conflict`), whence the cost of one measurement.

Each step is built as a run builds it (``minimtl/training/train.py``): the RunConfig of the option,
``readable_if_needed`` (the step ``run`` falls back to), then ``build_trainer`` with the run seed's
initial weights (the model, Adam, the step and the ``MultiTaskUpdate``); each timed call is
``train_on_batch`` (forward, loss, the method's backward and update) on one batch of uniform random
images with random labels, half of them TB images and half pneumonia images, from a numpy Generator
seeded by --seed. Every row but the conflict row runs with ``--conflict-every 0``, so a row is the
method alone (gradnorm, pcgrad and mgda compute both tasks' gradients anyway and measure the conflict
on every step). Each time is the median of --repeats calls after two warm-up calls (JIT compilation or
Numba's on-disk cache).

Columns: ms (median per step), x default (the row's time over the default step's at the same size).
The last row of each size, one conflict measurement, is the conflict row minus the default row (a
difference of two medians); its note gives what it adds to a step at ``run``'s --conflict-every 16.

Usage:
    python benchmarks/bench_methods.py                      # 64 px
    python benchmarks/bench_methods.py --sizes 64,128,256   # the study's 256 px too
    python benchmarks/bench_methods.py --json > methods.json
Options: --sizes 64  --repeats 10  --json  --seed 0
"""

import argparse
import gc
import json
import os
import sys

import numpy as np
from timing import (  # benchmarks/timing.py, beside this script
    BATCH,
    add_size_options,
    describe_machine,
    load_line,
    log,
    machine,
    median_ms,
    parse_sizes,
)

from minimtl.training.config import RunConfig
from minimtl.training.loop import seed_streams, train_on_batch
from minimtl.training.models import ARCHITECTURES
from minimtl.training.multitask_update import readable_if_needed
from minimtl.training.trainer import build_trainer
from minimtl.training.trunks import trunk_features

ARCH = "multitask64"
CONFLICT_EVERY = RunConfig().conflict_every  # run's default: one measured step in 16
# (key, what the row is, the run options that differ from the defaults); the first is the default step
ROWS = (
    ("sum", "--weighting sum (the default)", {}),
    ("sum-readable", "--weighting sum --step readable", {"step": "readable"}),
    ("uncertainty", "--weighting uncertainty", {"weighting": "uncertainty"}),
    ("dwa", "--weighting dwa", {"weighting": "dwa"}),
    ("gradnorm", "--weighting gradnorm", {"weighting": "gradnorm"}),
    ("pcgrad", "--weighting pcgrad", {"weighting": "pcgrad"}),
    ("mgda", "--weighting mgda", {"weighting": "mgda"}),
    ("deep", "--trunk deep", {"trunk": "deep"}),
    ("conflict", "--conflict-every 1 (sum, measured every step)", {"conflict_every": 1}),
)


class Table:
    """Collects rows (key, name, image size, ms, the ratio to the default step) and prints each as a
    table line unless ``as_json``."""

    def __init__(self, as_json):
        self.as_json = as_json
        self.rows = []
        if not as_json:
            print(f"{'what':52s} {'step':>8s} {'px':>4s} {'ms':>9s} {'x default':>9s}")

    def add(self, row, note=""):
        if note:
            row["note"] = note
        self.rows.append(row)
        if not self.as_json:
            print(
                f"{row['name']:52s} {row['step']:>8s} {row['size']:4d} {row['ms']:9.2f} {row['x_default']:8.2f}x"
                f"{'  ' + note if note else ''}",
                flush=True,
            )


def random_batch(size, rng):
    """A batch as ``epoch_batches`` yields it: float32 (8, 1, S, S) uniform images, each image's dataset
    (alternately TB and pneumonia, so both tasks have labels) and 0/1 labels."""
    x = rng.random((BATCH, 1, size, size), dtype=np.float32)
    datasets = ARCHITECTURES[ARCH].datasets
    dataset = np.array([datasets[i % len(datasets)] for i in range(BATCH)])
    return x, dataset, rng.integers(0, 2, BATCH)


def time_step(config, batch, repeats):
    """(median ms of one training step, the step it ran on) for ``config``, built as a run builds it."""
    config, _ = readable_if_needed(config)  # gradnorm, pcgrad, mgda, --trunk deep: the readable step
    init_rng = seed_streams(config.seed)[1]  # the run seed's initial weights: every row starts from the same
    trainer = build_trainer(config, init_rng)  # the model, Adam, the step and the update, as a run builds them
    spec = ARCHITECTURES[config.arch]
    x, dataset, labels = batch

    def train_step():
        train_on_batch(trainer.step, spec, x, dataset, labels, config.other_labels, trainer.update)

    ms = median_ms(train_step, repeats, warmup=2)
    trainer = None  # free the model before the next one
    gc.collect()
    return ms, config.step


def bench_size(size, table, rng, seed, repeats):
    """Every row of ROWS at ``size``, then the derived row of one conflict measurement."""
    batch = random_batch(size, rng)
    default_ms = None
    for key, name, options in ROWS:
        config = RunConfig(arch=ARCH, image_size=size, seed=seed, conflict_every=0)
        config = RunConfig.from_dict({**config.to_dict(), **options})
        ms, step = time_step(config, batch, repeats)
        default_ms = default_ms or ms  # the first row is the default step
        row = {"key": key, "name": name, "step": step, "size": size, "ms": ms, "x_default": ms / default_ms}
        row.update({"weighting": config.weighting, "trunk": config.trunk, "conflict_every": config.conflict_every})
        table.add(row)
    probe_ms = table.rows[-1]["ms"] - default_ms
    row = {"key": "conflict-one", "name": "one conflict measurement (row above - default)", "step": "fused",
           "size": size, "ms": probe_ms, "x_default": probe_ms / default_ms, "derived": True}  # fmt: skip
    per_step = 100 * probe_ms / CONFLICT_EVERY / default_ms
    table.add(row, note=f"{per_step:+.1f}% per step at --conflict-every {CONFLICT_EVERY} (a run's default)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_options(parser, sizes="64", bandwidth=False)
    options = parser.parse_args()
    sizes = parse_sizes(parser, options)
    try:
        trunk_features("deep", min(sizes))  # the --trunk deep row needs the deepest trunk to fit
    except ValueError as error:
        parser.error(f"--sizes: {error}")
    rng = np.random.default_rng(options.seed)
    info = machine()
    describe_machine(info, None, "not used", options.json)
    log(f"{ARCH}, batch {BATCH}; median of {options.repeats} steps after 2 warm-up steps", options.json)
    table = Table(options.json)
    for size in sizes:
        bench_size(size, table, rng, options.seed, options.repeats)
    info["load_average_end"] = os.getloadavg()
    log(load_line(info), options.json)
    if options.json:
        json.dump({"machine": info, "repeats": options.repeats, "rows": table.rows}, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
