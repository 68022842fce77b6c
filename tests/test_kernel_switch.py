"""MINIMTL_KERNELS=reference: a whole training step runs on the NumPy twins, with the same numbers
(the deep trunk's max pooling included).

The switch is read when the layers are imported, so each kernel set runs in its own Python process.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from minimtl.kernels import KERNELS_ENV, chosen, dense_numba, dense_reference

STEPS_SCRIPT = """
import sys
import numpy as np
from minimtl.nn.layers import conv2d, dense, maxpool2d
from minimtl.nn import optim
from minimtl.fast import fused_step
from minimtl.data import augment
from minimtl.nn.optim import Adam
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.steps import make_step
from minimtl.training.tasks import head_targets

print(conv2d.conv2d_kernels.__name__, dense.dense_kernels.__name__, optim.adam_kernels.__name__,
      fused_step.fused_kernels.__name__, augment.augment_kernels.__name__, maxpool2d.maxpool2d_kernels.__name__)
saved = {}
for kind, trunk, size in (("readable", "study", 12), ("fused", "study", 12), ("readable", "deep", 24)):
    rng = np.random.default_rng(0)
    model = build_model("multitask64", size, np.random.default_rng(1), trunk=trunk)
    step = make_step(kind, model, Adam(model.params))
    for n in (8, 3):
        x = rng.random((n, 1, size, size)).astype(np.float32)
        targets = head_targets(ARCHITECTURES["multitask64"], rng.choice(["tb", "pneumonia"], n), rng.integers(0, 2, n))
        step.backward_and_update(total_loss(step.forward(x), targets)[2])
    saved.update({f"{kind}-{trunk}/{name}": w for name, w in model.params.items()})
np.savez(sys.argv[1], **saved)
"""


def run_steps(tmp_path, kernel_set):
    out = tmp_path / f"{kernel_set}.npz"
    env = {**os.environ, KERNELS_ENV: kernel_set}
    result = subprocess.run(
        [sys.executable, "-c", STEPS_SCRIPT, str(out)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split(), np.load(out)


def test_reference_kernels_train_like_the_numba_kernels(tmp_path):
    names, reference = run_steps(tmp_path, "reference")
    assert names == [
        "minimtl.kernels.conv2d_reference",
        "minimtl.kernels.dense_reference",
        "minimtl.kernels.adam_reference",
        "minimtl.fast.fused_step_reference",
        "minimtl.data.augment_reference",
        "minimtl.kernels.maxpool2d_reference",
    ]
    names, fast = run_steps(tmp_path, "numba")
    assert names == [
        "minimtl.kernels.conv2d_numba",
        "minimtl.kernels.dense_numba",
        "minimtl.kernels.adam_numba",
        "minimtl.fast.fused_step_numba",
        "minimtl.data.augment_numba",
        "minimtl.kernels.maxpool2d_numba",
    ]
    assert set(reference.files) == set(fast.files)
    for name in reference.files:  # float32, two Adam steps: the same weights to rounding
        np.testing.assert_allclose(reference[name], fast[name], rtol=0, atol=1e-5, err_msg=name)


def test_an_unknown_kernel_set_is_named(monkeypatch):
    monkeypatch.setenv(KERNELS_ENV, "cuda")
    with pytest.raises(ValueError, match="MINIMTL_KERNELS='cuda' is not a kernel set: use 'numba'"):
        chosen(dense_numba, dense_reference)
    monkeypatch.setenv(KERNELS_ENV, "")
    assert chosen(dense_numba, dense_reference) is dense_numba
    monkeypatch.setenv(KERNELS_ENV, "reference")
    assert chosen(dense_numba, dense_reference) is dense_reference
