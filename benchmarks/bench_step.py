"""Time a whole training step against the memory-bandwidth floor measured in the same run.

What a step must move: each head's first Dense layer holds D x 64 weights (132 million at 256 px).
Whatever the code, a step reads every weight once for the forward pass (4 bytes) and reads and
writes W, m and v once for the gradient and Adam (24 bytes): at least 28 bytes per weight. That
traffic divided by the machine's memory bandwidth is the floor of a step. The bandwidth of these
shared machines drifts (50-100 GB/s), so it is measured here, first (``timing.measure_bandwidth``).

Then it times, each as the median of --repeats calls after warm-up (JIT compilation), a whole
training step of `single` (single-pneumonia; single-tb is the same network) and `multitask64`
(--models all adds multiclass and multitask32): the fused step that training uses (forward, loss,
backward and update), the evaluation forward pass (`model.forward` on 8 images, and the fused
scorer's pass of 64, what validation and test batches run) and the readable layer-by-layer step;
and, from those, the time of each study run's 30 epochs (steps, validation every epoch, one test pass).
Where PyTorch is installed it also times the same model in PyTorch as it is best written for a CPU:
fused Adam, preallocated inputs, zero_grad(set_to_none=False), torch.set_num_threads(<numba threads>).
PyTorch is imported here only; the package never depends on it.

Each kernel of the step alone: ``bench_kernels.py``; their arithmetic alone: ``bench_arithmetic.py``.

Columns: ms (median), GB/s (the floor's 28 bytes per parameter / time), x floor (time / floor time),
and the PyTorch time and ratio.

Usage:
    python benchmarks/bench_step.py                             # 64, 128, 256 px (several minutes)
    python benchmarks/bench_step.py --sizes 64 --models single  # a quick run
    python benchmarks/bench_step.py --json > bench.json         # machine-readable
Options: --sizes 64,128,256  --models single,multitask64 (or all)  --repeats 10  --no-torch  --no-readable
         --bandwidth-size 67108864  --json  --seed 0
"""

import argparse
import gc
import json
import os
import sys
import time

import numba
import numpy as np
from timing import (  # benchmarks/timing.py, beside this script
    BATCH,
    FILTERS,
    FLOOR_BYTES_PER_WEIGHT,
    Report,
    add_size_options,
    describe_machine,
    load_line,
    log,
    machine,
    measure_bandwidth,
    median_ms,
    parse_sizes,
    torch_available,
)

from minimtl.nn.optim import Adam
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.steps import make_step, scorer
from minimtl.training.tasks import head_targets

# --models keys -> architectures (single-pneumonia and single-tb are the same network)
MODELS = {
    "single": "single-pneumonia",
    "multiclass": "multiclass",
    "multitask64": "multitask64",
    "multitask32": "multitask32",
}
EPOCHS = 30
# The study's data here (docs/study.md 1.10): 5,840 Kermany + 662 Shenzhen images; our default split holds
# out 20% for test and 10% of the rest for validation. architecture -> (images, model key).
STUDY_RUNS = {
    "single-pneumonia": (5840, "single"),
    "single-tb": (662, "single"),
    "multiclass": (6502, "multiclass"),
    "multitask64": (6502, "multitask64"),
    "multitask32": (6502, "multitask32"),
}


# ----- whole steps -------------------------------------------------------------------------------


def batch_for(arch, size, rng):
    x = rng.random((BATCH, 1, size, size), dtype=np.float32)
    datasets = ARCHITECTURES[arch].datasets
    dataset = np.array([datasets[i % len(datasets)] for i in range(BATCH)])
    labels = rng.integers(0, 2, BATCH)
    return x, head_targets(ARCHITECTURES[arch], dataset, labels)


def bench_step(model_key, size, report, rng, repeats, readable, use_torch):
    """Time the fused training step, the evaluation forward pass and (optionally) the readable step
    and PyTorch's step for one model; returns {"step_ms", "eval_ms", "torch_ms"}."""
    arch = MODELS[model_key]
    model = build_model(arch, size, rng)
    optimizer = Adam(model.params)
    fused = make_step("fused", model, optimizer)
    x, targets = batch_for(arch, size, rng)
    n_params = sum(p.size for p in model.params.values())
    floor_bytes = FLOOR_BYTES_PER_WEIGHT * n_params

    def fused_step():
        _, _, dlogits = total_loss(fused.forward(x), targets)
        fused.backward_and_update(dlogits)

    fused_ms = median_ms(fused_step, repeats, warmup=2)
    torch_ms = torch_step_ms(arch, size, repeats) if use_torch else None
    report.add(
        f"step {model_key} (fused, the default)",
        size,
        fused_ms,
        floor_bytes,
        torch_ms=torch_ms,
        note=f"{n_params / 1e6:.1f}M parameters",
    )
    eval8_ms = median_ms(lambda: model.forward(x), repeats)
    report.add(f"eval forward {model_key} (model.forward, {BATCH} images)", size, eval8_ms, 4 * n_params,
               note="how validation and test were scored before")  # fmt: skip
    score, eval_batch = scorer("fused", model, BATCH)
    x_eval = rng.random((eval_batch, 1, size, size), dtype=np.float32)
    eval_ms = median_ms(lambda: score(x_eval), repeats)
    per_image = eval_ms / eval8_ms * BATCH / eval_batch
    report.add(f"eval forward {model_key} (fused, {eval_batch} images)", size, eval_ms, 4 * n_params,
               note=f"validation and test batches; {per_image:.2f}x the time per image")  # fmt: skip
    if readable:
        readable_step = make_step("readable", model, optimizer)

        def readable():
            _, _, dlogits = total_loss(readable_step.forward(x), targets)
            readable_step.backward_and_update(dlogits)

        report.add(
            f"step {model_key} (readable, --step readable)",
            size,
            median_ms(readable, max(3, repeats // 2), warmup=1),
            floor_bytes,
        )
    model = optimizer = fused = None  # free the model before the next one
    gc.collect()
    return {
        "step_ms": fused_ms,
        "eval_ms": eval_ms,
        "eval_batch": eval_batch,
        "eval8_ms": eval8_ms,
        "torch_ms": torch_ms,
    }


def training_estimates(size, timings):
    """30-epoch training time of each study run whose model was timed: steps and validation forward
    passes every epoch, one test pass at the end (checkpoint writing not included); scored in fused
    passes of EVAL_BATCH images, and (``minutes_30_epochs_eval_by_8``) as before, model.forward on 8."""
    rows = []
    for arch, (images, key) in STUDY_RUNS.items():
        if key not in timings:
            continue
        trainval = round(0.8 * images)
        train, val, test = round(0.9 * trainval), trainval - round(0.9 * trainval), images - trainval
        t = timings[key]
        steps = -(-train // BATCH)

        def seconds(eval_ms, per_pass):
            val_passes, test_passes = -(-val // per_pass), -(-test // per_pass)
            return (EPOCHS * (steps * t["step_ms"] + val_passes * eval_ms) + test_passes * eval_ms) / 1e3

        row = {
            "arch": arch,
            "size": size,
            "train_images": train,
            "steps_per_epoch": steps,
            "val_images": val,
            "test_images": test,
            "minutes_30_epochs": seconds(t["eval_ms"], t["eval_batch"]) / 60,
            "minutes_30_epochs_eval_by_8": seconds(t["eval8_ms"], BATCH) / 60,
        }
        if t.get("torch_ms"):
            row["torch_minutes_30_epochs_steps_only"] = EPOCHS * steps * t["torch_ms"] / 6e4
        rows.append(row)
    return rows


def torch_step_ms(arch, size, repeats):
    """Median ms of the same model's step in PyTorch (CPU, fused Adam, no re-allocation)."""
    import torch
    from torch import nn

    torch.set_num_threads(numba.get_num_threads())
    torch.manual_seed(0)
    side = size - 2
    spec = ARCHITECTURES[arch]
    outputs = 3 if spec.multiclass else 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, FILTERS, 3)
            self.heads = nn.ModuleList(
                nn.Sequential(nn.Linear(FILTERS * side * side, units), nn.ReLU(), nn.Linear(units, outputs))
                for units in spec.head_units.values()
            )

        def forward(self, x):
            features = torch.relu(self.conv(x)).flatten(1)
            return [head(features) for head in self.heads]

    net = Net()
    try:
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, fused=True)
    except (RuntimeError, TypeError):  # a build without the fused CPU kernel
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7, foreach=True)
    x = torch.rand(BATCH, 1, size, size)
    y = torch.randint(0, 2, (BATCH,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = sum(loss_fn(logits, y) for logits in net(x))
        loss.backward()
        optimizer.step()

    ms = median_ms(step, repeats, warmup=2)
    net = optimizer = None
    gc.collect()
    time.sleep(0.5)  # let PyTorch's OpenMP threads stop spinning before Numba runs again
    return ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_size_options(parser)
    parser.add_argument(
        "--models",
        default="single,multitask64",
        help=f"comma separated, among {', '.join(MODELS)}, or 'all' (default single,multitask64)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--no-readable", action="store_true", help="skip the readable step (--step readable)")
    options = parser.parse_args()
    sizes = parse_sizes(parser, options)
    models = list(MODELS) if options.models == "all" else [m for m in options.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"--models must be among {', '.join(MODELS)}, got {options.models!r}")
    use_torch = not options.no_torch and torch_available()
    rng = np.random.default_rng(options.seed)

    bandwidth = measure_bandwidth(options.bandwidth_size, max(5, options.repeats))
    info = machine()
    if use_torch:
        import torch

        info["torch"] = torch.__version__
    quiet = options.json
    describe_machine(info, bandwidth, info.get("torch", "not installed" if not options.no_torch else "skipped"), quiet)
    report = Report(options.json, bandwidth["floor_mix_GBps"], torch_columns=use_torch)
    estimates = []
    for size in sizes:
        timings = {
            key: bench_step(key, size, report, rng, options.repeats, not options.no_readable, use_torch)
            for key in models
        }
        estimates += training_estimates(size, timings)
    info["load_average_end"] = os.getloadavg()
    if not options.json:
        print(
            f"\n{EPOCHS} epochs, batch {BATCH} (steps + validation every epoch + one test pass; "
            f"checkpoints not included):"
        )
        for row in estimates:
            torch_part = (
                f"   PyTorch steps alone {row['torch_minutes_30_epochs_steps_only']:7.1f} min"
                if "torch_minutes_30_epochs_steps_only" in row
                else ""
            )
            print(
                f"  {row['arch']:17s} {row['size']:4d} px  {row['train_images']:5d} training images, "
                f"{row['steps_per_epoch']:4d} steps/epoch  {row['minutes_30_epochs']:7.1f} min (scoring by 8 "
                f"images as before: {row['minutes_30_epochs_eval_by_8']:.1f}){torch_part}"
            )
    log(load_line(info), quiet)
    if options.json:
        json.dump(
            {
                "machine": info,
                "bandwidth": bandwidth,
                "repeats": options.repeats,
                "rows": report.rows,
                "training_estimates": estimates,
            },
            sys.stdout,
            indent=1,
        )
        print()


if __name__ == "__main__":
    main()
