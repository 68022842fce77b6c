"""One source for each figure that README.md and `run --help` quote: the run's own memory estimate
(computed) and the measured times of minimtl/training/measured.py (which docs/performance.md records)."""

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from minimtl.commands import main
from minimtl.commands.run_command import run_command
from minimtl.training.config import RunConfig
from minimtl.training.measured import HOURS_30_EPOCHS_256PX, MAIN_JOB
from minimtl.training.memory import GB, STUDY_IMAGES, GiB, estimate_run_disk, estimate_run_memory

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PERFORMANCE = (REPO / "docs" / "performance.md").read_text()


def minutes(seconds):
    return f"{seconds // 60} min {seconds % 60} s"


def gib(config):
    return f"{estimate_run_memory(config, STUDY_IMAGES)['total'] / GiB:.1f} GiB"


def readme_main_job():
    """The README's first copy-paste line: (its run options as a RunConfig, the paragraph above it)."""
    line = next(line.strip() for line in README.splitlines() if line.strip().startswith("pip install -e . &&"))
    command = line.split("&&", 1)[1].strip()
    assert command == MAIN_JOB["command"]
    ctx = run_command.make_context("run", shlex.split(command)[3:])
    p = ctx.params
    config = RunConfig(arch=p["arch"], image_size=p["image_size"], epochs=p["epochs"], split=p["split_method"])
    paragraph = README[README.index("## Two lines") : README.index(line)]
    return config, paragraph


def test_the_readme_main_job_quotes_the_run_estimate_and_the_measured_figures():
    config, paragraph = readme_main_job()
    text = " ".join(paragraph.split())
    assert f"is {gib(config)}" in text
    assert f"the run itself {minutes(MAIN_JOB['run_seconds'])}" in text
    assert f"{MAIN_JOB['peak_memory_gb']} GB at its peak" in text


def test_the_readme_256px_figures_are_the_estimates_and_the_measured_hours():
    text = " ".join(README.split())
    assert f"({gib(RunConfig())} of memory by the run's own estimate" in text
    disk = estimate_run_disk(RunConfig())
    assert f"checkpoints are: {disk['checkpoint'] / GB:.2g} GB" in text
    assert f"and {disk['best'] / GB:.2g} GB for each task's best epoch" in text and len(disk["best_files"]) == 2
    hours = sorted(HOURS_30_EPOCHS_256PX.values())
    assert f"30 epochs take {hours[0]:.1f} to {hours[-1]:.1f} hours on 2 cores" in text
    assert "4.5 GB" not in text and "0.5 GB of memory" not in text


def test_run_help_quotes_the_same_figures_and_describes_the_defaults_as_they_are():
    result = CliRunner().invoke(main, ["run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert f"about {gib(RunConfig())} of memory by the run's own estimate" in text
    for arch, hours in HOURS_30_EPOCHS_256PX.items():
        assert f"{hours:g} h ({arch})" in text
    assert f"ran in {minutes(MAIN_JOB['run_seconds'])}" in text
    assert "The defaults are the study's" not in text and "4 GB" not in text
    defaults = RunConfig()
    assert f"{defaults.val_fraction:.0%} of the training side is held out for validation" in text
    assert re.search(r"--val-fraction [A-Z ]+ part of the training side held out for validation \(0: none, as the "
                     r"study\) \[default: 0\.1;", text)  # fmt: skip


def test_performance_md_records_the_measured_figures():
    table = PERFORMANCE[PERFORMANCE.index("### Training time, 30 epochs at 256 px") :].split("\n### ")[0]
    hours_column = {line.split("|")[1].strip(): line.split("|")[6].strip() for line in table.splitlines()
                    if line.startswith("| ") and "ours, hours" not in line and "---" not in line}  # fmt: skip
    assert hours_column == {arch: f"{hours:g}" for arch, hours in HOURS_30_EPOCHS_256PX.items()}
    section = " ".join(PERFORMANCE[PERFORMANCE.index("### The README's main job") :].split())
    assert f"**{minutes(MAIN_JOB['run_seconds'])}** for the run" in section
    assert f"**{MAIN_JOB['peak_memory_gb']} GB**" in section
