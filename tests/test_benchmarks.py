"""The benchmark scripts run end to end (tiny sizes; the timings themselves are never asserted).

benchmarks/ is not a package: the scripts are run as users run them, in a subprocess. Each script is one
measurement (benchmarks/README.md lists them); each has its test here. Where PyTorch happens to be
installed, bench_step.py also times its PyTorch twin, so that path runs too.
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


TINY = ("--sizes", "8", "--repeats", "1", "--bandwidth-size", "100000", "--json")


def rows_of(script, *args):
    doc = json.loads(run_script(script, *TINY, *args))
    assert doc["bandwidth"]["floor_mix_GBps"] > 0 and doc["machine"]["numba_threads"] >= 1
    for row in doc["rows"]:
        assert row["ms"] > 0 and row["x_floor"] > 0 and row["size"] == 8, row
    return doc, [row["name"] for row in doc["rows"]]


def test_bench_kernels_times_each_kernel_of_a_step_against_the_floor():
    _, names = rows_of("bench_kernels.py")
    assert names == [
        "conv forward + fused ReLU",
        "conv weight gradient, fused ReLU mask",
        "dense forward (layer kernel), 1 head",
        "dense backward (layer kernel), 1 head",
        "Adam alone, 1 head",
        "fused conv+ReLU+dense forward, 1 head",
        "fused backward + Adam, 1 head",
        "fused conv+ReLU+dense forward, 2 heads",
        "fused backward + Adam, 2 heads",
    ]


def test_bench_arithmetic_times_the_fused_kernels_with_their_weights_in_cache():
    _, names = rows_of("bench_arithmetic.py")
    assert names == [
        "fused forward, weights in cache, 1 head",
        "fused backward + Adam, weights in cache, 1 head",
        "fused forward, weights in cache, 2 heads",
        "fused backward + Adam, weights in cache, 2 heads",
    ]


def test_bench_step_times_whole_steps_and_estimates_the_training_time():
    doc, names = rows_of("bench_step.py", "--models", "single,multitask64")
    for expected in (
        "step single (fused, the default)",
        "eval forward single (model.forward, 8 images)",
        "eval forward multitask64 (fused, 64 images)",
        "step multitask64 (fused, the default)",
        "step multitask64 (readable, --step readable)",
    ):
        assert expected in names, f"{expected!r} missing from {names}"
    assert not any("fused backward + Adam" in name for name in names)  # the kernels are bench_kernels.py's
    assert {row["arch"] for row in doc["training_estimates"]} == {"single-pneumonia", "single-tb", "multitask64"}


def test_bench_methods_times_each_method_as_a_run_trains_it():
    """Every method's step at 22 px (the smallest image --trunk deep takes), on the step ``run`` falls back to;
    each row's ratio is to the first row, the default step; the last row is derived from the two before it."""
    doc = json.loads(run_script("bench_methods.py", "--sizes", "22", "--repeats", "1", "--json"))
    assert doc["machine"]["numba_threads"] >= 1 and "load_average_end" in doc["machine"]
    rows = {row["key"]: row for row in doc["rows"]}
    assert list(rows) == ["sum", "sum-readable", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda", "deep",
                          "conflict", "conflict-one"]  # fmt: skip
    steps = {key: row["step"] for key, row in rows.items()}
    assert steps == {"sum": "fused", "sum-readable": "readable", "uncertainty": "fused", "dwa": "fused",
                     "gradnorm": "readable", "pcgrad": "readable", "mgda": "readable", "deep": "readable",
                     "conflict": "fused", "conflict-one": "fused"}  # fmt: skip
    assert rows["deep"]["trunk"] == "deep" and rows["pcgrad"]["weighting"] == "pcgrad"
    assert rows["conflict"]["conflict_every"] == 1 and rows["sum"]["conflict_every"] == 0
    for key, row in rows.items():
        assert row["size"] == 22 and (row["ms"] > 0 or key == "conflict-one"), row
        assert row["x_default"] == pytest.approx(row["ms"] / rows["sum"]["ms"]), row
    assert rows["conflict-one"]["ms"] == pytest.approx(rows["conflict"]["ms"] - rows["sum"]["ms"])
    assert "--conflict-every 16" in rows["conflict-one"]["note"]


def test_bench_methods_names_the_size_too_small_for_the_deep_trunk():
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_methods.py"), "--sizes", "16"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "--sizes" in result.stderr and "--trunk deep" in result.stderr


def test_fidelity_runs_on_phantoms_and_resumes(tmp_path):
    """fidelity_collapse.py end to end on 48 phantoms (16 px, 1 epoch, 2 seeds): both frameworks where PyTorch is
    installed, minimtl alone where not. A second call finds every run done and trains nothing."""
    try:
        import torch  # noqa: F401

        frameworks = ["minimtl", "torch"]
    except ImportError:
        frameworks = ["minimtl"]
    out = tmp_path / "fidelity"
    args = ("--phantoms", "--phantoms-per-class", "12", "--image-size", "16", "--epochs", "1", "--seeds", "2")
    doc = json.loads(run_script("fidelity_collapse.py", *args, "--variant", "multitask64", "--out", str(out), "--json"))
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
    again = run_script("fidelity_collapse.py", *args, "--variant", "multitask64", "--out", str(out))
    assert (out / "results.jsonl").read_text().splitlines() == lines, "a finished seed was trained again"
    assert "| minimtl | 2 |" in again


def option_help(text, option):
    """The lines of ``--help`` output ``text`` that describe ``option`` (its line and the indented ones after)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {option} ") or line == f"  {option}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("  -")), len(lines))
    return lines[start:end]


SHARED_FIDELITY_OPTIONS = ("--variant", "--other-labels", "--head", "--image-size", "--data-dir", "--phantoms",
                           "--phantoms-per-class")  # fmt: skip


def test_fidelity_scripts_help():
    """Each script's own options, and the ones they share (timing.py's add_variant_options and add_image_options)
    described alike."""
    collapse, divergence = run_script("fidelity_collapse.py", "--help"), run_script("fidelity_divergence.py", "--help")
    assert "--protocol" in collapse and "--seeds" in collapse and "--steps" in divergence
    for option in SHARED_FIDELITY_OPTIONS:
        assert option_help(collapse, option) == option_help(divergence, option), option
    assert option_help(collapse, "--variant")[1].strip() == "what to train (default: single-tb)"


def test_fidelity_divergence_on_phantoms():
    """fidelity_divergence.py: from the same weights and batches, minimtl and the twin agree after one step as
    the oracle test demands (2e-3 of each array's largest weight; measured ~1e-5), and the table lists every step."""
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("fidelity_divergence.py needs PyTorch")
    args = ("--phantoms", "--phantoms-per-class", "12", "--image-size", "16", "--steps", "1,3", "--json")
    doc = json.loads(run_script("fidelity_divergence.py", *args))
    assert [row["step"] for row in doc["rows"]] == [1, 3]
    for row in doc["rows"]:
        for other in ("twin", "readable"):
            assert 0 <= row[other]["norm"] and row[other]["array"].startswith(("trunk.", "heads."))
    assert doc["rows"][0]["twin"]["max"] < 2e-3 and doc["rows"][0]["readable"]["max"] < 2e-3


def test_fidelity_divergence_without_pytorch_says_what_to_install():
    try:
        import torch  # noqa: F401

        pytest.skip("PyTorch is installed here")
    except ImportError:
        pass
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "fidelity_divergence.py"), "--phantoms", "--image-size", "16"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 0 and "install PyTorch" in result.stderr


def test_live_units_replays_a_run_to_its_own_weights(tmp_path):
    """live_units.py on a one-epoch multitask64 run on phantoms: the replay of the run's first steps, from its
    initial weights, reaches after a whole epoch the very model the run saved for that epoch (every count and
    percentile equal), so the replay is the run's own training and not a look-alike."""
    runs = tmp_path / "runs"
    train = subprocess.run(
        [sys.executable, str(BENCHMARKS.parent / "cli.py"), "run", "--arch", "multitask64", "--image-size", "16",
         "--epochs", "1", "--split", "patient", "--seed", "3", "--phantoms", "--out", str(runs), "--name", "r",
         "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    run_dir = runs / "r"
    n_train = len(json.loads((run_dir / "split.json").read_text())["sides"]["train"]["paths"])
    steps = -(-n_train // 8)
    doc = json.loads(run_script("live_units.py", str(run_dir), "--replay", str(steps), "--images", "4", "--json"))
    assert doc["probe"] == {"images_per_dataset": 4, "seed": 0, "datasets": ["pneumonia", "tb"]}
    assert [row["task"] for row in doc["saved"]] == ["tb", "pneumonia"] and doc["saved"][0]["epoch"] == 1
    assert [row["step"] for row in doc["replay"]] == list(range(steps + 1))
    last, saved = doc["replay"][-1], doc["saved"][0]
    assert last["trunk_positive"] == saved["trunk_positive"] and last["trunk_sum"] == saved["trunk_sum"]
    assert last["heads"] == saved["heads"]
    assert doc["replay"][0]["heads"] != saved["heads"], "the epoch changed nothing: the comparison tests nothing"
    assert doc["replay_lr"] == 1e-3  # the run's own (the default of cli.py run)
    other = run_script("live_units.py", str(run_dir), "--replay", "1", "--images", "4", "--lr", "0.05", "--json")
    other = json.loads(other)
    assert other["replay_lr"] == 0.05 and other["replay"][0] == doc["replay"][0], "another lr, the same start"
    assert other["replay"][1]["heads"] != doc["replay"][1]["heads"], "--lr did not change the step"
    for row in doc["replay"] + doc["saved"]:
        assert 0 <= row["trunk_positive"] <= 1 and row["trunk_sum"] >= 0
        for head in row["heads"].values():
            assert head["units"] == 64 and 0 <= head["live"] <= 64 and head["pre_p5"] <= head["pre_p95"]
            assert max(head["live_on"].values()) <= head["live"] <= sum(head["live_on"].values())


def test_live_units_names_a_folder_that_is_no_run(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "live_units.py"), str(tmp_path / "nothing")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode != 0 and "nothing" in result.stderr


def test_live_units_names_a_step_past_the_replay(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "live_units.py"), str(tmp_path), "--replay", "3", "--at", "1,5"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 2 and "--at" in result.stderr and "--replay N (3)" in result.stderr


def test_every_benchmark_script_is_one_measurement_described_in_the_readme():
    readme = (BENCHMARKS / "README.md").read_text()
    helpers = {"timing.py", "torch_twin.py"}
    scripts = sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in helpers)
    assert scripts == sorted(
        ["bench_arithmetic.py", "bench_augment.py", "bench_engine.py", "bench_kernels.py", "bench_methods.py",
         "bench_step.py", "fidelity_collapse.py", "fidelity_divergence.py", "live_units.py"]
    )  # fmt: skip
    for name in scripts + sorted(helpers):
        assert f"`{name}`" in readme, f"benchmarks/README.md does not describe {name}"
