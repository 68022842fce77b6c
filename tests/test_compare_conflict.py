"""compare's gradient-conflict report: each run's conflict pooled over the epochs of its TB model, the
TB transfer against the single-task model of the same trunk, and their correlation over seeds."""

import json

import pytest
from click.testing import CliRunner

from minimtl.commands import main
from minimtl.study.compare.conflict_report import conflict_summary, render_conflict, run_conflict, single_task_partner
from minimtl.study.compare.variants import ALL_VARIANTS


def history_row(epoch, cosine, negative, steps):
    return {"epoch": float(epoch), "conflict_cosine": cosine, "conflict_negative": negative, "conflict_steps": steps}


def test_run_conflict_weights_epochs_by_their_measured_steps_and_stops_at_the_models_epoch():
    history = [history_row(1, 0.5, 0.25, 4), history_row(2, None, None, 0), history_row(3, -0.1, 1.0, 2)]
    every = run_conflict(history, None)
    assert every["cosine"] == pytest.approx((4 * 0.5 + 2 * -0.1) / 6)
    assert every["negative"] == pytest.approx((4 * 0.25 + 2 * 1.0) / 6)
    assert (every["steps"], every["epochs_used"], len(every["per_epoch"])) == (6, 2, 2)
    first = run_conflict(history, 2)  # the TB model came from epoch 2: epoch 3 did not shape it
    assert (first["cosine"], first["negative"], first["steps"]) == (0.5, 0.25, 4)
    assert len(first["per_epoch"]) == 2  # the plot still shows every measured epoch


def test_runs_that_never_measured_conflict_have_none():
    assert run_conflict([{"epoch": 1.0, "train_loss": 0.3}], 1) is None
    assert run_conflict([history_row(1, None, None, 0)], 1) is None


def test_the_deep_trunk_is_measured_against_the_single_task_model_on_the_deep_trunk():
    assert single_task_partner("multitask64+deep") == "single-tb+deep"
    assert single_task_partner("multitask64+pcgrad") == "single-tb"


def entry(auc, collapsed=False, cosine=None):
    epochs = [{"epoch": 1, "cosine": cosine, "negative": 0.0, "steps": 10}]
    conflict = (
        None if cosine is None else {"cosine": cosine, "negative": 0.5 - cosine, "steps": 10, "per_epoch": epochs}
    )
    return {"tasks": {"tb": {"roc_auc": {"value": auc}}}, "collapsed": {"tb": collapsed}, "conflict": conflict}


def test_transfer_leaves_out_collapsed_partners_and_ranks_cosine_against_transfer():
    per_run = {}
    single = [(0.80, False), (0.80, False), (0.50, True), (0.80, False)]
    multi = [(0.70, -0.2), (0.75, 0.1), (0.80, 0.3), (0.78, 0.2)]
    for seed, ((s_auc, s_collapsed), (m_auc, cosine)) in enumerate(zip(single, multi)):
        per_run[("single-tb", seed)] = entry(s_auc, s_collapsed)
        per_run[("multitask64", seed)] = entry(m_auc, cosine=cosine)
    variants = [ALL_VARIANTS["single-tb"], ALL_VARIANTS["multitask64"]]
    summary = conflict_summary(per_run, [0, 1, 2, 3], variants)
    assert list(summary["rows"]) == ["multi-task 64"]  # single-tb measured nothing
    row = summary["rows"]["multi-task 64"]
    assert (row["runs"], row["left_out"]) == (4, 1)  # seed 2's single-task head collapsed: no transfer
    assert [s["transfer"] for s in row["per_seed"]] == pytest.approx([-0.10, -0.05, None, -0.02])
    assert row["transfer"]["mean"] == pytest.approx(-0.17 / 3)
    assert row["cosine"]["mean"] == pytest.approx(0.1)  # every seed's cosine, the collapsed partner's too
    assert row["spearman"]["rho"] == pytest.approx(1.0) and row["spearman"]["n"] == 3
    assert summary["pooled"]["n"] == 3
    table = render_conflict(summary, {"protocol": "honest", "image_size": 64, "seeds": [0, 1, 2, 3],
                                      "model_choice": "each task's best validation epoch"})  # fmt: skip
    assert "| multi-task 64 | +0.100 [" in table and "| 4 (1) |" in table and "+1.00 (p <0.001, n 3)" in table


def test_compare_writes_the_conflict_report_for_multitask_runs_only(tmp_path):
    out = tmp_path / "out"
    args = ["compare", "--seeds", "2", "--epochs", "2", "--image-size", "16", "--phantoms", "--out", str(out),
            "--variants", "single-tb,multitask64"]  # fmt: skip
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads((out / "conflict.json").read_text())
    row = document["rows"]["multi-task 64"]
    assert row["runs"] == 2 and -1.0 <= row["cosine"]["mean"] <= 1.0
    assert row["per_seed"][0]["transfer"] is None or -1.0 <= row["per_seed"][0]["transfer"] <= 1.0
    assert "| multi-task 64 |" in (out / "conflict.md").read_text() and (out / "conflict.png").stat().st_size > 0

    alone = tmp_path / "alone"
    args = ["compare", "--seeds", "1", "--epochs", "1", "--image-size", "16", "--phantoms", "--out", str(alone),
            "--variants", "single-tb"]  # fmt: skip
    assert CliRunner().invoke(main, args, catch_exceptions=False).exit_code == 0
    assert not (alone / "conflict.md").exists()
