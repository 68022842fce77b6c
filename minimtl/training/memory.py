"""How much memory a run needs, estimated before anything big is allocated, and how much there is.

At 256 px a two-headed model holds 264 million weights (1 GB), Adam's moments twice that again,
and the decoded images of both sets 0.4 GB; ``--image-size 1024`` would need 16 times the weights.
``run`` prints the estimate on its first lines and refuses, naming both numbers, a run that cannot
fit, instead of failing (or swapping) hours later.
"""

import os
from pathlib import Path

from minimtl.common.run_folder import TASK_BEST, RunFolder
from minimtl.training.models import ARCHITECTURES
from minimtl.training.trunks import trunk_activations, trunk_features, trunk_weights

__all__ = [
    "estimate_run_memory",
    "estimate_run_disk",
    "available_memory",
    "format_memory",
    "NotEnoughMemory",
    "check_memory",
    "format_disk",
    "STUDY_IMAGES",
]

GiB = 2**30
GB = 10**9
STUDY_IMAGES = 5856 + 662  # Kermany's chest X-rays as on Kaggle, and the Shenzhen set: the figures the help quotes
BASELINE = 600 * 2**20  # Python, NumPy, Numba, SciPy, scikit-learn and matplotlib loaded (measured: 0.5 GB)


class NotEnoughMemory(Exception):
    """The estimate exceeds the memory available; the message gives both."""


def estimate_run_memory(config, n_images):
    """Bytes needed by a run of ``config`` on a collection of ``n_images`` images, by part.

    Returns a dict: "images" (the decoded uint8 images of the whole collection), "model" (weights,
    Adam's m and v, the gradients the step writes), "batch" (the activations of one batch and the
    evaluation pass), "loading" (the largest array np.load reads at once from a checkpoint),
    "baseline" (the libraries), "total".
    """
    spec = ARCHITECTURES[config.arch]
    S = config.image_size
    trunk = config.trunk
    features = trunk_features(trunk, S)
    outputs = 3 if spec.multiclass else (1 if config.head == "sigmoid" else 2)
    big = sum(features * units for units in spec.head_units.values())  # the heads' first Dense weights
    small = trunk_weights(trunk) + sum(units * (1 + outputs) + outputs for units in spec.head_units.values())
    # weights, m and v always; the readable step also writes a gradient as large as the weights
    copies = 3 if config.step == "fused" else 4
    activations = 4 * config.batch_size * trunk_activations(trunk, S)  # one batch's conv (and pool) outputs, float32
    # the gradient-conflict probe beside a multi-task run's fused step keeps the conv output and each head's
    # feature gradient (the readable step holds such arrays already): minimtl/training/conflict.py
    probe_heads = len(spec.head_units) if config.conflict_every > 0 and len(spec.head_units) > 1 else 0
    probe = 4 * config.batch_size * (features * probe_heads + trunk_activations(trunk, S)) if probe_heads else 0
    if config.step != "fused":
        probe = 0
    parts = {
        "images": n_images * S * S,
        "model": 4 * (copies * big + 4 * small),
        "batch": activations * (1 if config.step == "fused" else 3) + probe,
        "loading": 4 * max(features * units for units in spec.head_units.values()),
        "baseline": BASELINE,
    }
    parts["total"] = sum(parts.values())
    return parts


def available_memory():
    """Bytes this process can still allocate: the smaller of the machine's available memory and the
    room left under a container's (cgroup v2) limit; None where neither can be read."""
    candidates = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            candidates.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    if not candidates and hasattr(os, "sysconf"):
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            pass
    return min(candidates) if candidates else None


def format_memory(parts, available):
    """One line: the estimate, its parts and what is available."""
    detail = ", ".join(f"{name} {parts[name] / GiB:.1f}" for name in ("images", "model", "batch", "loading"))
    there = "unknown" if available is None else f"{available / GiB:.1f} GiB"
    return f"memory: about {parts['total'] / GiB:.1f} GiB needed (GiB: {detail}); available: {there}"


def check_memory(configs, n_images, jobs=1, available=None):
    """The memory line for a run's (or a comparison's) output; raises NotEnoughMemory when it cannot fit.

    configs: one RunConfig or several (a comparison: the largest counts); jobs: runs at once, each in
    its own process with its own model (the decoded images are shared).
    """
    configs = [configs] if hasattr(configs, "arch") else list(configs)
    parts = max((estimate_run_memory(c, n_images) for c in configs), key=lambda p: p["total"])
    if jobs > 1:
        per_run = parts["total"] - parts["images"]
        parts = {**{k: v * jobs for k, v in parts.items() if k != "images"}, "images": parts["images"]}
        parts["total"] = parts["images"] + jobs * per_run
    available = available_memory() if available is None else available
    line = format_memory(parts, available) + (f" ({jobs} runs at once)" if jobs > 1 else "")
    if available is not None and parts["total"] > available:
        size = configs[0].image_size
        raise NotEnoughMemory(
            f"this needs about {parts['total'] / GiB:.1f} GiB of memory and {available / GiB:.1f} GiB is "
            f"available ({line[len('memory: ') :]}); use a smaller --image-size (now {size})"
            + (", fewer --jobs" if jobs > 1 else "")
            + ", --step fused if you chose readable, or a machine with more memory"
        )
    return line


def estimate_run_disk(config):
    """Bytes a run of ``config`` writes to its folder, by file: "checkpoint" (checkpoint.npz: the weights
    and Adam's m and v, rewritten after every epoch), "best" (the weights of one best validation epoch;
    0 without a validation split), "best_files" (their file names: each task's own best-<task>.npz with
    per-task selection, best.npz with summed; none without validation), and "peak" (all of them, plus a
    second checkpoint while the new one is written beside the old before it replaces it).

    The figures are the float32 arrays' sizes; the small files (split, history, report, plots) are left out.
    """
    model = _parameter_count(config)
    checkpoint = 3 * 4 * model
    if config.val_fraction == 0:
        best_files = ()
    elif config.selection == "per-task":
        best_files = tuple(getattr(RunFolder, TASK_BEST[task]).name for task in ARCHITECTURES[config.arch].tasks)
    else:
        best_files = (RunFolder.best.name,)
    best = 4 * model if best_files else 0
    peak = 2 * checkpoint + best * len(best_files)
    return {"checkpoint": checkpoint, "best": best, "best_files": best_files, "peak": peak}


def _parameter_count(config):
    """The number of weights of ``config``'s model, from the shapes alone (nothing is allocated)."""
    spec = ARCHITECTURES[config.arch]
    trunk = config.trunk
    features = trunk_features(trunk, config.image_size)
    outputs = 3 if spec.multiclass else (1 if config.head == "sigmoid" else 2)
    return trunk_weights(trunk) + sum(
        features * units + units + units * outputs + outputs for units in spec.head_units.values()
    )


def format_disk(parts):
    """One line: what a run writes to its folder."""
    files = parts["best_files"]
    each = " each" if len(files) > 1 else ""
    best = f", {' and '.join(files)} {parts['best'] / GB:.2g} GB{each}" if files else ""
    return (
        f"disk: {RunFolder.checkpoint.name} {parts['checkpoint'] / GB:.2g} GB, rewritten after every epoch{best} "
        f"(up to {parts['peak'] / GB:.2g} GB at once while a checkpoint is replaced)"
    )
