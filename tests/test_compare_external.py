"""``compare --external``, and the comparison's use of the collapse verdict recorded before the test."""

import json

import pytest
from click.testing import CliRunner

from minimtl.commands import main
from minimtl.study.compare.report import _site_tables, plot_metric_dots
from minimtl.study.compare.runs import same_options
from minimtl.study.compare.summarise import summarise
from minimtl.study.compare.variants import ALL_VARIANTS
from minimtl.study.run.external import entry_name
from minimtl.training.config import RunConfig
from tests.data_fixtures import build_external, build_generic
from tests.test_compare import fake_metrics

NOT_COLLAPSED = ((5, 1), (2, 6))
ALL_NEGATIVE = ((65, 0), (67, 0))  # a test confusion matrix with no predicted positive


def site_entry(separation, border):
    site = {
        "tasks": {
            "tb": {"separation": separation, "auc": separation, "mean_probability": {"tb": 0.3, "pneumonia": 0.1}}
        }
    }
    return site, {"tasks": {"tb": {"shifted": {"border": {"auc_change": border}}}}}  # fmt: skip


def test_the_verdict_recorded_before_the_test_decides_what_counts_as_collapsed():
    per_run = {}
    for seed in range(3):
        # seed 0's single-tb head collapsed on its validation images, though its test predictions vary;
        # seed 1's gave every test image one class but trained (its validation verdict says so)
        verdict = {0: True, 1: False, 2: False}[seed]
        confusion = ALL_NEGATIVE if seed == 1 else NOT_COLLAPSED
        site, shift = site_entry(0.5 if seed == 0 else 0.9, 0.0 if seed == 0 else -0.1)
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(0.7, confusion)}, "collapsed": {"tb": verdict},
                                        "site": site, "shift": shift}  # fmt: skip
        site, shift = site_entry(0.8, -0.05)
        per_run[("multitask64", seed)] = {
            "tasks": {"tb": fake_metrics(0.8), "pneumonia": fake_metrics(0.9)},
            "collapsed": {"tb": False, "pneumonia": False}, "site": site, "shift": shift,
        }  # fmt: skip
    variants = [ALL_VARIANTS["single-tb"], ALL_VARIANTS["multitask64"]]
    single = summarise(per_run, [0, 1, 2], variants=variants)["single-task"]["tb"]
    assert single["constant_predictions"] == 1 and single["collapse_decided"] == "before the test"
    assert summarise(per_run, [0, 1, 2], exclude_collapsed=True, variants=variants)["single-task"]["tb"][
        "seeds_used"
    ] == [1, 2]
    # the site and shift summaries keep the trained heads apart from the collapsed one
    assert single["site"]["separation"]["mean"] == pytest.approx(0.9) and single["site"]["separation"]["n"] == 2
    assert single["site_collapsed"]["separation"]["mean"] == pytest.approx(0.5)
    assert single["shift"]["border"]["mean"] == pytest.approx(-0.1)
    assert single["shift_collapsed"]["border"]["mean"] == pytest.approx(0.0)
    # the paired site separation counts only seeds where both heads trained (1 and 2)
    paired = summarise(per_run, [0, 1, 2], variants=variants)["multi-task 64"]["tb"]["site"]["vs_baseline"]
    assert paired["per_seed"] == pytest.approx([-0.1, -0.1])
    # the site table prints the heads that trained and the collapsed one on lines of their own
    lines = _site_tables(summarise(per_run, [0, 1, 2], variants=variants), "tb")
    assert any(line.startswith("| single-task: trained heads (2) | 0.900 [") for line in lines)
    assert any(line.startswith("| single-task: collapsed heads (1) | 0.500 |") for line in lines)
    assert any(line.startswith("| multi-task 64 | 0.800 [") for line in lines)
    # runs that recorded no verdict are judged on their test predictions, and the summary says so
    for seed in range(3):
        del per_run[("single-tb", seed)]["collapsed"]
    old = summarise(per_run, [0, 1, 2], variants=variants)["single-task"]["tb"]
    assert old["constant_predictions"] == 1 and old["collapse_decided"] == "on test predictions"
    assert "site_collapsed" in old and old["site_collapsed"]["separation"]["mean"] == pytest.approx(0.9)


def test_without_validation_the_selection_rule_does_not_matter_for_reuse():
    made = RunConfig(val_fraction=0.0, selection="summed")  # as a run made before the field reads
    assert same_options(made, RunConfig(val_fraction=0.0, selection="per-task"))
    assert not same_options(RunConfig(val_fraction=0.1, selection="summed"), RunConfig(val_fraction=0.1))
    assert not same_options(RunConfig(val_fraction=0.0, lr=0.01), RunConfig(val_fraction=0.0))


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare-external")
    external = build_external(root / "india", {"da": (5, 4, "jpg"), "db": (4, 3, "png")})
    args = ["compare", "--seeds", "2", "--epochs", "1", "--image-size", "12", "--phantoms",
            "--out", str(root / "out"), "--variants", "single-tb-negatives", "--external", str(external)]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root, args


def test_every_run_with_a_tb_head_is_scored_on_each_external_site(compared):
    root, _ = compared
    out = root / "out"
    document = json.loads((out / "summary.json").read_text())
    assert document["settings"]["variants"] == ["single-tb-negatives", "single-tb", "multitask64"]
    assert document["settings"]["external"] == {"india": {"sites": ["da", "db"]}}
    assert document["settings"]["selection"] == "per-task"
    assert document["settings"]["run_epochs"]["multitask64-seed0"]["model"].keys() == {"tb", "pneumonia"}
    control = document["summary"]["single-tb, Kermany as TB negatives"]["tb"]
    assert set(control["external"]["india"]) == {"da", "db", "pooled"}
    da = control["external"]["india"]["da"]
    kept_file = out / "runs" / "single-tb-negatives-seed1" / "external" / f"{entry_name(root / 'india')}.json"
    kept = json.loads(kept_file.read_text())
    assert da["roc_auc"]["per_seed"][1] == kept["tasks"]["tb"]["sites"]["da"]["roc_auc"]["value"]
    paired = da["vs_baseline"]  # against single-tb, DeLong per seed on the same 9 images
    assert len(paired["per_seed"]) == 2 and len(paired["delong"]) == 2
    assert control["also_vs"]["row"] == "multi-task 64" and "india" in control["also_vs"]["external"]
    assert document["verdicts"]["seeds"] == 2 and document["verdicts"]["smallest_wilcoxon_p"] == 0.5
    assert any(e["on"] == "india/db" for e in document["verdicts"]["comparisons"])
    table = (out / "table.md").read_text()
    assert "| model | india/da ROC-AUC | india/db ROC-AUC | india/pooled ROC-AUC |" in table
    # the external sites again in the section without collapsed runs
    without = table.split("## Tuberculosis: without collapsed runs")[1].split("## Pneumonia")[0]
    assert "| model | india/da ROC-AUC |" in without
    assert "| single-tb, Kermany as TB negatives | multi-task 64 | india/da |" in without
    assert "| single-tb, Kermany as TB negatives | multi-task 64 | india/da |" in table
    assert "## Verdicts" in table and "smallest two-sided Wilcoxon p possible is 0.5" in table
    assert "| multitask64 | 2 | tb " in table and "; pneumonia " in table  # each task's own epoch
    # metrics.png sets each site's TB ROC-AUC beside the test ROC-AUC
    titles = plot_metric_dots(document["summary"], root / "metrics-again.png")
    assert titles[:4] == ["tb: precision", "tb: recall", "tb: roc_auc (test)", "tb: roc_auc on india/da"]
    assert "tb: roc_auc on india/db" in titles and "pneumonia: roc_auc (test)" in titles


def test_a_second_compare_reuses_the_kept_external_scores(compared):
    root, args = compared
    kept = root / "out" / "runs" / "multitask64-seed0" / "external" / f"{entry_name(root / 'india')}.json"
    before = kept.stat().st_mtime_ns
    summary = json.loads((root / "out" / "summary.json").read_text())
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0 and "6 finished runs reused" in result.output
    assert kept.stat().st_mtime_ns == before  # not scored again
    again = json.loads((root / "out" / "summary.json").read_text())
    assert again["summary"] == summary["summary"] and again["verdicts"] == summary["verdicts"]


def test_an_external_folder_that_is_not_a_tb_set_stops_compare_before_any_training(tmp_path):
    other = build_generic(tmp_path / "other" / "mine", {"healthy": 2, "sick": 2}).parent
    result = CliRunner().invoke(main, ["compare", "--out", str(tmp_path / "out"), "--external", str(other)])
    assert result.exit_code != 0 and "--external" in result.output and "<root>/<site>/{normal,tb}/" in result.output
    assert not (tmp_path / "out").exists()
    twice = build_external(tmp_path / "a" / "india", {"da": (2, 2, "png")})
    same_name = build_external(tmp_path / "b" / "india", {"da": (2, 2, "png")})
    result = CliRunner().invoke(main, ["compare", "--out", str(tmp_path / "out"), "--external", str(twice),
                                       "--external", str(same_name)])  # fmt: skip
    assert result.exit_code != 0 and "share a name" in result.output
