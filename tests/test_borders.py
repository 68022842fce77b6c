"""Cutting uniform borders before resizing (--crop-borders): images with known borders."""

import numpy as np

from minimtl.data.decode import remove_uniform_borders, resize_square


def framed(inner, top, bottom, left, right, value=0):
    """inner (h, w) inside a frame of ``value`` that is top/bottom rows and left/right columns wide."""
    h, w = inner.shape
    out = np.full((h + top + bottom, w + left + right), value, np.uint8)
    out[top : top + h, left : left + w] = inner
    return out


def textured(h, w, seed=0):
    """An interior whose every row and column spans far more than 8 gray levels."""
    return np.random.default_rng(seed).integers(60, 200, (h, w), dtype=np.uint8)


def test_a_known_black_frame_is_cut_exactly():
    inner = textured(40, 50)
    np.testing.assert_array_equal(remove_uniform_borders(framed(inner, 5, 2, 3, 7)), inner)


def test_a_white_frame_and_a_slightly_noisy_one_are_cut_too():
    inner = textured(30, 30, seed=1)
    np.testing.assert_array_equal(remove_uniform_borders(framed(inner, 4, 4, 4, 4, value=255)), inner)
    noisy = framed(inner, 6, 0, 0, 0)
    noisy[:6] += np.random.default_rng(2).integers(0, 8, (6, noisy.shape[1]), dtype=np.uint8)  # spans <= 8 levels
    np.testing.assert_array_equal(remove_uniform_borders(noisy), inner)


def test_no_frame_and_flat_images_are_left_alone():
    inner = textured(20, 24, seed=3)
    np.testing.assert_array_equal(remove_uniform_borders(inner), inner)
    flat = np.full((20, 20), 90, np.uint8)
    assert remove_uniform_borders(flat).shape == (10, 10)  # at most a quarter from each side


def test_a_frame_wider_than_a_quarter_is_cut_to_a_quarter():
    image = framed(textured(10, 40, seed=4), 20, 10, 0, 0)  # 40 rows: a quarter is 10
    assert remove_uniform_borders(image).shape == (20, 40)


def test_borders_crop_then_resizes_the_inside():
    inner = textured(32, 32, seed=5)
    image = framed(inner, 8, 8, 8, 8)
    np.testing.assert_array_equal(resize_square(image, 16, "borders+stretch"), resize_square(inner, 16, "stretch"))
    np.testing.assert_array_equal(resize_square(image, 16, "borders+center"), resize_square(inner, 16, "center"))
