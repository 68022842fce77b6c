"""Image shifts (minimtl.data.transforms): shape, dtype, determinism, and one known answer each."""

import numpy as np
import pytest

from minimtl.data.transforms import (
    GLYPHS,
    black_border,
    burn_in_text,
    change_contrast,
    change_gamma,
    text_bitmap,
    zoom,
)

SIDE = 64

TRANSFORMS = {
    "border": lambda x: black_border(x, 0.1),
    "pillars": lambda x: black_border(x, 0.1, sides="left-right"),
    "text": lambda x: burn_in_text(x, "PA ERECT", corner="bottom-left"),
    "gamma": lambda x: change_gamma(x, 1.5),
    "contrast": lambda x: change_contrast(x, 0.7),
    "zoom-in": lambda x: zoom(x, 1.05),
    "zoom-out": lambda x: zoom(x, 0.9),
}


@pytest.fixture()
def images():
    return np.random.default_rng(0).integers(0, 256, size=(3, SIDE, SIDE), dtype=np.uint8)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_every_transform_returns_new_uint8_images_of_the_same_shape_deterministically(name, images):
    before = images.copy()
    out = TRANSFORMS[name](images)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert out is not images and not np.shares_memory(out, images)
    np.testing.assert_array_equal(images, before)  # the argument is left alone
    np.testing.assert_array_equal(out, TRANSFORMS[name](images))  # same input, same output
    assert not np.array_equal(out, images)  # it did change something


def test_black_border_blackens_exactly_the_bands(images):
    out = black_border(images, 0.1)  # round(6.4) = 6 pixels
    frame = np.ones((SIDE, SIDE), bool)
    frame[6:-6, 6:-6] = False
    assert np.all(out[:, frame] == 0)
    np.testing.assert_array_equal(out[:, 6:-6, 6:-6], images[:, 6:-6, 6:-6])
    pillars = black_border(images, 0.1, sides="left-right")
    np.testing.assert_array_equal(pillars[:, :, 6:-6], images[:, :, 6:-6])
    assert np.all(pillars[:, :, :6] == 0) and np.all(pillars[:, :, -6:] == 0)


def test_burned_in_text_draws_the_font_bitmap_in_the_corner():
    blank = np.zeros((2, 20, 20), np.uint8)
    out = burn_in_text(blank, "PA", corner="top-left", height=0.25, margin=0.1, value=200)  # scale 1, gap 2
    expected = np.zeros((20, 20), np.uint8)
    glyph_p = np.array([[int(bit) for bit in row] for row in GLYPHS["P"].split()])
    glyph_a = np.array([[int(bit) for bit in row] for row in GLYPHS["A"].split()])
    expected[2:7, 2:5] = 200 * glyph_p
    expected[2:7, 6:9] = 200 * glyph_a  # one blank column between the letters
    np.testing.assert_array_equal(out, np.broadcast_to(expected, out.shape))
    corner = burn_in_text(blank, "PA", corner="bottom-right", height=0.5, margin=0.0)  # scale 2
    assert corner[0, -10:, -14:].astype(bool).sum() == 4 * text_bitmap("PA").sum() and corner[0, :-10].max() == 0


def test_text_that_does_not_fit_or_is_not_in_the_font_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        burn_in_text(np.zeros((1, 16, 16), np.uint8), "PA ERECT")
    with pytest.raises(ValueError, match="at least one character"):
        text_bitmap("PA?")


def test_gamma_is_the_power_law_on_gray_levels():
    levels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    np.testing.assert_array_equal(change_gamma(levels, 1.0), levels)
    brighter = change_gamma(levels, 0.5)
    assert brighter[0, 4, 0] == 128  # level 64: 255 sqrt(64 / 255) = 127.75
    assert brighter.min() == 0 and brighter.max() == 255


def test_contrast_scales_about_the_centre_and_clips():
    x = np.array([[[100, 200], [128, 0]]], np.uint8)
    np.testing.assert_array_equal(change_contrast(x, 2.0, centre=128), [[[72, 255], [128, 0]]])
    flat = change_contrast(x, 0.0)  # every pixel becomes the image's mean, 107
    assert np.all(flat == 107)
    np.testing.assert_array_equal(change_contrast(x, 1.0), x)


def test_zoom_is_exact_on_a_linear_ramp_and_leaves_a_black_frame_when_shrinking():
    ramp = np.broadcast_to((2 * np.arange(SIDE)).astype(np.uint8), (1, SIDE, SIDE))  # 0, 2, ..., 126
    np.testing.assert_array_equal(zoom(ramp, 1.0), ramp)
    centre = (SIDE - 1) / 2
    expected = np.rint(2 * (centre + (np.arange(SIDE) - centre) / 1.25))  # bilinear is exact on a ramp
    np.testing.assert_array_equal(zoom(ramp, 1.25)[0, 10], expected)
    shrunk = zoom(np.full((1, SIDE, SIDE), 200, np.uint8), 0.5)
    assert shrunk[0, 0, 0] == 0 and shrunk[0, SIDE // 2, SIDE // 2] == 200


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="uint8 images"):
        change_gamma(np.zeros((2, 8, 8), np.float32), 2.0)
    with pytest.raises(ValueError, match="gamma > 0"):
        change_gamma(np.zeros((2, 8, 8), np.uint8), 0)
