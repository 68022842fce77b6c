"""Saliency maps: which pixels a head's score depends on, computed with the layers' own backward passes.

A *score* is one logit of one head, ``logits[head][:, unit]`` (for the study: the disease class's
logit; see ``minimtl.study.run.saved_run.score_unit``). Three maps, each (n, H, W) for images
x (n, C, H, W):

``gradient_map`` (Simonyan et al. 2014)
    |d score / d x|, the maximum over channels (our images have one). The same ``model.backward``
    that trains the network, started from a one-hot gradient on the score instead of a loss
    gradient. Training never needs the input gradient (nothing below the first layer learns), so
    the first layer computes it only inside :func:`input_gradient_enabled`.

``smoothgrad_map`` (Smilkov et al. 2017)
    The mean of ``gradient_map`` over K copies of each image with Gaussian noise
    N(0, sigma^2) added, sigma = ``noise`` x (max - min of that image). Raw gradients of a ReLU
    network jump from pixel to pixel; averaging over nearby inputs keeps what is consistent.

``gradcam_map`` (Selvaraju et al. 2017)
    On the maps A (n, F, Ho, Wo) that the trunk's last Conv2D outputs (after its fused ReLU):
    alpha[n, f] = mean over (y, x) of d score / d A[n, f, y, x], map = ReLU(sum_f alpha[n, f] A[n, f]).
    A 'valid' 3x3 convolution's output (y, x) is the window *centred* on input pixel (y + 1, x + 1),
    so the (S - 2) x (S - 2) map is put back on the S x S image by that alignment, and the one-pixel
    ring that no window is centred on copies its nearest neighbour (``np.pad(mode="edge")``):
    no resampling, no shift.

All three run the model forward and backward, so they overwrite the layers' forward caches and
``grads`` (as a training step does); they never change the weights nor their argument ``x``.
"""

from contextlib import contextmanager

import numpy as np

from minimtl.nn.layers import Conv2D

__all__ = ["input_gradient_enabled", "score_gradient", "gradient_map", "smoothgrad_map", "gradcam_map"]


@contextmanager
def input_gradient_enabled(model):
    """While active, the first layer of ``model.trunk`` returns its input gradient from ``backward``.

    Input: model, a :class:`minimtl.nn.graph.MultiHead` whose first trunk layer has an
    ``input_grad`` flag (a Conv2D). The flag is put back as it was on leaving, even after an error:
    training must keep skipping that gradient.
    """
    first = model.trunk.layers[0][1]
    previous = first.input_grad
    first.input_grad = True
    try:
        yield
    finally:
        first.input_grad = previous


def _score_selector(logits, head, unit):
    """dlogits for d(sum over the batch of logits[head][:, unit]): one-hot on that column, zeros
    for every other column and every other head (MultiHead.backward needs one per head).

    Summing over the batch is what makes one backward pass give every image its own gradient: the
    images do not interact in the network, so d(sum_m score_m) / d x_n = d score_n / d x_n.
    """
    if head not in logits:
        raise ValueError(f"the model has no head {head!r}; its heads are {', '.join(logits)}")
    if not 0 <= unit < logits[head].shape[1]:
        raise ValueError(f"head {head!r} has {logits[head].shape[1]} logits; unit {unit} does not exist")
    dlogits = {name: np.zeros_like(z) for name, z in logits.items()}
    dlogits[head][:, unit] = 1.0
    return dlogits


def score_gradient(model, x, head, unit):
    """The score of every image and its gradient with respect to that image.

    Inputs:
    - model: a MultiHead; x: (n, C, H, W) in the model's dtype (not modified);
    - head: head name; unit: which logit of that head is the score.

    Returns (score (n,), dscore_dx (n, C, H, W)), both new arrays in the model's dtype.
    """
    with input_gradient_enabled(model):
        logits = model.forward(x)
        dlogits = _score_selector(logits, head, unit)
        score = np.array(logits[head][:, unit], copy=True)
        dx = model.backward(dlogits)
    return score, dx


def gradient_map(model, x, head, unit):
    """|d score / d x|, the largest over channels: (n, C, H, W) -> (n, H, W). Inputs as
    :func:`score_gradient`."""
    return np.abs(score_gradient(model, x, head, unit)[1]).max(axis=1)


def smoothgrad_map(model, x, head, unit, rng, samples=16, noise=0.15):
    """The mean of :func:`gradient_map` over ``samples`` noisy copies of each image.

    Inputs (others as :func:`score_gradient`):
    - rng: numpy Generator. Image k of the call gets its own child stream (``rng.spawn``), so the
      same generator gives the same maps whether the images come in one call or in several
      batches one after the other.
    - samples: K >= 1 noisy copies; noise: sigma as a fraction of each image's max - min
      (Smilkov et al. found 10-20% best).

    Returns (n, H, W) in the model's dtype.
    """
    if samples < 1 or noise < 0:
        raise ValueError(f"smoothgrad needs samples >= 1 and noise >= 0, got samples={samples}, noise={noise}")
    x = np.asarray(x)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))  # (n,)
    draws = np.stack([child.standard_normal((samples, *x.shape[1:])) for child in rng.spawn(len(x))], axis=1)
    total = np.zeros((x.shape[0], x.shape[2], x.shape[3]), dtype=np.float64)
    for k in range(samples):
        noisy = (x + sigma[:, None, None, None] * draws[k]).astype(x.dtype)
        total += gradient_map(model, noisy, head, unit)
    return (total / samples).astype(x.dtype)


def _last_conv(model):
    """Index of the last Conv2D in the model's trunk (Grad-CAM's layer); ValueError if none."""
    positions = [i for i, (_, layer) in enumerate(model.trunk.layers) if isinstance(layer, Conv2D)]
    if not positions:
        raise ValueError("Grad-CAM needs a Conv2D in the model's trunk; this one has none")
    return positions[-1]


def gradcam_map(model, x, head, unit):
    """Grad-CAM on the trunk's last Conv2D, back on the input grid: (n, C, H, W) -> (n, H, W).

    Inputs as :func:`score_gradient`. The maps' gradient is the chosen head's backward pass
    followed by the trunk's layers after the convolution (Flatten) in reverse; the other heads
    would add zeros (their logits are not the score), so they are not run backward.
    """
    target = _last_conv(model)
    layers = model.trunk.layers
    features = x
    for i, (_, layer) in enumerate(layers):
        features = layer.forward(features)
        if i == target:
            maps = np.array(features, copy=True)  # the layer reuses its output buffer
    logits = {name: part.forward(features) for name, part in model.heads.items()}
    dmaps = model.heads[head].backward(_score_selector(logits, head, unit)[head])
    for _, layer in reversed(layers[target + 1 :]):
        dmaps = layer.backward(dmaps)
    alpha = dmaps.mean(axis=(2, 3))  # (n, F): how much the score grows with each map, on average
    cam = np.maximum(np.einsum("nf,nfyx->nyx", alpha, maps), 0)  # only what speaks FOR the score
    kh, kw = layers[target][1].params["W"].shape[2:]
    rows, cols = ((kh - 1) // 2, kh - 1 - (kh - 1) // 2), ((kw - 1) // 2, kw - 1 - (kw - 1) // 2)
    return np.pad(cam, ((0, 0), rows, cols), mode="edge")
