"""Do minimtl's heads collapse as often as a PyTorch twin's? Many seeds, both frameworks, one table.

With the study's settings (Keras' glorot-uniform, Adam 1e-3, batch 8) a head can die in its first
steps and then predict one class for every image (docs/study.md, "Collapsed heads"). If minimtl's
collapse rate were an artefact of its hand-written arithmetic, a PyTorch twin trained the same way
would collapse at another rate. For each seed this script trains

- minimtl, through :func:`minimtl.study.run.write.train_and_report` (a run folder per seed, under
  ``OUT/runs/``), with the protocol's options (:data:`minimtl.study.compare.variants.PROTOCOLS`);
- the PyTorch twin of ``benchmarks/torch_twin.py`` (checked step by step against minimtl by
  ``tests/test_reference_torch.py``): the same architecture, targets, loss and Keras Adam, but its
  *own* initial weights (Keras' glorot-uniform from a ``torch.Generator`` seeded with
  ``TWIN_INIT_SEED + seed``) and its own shuffling (a permutation per epoch from a generator
  seeded with ``TWIN_SHUFFLE_SEED + seed``, the last partial batch kept), on the same split as
  minimtl's run of that seed (the same train, validation and test images);

and scores each head on its own dataset's test images with minimtl's scoring
(:func:`minimtl.training.evaluation.score_tasks`: argmax decisions, one class, ROC-AUC).

Protocols: ``study`` (random image-level split, no validation, the last epoch's model) and
``honest`` (patient split, 10% validation, the model of the best validation loss).

Output: a Markdown table per framework (runs whose head predicts one class, with a Wilson 95%
interval; the ROC-AUC median and quartiles) and Fisher's exact test between the frameworks'
collapse counts; ``--json`` prints the same as JSON. Each finished (framework, seed) is appended to
``OUT/results.jsonl`` at once, so an interrupted run resumes where it stopped (finished seeds are
skipped; a minimtl run stopped in the middle resumes from its last checkpoint). The big weight
files of finished minimtl runs are deleted (``--keep-weights`` keeps them).

A control: ``--twin-start minimtl`` gives the twin minimtl's initial weights and batch order for
each seed (only the arithmetic then differs: the seeds should collapse alike). How far the two
frameworks' weights drift from the same start is ``fidelity_divergence.py``.

Examples::

    python benchmarks/fidelity_collapse.py --variant single-tb --image-size 64 --epochs 5 --seeds 20
    python benchmarks/fidelity_collapse.py --variant multitask64-ignore --protocol honest --seeds 5
    python benchmarks/fidelity_collapse.py --variant single-tb --twin-start minimtl --seeds 20 --out fidelity/control
    python benchmarks/fidelity_collapse.py --phantoms --image-size 16 --epochs 1 --seeds 2 --frameworks minimtl

PyTorch is optional: without it the script trains minimtl only and says so.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import fisher_exact
from timing import (  # benchmarks/timing.py, beside this script
    VARIANT_NAMES,
    add_image_options,
    add_variant_options,
    echo,
    load_images,
    minimtl_split,
    torch_twin_module,
    variant_config,
)

from minimtl.common.run_folder import RunFolder
from minimtl.data import Split, to_input
from minimtl.study.compare.variants import PROTOCOLS
from minimtl.study.run.saved_run import open_saved_run
from minimtl.study.run.write import train_and_report
from minimtl.training.config import RunConfig
from minimtl.training.evaluation import score_tasks
from minimtl.training.loop import TrainingDiverged, seed_streams
from minimtl.training.metrics import rate
from minimtl.training.models import ARCHITECTURES

TWIN_INIT_SEED = 1_000_000  # the twin's initial weights: torch.Generator().manual_seed(TWIN_INIT_SEED + seed)
TWIN_SHUFFLE_SEED = 2_000_000  # the twin's batch order: torch.Generator().manual_seed(TWIN_SHUFFLE_SEED + seed)
FRAMEWORKS = ("minimtl", "torch")


# ----- one run of each framework ------------------------------------------------------------------


def task_summary(tasks):
    """Per task, what the table needs from a metrics dict: one class, ROC-AUC, accuracy, recall."""
    return {
        task: {
            "one_class": bool(m["one_class"]),
            "roc_auc": m["roc_auc"]["value"],
            "accuracy": m["accuracy"]["value"],
            "recall": m["recall"]["value"],
            "specificity": m["specificity"]["value"],
        }
        for task, m in tasks.items()
    }


def run_minimtl(config, collection, out, keep_weights):
    """Train and score one minimtl run in OUT/runs/minimtl-seed<seed>; returns the result record."""
    folder = RunFolder(out / "runs" / f"minimtl-seed{config.seed}")
    started = time.perf_counter()
    try:
        metrics = train_and_report(
            config, collection, folder.path, resume=folder.config.exists(), log=lambda line: None
        )
    except TrainingDiverged as error:
        return {"diverged": str(error), "seconds": time.perf_counter() - started}
    split = minimtl_split(config, collection)
    saved = Split.load(folder.split, collection)
    if any(not np.array_equal(a, b) for a, b in zip(saved.sides().values(), split.sides().values())):
        raise RuntimeError(f"{folder.split} differs from the split this script gives the twin; fidelity.py is stale")
    record = {
        "weights": metrics["weights"],
        "final_epoch": metrics["final_epoch"],
        "best_epoch": (metrics["best_val"] or {}).get("epoch"),
        "tasks": task_summary(open_saved_run(folder).task_metrics()),
        "seconds": time.perf_counter() - started,
    }
    if not keep_weights:  # 30-250 MB each at 64 px; the metrics, split and history stay
        for path in (folder.checkpoint, folder.best):
            path.unlink(missing_ok=True)
    return record


def run_twin(twin, config, collection, threads, start="own"):
    """Train and score the PyTorch twin for ``config`` on minimtl's split of that seed.

    start: "own" (its own glorot-uniform weights and shuffling, seeded by TWIN_INIT_SEED and
    TWIN_SHUFFLE_SEED + seed) or "minimtl" (a control: minimtl's initial weights and minimtl's batch
    order for that seed, so that only the arithmetic differs from minimtl's run).
    """
    import torch

    from minimtl.training.models import build_model

    torch.set_num_threads(threads)
    started = time.perf_counter()
    spec = ARCHITECTURES[config.arch]
    split = minimtl_split(config, collection)
    if start == "minimtl":
        _, init_rng, shuffle_rng = seed_streams(config.seed)
        initial = build_model(config.arch, config.image_size, init_rng, head=config.head).params
        net = twin.TorchTwin(config.arch, config.image_size, config.head, params=twin.from_minimtl_layout(initial))

        def permutation():
            return shuffle_rng.permutation(split.train)  # one epoch's order, as minimtl's epoch_batches draws it
    else:
        generator = torch.Generator().manual_seed(TWIN_INIT_SEED + config.seed)
        net = twin.TorchTwin(config.arch, config.image_size, config.head, generator=generator)
        shuffle = torch.Generator().manual_seed(TWIN_SHUFFLE_SEED + config.seed)

        def permutation():
            return split.train[torch.randperm(len(split.train), generator=shuffle).numpy()]

    optimizer = twin.KerasAdam(net.params.values(), config.lr, config.beta1, config.beta2, config.eps)
    images, labels, dataset = collection.images, collection.labels, collection.dataset

    def batch(index):
        x = torch.from_numpy(to_input(images[index]))
        return x, twin.twin_targets(config.arch, dataset[index], labels[index], config.other_labels)

    def logits_of(index):
        chunks = {name: [] for name in net.head_names}
        with torch.no_grad():
            for start in range(0, len(index), config.batch_size):
                for name, z in net.forward(batch(index[start : start + config.batch_size])[0]).items():
                    chunks[name].append(z)
        return {name: torch.cat(parts) for name, parts in chunks.items()}

    best, best_epoch, history = None, None, []
    for epoch in range(1, config.epochs + 1):
        order = permutation()
        losses = []
        for start in range(0, len(order), config.batch_size):  # the last, partial batch is kept
            x, targets = batch(order[start : start + config.batch_size])
            loss, _ = twin.train_step(net, optimizer, x, targets)
            if not np.isfinite(loss):
                return {"diverged": f"loss {loss} in epoch {epoch}", "seconds": time.perf_counter() - started}
            losses.append(loss)
        row = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if len(split.val):
            val = split.val
            with torch.no_grad():
                row["val_loss"] = float(
                    twin.twin_loss(
                        logits_of(val), twin.twin_targets(config.arch, dataset[val], labels[val], config.other_labels)
                    )
                )
            if best is None or row["val_loss"] < best[0]:
                best = (row["val_loss"], {name: p.detach().clone() for name, p in net.params.items()})
                best_epoch = epoch
        history.append(row)
    if best is not None:  # the honest protocol scores the best validation epoch's model
        with torch.no_grad():
            for name, p in net.params.items():
                p.copy_(best[1][name])
    logits = {name: z.double().numpy() for name, z in logits_of(split.test).items()}
    results = score_tasks(spec, logits, collection, split.test)
    return {
        "weights": "best" if best is not None else "last",
        "final_epoch": config.epochs,
        "best_epoch": best_epoch,
        "tasks": task_summary({task: r["metrics"] for task, r in results.items()}),
        "history": history,
        "seconds": time.perf_counter() - started,
    }


# ----- aggregation and output ---------------------------------------------------------------------


def quartiles(values):
    """(median, first quartile, third quartile) of a list of numbers, or Nones when it is empty."""
    if not values:
        return None, None, None
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(median), float(q1), float(q3)


def summarise(records, frameworks, tasks):
    """Per framework and task: collapse count and rate (Wilson 95%), ROC-AUC median and quartiles;
    per task: Fisher's exact test between the frameworks' collapse counts."""
    summary = {"frameworks": {}, "fisher": {}}
    for framework in frameworks:
        runs = [r for r in records if r["framework"] == framework]
        trained = [r for r in runs if "diverged" not in r]
        entry = {
            "runs": len(runs),
            "diverged": len(runs) - len(trained),
            "median_seconds": statistics.median([r["seconds"] for r in runs]) if runs else None,
            "tasks": {},
        }
        for task in tasks:
            collapsed = sum(r["tasks"][task]["one_class"] for r in trained)
            aucs = [r["tasks"][task]["roc_auc"] for r in trained if r["tasks"][task]["roc_auc"] is not None]
            median, q1, q3 = quartiles(aucs)
            entry["tasks"][task] = {
                "one_class": rate(collapsed, len(trained)),
                "roc_auc": {"median": median, "q1": q1, "q3": q3, "n": len(aucs)},
                "one_class_seeds": sorted(r["seed"] for r in trained if r["tasks"][task]["one_class"]),
            }
        summary["frameworks"][framework] = entry
    if len(frameworks) == 2:
        for task in tasks:
            table = []
            for framework in frameworks:
                one_class = summary["frameworks"][framework]["tasks"][task]["one_class"]
                table.append([one_class["k"], one_class["n"] - one_class["k"]])
            if all(sum(row) > 0 for row in table):
                summary["fisher"][task] = {"table": table, "p": float(fisher_exact(table)[1])}
    return summary


def percent(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def markdown(settings, summary, tasks):
    """The table (and its heading lines) as Markdown text."""
    epochs = f"{settings['epochs']} epoch{'' if settings['epochs'] == 1 else 's'}"
    lines = [
        f"**{settings['variant']}** (other labels: {settings['other_labels']}), {settings['image_size']} px, "
        f"{epochs}, {settings['protocol']} protocol ({settings['protocol_text']}), "
        f"{settings['data']}. The twin: {settings['twin']}.",
        "",
    ]
    header = "| framework | runs |"
    rule = "| --- | --- |"
    for task in tasks:
        header += f" {task} head predicts one class (95% CI) | {task} ROC-AUC median [Q1, Q3] |"
        rule += " --- | --- |"
    header += " median s / run |"
    rule += " --- |"
    lines += [header, rule]
    for framework, entry in summary["frameworks"].items():
        runs = f"{entry['runs']}" + (f" ({entry['diverged']} diverged)" if entry["diverged"] else "")
        row = f"| {framework} | {runs} |"
        for task in tasks:
            t = entry["tasks"][task]
            one = t["one_class"]
            if one["n"]:
                low, high = one["ci95"]
                row += f" {one['k']}/{one['n']} = {percent(one['value'])} [{percent(low)}, {percent(high)}] |"
            else:
                row += " - |"
            auc = t["roc_auc"]
            row += " - |" if auc["median"] is None else f" {auc['median']:.3f} [{auc['q1']:.3f}, {auc['q3']:.3f}] |"
        seconds = entry["median_seconds"]
        row += f" {'-' if seconds is None else f'{seconds:.0f}'} |"
        lines.append(row)
    lines.append("")
    for task, test in summary["fisher"].items():
        lines.append(
            f"Fisher's exact test, {task} head one-class counts {test['table'][0][0]}/{sum(test['table'][0])} "
            f"(minimtl) vs {test['table'][1][0]}/{sum(test['table'][1])} (PyTorch): two-sided p = {test['p']:.3g}"
        )
    for framework, entry in summary["frameworks"].items():
        for task in tasks:
            seeds = entry["tasks"][task]["one_class_seeds"]
            if seeds:
                lines.append(f"{framework}: seeds whose {task} head predicts one class: {seeds}")
    return "\n".join(lines) + "\n"


# ----- the command line -----------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Collapse rates and ROC-AUC of minimtl against an independently initialised PyTorch twin, "
        "over many seeds (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_variant_options(parser)  # --variant, --other-labels, --head, --image-size
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--protocol", default="study", choices=sorted(PROTOCOLS))
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0 .. N-1 (or from --first-seed)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--frameworks", default="minimtl,torch", help="comma-separated: minimtl, torch (torch is skipped if absent)"
    )
    parser.add_argument(
        "--out", type=Path, help="output folder (default: fidelity/<variant>-<other labels>-<protocol>-<S>px-<E>ep)"
    )
    add_image_options(parser)  # --data-dir, --phantoms, --phantoms-per-class
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="PyTorch's threads (on a busy 2-core machine its OpenMP barriers stall: a 64 px step took 197 ms on "
        "2 threads, 48 ms on 1)",
    )
    parser.add_argument(
        "--twin-start",
        choices=("own", "minimtl"),
        default="own",
        help="the twin's initial weights and batch order: its own (seeded apart), or minimtl's for the same seed "
        "(a control: then only the arithmetic differs)",
    )
    parser.add_argument("--keep-weights", action="store_true", help="keep the minimtl runs' checkpoint files")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON instead of Markdown")
    options = parser.parse_args(argv)
    frameworks = [f.strip() for f in options.frameworks.split(",") if f.strip()]
    unknown = sorted(set(frameworks) - set(FRAMEWORKS))
    if unknown or not frameworks:
        parser.error(f"--frameworks takes {', '.join(FRAMEWORKS)}; got {options.frameworks!r}")
    options.frameworks = [f for f in FRAMEWORKS if f in frameworks]
    variant = VARIANT_NAMES[options.variant]
    options.other_labels = options.other_labels or variant.other_labels
    options.out = options.out or Path("fidelity") / (
        f"{options.variant}-{options.other_labels}-{options.protocol}-{options.image_size}px-{options.epochs}ep"
    )
    return options


def load_records(path):
    """The finished (framework, seed) records of an earlier, interrupted invocation."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: that run is simply done again
                echo(f"ignoring a damaged line of {path}")
    return records


def main(argv=None):
    options = parse_args(argv)
    twin = torch_twin_module() if "torch" in options.frameworks else None
    if "torch" in options.frameworks and twin is None:
        echo("PyTorch is not installed (pip install -e '.[reference]'): training minimtl only")
        options.frameworks = [f for f in options.frameworks if f != "torch"]
    import numba

    threads = numba.get_num_threads()  # minimtl's; the twin uses --torch-threads
    collection, data = load_images(options.data_dir, options.phantoms, options.phantoms_per_class, options.image_size)
    variant = VARIANT_NAMES[options.variant]
    base = RunConfig(image_size=options.image_size, epochs=options.epochs, head=options.head)
    protocol = PROTOCOLS[options.protocol]
    settings = {
        "variant": options.variant,
        "arch": variant.arch,
        "other_labels": options.other_labels,
        "head": options.head,
        "image_size": options.image_size,
        "epochs": options.epochs,
        "protocol": options.protocol,
        "protocol_text": f"{protocol['split']} split, validation fraction {protocol['val_fraction']}, "
        + ("best validation epoch" if protocol["val_fraction"] else "last epoch"),
        "data": data,
        "twin": "PyTorch, Keras Adam, minimtl's split; "
        + (
            "its own glorot-uniform initial weights and shuffling"
            if options.twin_start == "own"
            else "minimtl's initial weights and batch order (control)"
        ),
    }
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    settings_file = out / "settings.json"
    if settings_file.exists():
        earlier = json.loads(settings_file.read_text(encoding="utf-8"))
        if earlier != settings:
            sys.exit(f"{out} holds results for other settings ({settings_file}); choose another --out")
    else:
        settings_file.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    results = out / "results.jsonl"
    records = load_records(results)
    done = {(r["framework"], r["seed"]) for r in records}
    seeds = list(range(options.first_seed, options.first_seed + options.seeds))
    echo(
        f"{options.variant} ({options.other_labels}), {options.image_size} px, {options.epochs} epochs, "
        f"{options.protocol} protocol, seeds {seeds[0]}..{seeds[-1]}, {' and '.join(options.frameworks)}; {data}; "
        f"minimtl {threads} threads, PyTorch {options.torch_threads}; results in {results}"
        + (f" ({len(done)} runs already done)" if done else "")
    )
    tasks = ARCHITECTURES[variant.arch].tasks
    for seed in seeds:
        config = variant_config(base, variant, options.protocol, seed, options.other_labels)
        for framework in options.frameworks:
            if (framework, seed) in done:
                continue
            if framework == "minimtl":
                record = run_minimtl(config, collection, out, options.keep_weights)
            else:
                record = run_twin(twin, config, collection, options.torch_threads, options.twin_start)
            record = {"framework": framework, "seed": seed, **record}
            with results.open("a", encoding="utf-8") as handle:  # one line per finished run: resumable
                handle.write(json.dumps(record) + "\n")
            records.append(record)
            if "diverged" in record:
                echo(f"seed {seed} {framework}: diverged ({record['diverged']})")
            else:
                parts = [
                    f"{task} {'ONE CLASS' if r['one_class'] else 'ok'} auc {r['roc_auc'] or float('nan'):.3f}"
                    for task, r in record["tasks"].items()
                ]
                echo(f"seed {seed} {framework}: {', '.join(parts)} ({record['seconds']:.0f} s)")
    chosen = [r for r in records if r["seed"] in seeds and r["framework"] in options.frameworks]
    summary = summarise(chosen, options.frameworks, tasks)
    table = markdown(settings, summary, tasks)
    (out / "table.md").write_text(table, encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({"settings": settings, **summary}, indent=1) + "\n", encoding="utf-8")
    if options.json:
        print(json.dumps({"settings": settings, "seeds": seeds, **summary}, indent=1))
    else:
        print(table, end="")


if __name__ == "__main__":
    main()
