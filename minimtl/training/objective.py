"""The training objective: the sum of every head's masked loss.

The study compiled its two-headed Keras model with ``loss=[scce, scce]`` and no weights, so
the total loss is ``loss_tb + loss_pneumonia`` and each head's gradient is that head's own loss
gradient (d total / d loss_head = 1). A head's loss is the mean over the images its mask keeps.
"""

from minimtl.nn.losses import sigmoid_cross_entropy, softmax_cross_entropy

__all__ = ["total_loss"]


def total_loss(logits, targets):
    """Sum of the heads' losses and the gradient for each head's logits.

    Inputs:
    - logits: dict head -> (n, K) logits; K == 1 means a sigmoid head, K >= 2 a softmax head
    - targets: dict head -> (labels int (n,), mask (n,) of 0/1), as from ``tasks.head_targets``

    Returns (total float, per-head dict of floats, dlogits dict head -> (n, K)).
    """
    total, per_head, dlogits = 0.0, {}, {}
    for head, (labels, mask) in targets.items():
        z = logits[head]
        if z.shape[1] == 1:
            loss, dz = sigmoid_cross_entropy(z[:, 0], labels, mask)
            dz = dz.reshape(z.shape)
        else:
            loss, dz = softmax_cross_entropy(z, labels, mask)
        per_head[head] = float(loss)
        dlogits[head] = dz
        total += float(loss)
    return total, per_head, dlogits
