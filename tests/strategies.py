"""Hypothesis strategies shared by the engine tests.

Shapes are drawn small (batch 1-3, channels 1-3, kernels 1-3 on each side,
images a few pixels larger than the kernel, height and width drawn separately so
non-square images and kernels occur) because gradient checks visit every entry.

Array values come from a numpy Generator seeded by a drawn integer: the data
are then well scaled (standard normal), every failure is reproducible from the
shrunk seed, and finite differences are not fed values such as 1e-300 whose
gradients drown in rounding. Values that must avoid a kink are pushed away
from it explicitly (see ``away_from_zero``).
"""

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "seeds",
    "conv_shapes",
    "dense_shapes",
    "pool_shapes",
    "masks",
    "float_dtypes",
    "away_from_zero",
    "distinct_values",
]

seeds = st.integers(min_value=0, max_value=2**32 - 1)
float_dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def conv_shapes(draw, max_batch=3, max_channels=3, max_kernel=3, max_extra=3):
    """(N, C, F, H, W, kh, kw) with kh <= H, kw <= W; H != W and kh != kw both occur."""
    N = draw(st.integers(1, max_batch))
    C = draw(st.integers(1, max_channels))
    F = draw(st.integers(1, max_channels))
    kh = draw(st.integers(1, max_kernel))
    kw = draw(st.integers(1, max_kernel))
    H = kh + draw(st.integers(0, max_extra))
    W = kw + draw(st.integers(0, max_extra))
    return N, C, F, H, W, kh, kw


@st.composite
def dense_shapes(draw, max_batch=3, max_features=5):
    """(N, in_features, out_features)."""
    return (draw(st.integers(1, max_batch)), draw(st.integers(1, max_features)), draw(st.integers(1, max_features)))


@st.composite
def pool_shapes(draw, max_batch=3, max_channels=3, max_pool=3, max_windows=3):
    """(N, C, H, W, pool) with H, W >= pool; H and W need not be multiples of pool (floor mode)."""
    pool = draw(st.integers(1, max_pool))
    H = pool * draw(st.integers(1, max_windows)) + draw(st.integers(0, pool - 1))
    W = pool * draw(st.integers(1, max_windows)) + draw(st.integers(0, pool - 1))
    return draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), H, W, pool


def masks(n):
    """Boolean masks of length n; the all-zero mask is always among the candidates."""
    return st.one_of(
        st.just(np.zeros(n, dtype=bool)),
        st.lists(st.booleans(), min_size=n, max_size=n).map(lambda bits: np.array(bits, dtype=bool)),
    )


def away_from_zero(values, margin=0.1):
    """Shift every entry of ``values`` so that |value| >= margin, keeping its sign (a new array)."""
    return np.where(values >= 0, values + margin, values - margin)


def distinct_values(rng, shape, gap=0.1):
    """An array of ``shape`` whose entries all differ by at least ``gap`` (a shuffled ramp, centred on 0):
    no two tie for a max, and a finite difference of step h << gap never changes a max's winner."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) - size / 2) * gap).reshape(shape)
