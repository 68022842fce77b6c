"""Cache prefetch hints: they compile, never fault, and change no result."""

import numpy as np
import pytest
from numba import config, njit
from numba.core.errors import TypingError

from minimtl.fast.prefetch import prefetch, prefetch_for_write


@njit
def _sum_with_hints(a, ahead):
    total = 0.0
    for i in range(a.shape[0]):
        prefetch(a, i + ahead)  # may point past the end: a hint never faults
        prefetch_for_write(a, i + ahead)
        total += a[i]
    return total


def test_hints_change_nothing_even_past_the_end():
    a = np.arange(1000, dtype=np.float32)
    before = a.copy()
    assert _sum_with_hints(a, 64) == float(before.sum())
    assert _sum_with_hints(a, 1 << 20) == float(before.sum())
    np.testing.assert_array_equal(a, before)


@pytest.mark.skipif(config.DISABLE_JIT, reason="plain Python: the hints are no-ops and check nothing")
def test_hints_take_a_one_dimensional_array_and_an_integer():
    @njit
    def on_a_matrix(m):
        prefetch(m, 0)

    with pytest.raises(TypingError):
        on_a_matrix(np.zeros((2, 2), np.float32))
