"""The comparison's verdicts: primary comparisons as they are, Holm for the rest, "unchanged" only by TOST."""

import numpy as np
import pytest
from scipy import stats

from minimtl.study.compare.statistics import holm, paired_differences
from minimtl.study.compare.summarise import summarise
from minimtl.study.compare.variants import ALL_VARIANTS
from minimtl.study.compare.verdicts import PRIMARY, render_verdicts, verdicts
from tests.test_compare import fake_metrics

SEEDS = list(range(6))


def comparison(single, multi, ignore):
    """single-tb, multitask64 and multitask64-ignore over six seeds with these TB ROC-AUCs (= recall =
    precision, as fake_metrics makes them); pneumonia equal everywhere."""
    per_run = {}
    seeds = list(range(len(single)))
    for seed in seeds:
        per_run[("single-tb", seed)] = {"tasks": {"tb": fake_metrics(single[seed])}}
        per_run[("single-pneumonia", seed)] = {"tasks": {"pneumonia": fake_metrics(0.9)}}
        per_run[("multitask64", seed)] = {"tasks": {"tb": fake_metrics(multi[seed]), "pneumonia": fake_metrics(0.9)}}
        per_run[("multitask64-ignore", seed)] = {
            "tasks": {"tb": fake_metrics(ignore[seed]), "pneumonia": fake_metrics(0.9)}
        }
    names = ("single-tb", "single-pneumonia", "multitask64", "multitask64-ignore")
    return summarise(per_run, seeds, variants=[ALL_VARIANTS[n] for n in names])


SINGLE = [0.80, 0.82, 0.78, 0.81, 0.79, 0.80]
MULTI = [0.85, 0.88, 0.84, 0.86, 0.83, 0.87]  # every seed higher, by 0.04 to 0.06
IGNORE = [0.851, 0.879, 0.842, 0.859, 0.831, 0.869]  # within 0.002 of multitask64 on every seed


def by_name(document, row, vs, task, metric, on="test"):
    (entry,) = [
        e for e in document["comparisons"]
        if (e["row"], e["vs"], e["task"], e["metric"], e["on"]) == (row, vs, task, metric, on)
    ]  # fmt: skip
    return entry


def test_the_primary_comparisons_are_tested_as_they_are_and_the_rest_with_holm():
    document = verdicts(comparison(SINGLE, MULTI, IGNORE), SEEDS)
    assert document["smallest_wilcoxon_p"] == pytest.approx(2 / 2**6)  # 0.03125 with six seeds
    primary = by_name(document, "multi-task 64", "single-task", "tb", "roc_auc")
    assert primary["primary"] and primary["holm_p"] is None
    assert primary["wilcoxon_p"] == pytest.approx(2 / 2**6)  # all six seeds higher: Wilcoxon's floor
    assert primary["verdict"] == "higher"  # 0.031 < 0.05, uncorrected
    assert document["comparisons"][0] is primary  # primary ones come first
    # the same difference in recall is one of many: Holm multiplies it (here: by the family's size, it is
    # the smallest p), so it is no longer below 0.05
    rest = [e for e in document["comparisons"] if not e["primary"]]
    recall = by_name(document, "multi-task 64", "single-task", "tb", "recall")
    assert recall["wilcoxon_p"] == pytest.approx(2 / 2**6)
    assert recall["holm_p"] == pytest.approx(holm([e["wilcoxon_p"] for e in rest])[rest.index(recall)])
    assert recall["holm_p"] > 0.05 and recall["verdict"] == "not shown either way"
    assert {(r, v, t, m) for r, v, t, m in PRIMARY} == {
        (e["row"], e["vs"], e["task"], e["metric"]) for e in document["comparisons"] if e["primary"]
    }


def test_unchanged_is_said_only_when_tost_puts_the_difference_inside_the_margin():
    document = verdicts(comparison(SINGLE, MULTI, IGNORE), SEEDS)
    ignore = by_name(document, "multi-task 64, other labels ignored", "multi-task 64", "tb", "roc_auc")
    assert ignore["primary"]
    differences = [i - m for i, m in zip(IGNORE, MULTI)]
    n, mean = len(differences), sum(differences) / len(differences)
    se = stats.tstd(differences) / n**0.5
    p_tost = max(stats.t.sf((mean + 0.02) / se, n - 1), stats.t.cdf((mean - 0.02) / se, n - 1))
    assert ignore["tost"]["p"] == pytest.approx(p_tost)
    assert ignore["tost"]["equivalent"] and ignore["verdict"] == "unchanged (within ±0.02)"
    # a recall difference has no equivalence margin: never "unchanged", whatever its size
    recall = by_name(document, "multi-task 64, other labels ignored", "multi-task 64", "tb", "recall")
    assert recall["tost"] is None and recall["verdict"] == "not shown either way"
    # a wide spread is not shown equivalent even with a mean difference near 0
    noisy = [m + d for m, d in zip(MULTI, [0.05, -0.05, 0.04, -0.04, 0.03, -0.03])]
    wide = by_name(verdicts(comparison(SINGLE, MULTI, noisy), SEEDS), "multi-task 64, other labels ignored",
                   "multi-task 64", "tb", "roc_auc")  # fmt: skip
    assert not wide["tost"]["equivalent"] and wide["verdict"] == "not shown either way"


def test_with_five_seeds_no_wilcoxon_test_can_call_a_difference():
    document = verdicts(comparison(SINGLE[:5], MULTI[:5], IGNORE[:5]), SEEDS[:5])
    primary = by_name(document, "multi-task 64", "single-task", "tb", "roc_auc")
    assert primary["wilcoxon_p"] == pytest.approx(0.0625) and primary["verdict"] == "not shown either way"
    text = "\n".join(render_verdicts(document))
    assert "With 5 seeds the smallest two-sided Wilcoxon p possible is 0.0625" in text
    assert "no Wilcoxon test over 5 seeds can reach p < 0.05" in text
    assert "| multi-task 64 | single-task | tb | ROC-AUC (primary) | test | +0.052 [" in text


def scores(seed, auc):
    """Four external images' P(TB) (one site): two normal, two TB."""
    return {"site": np.array(["da"] * 4), "path": np.array([f"da/{k}.png" for k in range(4)]),
            "label": np.array([0, 0, 1, 1]), "score": np.array([0.1, 0.4 + seed / 100, auc - 0.5, 0.9])}  # fmt: skip


def test_external_sites_join_the_corrected_family(tmp_path):
    per_run = {}
    for seed in SEEDS:
        for name, auc in (("single-tb", SINGLE[seed]), ("multitask64", MULTI[seed])):
            tasks = {"tb": fake_metrics(auc), "pneumonia": fake_metrics(0.9)} if name == "multitask64" else {}
            per_run[(name, seed)] = {
                "tasks": tasks or {"tb": fake_metrics(auc)},
                "external": {"india": {"tasks": {"tb": {"sites": {"da": fake_metrics(auc - 0.1)},
                                                        "pooled": fake_metrics(auc - 0.1)}},
                                       "scores": {"tb": scores(seed, auc)}, "adult_site": None}},
            }  # fmt: skip
    summary = summarise(per_run, SEEDS, variants=[ALL_VARIANTS["single-tb"], ALL_VARIANTS["multitask64"]])
    document = verdicts(summary, SEEDS)
    da = by_name(document, "multi-task 64", "single-task", "tb", "roc_auc", on="india/da")
    assert not da["primary"] and da["holm_p"] is not None
    expected = paired_differences([m - 0.1 for m in MULTI], [s - 0.1 for s in SINGLE])
    assert da["mean"] == pytest.approx(expected["mean"])


def test_with_six_seeds_the_text_says_only_the_primary_comparisons_can_be_shown():
    """Six seeds put Wilcoxon's floor (0.031) below 0.05, but Holm multiplies the smallest p of the other
    comparisons by their number: the text must not promise that any difference can be shown."""
    document = verdicts(comparison(SINGLE, MULTI, IGNORE), SEEDS)
    tested = sum(not e["primary"] and e["wilcoxon_p"] is not None for e in document["comparisons"])
    assert tested * document["smallest_wilcoxon_p"] >= 0.05
    assert all(e["holm_p"] is None or e["holm_p"] >= 0.05 for e in document["comparisons"] if not e["primary"])
    text = "\n".join(render_verdicts(document))
    assert "so a primary comparison can be shown when every seed agrees" in text
    assert f"Holm's p of the other {tested} with a Wilcoxon p is at least {tested} x 0.03125" in text
    assert "so a difference can be shown when every seed agrees" not in text
