"""Optimisers: Adam (Keras' form, fused Numba update) and plain SGD.

An optimiser holds references to the model's parameter arrays (``params``: dict
name -> array) and updates those exact arrays in place on ``step(grads)``;
``grads`` has the same keys and shapes. Never rebind a parameter
(``p = p - lr * g``): the layer would keep training its old array.

Checkpoints: ``state_dict()`` returns a flat dict of arrays that ``np.savez``
can write directly ("t", plus "m/<name>" and "v/<name>" for Adam), and
``load_state_dict(state)`` accepts that dict or the ``np.load`` of such a file.
"""

import numpy as np

from minimtl.kernels import adam_numba, adam_reference, chosen

adam_kernels = chosen(adam_numba, adam_reference)  # the NumPy twin under MINIMTL_KERNELS=reference

__all__ = ["Adam", "SGD"]

_SGD_CHUNK = 1 << 20  # SGD updates in slices of this many elements: bounded temporaries


def _check_params(params):
    """Return params as a new dict holding the same arrays, after checking they can be updated in place."""
    if not params:
        raise ValueError("optimiser got no parameters (an empty params dict)")
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"parameter {name!r} must be a float32 or float64 ndarray, got "
                f"{type(p).__name__} {getattr(p, 'dtype', '')}"
            )
        if not p.flags.c_contiguous or not p.flags.writeable:
            raise ValueError(f"parameter {name!r} must be a writeable C-contiguous array (updated in place)")
    return dict(params)


def _check_grads(params, grads):
    if set(grads) != set(params):
        raise KeyError(f"grads keys {sorted(grads)} differ from params keys {sorted(params)}")
    for name, p in params.items():
        if grads[name].shape != p.shape:
            raise ValueError(f"gradient {name!r} has shape {grads[name].shape}, parameter has {p.shape}")


class Adam:
    """Adam as Keras computes it (epsilon outside the square root, bias correction folded into lr_t).

        t += 1;  lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g**2
        w -= lr_t * m / (sqrt(v) + eps)

    Inputs (constructor): params (dict name -> float array, C-contiguous, kept
    by reference), lr, beta1, beta2, eps (floats). m and v are allocated once,
    zero, with each parameter's shape and dtype. One fused Numba pass per array
    (:mod:`minimtl.kernels.adam_numba`).
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-7):
        if not lr > 0 or not 0 <= beta1 < 1 or not 0 <= beta2 < 1 or not eps > 0:
            raise ValueError(
                f"Adam needs lr > 0, 0 <= beta1, beta2 < 1, eps > 0; got lr={lr}, "
                f"beta1={beta1}, beta2={beta2}, eps={eps}"
            )
        self.params = _check_params(params)
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.v = {name: np.zeros_like(p) for name, p in self.params.items()}

    def begin_step(self):
        """Begin step t + 1: count it and return its bias-corrected step size

            lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)

        Every training step calls this exactly once: ``step`` below, and the fused training step
        (:mod:`minimtl.fast.fused_step`), which then updates the weights with :meth:`update` and
        its own kernel, so the formula lives here only.
        """
        self.t += 1
        return self.lr * np.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)

    def moments(self, name):
        """(m, v) of parameter ``name``: the optimiser's own arrays, which an update changes in place."""
        return self.m[name], self.v[name]

    def update(self, name, grad, lr_t):
        """Adam's update of parameter ``name`` (w, m, v in place) with gradient ``grad`` (read only) at
        step size ``lr_t`` (from :meth:`begin_step`)."""
        w = self.params[name]
        g = np.ascontiguousarray(grad, dtype=w.dtype)
        adam_kernels.adam_update(
            w.reshape(-1),
            g.reshape(-1),
            self.m[name].reshape(-1),
            self.v[name].reshape(-1),
            lr_t,
            self.beta1,
            self.beta2,
            self.eps,
        )

    def step(self, grads):
        """Update every parameter in place. grads: dict name -> array of the parameter's shape (read only)."""
        _check_grads(self.params, grads)
        lr_t = self.begin_step()
        for name in self.params:
            self.update(name, grads[name], lr_t)

    def state_dict(self, copy=True):
        """Flat dict for np.savez: "t" (0-d int64), "m/<name>", "v/<name>".

        copy=False returns views of the live moments (no extra memory; save them
        before the next step).
        """
        state = {"t": np.array(self.t, dtype=np.int64)}
        for name in self.params:
            state[f"m/{name}"] = self.m[name].copy() if copy else self.m[name]
            state[f"v/{name}"] = self.v[name].copy() if copy else self.v[name]
        return state

    def load_state_dict(self, state):
        """Restore t, m and v (copied into the existing arrays) from state_dict() or its np.load."""
        expected = {"t"} | {f"{kind}/{name}" for kind in "mv" for name in self.params}
        missing = sorted(expected - set(state))
        if missing:
            raise KeyError(f"Adam state lacks {missing}; was it saved for another model?")
        for name in self.params:
            for kind, moments in (("m", self.m), ("v", self.v)):
                saved = np.asarray(state[f"{kind}/{name}"])
                if saved.shape != moments[name].shape:
                    raise ValueError(
                        f"Adam state '{kind}/{name}' has shape {saved.shape}, the parameter has {moments[name].shape}"
                    )
        self.t = int(state["t"])
        for name in self.params:
            self.m[name][...] = state[f"m/{name}"]
            self.v[name][...] = state[f"v/{name}"]


class SGD:
    """Plain stochastic gradient descent: w -= lr * g, in place.

    Inputs (constructor): params (dict name -> float array, kept by reference), lr (float > 0).
    """

    def __init__(self, params, lr=0.01):
        if not lr > 0:
            raise ValueError(f"SGD needs lr > 0, got {lr}")
        self.params = _check_params(params)
        self.lr = float(lr)
        self.t = 0

    def step(self, grads):
        """Update every parameter in place. grads: dict name -> array of the parameter's shape (read only)."""
        _check_grads(self.params, grads)
        self.t += 1
        for name, w in self.params.items():
            w_flat, g_flat = w.reshape(-1), np.asarray(grads[name]).reshape(-1)
            for start in range(0, w_flat.size, _SGD_CHUNK):  # slices: no weight-sized temporary
                w_flat[start : start + _SGD_CHUNK] -= self.lr * g_flat[start : start + _SGD_CHUNK]

    def state_dict(self, copy=True):
        """{"t": 0-d int64}: SGD keeps no other state (copy is accepted for symmetry with Adam)."""
        return {"t": np.array(self.t, dtype=np.int64)}

    def load_state_dict(self, state):
        """Restore the step count from state_dict() or its np.load."""
        if "t" not in state:
            raise KeyError("SGD state lacks 't'")
        self.t = int(state["t"])
