"""``compare --saliency``: each TB model's saliency outside the lung box, kept per run, averaged over seeds."""

import json

import pytest
from click.testing import CliRunner

from minimtl.commands import main
from minimtl.study.compare import runs
from minimtl.study.compare.saliency_report import render_saliency, saliency_summary
from minimtl.study.compare.variants import ALL_VARIANTS
from minimtl.study.explain.maps import CLASS_SAMPLES, METHODS


def saliency_entry(share):
    return {"outside_box": {m: {g: share for g in CLASS_SAMPLES} for m in METHODS}, "score_range": 0.5}


def test_collapsed_heads_are_counted_but_left_out_of_the_mean():
    per_run = {}
    for seed, (share, collapsed) in enumerate([(0.6, False), (0.8, False), (0.99, True)]):
        per_run[("single-tb", seed)] = {"collapsed": {"tb": collapsed}, "saliency": saliency_entry(share)}
        per_run[("multitask64", seed)] = {"collapsed": {"tb": False, "pneumonia": False},
                                          "saliency": saliency_entry(0.5 + seed / 10)}  # fmt: skip
    variants = [ALL_VARIANTS["single-tb"], ALL_VARIANTS["multitask64"]]
    summary = saliency_summary(per_run, [0, 1, 2], variants)
    single = summary["single-task"]
    assert (single["runs"], single["collapsed"]) == (3, 1)
    assert single["outside_box"]["gradient"]["disease"]["mean"] == pytest.approx(0.7)
    assert single["outside_box"]["gradcam"]["other_normal"]["n"] == 2
    assert summary["multi-task 64"]["outside_box"]["smoothgrad"]["normal"]["mean"] == pytest.approx(0.6)
    table = render_saliency(summary, {"protocol": "honest", "seeds": [0, 1, 2], "model_choice": "x"}, 64)
    assert "| single-task | gradient | 70 [" in table and "| 3 (1) |" in table
    assert "puts 59% outside" in table  # an even spread at 64 px: 1 - (0.70 * 64 rounded rows) x (0.60 * 64) / 64^2


def test_rows_without_saliency_are_left_out():
    per_run = {("single-tb", 0): {"collapsed": {"tb": False}}}
    assert saliency_summary(per_run, [0], [ALL_VARIANTS["single-tb"]]) == {}


def test_compare_writes_the_table_and_keeps_each_runs_shares(tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = ["compare", "--seeds", "2", "--epochs", "1", "--image-size", "16", "--phantoms", "--out", str(out),
            "--variants", "single-tb,multitask64", "--saliency"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    table = (out / "saliency.md").read_text()
    assert "| single-task | smoothgrad |" in table and "| multi-task 64 | gradcam |" in table
    kept = json.loads((out / "runs" / "multitask64-seed1" / "saliency.json").read_text())
    assert set(kept["tasks"]) == {"tb"} and set(kept["tasks"]["tb"]["outside_box"]) == set(METHODS)
    rows = json.loads((out / "saliency.json").read_text())["rows"]
    assert rows["single-task"]["runs"] == 2

    # a second compare reuses every run's kept shares: nothing is computed again
    def refuse(*args, **kwargs):
        raise AssertionError("saliency computed again")

    monkeypatch.setattr(runs, "saliency_outside_box", refuse)
    before = (out / "saliency.md").read_text()
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (out / "saliency.md").read_text() == before
