"""Time a training step against the memory-bandwidth floor measured in the same run.

What a step must move: each head's first Dense layer holds D x 64 weights (132 million at 256 px).
Whatever the code, a step reads every weight once for the forward pass (4 bytes) and reads and
writes W, m and v once for the gradient and Adam (24 bytes): at least 28 bytes per weight. That
traffic divided by the machine's memory bandwidth is the floor of a step. The bandwidth of these
shared machines drifts (50-100 GB/s), so it is measured here, first, with Numba streaming kernels
of the same access pattern: one read-only pass over one array (as the forward pass reads W) and
one in-place read-modify-write pass over three arrays (as the fused backward + Adam pass updates
W, m and v). The floor of any kernel is then its bytes / that bandwidth.

Then it times, each as the median of --repeats calls after warm-up (JIT compilation):
- the convolution kernels (batch 8, 1 -> 32 channels, 3x3, S x S);
- the Dense layer kernels at D = 32 (S-2)^2 inputs and 64 units, and Adam alone (the readable path);
- the fused step's kernels (conv + ReLU + the heads' first Dense layers forward; their backward with
  Adam), for one head and for two heads in one pass;
- the same fused kernels with W, m and v in the L3 cache, scaled to the full layer (their arithmetic
  alone; see bench_arithmetic);
- a whole training step of `single` (single-pneumonia; single-tb is the same network) and
  `multitask64` (--models all adds multiclass and multitask32): the fused step that training
  uses (forward, loss, backward and update), the evaluation forward pass (`model.forward`, what
  validation and test batches run) and the readable layer-by-layer step;
- from those, the time of each study run's 30 epochs (steps, validation every epoch, one test pass);
- where PyTorch is installed, the same model in PyTorch as it is best written for a CPU: fused
  Adam, preallocated inputs, zero_grad(set_to_none=False), torch.set_num_threads(<numba threads>).
  PyTorch is imported here only; the package never depends on it.

Columns: ms (median), GB/s (bytes the kernel must move / time; for steps, the floor's 28 bytes
per parameter / time), x floor (time / floor time), and for steps the PyTorch time and ratio.

Usage:
    python benchmarks/bench_step.py                             # everything (several minutes)
    python benchmarks/bench_step.py --sizes 64 --models single  # a quick run
    python benchmarks/bench_step.py --json > bench.json         # machine-readable
Options: --sizes 64,128,256  --models single,multitask64 (or all)  --repeats 10  --no-torch  --no-kernels
         --no-readable  --bandwidth-size 67108864  --seed 0
"""

import argparse
import gc
import json
import os
import platform
import sys
import time

import numba
import numpy as np
from numba import njit, prange
from timing import median_ms  # benchmarks/timing.py, beside this script

from minimtl.fast import fused_step_numba
from minimtl.kernels import adam_numba, conv2d_numba, dense_numba
from minimtl.nn.optim import Adam
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.steps import make_step, scorer
from minimtl.training.tasks import head_targets

BATCH, FILTERS, UNITS = 8, 32, 64
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
FLOOR_BYTES_PER_WEIGHT = 28  # forward read 4; backward + Adam read and write W, m, v: 24


# ----- streaming kernels for the bandwidth -----------------------------------------------------


def _stream_read(a):
    """Sum of a: one read-only pass (4 bytes per float32 element)."""
    total = 0.0
    for i in prange(a.shape[0]):
        total += a[i]
    return total


def _stream_update3(a, b, c, scale):
    """a, b, c *= scale in place, in one pass: read and write three arrays (24 bytes per element)."""
    for i in prange(a.shape[0]):
        a[i] *= scale
        b[i] *= scale
        c[i] *= scale


stream_read = njit(parallel=True, fastmath=True)(_stream_read)
stream_update3 = njit(parallel=True)(_stream_update3)


def measure_bandwidth(n, repeats):
    """GB/s of the read pass, the three-array update pass, and the floor's mix (4 read : 24 updated)."""
    a = np.ones(n, np.float32)
    b, c = np.ones(n, np.float32), np.ones(n, np.float32)
    read_ms = median_ms(lambda: stream_read(a), repeats)
    update_ms = median_ms(lambda: stream_update3(a, b, c, np.float32(1.0)), repeats)
    read_gbs, update_gbs = 4 * n / read_ms / 1e6, 24 * n / update_ms / 1e6
    floor_gbs = FLOOR_BYTES_PER_WEIGHT / (4 / read_gbs + 24 / update_gbs)
    return {"read_GBps": read_gbs, "update3_GBps": update_gbs, "floor_mix_GBps": floor_gbs, "elements": n}


# ----- reporting ---------------------------------------------------------------------------------


class Report:
    """Collects rows; prints them as a table unless --json."""

    def __init__(self, as_json, bandwidth_gbs):
        self.as_json = as_json
        self.bandwidth = bandwidth_gbs
        self.rows = []

    def add(self, name, size, ms, nbytes, torch_ms=None, note=""):
        row = {
            "name": name,
            "size": size,
            "ms": ms,
            "bytes": nbytes,
            "GBps": nbytes / ms / 1e6,
            "floor_ms": nbytes / self.bandwidth / 1e6,
            "x_floor": ms / (nbytes / self.bandwidth / 1e6),
        }
        if torch_ms is not None:
            row.update({"torch_ms": torch_ms, "torch_over_ours": torch_ms / ms})
        if note:
            row["note"] = note
        self.rows.append(row)
        if not self.as_json:
            torch_part = f" {torch_ms:10.1f} {torch_ms / ms:8.2f}x" if torch_ms is not None else ""
            print(
                f"{name:48s} {size:4d} {ms:9.2f} {row['GBps']:7.1f} {row['x_floor']:7.2f}{torch_part}"
                f"{'  ' + note if note else ''}",
                flush=True,
            )


def log(message, as_json):
    print(message, file=sys.stderr if as_json else sys.stdout, flush=True)


# ----- kernels -----------------------------------------------------------------------------------


def bench_kernels(size, report, rng, repeats):
    side = size - 2
    D = FILTERS * side * side
    x = rng.random((BATCH, 1, size, size), dtype=np.float32)
    Wc = (rng.standard_normal((FILTERS, 1, 3, 3)) * 0.14).astype(np.float32)
    bc = np.zeros(FILTERS, np.float32)
    out = np.empty((BATCH, FILTERS, side, side), np.float32)
    act_bytes = 4 * BATCH * D
    report.add(
        "conv forward + fused ReLU",
        size,
        median_ms(lambda: conv2d_numba.conv2d_forward(x, Wc, bc, out, True), repeats),
        act_bytes + x.nbytes,
    )
    dout = (rng.standard_normal(out.shape) * 1e-3).astype(np.float32)
    dWc, dbc = np.empty_like(Wc), np.empty_like(bc)
    report.add(
        "conv weight gradient, fused ReLU mask",
        size,
        median_ms(lambda: conv2d_numba.conv2d_backward_weights_relu(x, dout, out, dWc, dbc), repeats),
        2 * act_bytes + x.nbytes,
        note="reads dout, out, x",
    )

    features = out.reshape(BATCH, D)
    dead = float(np.mean(~np.any(features > 0, axis=0)))
    for heads in (1, 2):
        Ws = tuple(((rng.random((D, UNITS), dtype=np.float32) - 0.5) * 0.003) for _ in range(heads))
        bs = tuple(np.zeros(UNITS, np.float32) for _ in range(heads))
        outs = tuple(np.empty((BATCH, UNITS), np.float32) for _ in range(heads))
        w_bytes = 4 * D * UNITS * heads
        label = f"{heads} head{'s' if heads > 1 else ''}"
        douts = tuple((rng.standard_normal((BATCH, UNITS)) * 1e-3).astype(np.float32) for _ in range(heads))
        if heads == 1:
            report.add(
                "dense forward (layer kernel), 1 head",
                size,
                median_ms(lambda: dense_numba.dense_forward(features, Ws[0], bs[0], outs[0]), repeats),
                w_bytes + act_bytes,
            )
            dx, dW, db = np.empty_like(features), np.zeros_like(Ws[0]), np.empty_like(bs[0])
            report.add(
                "dense backward (layer kernel), 1 head",
                size,
                median_ms(lambda: dense_numba.dense_backward(features, Ws[0], douts[0], dW, db, dx), repeats),
                2 * w_bytes + 2 * act_bytes,
                note="reads W, writes dW and dx",
            )
            m, v = np.zeros_like(Ws[0]), np.zeros_like(Ws[0])
            report.add(
                "Adam alone, 1 head",
                size,
                median_ms(
                    lambda: adam_numba.adam_update(
                        Ws[0].reshape(-1), dW.reshape(-1), m.reshape(-1), v.reshape(-1), 1e-6, 0.9, 0.999, 1e-7
                    ),
                    repeats,
                ),
                7 * w_bytes,
            )
            dx = dW = m = v = None  # free the 528 MB arrays before the next ones
        report.add(
            f"fused conv+ReLU+dense forward, {label}",
            size,
            median_ms(lambda: fused_step_numba.conv_dense_forward(x, Wc, bc, Ws, bs, outs), repeats),
            w_bytes,
            note=f"{dead:.0%} of feature rows all zero",
        )
        ms_, vs_ = tuple(np.zeros_like(W) for W in Ws), tuple(np.zeros_like(W) for W in Ws)
        report.add(
            f"fused backward + Adam, {label}",
            size,
            median_ms(
                lambda: fused_step_numba.conv_dense_backward_adam(
                    x, Wc, bc, Ws, douts, ms_, vs_, dWc, dbc, 1e-6, 0.9, 0.999, 1e-7
                ),
                repeats,
            ),
            6 * w_bytes,
        )
        Ws = ms_ = vs_ = None  # free them before the next head count
        gc.collect()


def bench_arithmetic(size, report, rng, repeats):
    """The fused kernels' arithmetic alone: the blocks of an S px step with the weights in cache.

    The images are cut to one block's height (the fused layout's rows per block, plus the kernel's
    2), so each block has the same shape and loops as at S px; with 8 filters' worth of rows, W, m
    and v (6 MB at 256 px, whatever the number of heads) stay in the L3 cache between calls. The
    time per weight, scaled to the S px weight count, is what the step costs when DRAM is out of
    the way: where it is as long as the real kernel's, the kernel is bound by its arithmetic (and
    cache traffic), and no better overlap with memory traffic can bring it down to the floor.
    """
    side = size - 2
    rows = max(1, min(side, fused_step_numba.ROWS_PER_BLOCK // side))
    x = rng.random((BATCH, 1, rows + 2, size), dtype=np.float32)
    for heads in (1, 2):
        filters = 8 // heads
        Wc = (rng.standard_normal((filters, 1, 3, 3)) * 0.14).astype(np.float32)
        bc = np.zeros(filters, np.float32)
        D = filters * rows * side
        Ws = tuple(((rng.random((D, UNITS), dtype=np.float32) - 0.5) * 0.003) for _ in range(heads))
        bs = tuple(np.zeros(UNITS, np.float32) for _ in range(heads))
        outs = tuple(np.empty((BATCH, UNITS), np.float32) for _ in range(heads))
        douts = tuple((rng.standard_normal((BATCH, UNITS)) * 1e-3).astype(np.float32) for _ in range(heads))
        ms_, vs_ = tuple(np.zeros_like(W) for W in Ws), tuple(np.zeros_like(W) for W in Ws)
        dWc, dbc = np.empty_like(Wc), np.empty_like(bc)
        scale = (FILTERS * side * side) / D  # weights at S px / weights here
        w_bytes = 4 * FILTERS * side * side * UNITS * heads
        label = f"{heads} head{'s' if heads > 1 else ''}"
        forward_ms = median_ms(lambda: fused_step_numba.conv_dense_forward(x, Wc, bc, Ws, bs, outs), 5 * repeats)
        report.add(
            f"fused forward, weights in cache, {label}",
            size,
            forward_ms * scale,
            w_bytes,
            note="W, m, v in L3; scaled to the full layer",
        )
        backward_ms = median_ms(
            lambda: fused_step_numba.conv_dense_backward_adam(
                x, Wc, bc, Ws, douts, ms_, vs_, dWc, dbc, 1e-6, 0.9, 0.999, 1e-7
            ),
            5 * repeats,
        )
        report.add(
            f"fused backward + Adam, weights in cache, {label}",
            size,
            backward_ms * scale,
            6 * w_bytes,
            note="W, m, v in L3; scaled to the full layer",
        )


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


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return {
        info.get("internal_api", "?"): info.get("num_threads")
        for info in threadpool_info()
        if info.get("user_api") == "blas"
    }


def machine():
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "threading_layer": numba.threading_layer(),
        "blas_threads": blas_threads(),
        "load_average": os.getloadavg(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64,128,256", help="image sizes, comma separated (default 64,128,256)")
    parser.add_argument(
        "--models",
        default="single,multitask64",
        help=f"comma separated, among {', '.join(MODELS)}, or 'all' (default single,multitask64)",
    )
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per measurement (default 10)")
    parser.add_argument(
        "--bandwidth-size",
        type=int,
        default=1 << 26,
        help="float32 elements per array of the bandwidth kernels (default 2**26, 256 MB)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--no-kernels", action="store_true", help="time whole steps only")
    parser.add_argument("--no-readable", action="store_true", help="skip the readable step (--step readable)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args()
    try:
        sizes = [int(s) for s in options.sizes.split(",") if s]
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {options.sizes!r}")
    models = list(MODELS) if options.models == "all" else [m for m in options.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"--models must be among {', '.join(MODELS)}, got {options.models!r}")
    if any(s < 3 for s in sizes) or options.repeats < 1 or options.bandwidth_size < 1:
        parser.error("sizes must be >= 3, --repeats >= 1 and --bandwidth-size >= 1")
    use_torch = not options.no_torch and torch_available()
    rng = np.random.default_rng(options.seed)

    bandwidth = measure_bandwidth(options.bandwidth_size, max(5, options.repeats))
    info = machine()
    if use_torch:
        import torch

        info["torch"] = torch.__version__
    quiet = options.json
    log(
        f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}, numba {info['numba']} "
        f"({info['numba_threads']} threads, {info['threading_layer']}); BLAS threads {info['blas_threads']}; "
        f"torch {info.get('torch', 'not installed' if not options.no_torch else 'skipped')}; "
        f"load average {info['load_average'][0]:.2f}",
        quiet,
    )
    log(
        f"bandwidth: read {bandwidth['read_GBps']:.1f} GB/s, 3-array update {bandwidth['update3_GBps']:.1f} GB/s, "
        f"floor mix (4 read : 24 updated) {bandwidth['floor_mix_GBps']:.1f} GB/s",
        quiet,
    )
    report = Report(options.json, bandwidth["floor_mix_GBps"])
    if not options.json:
        torch_head = f" {'torch ms':>10s} {'torch/us':>9s}" if use_torch else ""
        print(f"{'what':48s} {'px':>4s} {'ms':>9s} {'GB/s':>7s} {'x floor':>7s}{torch_head}")
    estimates = []
    for size in sizes:
        if not options.no_kernels:
            bench_kernels(size, report, rng, options.repeats)
            bench_arithmetic(size, report, rng, options.repeats)
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
    log(
        f"load average at the start {info['load_average'][0]:.2f}, at the end {info['load_average_end'][0]:.2f} "
        f"(the end includes this benchmark's own threads; a start above ~0.5 on 2 cores means other work was "
        f"running or had just run: rerun when quiet)",
        quiet,
    )
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
