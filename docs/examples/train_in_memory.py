"""Train a two-headed network in memory: no run folder, no file written.

    python docs/examples/train_in_memory.py

Synthetic phantoms stand in for the chest X-rays; the layer-by-layer step (ReadableStep) is the
tutorial's; the loop is minimtl/training/loop.py. The loss printed after each epoch falls.
"""

import numpy as np

from minimtl.data import make_phantoms
from minimtl.nn.optim import Adam
from minimtl.training.loop import epoch_batches, train_epoch
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.steps import ReadableStep

images = make_phantoms(n_per_class=16, image_size=32, seed=0)  # 64 images: TB and pneumonia, each 0/1
rng = np.random.default_rng(0)
model = build_model("multitask64", image_size=32, rng=rng)
step = ReadableStep(model, Adam(model.params, lr=1e-3))
spec = ARCHITECTURES["multitask64"]  # which heads score which dataset's images
every_image = np.arange(len(images))

for epoch in range(1, 6):
    losses = train_epoch(step, spec, epoch_batches(images, every_image, batch_size=8, shuffle_rng=rng))
    heads = ", ".join(f"{head} {loss:.3f}" for head, loss in losses.head_means().items())
    print(f"epoch {epoch}: loss {losses.mean():.4f} ({heads})")
