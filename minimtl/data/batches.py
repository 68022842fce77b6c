"""From stored images to network input, one batch at a time."""

import numpy as np

__all__ = ["to_input"]


def to_input(images):
    """uint8 images (n, S, S) -> float32 network input (n, 1, S, S) in [0, 1].

    Divided in float64 and then rounded to float32, exactly as the study's ``x / 255.0`` followed
    by ``astype("float32")``. Only one batch is ever converted at a time (the whole set in float32
    would be 1.7 GB at 256 px).
    """
    return (images[:, None, :, :] / 255.0).astype(np.float32)
