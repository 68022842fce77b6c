"""How pixel values become network input: the study's /255, or a per-image normalisation that takes
away some of what differs between hospitals (exposure, contrast).

- ``none``: x / 255 (the study);
- ``image``: x / 255, then each image shifted and scaled to mean 0 and standard deviation 1;
- ``equalize``: histogram equalisation of the 8-bit image (as Pillow's ``ImageOps.equalize``
  computes it), then / 255.

Applied one batch at a time (:func:`minimtl.data.batches.to_input`), so nothing is cached.
"""

import numpy as np

__all__ = ["NORMALIZATIONS", "equalize", "standardize"]

NORMALIZATIONS = ("none", "image", "equalize")


def equalize(images):
    """Histogram equalisation of each 8-bit image, as Pillow's ``ImageOps.equalize`` does it.

    For one image with histogram h (256 bins): let ``step = (number of pixels - h[last used
    level]) // 255``. If step is 0 (one level, or nearly so) the image is left as it is. Otherwise
    level i is mapped to ``(step // 2 + sum(h[:i])) // step``: each output level gets about the same
    number of pixels, and the brightest used level lands at 255.

    Input: images, uint8 (n, S, S) (or one image (S, S)). Returns a new uint8 array of that shape.
    """
    images = np.asarray(images, dtype=np.uint8)
    flat = images.reshape(-1, images.shape[-2] * images.shape[-1])
    out = np.empty_like(flat)
    for k, pixels in enumerate(flat):
        histogram = np.bincount(pixels, minlength=256)
        used = np.flatnonzero(histogram)
        step = (pixels.size - histogram[used[-1]]) // 255
        if step == 0:
            out[k] = pixels
            continue
        below = np.concatenate([[0], np.cumsum(histogram)[:-1]])  # pixels darker than each level
        lut = np.minimum((step // 2 + below) // step, 255).astype(np.uint8)
        out[k] = lut[pixels]
    return out.reshape(images.shape)


def standardize(x, floor=1e-6):
    """Each image of x (n, ...) shifted to mean 0 and scaled to standard deviation 1 (float64 in,
    float64 out; a flat image, whose standard deviation is below ``floor``, is only shifted)."""
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    sd = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.maximum(sd, floor)
