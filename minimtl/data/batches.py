"""From stored images to network input, one batch at a time."""

import numpy as np

from minimtl.data.normalize import NORMALIZATIONS, equalize, standardize

__all__ = ["to_input"]


def to_input(images, normalize="none"):
    """uint8 images (n, S, S) -> float32 network input (n, 1, S, S).

    normalize (see :mod:`minimtl.data.normalize`): "none" divides by 255 in float64 and rounds to
    float32, exactly as the study's ``x / 255.0`` followed by ``astype("float32")``; "image" then
    standardises each image; "equalize" equalises each image's histogram first. Only one batch is
    ever converted at a time (the whole set in float32 would be 1.7 GB at 256 px).
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}; got {normalize!r}")
    if normalize == "equalize":
        images = equalize(images)
    x = images[:, None, :, :] / 255.0
    if normalize == "image":
        x = standardize(x)
    return x.astype(np.float32)
