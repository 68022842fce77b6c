"""``compare --jobs`` and ``compare --plan``: sweeps that outgrow one process or one machine give the
same runs as ``compare`` alone."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from minimtl.commands import main

REPO = Path(__file__).resolve().parents[1]
BASE = ["--seeds", "2", "--epochs", "2", "--image-size", "12", "--variants", "single-tb,multitask32"]


def compare(*args):
    result = CliRunner().invoke(main, ["compare", *BASE, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def summary_of(out):
    document = json.loads((out / "summary.json").read_text())
    document["settings"].pop("run_seconds")  # wall times differ, nothing else may
    return document


def test_jobs_give_the_results_of_one_job(tmp_path):
    compare("--phantoms", "--out", str(tmp_path / "one"))
    output = compare("--phantoms", "--out", str(tmp_path / "two"), "--jobs", "2")
    assert "4 to train" in output and "2 runs at once" in output
    assert summary_of(tmp_path / "one") == summary_of(tmp_path / "two")
    for run in (tmp_path / "one" / "runs").iterdir():
        twin = tmp_path / "two" / "runs" / run.name
        assert (run / "predictions.csv").read_text() == (twin / "predictions.csv").read_text(), run.name


def test_plan_lists_each_unfinished_run_and_compare_reuses_what_they_make(tmp_path):
    out = tmp_path / "planned"
    plan = compare("--phantoms", "--out", str(out), "--plan", "--patience", "1").splitlines()
    assert len(plan) == 4 and all(line.startswith("python cli.py run ") for line in plan)
    assert not (out / "runs").exists()  # planning trains nothing
    for line in plan[:3]:  # as GNU parallel or a Slurm array task would, from the repository root
        result = subprocess.run([sys.executable, *shlex.split(line)[1:]], cwd=REPO, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
    left = compare("--phantoms", "--out", str(out), "--plan", "--patience", "1").splitlines()
    assert left == plan[3:]  # finished runs are no longer planned
    output = compare("--phantoms", "--out", str(out), "--patience", "1")
    assert "3 finished runs reused, 1 to train" in output  # the planned runs are the compare's own
    compare("--phantoms", "--out", str(tmp_path / "direct"), "--patience", "1")
    assert summary_of(out) == summary_of(tmp_path / "direct")
