"""The benchmark scripts run end to end (tiny sizes; the timings themselves are never asserted).

benchmarks/ is not a package: the scripts are run as users run them, in a subprocess. Where
PyTorch happens to be installed, bench_step.py also times its PyTorch twin, so that path runs too.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name, *args):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{name} {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def test_bench_step_json_has_every_row_and_the_floor_ratio():
    out = run_script(
        "bench_step.py",
        "--sizes",
        "8",
        "--models",
        "single,multitask64",
        "--repeats",
        "1",
        "--bandwidth-size",
        "100000",
        "--json",
    )
    doc = json.loads(out)
    assert doc["bandwidth"]["floor_mix_GBps"] > 0
    names = [row["name"] for row in doc["rows"]]
    for expected in (
        "fused backward + Adam, 2 heads",
        "eval forward multitask64 (fused, 64 images)",
        "step single (fused, the default)",
        "step multitask64 (fused, the default)",
        "step multitask64 (readable, --step readable)",
        "fused backward + Adam, weights in cache, 1 head",
    ):
        assert expected in names, f"{expected!r} missing from {names}"
    for row in doc["rows"]:
        assert row["ms"] > 0 and row["x_floor"] > 0, row
    assert {row["arch"] for row in doc["training_estimates"]} == {"single-pneumonia", "single-tb", "multitask64"}


def test_fidelity_runs_on_phantoms_and_resumes(tmp_path):
    """fidelity.py end to end on 48 phantoms (16 px, 1 epoch, 2 seeds): both frameworks where PyTorch is
    installed, minimtl alone where not. A second call finds every run done and trains nothing."""
    try:
        import torch  # noqa: F401

        frameworks = ["minimtl", "torch"]
    except ImportError:
        frameworks = ["minimtl"]
    out = tmp_path / "fidelity"
    args = ("--phantoms", "--phantoms-per-class", "12", "--image-size", "16", "--epochs", "1", "--seeds", "2")
    doc = json.loads(run_script("fidelity.py", *args, "--variant", "multitask64", "--out", str(out), "--json"))
    assert "SYNTHETIC" in doc["settings"]["data"] and doc["seeds"] == [0, 1]
    assert list(doc["frameworks"]) == frameworks
    for entry in doc["frameworks"].values():
        assert entry["runs"] == 2
        for task in ("tb", "pneumonia"):
            one_class = entry["tasks"][task]["one_class"]
            assert one_class["n"] == 2 and 0 <= one_class["k"] <= 2
            low, high = one_class["ci95"]
            assert low <= one_class["value"] <= high
            auc = entry["tasks"][task]["roc_auc"]
            assert auc["n"] == 2 and auc["q1"] <= auc["median"] <= auc["q3"]
    assert ("tb" in doc["fisher"]) == (len(frameworks) == 2)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted((json.loads(line)["framework"], json.loads(line)["seed"]) for line in lines) == sorted(
        (f, s) for f in frameworks for s in (0, 1)
    )
    assert "| minimtl | 2 |" in (out / "table.md").read_text()
    again = run_script("fidelity.py", *args, "--variant", "multitask64", "--out", str(out))
    assert (out / "results.jsonl").read_text().splitlines() == lines, "a finished seed was trained again"
    assert "| minimtl | 2 |" in again


def test_fidelity_help():
    assert "--protocol" in run_script("fidelity.py", "--help")


def test_fidelity_divergence_on_phantoms():
    """--divergence: from the same weights and batches, minimtl and the twin agree after one step as the
    oracle test demands (2e-3 of each array's largest weight; measured ~1e-5), and the table lists every step."""
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("--divergence needs PyTorch")
    args = ("--phantoms", "--phantoms-per-class", "12", "--image-size", "16", "--divergence", "1,3", "--json")
    doc = json.loads(run_script("fidelity.py", *args))
    assert [row["step"] for row in doc["rows"]] == [1, 3]
    for row in doc["rows"]:
        for other in ("twin", "readable"):
            assert 0 <= row[other]["norm"] and row[other]["array"].startswith(("trunk.", "heads."))
    assert doc["rows"][0]["twin"]["max"] < 2e-3 and doc["rows"][0]["readable"]["max"] < 2e-3
