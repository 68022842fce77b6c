"""NumPy twin of the augmentation kernel: the readable oracle for the tests (and what
``MINIMTL_KERNELS=reference`` runs).

Same signature as :func:`minimtl.data.augment_numba.warp_and_tone`.
"""

import numpy as np

from minimtl.data.transforms import resample_bilinear

__all__ = ["warp_and_tone"]


def warp_and_tone(images, row_positions, column_positions, contrasts, tables, out):
    """Each image resampled bilinearly at its positions, then its contrast and gamma changed.

        x = clip(rint(resample(image, row_positions[k], column_positions[k])), 0, 255)
        y = clip(rint(mean(x) + contrasts[k] (x - mean(x))), 0, 255)
        out[k] = tables[k][y]                                   (the gamma lookup)

    Inputs: images uint8 (n, S, S); row_positions, column_positions float64 (n, S) (what
    :func:`minimtl.data.transforms.zoom_positions` gives); contrasts float64 (n,); tables uint8 (n, 256).
    Output (overwritten): out uint8 (n, S, S).
    """
    n, side = images.shape[0], images.shape[1]
    x = np.clip(np.rint(resample_bilinear(images.astype(np.float64), row_positions, column_positions)), 0, 255)
    mean = x.mean(axis=(1, 2), keepdims=True)
    y = np.clip(np.rint(mean + contrasts[:, None, None] * (x - mean)), 0, 255).astype(np.int64)
    out[...] = np.take_along_axis(tables, y.reshape(n, -1), axis=1).reshape(n, side, side)
