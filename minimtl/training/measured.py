"""Figures that can only be measured (how long a run takes, how much memory it used), each with the
machine it was measured on: the one place the command help quotes them from, and that README.md and
docs/performance.md must agree with (tests/test_figures.py checks both).

What can be computed is computed instead: the memory a run needs is
:func:`minimtl.training.memory.estimate_run_memory`, which every run prints first.
"""

__all__ = ["MACHINE", "HOURS_30_EPOCHS_256PX", "MAIN_JOB"]

# docs/performance.md, "Results"
MACHINE = "2 vCPUs (AMD EPYC Zen 3, under KVM)"

# docs/performance.md, "Training time, 30 epochs at 256 px": extrapolated from measured steps and scoring
# passes on MACHINE (data loading and checkpoint writing not included)
HOURS_30_EPOCHS_256PX = {
    "single-pneumonia": 0.93,
    "single-tb": 0.11,
    "multiclass": 0.95,
    "multitask64": 1.73,
    "multitask32": 1.47,
}

# docs/performance.md, "The README's main job": the run of README's first line (a multitask64 run at 64 px
# for 10 epochs on a patient split), timed with /usr/bin/time -v on a quiet MACHINE (load 0.44), 2026-12-03
MAIN_JOB = {
    "command": "python cli.py run --arch multitask64 --image-size 64 --epochs 10 --split patient",
    "run_seconds": 140,  # 2 min 20 s
    "peak_memory_gb": 0.78,  # maximum resident set, 764,796 KiB
}
