"""Input normalisations: the study's /255 unchanged, per-image standardisation, histogram equalisation
equal to Pillow's."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from minimtl.data import to_input
from minimtl.data.normalize import equalize


def test_none_is_the_study_scaling_to_the_bit():
    images = np.random.default_rng(0).integers(0, 256, (3, 5, 5), dtype=np.uint8)
    np.testing.assert_array_equal(to_input(images), (images[:, None] / 255.0).astype(np.float32))


def test_image_standardises_each_image():
    images = np.random.default_rng(1).integers(0, 256, (4, 6, 7), dtype=np.uint8)
    x = to_input(images, "image").astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(x.std(axis=(1, 2, 3)), 1, atol=1e-5)
    flat = np.full((1, 4, 4), 7, np.uint8)
    assert np.all(to_input(flat, "image") == 0)  # a flat image is only shifted, not divided by 0


@given(st.integers(0, 2**32 - 1), st.integers(1, 255), st.integers(0, 255))
def test_equalize_matches_pillow(seed, spread, low):
    rng = np.random.default_rng(seed)
    image = np.clip(low + rng.integers(0, spread + 1, (9, 11)), 0, 255).astype(np.uint8)
    ours = equalize(image[None])[0]
    pillow = np.asarray(ImageOps.equalize(Image.fromarray(image, mode="L")))
    np.testing.assert_array_equal(ours, pillow)


def test_equalize_by_hand():
    """Levels 0, 1, 2 with 1, 1, 2 pixels: step = (4 - 2) // 255 = 0, so nothing changes; with 255
    pixels at level 10 and 255 at level 20: step = 255 // 255 = 1, level 10 -> (0 + 0) // 1 = 0,
    level 20 -> (0 + 255) // 1 = 255."""
    small = np.array([[[0, 1, 2, 2]]], np.uint8)
    np.testing.assert_array_equal(equalize(small), small)
    two = np.array([[10] * 255 + [20] * 255], np.uint8)[None]
    np.testing.assert_array_equal(np.unique(equalize(two)), [0, 255])


def test_unknown_normalisation_is_named():
    with pytest.raises(ValueError, match="normalize must be one of none, image, equalize"):
        to_input(np.zeros((1, 2, 2), np.uint8), "zscore")
