"""Finite-difference gradient checks: the evidence that every backward pass is right.

API
---
``rel_error(a, b, floor=1e-8) -> float``
    max over entries of |a - b| / max(floor, |a| + |b|). The floor keeps entries
    where both gradients are (nearly) zero from dividing by zero.

``numerical_gradient(f, array, h=1e-5, dout=None) -> ndarray``
    Centred differences (f(a + h e_k) - f(a - h e_k)) / 2h for every entry k of
    ``array``. ``f`` takes no arguments and returns a scalar that depends on
    ``array`` (with ``dout``: an array, contracted with ``dout`` after the
    difference). The entries are perturbed **in place**, one at a time, and each is
    restored in a ``finally`` block, so ``array`` holds bit-identical values
    afterwards, even if ``f`` raises. ``array`` must be float64.

``check_gradients(loss_and_backward, params, grads, h=1e-5) -> dict``
    The generic check, for a single layer or a whole model (for example a
    two-headed network). ``loss_and_backward()`` must run the forward pass, the
    loss and the backward pass, leave the analytic gradients in ``grads`` (a
    dict with the keys of ``params``) and return the scalar loss. Returns
    {name: max relative error} for every parameter array, every entry checked.

``check_layer_gradients(layer, x, rng, h=1e-5) -> dict``
    The check for one layer: the loss is sum(layer.forward(x) * dout) with a
    **random** upstream gradient ``dout`` (an all-ones dout can hide transposed or
    symmetric mistakes); the differences are taken on the outputs before the sum
    (``numerical_gradient(..., dout=dout)``), so a tiny gradient entry is not lost
    in the rounding of the whole loss. Also checks the input gradient under the
    key "x" (skipped when backward returns None). ``x`` is copied, never modified.

All checks run in float64, by default with h = 1e-5: the truncation error is
O(h^2) ~ 1e-10 relative and the rounding error about 1e-16 * |loss| / h ~ 1e-11 *
|loss|, so on the small, well-scaled shapes of the tests the relative errors are
about 1e-11 to 1e-7. Where the loss is linear along every step (a layer without a
ReLU, or inputs kept farther than h from every kink) there is no truncation error
at all, and the Conv2D tests take h = 1e-4 for ten times less rounding. The tests
use ``TOLERANCE = 1e-6``; a wrong formula (a transposed kernel, a missing term)
gives errors near 1. Inputs must stay farther than h from a ReLU kink (the tests
make sure they do).
"""

import numpy as np

__all__ = ["TOLERANCE", "rel_error", "numerical_gradient", "check_gradients", "check_layer_gradients"]

TOLERANCE = 1e-6  # max relative error accepted in float64 with h = 1e-5 or 1e-4 (see module docstring)


def rel_error(a, b, floor=1e-8):
    """Max relative error between two arrays of the same shape.

    Inputs: a, b: arrays (or scalars) of the same shape; floor: smallest denominator.
    Returns: float, max |a - b| / max(floor, |a| + |b|) (0.0 for empty arrays).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs arrays of the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(floor, np.abs(a) + np.abs(b))))


def numerical_gradient(f, array, h=1e-5, dout=None):
    """Centred-difference gradient of the scalar f() with respect to every entry of ``array``.

    With ``dout``, f returns an array and the scalar is sum(f() * dout); the difference is then
    taken before the sum, sum((f(a + h e_k) - f(a - h e_k)) * dout) / 2h (as CS231n's
    ``eval_numerical_gradient_array``), so the outputs that do not depend on entry k cancel
    exactly instead of leaving the rounding error of two large sums.

    Inputs:
    - f: callable with no arguments returning a scalar (or, with dout, an array); it must read
      ``array``. Its result is copied at once (a layer may reuse its output buffer).
    - array: float64 ndarray, perturbed in place one entry at a time and restored
      in a ``finally`` block (bit-identical afterwards).
    - h: step size.

    Returns: grad, float64 array of array's shape.
    """
    if not isinstance(array, np.ndarray) or array.dtype != np.float64:
        raise TypeError(
            "numerical_gradient needs a float64 ndarray (finite differences in float32 are "
            f"too coarse); got {type(array).__name__} of dtype {getattr(array, 'dtype', None)}"
        )
    grad = np.zeros(array.shape, dtype=np.float64)
    for index in np.ndindex(array.shape):
        original = array[index]
        try:
            array[index] = original + h
            f_plus = np.array(f(), dtype=np.float64)
            array[index] = original - h
            f_minus = np.array(f(), dtype=np.float64)
        finally:
            array[index] = original
        difference = f_plus - f_minus
        grad[index] = (difference if dout is None else np.sum(difference * dout)) / (2 * h)
    return grad


def check_gradients(loss_and_backward, params, grads, h=1e-5):
    """Compare analytic gradients with centred differences for every entry of every parameter.

    Inputs:
    - loss_and_backward: callable with no arguments; runs forward, loss and backward,
      leaves the analytic gradients in ``grads`` and returns the scalar loss.
    - params: dict name -> float64 array (perturbed in place and restored, see
      ``numerical_gradient``).
    - grads: dict name -> array of the same shape, filled by loss_and_backward.
    - h: step size.

    Returns: dict name -> max relative error (float).
    """
    loss_and_backward()
    analytic = {name: np.array(grads[name], dtype=np.float64) for name in params}
    return {name: rel_error(analytic[name], numerical_gradient(loss_and_backward, params[name], h)) for name in params}


def check_layer_gradients(layer, x, rng, h=1e-5):
    """Gradient check of one layer with the loss sum(layer.forward(x) * dout), dout random.

    Inputs:
    - layer: object with params, grads, forward, backward (float64 parameters).
    - x: float64 input array (copied; the caller's array is never modified).
    - rng: numpy Generator for the random upstream gradient dout ~ N(0, 1).
    - h: step size.

    Returns: dict name -> max relative error, one entry per parameter plus "x" for
    the input gradient (absent when backward returns None).
    """
    x = np.array(x, dtype=np.float64)  # our own copy: perturbed below
    dout = rng.standard_normal(np.shape(layer.forward(x)))
    input_grad = {}

    def loss_and_backward():
        out = layer.forward(x)
        loss = float(np.sum(out * dout))
        dx = layer.backward(dout)
        if dx is not None:
            input_grad["x"] = dx
        return loss

    loss_and_backward()
    analytic = {name: np.array(layer.grads[name], dtype=np.float64) for name in layer.params}

    def forward():
        return layer.forward(x)

    errors = {
        name: rel_error(analytic[name], numerical_gradient(forward, layer.params[name], h, dout=dout))
        for name in layer.params
    }
    if "x" in input_grad:
        dx = np.array(input_grad["x"], dtype=np.float64)
        errors["x"] = rel_error(dx, numerical_gradient(forward, x, h, dout=dout))
    return errors
