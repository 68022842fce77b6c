"""The lung box and the share of saliency outside it (minimtl.study.explain.maps), by hand."""

import numpy as np

from minimtl.study.explain.maps import LUNG_BOX, box_mask, outside_share, task_streams


def test_the_box_is_the_stated_rows_and_columns():
    inside = box_mask(20)  # rows round(3.0)..round(17.0) = 3..16, columns round(4.0)..round(16.0) = 4..15
    expected = np.zeros((20, 20), bool)
    expected[3:17, 4:16] = True
    np.testing.assert_array_equal(inside, expected)
    area = (LUNG_BOX["bottom"] - LUNG_BOX["top"]) * (LUNG_BOX["right"] - LUNG_BOX["left"])
    assert abs(box_mask(200).mean() - area) < 1e-12  # at 200 px the shares fall on whole pixels


def test_outside_share_of_known_maps():
    inside = box_mask(20)
    corner = np.zeros((20, 20))
    corner[0, 0] = 5.0
    centre = np.zeros((20, 20))
    centre[10, 10] = 2.0
    even = np.ones((20, 20))
    shares = outside_share(np.stack([corner, centre, even, np.zeros((20, 20))]), inside)
    np.testing.assert_allclose(shares[:3], [1.0, 0.0, 1 - inside.mean()], rtol=0, atol=1e-15)
    assert np.isnan(shares[3])  # no mass, no share


def test_each_task_has_its_own_reproducible_streams():
    draw = [rng.integers(0, 2**31, size=3).tolist() for rng in task_streams(0, "tb")]
    assert draw == [rng.integers(0, 2**31, size=3).tolist() for rng in task_streams(0, "tb")]
    assert draw != [rng.integers(0, 2**31, size=3).tolist() for rng in task_streams(0, "pneumonia")]
    assert draw != [rng.integers(0, 2**31, size=3).tolist() for rng in task_streams(1, "tb")]
