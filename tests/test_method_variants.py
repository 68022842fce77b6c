"""The multi-task methods as comparison variants and as ``run`` options."""

import json

import pytest
from click.testing import CliRunner

import minimtl.study.compare.runs as runs_module
from cli import main
from minimtl.data import make_phantoms
from minimtl.study.compare.comparison import choose_variants
from minimtl.study.compare.runs import estimate_seconds, plan_commands
from minimtl.study.compare.summarise import summarise
from minimtl.study.compare.variants import ALL_VARIANTS, METHOD_OPTIONS, PROTOCOLS, rows_of, run_config
from minimtl.training.config import RunConfig
from minimtl.training.multitask_update import check_method_options
from tests.test_compare import fake_metrics


@pytest.mark.parametrize("option", list(METHOD_OPTIONS))
def test_each_method_is_a_variant_paired_with_multitask64(option):
    variant = ALL_VARIANTS[f"multitask64+{option}"]
    rows, paired = rows_of([ALL_VARIANTS["single-tb"], ALL_VARIANTS["multitask64"], variant])
    assert rows[f"multi-task 64 + {option}"] == {"tb": variant.name, "pneumonia": variant.name}
    assert paired[f"multi-task 64 + {option}"] == "multi-task 64"
    config = run_config(RunConfig(image_size=64), variant, "honest", 4)
    check_method_options(config)  # a config the trainer accepts as it is
    expected_trunk = "deep" if option == "deep" else "study"
    expected_weighting = "sum" if option == "deep" else option
    assert (config.arch, config.trunk, config.weighting, config.seed, config.split) == (
        "multitask64", expected_trunk, expected_weighting, 4, "patient"
    )  # fmt: skip
    assert config.step == ("fused" if option in ("uncertainty", "dwa") else "readable")


def test_the_deep_trunk_is_also_paired_with_single_tb_on_the_same_trunk():
    names = [v.name for v in choose_variants(["multitask64+deep"])]
    assert names == ["multitask64+deep", "multitask64", "single-tb+deep", "single-tb"]
    config = run_config(RunConfig(image_size=64), ALL_VARIANTS["single-tb+deep"], "honest", 2)
    check_method_options(config)
    assert (config.arch, config.trunk, config.weighting, config.step) == ("single-tb", "deep", "sum", "readable")
    rows, paired = rows_of(choose_variants(["multitask64+deep"]))
    assert rows["single-tb + deep"] == {"tb": "single-tb+deep"} and paired["single-tb + deep"] == "single-task"
    # the second pairing: two heads on the deep trunk against the TB head alone on it, seed by seed
    per_run = {}
    for seed in range(3):
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(0.80)}}
        per_run[("single-tb+deep", seed)] = {"tasks": {"tb": fake_metrics(0.82 + seed / 100)}}
        per_run[("multitask64", seed)] = {"tasks": {"tb": fake_metrics(0.78), "pneumonia": fake_metrics(0.9)}}
        per_run[("multitask64+deep", seed)] = {"tasks": {"tb": fake_metrics(0.85), "pneumonia": fake_metrics(0.9)}}
    summary = summarise(per_run, [0, 1, 2], variants=choose_variants(["multitask64+deep"]))
    also = summary["multi-task 64 + deep"]["tb"]["also_vs"]
    assert also["row"] == "single-tb + deep"
    assert also["roc_auc"]["per_seed"] == pytest.approx([0.03, 0.02, 0.01])


def test_planned_commands_carry_the_method_options(tmp_path):
    [line] = plan_commands(RunConfig(image_size=64), tmp_path, "honest", [0], [ALL_VARIANTS["multitask64+pcgrad"]])
    assert "--weighting pcgrad" in line and "--step readable" in line and "--trunk study" in line


def run(tmp_path, *options):
    args = ["run", "--image-size", "24", "--epochs", "1", "--out", str(tmp_path), "--name", "r", "--no-progress"]
    return CliRunner().invoke(main, [*args, "--phantoms", *options], env={"MINIMTL_DATA": None})


def test_run_with_the_deep_trunk_says_it_uses_the_readable_step(tmp_path):
    result = run(tmp_path, "--trunk", "deep", "--weighting", "pcgrad")
    assert result.exit_code == 0, result.output
    assert "the fused step covers only the study's one-convolution trunk" in result.output
    options = json.loads((tmp_path / "r" / "config.json").read_text())["options"]
    assert (options["trunk"], options["weighting"], options["step"]) == ("deep", "pcgrad", "readable")
    assert "MaxPool2D(2x2)" in result.output  # print(model) names the new layer
    assert (tmp_path / "r" / "conflict.png").is_file()
    evaluated = CliRunner().invoke(main, ["evaluate", str(tmp_path / "r"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output  # the deep model is rebuilt from config.json and scored
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert json.loads(evaluated.stdout)["tasks"] == metrics["best_val"]["tasks"]


def test_run_refuses_a_weighting_for_one_head(tmp_path):
    result = run(tmp_path, "--arch", "single-tb", "--weighting", "uncertainty")
    assert result.exit_code == 2
    assert "--weighting uncertainty weighs two tasks' losses; --arch single-tb has one head" in result.output
    assert not (tmp_path / "r").exists()


class _StepClock:
    """A stand-in for runs.py's ``time``: each perf_counter() call is 0.25 s after the one before, so a timed
    step takes a known time and the estimate's arithmetic can be checked exactly."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 0.25
        return self.now


def test_the_time_estimate_builds_every_method_as_its_run_would(monkeypatch):
    """compare's up-front estimate times each variant's own step (the readable one for gradnorm, pcgrad, mgda
    and the deep trunk), then scales it: per seed, per epoch, per variant."""
    monkeypatch.setattr(runs_module, "time", _StepClock())
    phantoms = make_phantoms(n_per_class=4, image_size=22, seed=0)
    base = RunConfig(image_size=22, epochs=2, batch_size=4)
    variants = choose_variants([f"multitask64+{option}" for option in METHOD_OPTIONS])
    each = [estimate_seconds(base, phantoms, "honest", [0], [variant], repeats=1) for variant in variants]
    assert all(seconds > 0 for seconds in each)
    assert estimate_seconds(base, phantoms, "honest", [0, 1], variants, repeats=1) == pytest.approx(2 * sum(each))
    # one step timed at 0.25 s: (train images / batch + the rest / batch / 3) steps per epoch, 2 epochs
    assert variants[0].name == "multitask64+uncertainty"
    n = len(phantoms.labels)  # every phantom belongs to one of multitask64's two datasets
    train = n * (1 - base.test_fraction) * (1 - PROTOCOLS["honest"]["val_fraction"])
    steps = train / base.batch_size + (n - train) / base.batch_size / 3
    assert each[0] == pytest.approx(0.25 * steps * 2)
