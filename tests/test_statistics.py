"""The statistics added for the comparison's verdicts: Holm, TOST, and Wilcoxon's floor (hand-worked)."""

import math

import pytest
from scipy import stats

from minimtl.study.compare.statistics import (
    EQUIVALENCE_MARGIN,
    equivalence_test,
    holm,
    paired_differences,
    smallest_wilcoxon_p,
)


def test_holm_by_hand():
    # sorted: 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to the running max 0.06)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_holm_caps_at_one_and_keeps_none():
    adjusted = holm([0.5, None, 0.2])  # m = 2: 0.2 x 2 = 0.4, 0.5 x 1 = 0.5
    assert adjusted[1] is None
    assert adjusted[0] == pytest.approx(0.5) and adjusted[2] == pytest.approx(0.4)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 0.6 x 2 = 1.2, capped
    assert holm([]) == []


def test_holm_never_lowers_a_p_value_and_one_test_is_unchanged():
    assert holm([0.013]) == [0.013]
    values = [0.001, 0.2, 0.04, 0.049, 0.5]
    assert all(a >= p for a, p in zip(holm(values), values))


def test_equivalence_by_hand():
    # differences 0.01, -0.01, 0, 0.01, -0.01: mean 0, sd 0.01 (sum of squares 4e-4 over 4),
    # se = 0.01 / sqrt(5) = 0.004472; both one-sided t = 0.02 / 0.004472 = 4.472 on 4 df
    result = equivalence_test([0.01, -0.01, 0.0, 0.01, -0.01, None])
    assert result["n"] == 5 and result["margin"] == EQUIVALENCE_MARGIN == 0.02
    assert result["p"] == pytest.approx(stats.t.sf(4.47214, 4), rel=1e-4)
    assert result["p"] == pytest.approx(0.00553, abs=5e-5)  # t table: P(T_4 > 4.472)
    assert result["equivalent"]


def test_a_mean_difference_near_the_margin_is_not_equivalent():
    # mean 0.015, sd 0.01 over 5 seeds: t against +0.02 is (0.015 - 0.02) / 0.004472 = -1.118,
    # P(T_4 < -1.118) = 0.163: not shown to lie within the margin
    result = equivalence_test([0.025, 0.005, 0.015, 0.025, 0.005])
    assert result["p"] == pytest.approx(stats.t.cdf(-1.11803, 4), rel=1e-4)
    assert result["p"] > 0.15 and not result["equivalent"]


def test_equivalence_is_the_90_percent_interval_inside_the_margin():
    diffs = [0.012, -0.004, 0.007, 0.001, 0.015, -0.002]
    n, mean = len(diffs), sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = stats.t.ppf(0.95, n - 1) * sd / math.sqrt(n)
    inside = -0.02 < mean - half and mean + half < 0.02
    assert equivalence_test(diffs)["equivalent"] == inside
    assert equivalence_test(diffs, margin=0.005)["equivalent"] is False  # the interval reaches past 0.005


def test_equivalence_needs_two_seeds_and_handles_a_zero_spread():
    assert equivalence_test([0.01])["p"] is None and not equivalence_test([0.01])["equivalent"]
    assert equivalence_test([0.01, 0.01])["equivalent"]  # no spread, inside the margin
    assert not equivalence_test([0.03, 0.03])["equivalent"]  # no spread, outside it


def test_smallest_wilcoxon_p_is_what_scipy_gives_when_every_seed_agrees():
    assert smallest_wilcoxon_p(5) == 0.0625  # 2 / 2**5
    assert smallest_wilcoxon_p(10) == pytest.approx(0.001953125)
    for n in (2, 3, 5, 6, 10):
        assert stats.wilcoxon([0.01 * (k + 1) for k in range(n)]).pvalue == pytest.approx(smallest_wilcoxon_p(n))
    assert smallest_wilcoxon_p(1) == 1.0


def test_tied_differences_never_go_below_wilcoxon_floor():
    """Rates are ratios of counts, so seeds often differ by exactly the same amount. With ties, scipy before
    1.15 took the normal approximation even for 5 seeds (5 equal differences: p = 0.025), below the exact
    floor 2 / 2**5 that the verdicts promise; scipy >= 1.15 (pyproject's floor) tests small tied samples
    exactly, by permutation."""
    for differences in ([0.1] * 5, [0.1, 0.1, 0.2, 0.2, 0.3], [0.05, 0.05, 0.05, 0.1, 0.1, 0.1]):
        model = [0.5 + d for d in differences]
        p = paired_differences(model, [0.5] * len(differences))["wilcoxon_p"]
        assert p >= smallest_wilcoxon_p(len(differences)) - 1e-12, (differences, p)
    assert paired_differences([0.6] * 5, [0.5] * 5)["wilcoxon_p"] == pytest.approx(0.0625)
