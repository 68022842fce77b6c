"""Numba kernel of the augmentation's resampling and tone changes (debug tip: NUMBA_DISABLE_JIT=1 runs
it as Python). Same signature and bits as the NumPy twin
:func:`minimtl.data.augment_reference.warp_and_tone`: read that first.

At 64 px the twin spends about 2 ms per batch of 8 in NumPy's per-call overhead and temporaries,
a quarter of a training step; this kernel does the same arithmetic in one pass per image.
"""

import numpy as np
from numba import njit, prange

__all__ = ["warp_and_tone"]


def _warp_and_tone(images, row_positions, column_positions, contrasts, tables, out):
    """See the twin for the formula.

    Parallel contract: ``prange`` over images k; iteration k reads image k and writes out[k] and its
    own scratch only. The arithmetic is the twin's operation by operation (no fastmath: no fused
    multiply-adds), and the mean is a sum of whole numbers below 2**53, exact in any order, so the
    results are the twin's bits.
    """
    n, side = images.shape[0], images.shape[1]
    for k in prange(n):
        rows = np.zeros((side, side))
        for p in range(side):  # along the rows: interpolate between two whole rows
            position = row_positions[k, p]
            below = int(np.floor(position))
            above_weight = position - below
            for neighbour, weight in ((below, 1.0 - above_weight), (below + 1, above_weight)):
                if 0 <= neighbour < side:
                    for q in range(side):
                        rows[p, q] += images[k, neighbour, q] * weight
        x = np.zeros((side, side))
        for q in range(side):  # along the columns
            position = column_positions[k, q]
            below = int(np.floor(position))
            above_weight = position - below
            for neighbour, weight in ((below, 1.0 - above_weight), (below + 1, above_weight)):
                if 0 <= neighbour < side:
                    for p in range(side):
                        x[p, q] += rows[p, neighbour] * weight
        total = 0.0
        for p in range(side):
            for q in range(side):
                x[p, q] = min(max(np.rint(x[p, q]), 0.0), 255.0)
                total += x[p, q]
        mean = total / (side * side)
        for p in range(side):
            for q in range(side):
                level = min(max(np.rint(mean + contrasts[k] * (x[p, q] - mean)), 0.0), 255.0)
                out[k, p, q] = tables[k, int(level)]


warp_and_tone = njit(parallel=True, cache=True)(_warp_and_tone)
