"""Losses fused with their output nonlinearity, with optional masks; and the nonlinearities alone.

``softmax`` and ``sigmoid`` turn logits into probabilities (what a task's score is:
:func:`minimtl.training.tasks.task_predictions`); they are defined here once.

Each function returns ``(loss, dlogits)``: the mean loss over the unmasked
samples as a Python float (computed in float64), and its gradient with respect
to the logits, in the logits' dtype.

Masks: ``mask`` is a boolean (or 0/1) array of shape (N,); masked-out samples
contribute nothing and their labels are never read (a multi-task batch can mark
missing labels with -1). The mean divides by the number of valid samples
n_valid = mask.sum(), not by N. An all-zero mask gives loss 0.0 and a zero
gradient, never NaN.
"""

import numpy as np

__all__ = ["softmax", "sigmoid", "softmax_cross_entropy", "sigmoid_cross_entropy"]


def softmax(logits):
    """Row-wise softmax, stable: (n, K) -> (n, K)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z):
    """Logistic function without overflow for large |z|: float64 of z's shape."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _valid_mask(mask, n, name):
    """Mask as a boolean (N,) array (all True when mask is None)."""
    if mask is None:
        return np.ones(n, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != (n,):
        raise ValueError(f"{name}: mask must have shape ({n},), got {mask.shape}")
    if mask.dtype != bool:
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"{name}: mask must be boolean or 0/1, got values {np.unique(mask)[:5]}")
        mask = mask.astype(bool)
    return mask


def softmax_cross_entropy(logits, labels, mask=None):
    """Softmax + cross-entropy over K classes; gradient (p - onehot) * mask / n_valid.

    Inputs:
    - logits: float array (N, K).
    - labels: int array (N,), values in [0, K) where the mask is set.
    - mask: optional bool or 0/1 array (N,).

    Returns:
    - loss: float, mean of -log p[n, labels[n]] over valid samples (0.0 if none).
    - dlogits: array (N, K) in logits' dtype.
    """
    logits = np.asarray(logits)
    if logits.ndim != 2:
        raise ValueError(f"softmax_cross_entropy: logits must be (N, K), got shape {logits.shape}")
    N, K = logits.shape
    labels = np.asarray(labels)
    if labels.shape != (N,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"softmax_cross_entropy: labels must be integers of shape ({N},), got {labels.dtype} {labels.shape}"
        )
    valid = _valid_mask(mask, N, "softmax_cross_entropy")
    if np.any(valid & ((labels < 0) | (labels >= K))):
        raise ValueError(
            f"softmax_cross_entropy: labels of unmasked samples must be in [0, {K}), got {np.unique(labels[valid])}"
        )
    n_valid = int(valid.sum())
    if n_valid == 0:
        return 0.0, np.zeros_like(logits)

    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)  # stable: exp never overflows
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    safe_labels = np.where(valid, labels, 0)  # masked labels may be anything (e.g. -1)
    rows = np.arange(N)
    loss = -log_p[rows, safe_labels][valid].sum() / n_valid

    dlogits = np.exp(log_p)  # the softmax, from the log-probabilities the loss needs anyway
    dlogits[rows, safe_labels] -= 1.0
    dlogits *= valid[:, None] / n_valid
    return float(loss), dlogits.astype(logits.dtype, copy=False)


def sigmoid_cross_entropy(logits, targets, mask=None):
    """Sigmoid + binary cross-entropy; gradient (sigmoid(z) - y) * mask / n_valid.

    Stable for any |z|: loss per sample is max(z, 0) - z*y + log(1 + exp(-|z|)).

    Inputs:
    - logits: float array (N,) or (N, 1).
    - targets: array (N,) (or logits' shape) of 0/1 where the mask is set.
    - mask: optional bool or 0/1 array (N,).

    Returns:
    - loss: float, mean binary cross-entropy over valid samples (0.0 if none).
    - dlogits: array of logits' shape and dtype.
    """
    logits = np.asarray(logits)
    if not (logits.ndim == 1 or (logits.ndim == 2 and logits.shape[1] == 1)):
        raise ValueError(f"sigmoid_cross_entropy: logits must be (N,) or (N, 1), got shape {logits.shape}")
    N = logits.shape[0]
    targets = np.asarray(targets)
    if targets.size != N or targets.shape not in ((N,), (N, 1)):
        raise ValueError(f"sigmoid_cross_entropy: targets must have shape ({N},), got {targets.shape}")
    y = targets.reshape(N).astype(np.float64)
    valid = _valid_mask(mask, N, "sigmoid_cross_entropy")
    if np.any(valid & (y != 0) & (y != 1)):
        raise ValueError(
            f"sigmoid_cross_entropy: targets of unmasked samples must be 0 or 1, got {np.unique(y[valid])}"
        )
    n_valid = int(valid.sum())
    if n_valid == 0:
        return 0.0, np.zeros_like(logits)

    z = logits.reshape(N).astype(np.float64)
    y = np.where(valid, y, 0.0)
    per_sample = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    loss = per_sample[valid].sum() / n_valid

    dlogits = (sigmoid(z) - y) * valid / n_valid
    return float(loss), dlogits.reshape(logits.shape).astype(logits.dtype, copy=False)
