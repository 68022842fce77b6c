"""The gradient-conflict bookkeeping by hand: one epoch's mean cosine and share in conflict, and which
steps the probe measures (one per block, the same after a resume)."""

import pytest

from minimtl.training.conflict import ConflictMeter, probe_due


def test_the_meter_averages_the_measured_cosines_and_counts_the_negative_ones():
    meter = ConflictMeter()
    for cosine in (0.5, -0.2, None, -0.6, 0.9):  # None: a step with no angle (a task had no labels)
        meter.add(cosine)
    row = meter.end_epoch()
    assert row["conflict_cosine"] == pytest.approx((0.5 - 0.2 - 0.6 + 0.9) / 4)
    assert (row["conflict_negative"], row["conflict_steps"]) == (0.5, 4)
    # the next epoch starts from nothing, and an epoch without a measured step has no mean
    assert meter.end_epoch() == {"conflict_cosine": None, "conflict_negative": None, "conflict_steps": 0}


def test_the_meter_resumes_from_its_state():
    meter = ConflictMeter()
    meter.add(-0.5)
    resumed = ConflictMeter()
    resumed.load_state_dict(meter.state_dict())
    resumed.add(0.3)
    meter.add(0.3)
    assert resumed.end_epoch() == meter.end_epoch()


@pytest.mark.parametrize("every", [1, 4, 16])
def test_the_probe_measures_one_step_in_each_block_at_a_seeded_place(every):
    measured = [step for step in range(20 * every) if probe_due(7, step, every)]
    assert [step // every for step in measured] == list(range(20))  # exactly one per block
    if every > 1:
        assert len({step % every for step in measured}) > 1  # not always the same offset
        assert measured != [step for step in range(20 * every) if probe_due(8, step, every)]  # the seed places them
    assert not any(probe_due(7, step, 0) for step in range(50))  # every = 0: never
