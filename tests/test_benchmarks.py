"""The benchmark scripts run end to end (tiny sizes; the timings themselves are never asserted).

benchmarks/ is not a package: the scripts are run as users run them, in a subprocess. Where
PyTorch happens to be installed, bench_step.py also times its PyTorch twin, so that path runs too.
"""

import json
import subprocess
import sys
from pathlib import Path

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
