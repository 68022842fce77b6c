"""How many of each head's ReLU units are alive? A look at why a head collapses.

Each head starts with a Dense layer and a ReLU. A unit whose pre-activation is negative on every
image passes no gradient back (ReLU'(z) = 0 for z < 0), so a head whose units have all died can learn
only its last Dense layer's bias: it gives every image the same probabilities, one class (a collapsed
head, docs/study.md answer 4). Adam moves every weight by about the learning rate in its first step,
whatever the size of its gradient, so a unit with 2 million inputs (256 px) can be pushed far below
zero at once. For one saved run folder this script counts:

- the live units of the model the run stands for on each task (``SavedRun.model_for``);
- with ``--replay N``, the live units after each of the run's own first N training steps, replayed from
  its initial weights by the run's own DurableRun (its seed streams, options, training step and
  update) on its split.json and the same batches (so on the machine that trained it, the replay of a
  whole epoch gives that epoch's weights to the last bit); ``--lr`` replays them with another learning
  rate (what if).

A unit is *live* when its pre-activation is positive on at least one probe image: ``--images`` of the
run's own training images from each dataset it trains on, drawn by a Generator seeded with ``--seed``
(the same probe for every row). Beside the counts: the share of the trunk's outputs that are positive,
the sum of the trunk's outputs per image (every weight of a unit gets a gradient of one sign, since the
trunk's outputs are >= 0, so Adam's first step moves the unit's pre-activation by about the learning
rate times that sum: docs/tutorial.md section 10), and the 5th and 95th percentiles of each head's
pre-activations over the probe. A description of one run on a few images, not a test.

Examples::

    python benchmarks/live_units.py ../runs/honest-256px-p3-lr1e-4/runs/multitask64-seed1
    python benchmarks/live_units.py RUN_DIR --replay 30 --at 1,2,3,5,10,20,30 --json
"""

import argparse
import dataclasses
import json
import sys

import numpy as np
from timing import echo  # benchmarks/timing.py, beside this script

from minimtl.commands.options import load_run_data
from minimtl.data import to_input
from minimtl.study.run.saved_run import RunError, open_saved_run
from minimtl.training.loop import epoch_batches, train_on_batch
from minimtl.training.train import DurableRun


def probe_images(run, collection, train, per_dataset, seed):
    """(network input float32 (n, 1, S, S), dataset str (n,)): ``per_dataset`` of the run's training
    images ``train`` (indices into ``collection``) from each of its datasets (all of them where it has
    fewer), drawn without replacement."""
    rng = np.random.default_rng(seed)
    picked = []
    for dataset in run.spec.datasets:
        pool = train[collection.dataset[train] == dataset]
        picked.append(np.sort(rng.choice(pool, size=min(per_dataset, len(pool)), replace=False)))
    index = np.concatenate(picked)
    return to_input(collection.images[index], run.config.normalize), collection.dataset[index]


def unit_counts(model, x, dataset):
    """The trunk's positive share and the mean over the images of the sum of its outputs (Adam's first
    step moves a unit's pre-activation by about lr times that sum), and per head its live units (overall
    and per dataset of the probe) and the 5th / 95th percentiles of its first Dense layer's
    pre-activations (n, units)."""
    features = model.trunk.forward(x).reshape(len(x), -1)
    heads = {}
    for name, head in model.heads.items():
        dense1 = dict(head.layers)["dense1"]
        pre = features @ dense1.params["W"] + dense1.params["b"]
        positive = pre > 0
        heads[name] = {
            "units": pre.shape[1],
            "live": int(positive.any(axis=0).sum()),
            "live_on": {d: int(positive[dataset == d].any(axis=0).sum()) for d in np.unique(dataset)},
            "pre_p5": float(np.percentile(pre, 5)),
            "pre_p95": float(np.percentile(pre, 95)),
        }
    return {
        "trunk_positive": float((features > 0).mean()),
        "trunk_sum": float(features.sum(axis=1, dtype=np.float64).mean()),
        "heads": heads,
    }


def replay(run, collection, train, steps, at, probe, lr=None):
    """The run's first ``steps`` training steps on its training images ``train``, from its initial
    weights; unit counts before the first (step 0) and after each step in ``at``; ``lr``: another
    learning rate than the run's (a what-if: the same start and batches, other steps). Returns a list of
    rows {"step", "loss", ...counts}."""
    config = run.config if lr is None else dataclasses.replace(run.config, lr=lr)
    # The run's model, optimiser, step, update and shuffling generator, built by the class that trained
    # it (nothing is written: its folder is only named); the epochs are cut into steps here.
    trainer = DurableRun(config, collection, run.folder)
    model = trainer.model
    rows, done = [{"step": 0, "loss": None, **unit_counts(model, *probe)}], 0
    while done < steps:
        batches = epoch_batches(
            collection, train, config.batch_size, trainer.shuffle_rng, config.normalize, config.augment
        )
        for x, dataset, labels in batches:
            loss, _ = train_on_batch(
                trainer.train_step, trainer.spec, x, dataset, labels, config.other_labels, trainer.update
            )
            done += 1
            if done in at:
                rows.append({"step": done, "loss": loss, **unit_counts(model, *probe)})
            if done == steps:
                break
        else:
            trainer.update.end_epoch()  # as DurableRun.run_epoch does after each whole epoch
    return rows


def table(rows, first_column, first_cell):
    """A Markdown table of ``rows`` (unit_counts with a "loss"), its first column headed ``first_column``
    and filled by ``first_cell(row)``."""
    heads = list(rows[0]["heads"])
    lines = [
        f"| {first_column} | loss | trunk positive | trunk sum per image | "
        + " | ".join(f"{h} live (per dataset) | {h} pre-activation p5..p95" for h in heads)
        + " |",
        "| --- " * (4 + 2 * len(heads)) + "|",
    ]
    for row in rows:
        cells = [first_cell(row), "-" if row.get("loss") is None else f"{row['loss']:.3f}"]
        cells += [f"{row['trunk_positive']:.3f}", f"{row['trunk_sum']:.0f}"]
        for h in heads:
            c = row["heads"][h]
            per = ", ".join(f"{d} {n}" for d, n in c["live_on"].items())
            cells += [f"{c['live']}/{c['units']} ({per})", f"{c['pre_p5']:.2f}..{c['pre_p95']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_steps(text, replay, parser):
    """The sorted step numbers of ``--at`` (each from 1 to ``replay``)."""
    try:
        steps = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--at takes step numbers separated by commas, like 1,2,5; got {text!r}")
    if not steps or steps[0] < 1 or steps[-1] > replay:
        parser.error(f"--at takes step numbers from 1 to --replay N ({replay}); got {text!r}")
    return steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a finished run folder (cli.py run or compare)")
    parser.add_argument("--images", type=int, default=16, help="probe images per dataset (default: 16)")
    parser.add_argument("--seed", type=int, default=0, help="picks the probe images (default: 0)")
    parser.add_argument("--replay", type=int, default=0, metavar="N", help="replay the run's first N steps")
    parser.add_argument("--lr", type=float, default=None, help="replay with this learning rate (default: the run's)")
    parser.add_argument("--at", default=None, help="the replayed steps to count at (default: every one up to N)")
    parser.add_argument("--data-dir", help="the run's images (default: the run's own data folder)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    options = parser.parse_args(argv)
    if options.images < 1 or options.replay < 0:
        parser.error("--images takes 1 or more, --replay 0 or more")
    at = parse_steps(options.at, options.replay, parser) if options.at else list(range(1, options.replay + 1))
    try:
        run = open_saved_run(options.run_dir)
        run.weights_files()  # a missing model is named before the images load
        collection = load_run_data(
            options.data_dir or run.data_dir,
            run.config.image_size,
            run.config.decode_crop,
            strict=False,
            progress=False,
            synthetic=run.synthetic and options.data_dir is None,
        )
        train = run.split(collection).train
        probe = probe_images(run, collection, train, options.images, options.seed)
        saved = [
            {"task": task, "epoch": run.epoch_for(task), **unit_counts(run.model_for(task), *probe)}
            for task in run.spec.tasks
        ]
        replayed = replay(run, collection, train, options.replay, set(at), probe, options.lr) if options.replay else []
    except RunError as error:
        sys.exit(f"error: {error}")
    document = {
        "run": str(options.run_dir),
        "probe": {"images_per_dataset": options.images, "seed": options.seed, "datasets": sorted(set(probe[1]))},
        "saved": saved,
        "replay_lr": run.config.lr if options.lr is None else options.lr,
        "replay": replayed,
    }
    if options.json:
        print(json.dumps(document, indent=1))
        return
    echo(
        f"{options.run_dir}: {len(probe[1])} probe training images ({options.images} per dataset, seed {options.seed})"
    )
    echo("\nThe models the run stands for (each task's own):\n")
    echo(table(saved, "model", lambda row: f"{row['task']} (epoch {row['epoch']})"))
    if replayed:
        own = f"lr {run.config.lr:g}, the run's own"
        lr = own if options.lr is None else f"lr {options.lr:g} instead of the run's {run.config.lr:g}"
        echo(f"\nThe run's first steps, replayed from its initial weights ({lr}):\n")
        echo(table(replayed, "step", lambda row: str(row["step"])))


if __name__ == "__main__":
    main()
