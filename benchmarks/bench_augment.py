"""How much --augment adds to a training epoch: one batch's augmentation against one training step.

Both are timed here, the median of repeats after a warm-up, at the study's batch of 8 and at each
image size asked for; the ratio is what augmentation adds to an epoch (steps dominate an epoch; the
images are augmented once per step). The target: under 10% at 64 px.

    python benchmarks/bench_augment.py --sizes 64,256
"""

import argparse
import os

import numba
import numpy as np
from timing import median_ms  # benchmarks/timing.py, beside this script

from minimtl.data.augment import augment_batch
from minimtl.nn.optim import Adam
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.steps import make_step
from minimtl.training.tasks import head_targets

BATCH = 8


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64", help="image sizes, comma separated (default 64)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measurement (default 20)")
    options = parser.parse_args()
    print(f"numba threads {numba.get_num_threads()}; load average {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    for size in (int(s) for s in options.sizes.split(",")):
        images = rng.integers(0, 256, (BATCH, size, size), dtype=np.uint8)
        augment_ms = median_ms(lambda: augment_batch(images, np.random.default_rng(1)), options.repeats)
        for arch in ("single-tb", "multitask64"):
            model = build_model(arch, size, rng)
            step = make_step("fused", model, Adam(model.params))
            x = (images[:, None] / 255.0).astype(np.float32)
            datasets = ARCHITECTURES[arch].datasets
            targets = head_targets(ARCHITECTURES[arch], np.array([datasets[i % len(datasets)] for i in range(BATCH)]),
                                   rng.integers(0, 2, BATCH))  # fmt: skip

            def train_step():
                step.backward_and_update(total_loss(step.forward(x), targets)[2])

            step_ms = median_ms(train_step, options.repeats, warmup=2)
            print(f"{size:4d} px {arch:12s} step {step_ms:8.2f} ms   augmentation {augment_ms:7.2f} ms per batch   "
                  f"adds {100 * augment_ms / step_ms:5.1f}% to an epoch")  # fmt: skip
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
