"""``cli.py compare``: aggregation arithmetic, and the whole command at a tiny size."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from minimtl.commands import main
from minimtl.data import make_phantoms
from minimtl.study.compare.comparison import choose_variants, run_comparison
from minimtl.study.compare.delong import delong_test
from minimtl.study.compare.report import render_table
from minimtl.study.compare.statistics import (
    delong_per_seed,
    detectable_difference,
    mean_interval,
    paired_differences,
    single_seed_detectable,
)
from minimtl.study.compare.summarise import summarise
from minimtl.study.compare.variants import ALL_VARIANTS, rows_of, run_config, with_partners
from minimtl.training.config import RunConfig
from minimtl.training.metrics import predicts_one_class


def test_mean_interval_is_the_student_t_interval():
    values = [0.70, 0.80, 0.75]
    entry = mean_interval(values)
    mean, sd = 0.75, 0.05  # sample sd of (0.70, 0.80, 0.75) = sqrt((0.0025 + 0.0025 + 0) / 2)
    half = stats.t.ppf(0.975, 2) * sd / np.sqrt(3)
    assert entry["mean"] == pytest.approx(mean)
    assert entry["sd"] == pytest.approx(sd)
    assert entry["ci95"] == pytest.approx([mean - half, mean + half])


def test_mean_interval_drops_undefined_values_and_needs_two():
    assert mean_interval([None, 0.5]) == {"mean": 0.5, "sd": None, "ci95": None, "n": 1}
    assert mean_interval([]) == {"mean": None, "sd": None, "ci95": None, "n": 0}


def test_paired_differences_are_per_seed():
    paired = paired_differences([0.9, 0.8, None], [0.85, 0.82, 0.7])
    assert paired["per_seed"] == pytest.approx([0.05, -0.02])
    assert paired["n"] == 2


def fake_metrics(recall, confusion=((5, 1), (2, 6))):
    rate = {"value": recall, "k": 0, "n": 1, "ci95": [0, 1]}
    return {
        "precision": rate,
        "recall": rate,
        "specificity": rate,
        "f1": recall,
        "roc_auc": {"value": recall, "ci95": [0, 1]},
        "confusion_matrix": [list(r) for r in confusion],
    }


def test_intervals_are_clipped_to_the_metric_range():
    wide = mean_interval([0.2, 1.0, 0.99], bounds=(0.0, 1.0))
    assert wide["ci95"][0] == 0.0 and wide["ci95"][1] == 1.0
    assert mean_interval([0.2, 1.0, 0.99])["ci95"][1] > 1.0  # unclipped, as the t formula gives


def test_a_head_that_predicts_one_class_is_flagged():
    assert predicts_one_class(fake_metrics(1.0, confusion=((0, 65), (0, 67)))["confusion_matrix"])  # all positive
    assert predicts_one_class(fake_metrics(0.0, confusion=((65, 0), (67, 0)))["confusion_matrix"])  # all negative
    assert not predicts_one_class(fake_metrics(0.5)["confusion_matrix"])


def test_summarise_pairs_each_model_with_single_task_on_the_same_seed():
    per_run = {}
    for seed, (single, multi) in enumerate([(0.70, 0.75), (0.80, 0.80), (0.60, 0.70)]):
        confusion = ((0, 65), (0, 67)) if seed == 2 else ((5, 1), (2, 6))
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(single, confusion)}}
        per_run[("multitask64", seed)] = {"tasks": {"tb": fake_metrics(multi), "pneumonia": fake_metrics(0.9)}}
    summary = summarise(per_run, [0, 1, 2])
    assert summary["single-task"]["tb"]["recall"]["mean"] == pytest.approx(0.70)
    paired = summary["multi-task 64"]["tb"]["recall"]["vs_baseline"]
    assert paired["per_seed"] == pytest.approx([0.05, 0.0, 0.10])
    assert "pneumonia" not in summary["single-task"]  # single-pneumonia was not run
    assert summary["single-task"]["tb"]["constant_predictions"] == 1
    assert summary["multi-task 64"]["tb"]["constant_predictions"] == 0


def test_the_ignore_policy_is_paired_with_the_study_policy_too():
    per_run = {}
    for seed, (single, negative, ignore) in enumerate([(0.70, 0.75, 0.80), (0.80, 0.80, 0.70), (0.60, 0.70, 0.90)]):
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(single)}}
        per_run[("multitask64", seed)] = {"tasks": {"tb": fake_metrics(negative), "pneumonia": fake_metrics(0.9)}}
        per_run[("multitask64-ignore", seed)] = {"tasks": {"tb": fake_metrics(ignore), "pneumonia": fake_metrics(0.8)}}
    summary = summarise(per_run, [0, 1, 2])
    ignore = summary["multi-task 64, other labels ignored"]["tb"]
    assert ignore["recall"]["vs_baseline"]["per_seed"] == pytest.approx([0.10, -0.10, 0.30])  # vs single-task
    assert ignore["also_vs"]["row"] == "multi-task 64"
    assert ignore["also_vs"]["recall"]["per_seed"] == pytest.approx([0.05, -0.10, 0.20])  # vs the study's labels
    assert summary["multi-task 64, other labels ignored"]["pneumonia"]["also_vs"]["recall"]["per_seed"] == (
        pytest.approx([-0.1, -0.1, -0.1])
    )
    assert "also_vs" not in summary["multi-task 64"]["tb"]
    table = render_table(summary, SETTINGS)
    assert "| multi-task 64, other labels ignored | multi-task 64 | +0.050 [" in table  # ROC-AUC = recall here
    assert "| multi-task 64, other labels ignored | single-task | +0.100 [" in table
    assert table.count("Paired with its baseline") == 2  # tb and pneumonia
    only_pneumonia_without_baseline = {k: v for k, v in per_run.items() if k[0] != "single-tb"}
    table = render_table(summarise(only_pneumonia_without_baseline, [0, 1, 2]), SETTINGS)
    assert table.count("Paired with its baseline") == 2  # the ignore row is still paired with multi-task 64
    alone = {k: v for k, v in per_run.items() if k[0] == "multitask64"}
    assert "Paired with its baseline" not in render_table(summarise(alone, [0, 1, 2]), SETTINGS)  # no empty tables
    del per_run[("multitask64", 1)]  # a partner missing a seed: no second pairing, no error
    assert "also_vs" not in summarise(per_run, [0, 1, 2])["multi-task 64, other labels ignored"]["tb"]


SETTINGS = {
    "protocol": "honest", "image_size": 64, "epochs": 5, "patience": 0, "batch_size": 8, "seeds": [0, 1, 2],
    "split": "patient", "val_fraction": 0.1, "model_choice": "best validation epoch",
}  # fmt: skip


def test_compare_runs_end_to_end_and_reuses_finished_runs(tmp_path):
    out = tmp_path / "cmp"
    args = [
        "compare",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--image-size",
        "12",
        "--phantoms",
        "--out",
        str(out),
        "--reshuffled-test",
        "--protocol",
        "study",
        "--variants",
        "single-tb,single-pneumonia,multitask64",
    ]
    first = CliRunner().invoke(main, args, catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "at most about" in first.output and "memory: about" in first.output
    for name in ("table.md", "summary.json", "metrics.png", "roc.png"):
        assert (out / name).is_file()
    table = (out / "table.md").read_text()
    assert "SYNTHETIC" in table and "98.7 / 97.5" in table  # the study's leaky row beside ours
    summary = json.loads((out / "summary.json").read_text())
    tb = summary["summary"]["multi-task 64"]["tb"]["recall"]
    assert len(tb["per_seed"]) == 2 and tb["vs_baseline"] is not None
    assert summary["reshuffled"]["single-task"]["tb"]["recall"]["n"] >= 1

    assert "DeLong" in table and "Wilcoxon" in table and "without collapsed runs" in table
    auc = summary["summary"]["multi-task 64"]["tb"]["roc_auc"]["vs_baseline"]
    assert len(auc["delong"]) == 2 and all(r is None or 0 <= r["p"] <= 1 for r in auc["delong"])
    assert summary["without_collapsed"]["multi-task 64"]["tb"]["seeds_used"] is not None
    assert [(run["seed"], run["variant"]) for run in summary["runs"]] == [
        (seed, name) for seed in (0, 1) for name in ("single-tb", "single-pneumonia", "multitask64")
    ]
    assert "## Each run" in table and table.count("| 1 | multitask64 |") == 1

    second = CliRunner().invoke(main, args, catch_exceptions=False)
    assert second.exit_code == 0
    assert "6 finished runs reused, 0 to train" in second.output
    assert json.loads((out / "summary.json").read_text()) == summary


def test_compare_rejects_unknown_variants(tmp_path):
    result = CliRunner().invoke(main, ["compare", "--variants", "resnet", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "--variants" in result.output
    with pytest.raises(ValueError, match=r"unknown variant\(s\) \['resnet'\]"):
        choose_variants(["single-tb", "resnet"])


def test_a_comparison_is_one_library_call(tmp_path):
    """No command line: choose the variants (a variant beyond the study brings its baseline), run,
    and get the rows back, with the same files written as the command writes."""
    variants = choose_variants(["single-tb+augment"])
    assert [v.name for v in variants] == ["single-tb+augment", "single-tb"]
    phantoms = make_phantoms(n_per_class=8, image_size=12, seed=0)
    lines = []
    base = RunConfig(image_size=12, epochs=1, batch_size=4)
    comparison = run_comparison(base, variants, "study", [0, 1], tmp_path, lambda crop: phantoms, log=lines.append)
    assert comparison.settings["variants"] == ["single-tb+augment", "single-tb"]
    assert comparison.settings["epochs"] == 1 and comparison.settings["split"] == "random"
    assert set(comparison.summary) == {"single-task", "single-tb + augment"}
    assert comparison.summary["single-tb + augment"]["tb"]["paired_with"] == "single-task"
    assert comparison.reshuffled is None and comparison.train_overlap is None
    assert sorted(comparison.per_run) == [(n, s) for n in ("single-tb", "single-tb+augment") for s in (0, 1)]
    for name in comparison.files:
        assert (tmp_path / name).is_file()
    assert "SYNTHETIC" in (tmp_path / "table.md").read_text()
    assert any(line.startswith("4 runs (single-tb+augment, single-tb x seeds [0, 1])") for line in lines)


def test_paired_differences_give_wilcoxon_and_seed_counts():
    paired = paired_differences([0.8, 0.7, 0.9, 0.6, None], [0.7, 0.7, 0.8, 0.7, 0.5])
    assert paired["per_seed"] == pytest.approx([0.1, 0.0, 0.1, -0.1])
    assert (paired["seeds_better"], paired["seeds_worse"], paired["seeds_equal"]) == (2, 1, 1)
    # the three nonzero differences, ranks 2, 2, 2 (ties): scipy's exact/normal p, not below 0.05
    assert paired["wilcoxon_p"] == pytest.approx(stats.wilcoxon([0.1, 0.1, -0.1]).pvalue)
    assert paired_differences([0.5, 0.5], [0.5, 0.5])["wilcoxon_p"] is None  # nothing to rank


def test_collapsed_runs_can_be_left_out():
    per_run = {}
    for seed, (single, multi) in enumerate([(0.70, 0.75), (0.80, 0.80), (0.60, 0.70)]):
        confusion = ((0, 65), (0, 67)) if seed == 2 else ((5, 1), (2, 6))  # seed 2's single-task head collapsed
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(single, confusion)}}
        per_run[("multitask64", seed)] = {"tasks": {"tb": fake_metrics(multi), "pneumonia": fake_metrics(0.9)}}
    kept = summarise(per_run, [0, 1, 2], exclude_collapsed=True)
    assert kept["single-task"]["tb"]["seeds_used"] == [0, 1]
    assert kept["multi-task 64"]["tb"]["seeds_used"] == [0, 1, 2]  # its own runs did not collapse
    assert kept["multi-task 64"]["tb"]["recall"]["vs_baseline"]["per_seed"] == pytest.approx([0.05, 0.0])


def test_delong_per_seed_pairs_the_same_images():
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(20, int), np.ones(20, int)]
    paths = np.array([f"img{i}.png" for i in range(40)])
    model = {"path": paths, "label": labels, "score": labels + rng.normal(0, 0.5, 40)}
    order = rng.permutation(40)  # the baseline's predictions.csv lists the images in another order
    baseline_score = labels + rng.normal(0, 1.0, 40)
    baseline = {"path": paths[order], "label": labels[order], "score": baseline_score[order]}
    result = delong_per_seed([model, None], [baseline, baseline])
    assert result[1] is None
    assert result[0] == delong_test(labels, model["score"], baseline_score)


def test_detectable_difference_matches_the_t_test_it_describes():
    """At that difference a paired t-test over n seeds rejects 80% of the time (simulated)."""
    sd, n = 0.05, 8
    effect = detectable_difference(sd, n)
    rng = np.random.default_rng(1)
    draws = rng.normal(effect, sd, size=(4000, n))
    power = np.mean(stats.ttest_1samp(draws, 0.0, axis=1).pvalue < 0.05)
    assert power == pytest.approx(0.8, abs=0.03)
    assert single_seed_detectable(0.04) == pytest.approx((1.959964 + 0.841621) * 0.04, rel=1e-5)


def test_variants_beyond_the_study_get_rows_paired_with_the_study_settings():
    variants = [ALL_VARIANTS[n] for n in ("single-tb", "multitask64", "single-tb+equalize", "multitask64+borders")]
    rows, paired = rows_of(variants)
    assert rows == {
        "single-task": {"tb": "single-tb"},
        "multi-task 64": {"tb": "multitask64", "pneumonia": "multitask64"},
        "single-tb + equalize": {"tb": "single-tb+equalize"},
        "multi-task 64 + borders": {"tb": "multitask64+borders", "pneumonia": "multitask64+borders"},
    }
    assert paired == {
        "single-task": None,
        "multi-task 64": "single-task",
        "single-tb + equalize": "single-task",
        "multi-task 64 + borders": "multi-task 64",
    }
    config = run_config(RunConfig(image_size=12), ALL_VARIANTS["multitask64-ignore+equalize"], "honest", 3)
    assert (config.arch, config.other_labels, config.normalize, config.seed, config.split) == (
        "multitask64", "ignore", "equalize", 3, "patient"
    )  # fmt: skip


def test_an_option_is_paired_with_its_baseline_on_site_separation_and_every_shift():
    def head(separation, border, zoom):
        site = {"separation": separation, "auc": separation, "mean_probability": {"tb": 0.3, "pneumonia": 0.01}}
        shifted = {"border": {"auc_change": border}, "zoom-1.05": {"auc_change": zoom}}
        return site, shifted

    per_run = {}
    study, augmented = [(0.98, -0.20, -0.10), (0.97, -0.15, -0.12)], [(0.96, -0.05, -0.03), (0.98, -0.10, -0.02)]
    for name, heads in (("multitask64", study), ("multitask64+augment", augmented)):
        for seed, values in enumerate(heads):
            site, shifted = head(*values)
            per_run[(name, seed)] = {
                "tasks": {"tb": fake_metrics(0.8), "pneumonia": fake_metrics(0.9)},
                "site": {"tasks": {"tb": site}},
                "shift": {"tasks": {"tb": {"shifted": shifted}}},
            }
    variants = [ALL_VARIANTS["multitask64"], ALL_VARIANTS["multitask64+augment"]]
    summary = summarise(per_run, [0, 1], variants=variants)
    option = summary["multi-task 64 + augment"]["tb"]
    assert option["site"]["vs_baseline"]["per_seed"] == pytest.approx([-0.02, 0.01])
    assert option["shift_vs_baseline"]["border"]["per_seed"] == pytest.approx([0.15, 0.05])  # it loses less
    assert option["shift_vs_baseline"]["zoom-1.05"]["mean"] == pytest.approx(0.085)
    assert "shift_vs_baseline" not in summary["multi-task 64"]["tb"]  # its own baseline did not run
    table = render_table(summary, SETTINGS)
    border = paired_differences([-0.05, -0.10], [-0.20, -0.15])
    low, high = border["ci95"]
    assert "| multi-task 64 + augment | multi-task 64 | -0.005 [" in table
    assert f"| +0.100 [{low:+.3f}, {high:+.3f}] | +0.085 [" in table  # border, then zoom: the summary's order


def test_the_negatives_control_is_paired_with_single_tb_and_with_multitask64():
    assert with_partners(["single-tb-negatives"]) == ["single-tb-negatives", "single-tb", "multitask64"]
    assert with_partners(["multitask64+augment", "multitask64"]) == ["multitask64+augment", "multitask64"]
    per_run = {}
    for seed, (single, control, multi) in enumerate([(0.70, 0.74, 0.78), (0.80, 0.81, 0.80), (0.60, 0.66, 0.70)]):
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(single)}}
        per_run[("single-tb-negatives", seed)] = {"tasks": {"tb": fake_metrics(control)}}
        per_run[("multitask64", seed)] = {"tasks": {"tb": fake_metrics(multi), "pneumonia": fake_metrics(0.9)}}
    variants = [ALL_VARIANTS[n] for n in ("single-tb", "multitask64", "single-tb-negatives")]
    rows, paired = rows_of(variants)
    row = "single-tb, Kermany as TB negatives"
    assert rows[row] == {"tb": "single-tb-negatives"} and paired[row] == "single-task"
    cells = summarise(per_run, [0, 1, 2], variants=variants)[row]
    assert list(cells) == ["tb"]  # no pneumonia head, no pneumonia row
    assert cells["tb"]["recall"]["vs_baseline"]["per_seed"] == pytest.approx([0.04, 0.01, 0.06])  # - single-tb
    assert cells["tb"]["also_vs"]["row"] == "multi-task 64"
    assert cells["tb"]["also_vs"]["recall"]["per_seed"] == pytest.approx([-0.04, 0.01, -0.04])  # - multitask64


def test_the_negatives_control_takes_every_option_as_a_tb_only_row_paired_with_the_control():
    variant = ALL_VARIANTS["single-tb-negatives+all"]
    assert (variant.arch, variant.baseline) == ("single-tb-negatives", "single-tb-negatives")
    assert with_partners(["single-tb-negatives+all"]) == [
        "single-tb-negatives+all",
        "single-tb-negatives",
        "single-tb",
        "multitask64",
    ]
    rows, paired = rows_of([ALL_VARIANTS[n] for n in with_partners(["single-tb-negatives+all"])])
    row = "single-tb, Kermany as TB negatives + all"
    assert rows[row] == {"tb": "single-tb-negatives+all"}  # scored on TB only, like its baseline
    assert paired[row] == "single-tb, Kermany as TB negatives"


def test_the_table_names_the_images_the_collapse_verdicts_were_decided_on():
    """The study protocol has no validation split: its runs decide collapse on their training images."""
    per_run = {("single-tb", seed): {"tasks": {"tb": fake_metrics(0.8)}} for seed in (0, 1, 2)}
    summary = summarise(per_run, [0, 1, 2])
    assert "decided on its validation images before the test" in render_table(summary, SETTINGS)
    study = {**SETTINGS, "protocol": "study", "val_fraction": 0.0, "split": "random", "model_choice": "last epoch"}
    table = render_table(summary, study)
    assert "decided on its training images before the test" in table and "validation images" not in table
