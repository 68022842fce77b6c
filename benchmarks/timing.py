"""What the benchmark scripts share (one measurement per script; benchmarks/README.md lists them).

- The one timing rule: warm up, then the median of repeated ``time.perf_counter`` calls (``median_ms``).
- The machine a number was measured on (``machine``), and the bandwidth floor of the step scripts:
  the memory bandwidth of Numba streaming kernels with a training step's access pattern
  (``measure_bandwidth``), against which ``Report`` gives every row its "x floor".
- For the two fidelity scripts: the options they share (``add_variant_options``, ``add_image_options``),
  the images (``load_images``), minimtl's split of a seed (``minimtl_split``), a variant's run options
  (``variant_config``) and the PyTorch twin, when PyTorch is installed (``torch_twin_module``).

benchmarks/ is not a package: each script runs from its own folder, which Python puts first on the
path, so ``from timing import ...`` finds this file.
"""

import os
import platform
import statistics
import sys
import time

import numba
import numpy as np
from numba import njit, prange

from minimtl.data import make_phantoms, make_split
from minimtl.data.load import load_or_phantoms
from minimtl.study.compare.variants import VARIANTS, run_config
from minimtl.training.config import RunConfig
from minimtl.training.loop import seed_streams
from minimtl.training.models import ARCHITECTURES

__all__ = [
    "median_ms",
    "echo",
    "log",
    "machine",
    "torch_available",
    "measure_bandwidth",
    "describe_machine",
    "Report",
    "add_size_options",
    "parse_sizes",
    "load_line",
    "FLOOR_BYTES_PER_WEIGHT",
    "BATCH",
    "FILTERS",
    "UNITS",
    "VARIANT_NAMES",
    "add_variant_options",
    "add_image_options",
    "load_images",
    "minimtl_split",
    "variant_config",
    "torch_twin_module",
]

BATCH, FILTERS, UNITS = 8, 32, 64  # the study's batch, conv filters and hidden units of a head
FLOOR_BYTES_PER_WEIGHT = 28  # a step: forward reads W (4); backward + Adam read and write W, m, v (24)
VARIANT_NAMES = {variant.name: variant for variant in VARIANTS}


# ----- timing --------------------------------------------------------------------------------------


def median_ms(fn, repeats, warmup=1):
    """Median wall time of fn() in milliseconds over ``repeats`` calls after ``warmup`` calls
    (the first call may JIT-compile or load Numba's cache; it is never counted)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def echo(text):
    """A line of progress on stderr (the results go to stdout)."""
    print(text, file=sys.stderr, flush=True)


def log(message, as_json):
    """A line for the reader: on stdout beside the table, on stderr when stdout holds JSON."""
    print(message, file=sys.stderr if as_json else sys.stdout, flush=True)


# ----- the machine ---------------------------------------------------------------------------------


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
    """What a number was measured on: CPU, cores, versions, threads and the load average now."""
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


def describe_machine(info, bandwidth, torch_text, as_json):
    """The two header lines of a step script: the machine, and the bandwidth measured in this run
    (bandwidth None: a script that measures none, the machine's line alone)."""
    log(
        f"machine: {info['cpu']}, {info['cores']} cores; numpy {info['numpy']}, numba {info['numba']} "
        f"({info['numba_threads']} threads, {info['threading_layer']}); BLAS threads {info['blas_threads']}; "
        f"torch {torch_text}; load average {info['load_average'][0]:.2f}",
        as_json,
    )
    if bandwidth is None:
        return
    log(
        f"bandwidth: read {bandwidth['read_GBps']:.1f} GB/s, 3-array update {bandwidth['update3_GBps']:.1f} GB/s, "
        f"floor mix (4 read : 24 updated) {bandwidth['floor_mix_GBps']:.1f} GB/s",
        as_json,
    )


# ----- the bandwidth floor -------------------------------------------------------------------------


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
    """GB/s of the read pass, the three-array update pass, and the floor's mix (4 read : 24 updated).

    A step reads each big weight once forward (as ``stream_read`` reads) and reads and writes W, m
    and v once backward (as ``stream_update3`` does); the floor of any kernel is its bytes divided by
    the bandwidth of the same pattern, measured in the same run (these machines drift)."""
    a = np.ones(n, np.float32)
    b, c = np.ones(n, np.float32), np.ones(n, np.float32)
    read_ms = median_ms(lambda: stream_read(a), repeats)
    update_ms = median_ms(lambda: stream_update3(a, b, c, np.float32(1.0)), repeats)
    read_gbs, update_gbs = 4 * n / read_ms / 1e6, 24 * n / update_ms / 1e6
    floor_gbs = FLOOR_BYTES_PER_WEIGHT / (4 / read_gbs + 24 / update_gbs)
    return {"read_GBps": read_gbs, "update3_GBps": update_gbs, "floor_mix_GBps": floor_gbs, "elements": n}


class Report:
    """Collects rows (name, image size, ms, the bytes the kernel must move); prints each as a table line
    unless ``as_json``. Each row gets GB/s and "x floor" (its time over its bytes at ``bandwidth_gbs``)."""

    def __init__(self, as_json, bandwidth_gbs, torch_columns=False):
        self.as_json = as_json
        self.bandwidth = bandwidth_gbs
        self.rows = []
        if not as_json:
            torch_head = f" {'torch ms':>10s} {'torch/us':>9s}" if torch_columns else ""
            print(f"{'what':48s} {'px':>4s} {'ms':>9s} {'GB/s':>7s} {'x floor':>7s}{torch_head}")

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


def add_size_options(parser, sizes="64,128,256", repeats=10, bandwidth=True):
    """The options every step script takes: --sizes, --repeats, --bandwidth-size (only where the script
    measures the bandwidth floor: ``bandwidth``), --json, --seed."""
    parser.add_argument("--sizes", default=sizes, help=f"image sizes, comma separated (default {sizes})")
    parser.add_argument("--repeats", type=int, default=repeats, help=f"timed calls per measurement (default {repeats})")
    if bandwidth:
        parser.add_argument(
            "--bandwidth-size",
            type=int,
            default=1 << 26,
            help="float32 elements per array of the bandwidth kernels (default 2**26, 256 MB)",
        )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    parser.add_argument("--seed", type=int, default=0)


def parse_sizes(parser, options):
    """The --sizes list, checked with --repeats and --bandwidth-size where the script has it (a parser
    error otherwise)."""
    try:
        sizes = [int(s) for s in options.sizes.split(",") if s]
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {options.sizes!r}")
    if not sizes or any(s < 3 for s in sizes) or options.repeats < 1:
        parser.error("sizes must be >= 3 and --repeats >= 1")
    if getattr(options, "bandwidth_size", 1) < 1:
        parser.error("--bandwidth-size must be >= 1")
    return sizes


def load_line(info):
    """The closing line of a script: the load average at its start and at its end (``machine()``'s
    ``load_average``, and ``load_average_end``, which the script records when it is done)."""
    return (
        f"load average at the start {info['load_average'][0]:.2f}, at the end {info['load_average_end'][0]:.2f} "
        f"(the end includes this benchmark's own threads; a start above ~0.5 on 2 cores means other work was "
        f"running or had just run: rerun when quiet)"
    )


# ----- the fidelity scripts ------------------------------------------------------------------------


def add_variant_options(parser):
    """What the fidelity scripts train: --variant, --other-labels (None: the variant's own policy), --head,
    --image-size."""
    parser.add_argument("--variant", default="single-tb", choices=sorted(VARIANT_NAMES), help="what to train")
    parser.add_argument(
        "--other-labels", choices=("negative", "ignore"), help="override the variant's policy (multi-task only)"
    )
    parser.add_argument("--head", default="softmax", choices=("softmax", "sigmoid"))
    parser.add_argument("--image-size", type=int, default=64)


def add_image_options(parser):
    """The images the fidelity scripts train on (:func:`load_images`): --data-dir, --phantoms,
    --phantoms-per-class."""
    parser.add_argument("--data-dir", help="the images (default: $MINIMTL_DATA, else data/ in the repository)")
    parser.add_argument("--phantoms", action="store_true", help="use synthetic phantoms even if real images exist")
    parser.add_argument("--phantoms-per-class", type=int, default=100)


def load_images(data_dir, phantoms, phantoms_per_class, image_size):
    """(collection, a phrase saying what it is): synthetic phantoms with ``phantoms``, else the images of
    the data folder (``data_dir``, else $MINIMTL_DATA, else data/; the phantoms only when none was named
    and data/ holds no image, as the commands do)."""
    if phantoms:
        collection = make_phantoms(phantoms_per_class, image_size, seed=0)
    else:
        collection = load_or_phantoms(data_dir, image_size, phantoms_per_class=phantoms_per_class, echo=echo)
    if collection.synthetic:
        return collection, f"SYNTHETIC phantoms ({len(collection)} images)"
    return collection, f"real images from {collection.data_dir} ({len(collection)} images)"


def minimtl_split(config, collection):
    """The split minimtl's DurableRun makes for ``config`` (its first seed stream), restricted to the
    architecture's datasets: the same train, validation and test images as minimtl's run."""
    split_rng = seed_streams(config.seed)[0]
    full = make_split(
        collection, config.split, split_rng, test_fraction=config.test_fraction, val_fraction=config.val_fraction
    )
    return full.restrict(collection, list(ARCHITECTURES[config.arch].datasets))


def variant_config(base, variant, protocol, seed, other_labels):
    """The RunConfig of ``variant`` under ``protocol`` for ``seed``, with the other-labels policy given."""
    config = run_config(base, variant, protocol, seed)
    return RunConfig.from_dict({**config.to_dict(), "other_labels": other_labels})


def torch_twin_module():
    """The twin module (benchmarks/torch_twin.py, beside the scripts), or None when PyTorch is not installed."""
    if not torch_available():
        return None
    import torch_twin

    return torch_twin
