"""Shared pytest setup: the hypothesis profiles used by every property test.

deadline=None because the first example of a test may JIT-compile a Numba kernel
(seconds). The default profile keeps example counts modest so the engine suite
runs in a few minutes on 2 cores; run more with HYPOTHESIS_PROFILE=thorough.
"""

import os

from hypothesis import settings

settings.register_profile("minimtl", deadline=None, max_examples=25)
settings.register_profile("thorough", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "minimtl"))
