"""Optimisers: Adam against Keras' formula, in-place updates, checkpoint round trip, SGD."""

import numpy as np
import pytest

from minimtl.nn.optim import SGD, Adam


def _problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = {
        "conv.W": rng.standard_normal((2, 1, 3, 3)).astype(dtype),
        "dense.b": rng.standard_normal(4).astype(dtype),
    }
    grads = [{k: rng.standard_normal(p.shape).astype(dtype) for k, p in params.items()} for _ in range(3)]
    return params, grads


def test_adam_follows_the_keras_formula_for_three_steps():
    params, grads = _problem()
    expected = {k: p.copy() for k, p in params.items()}
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-7
    opt = Adam(params, lr=lr, beta1=b1, beta2=b2, eps=eps)
    for t, g in enumerate(grads, start=1):
        opt.step(g)
        lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            expected[k] = expected[k] - lr_t * m[k] / (np.sqrt(v[k]) + eps)
            np.testing.assert_allclose(params[k], expected[k], rtol=1e-13, atol=1e-15)
    assert opt.t == 3


def test_first_adam_step_moves_each_weight_by_about_lr():
    """With t = 1, m/sqrt(v) = sign(g): every weight moves by lr against its gradient's sign."""
    params, grads = _problem()
    before = {k: p.copy() for k, p in params.items()}
    Adam(params, lr=0.01).step(grads[0])
    for k in params:
        np.testing.assert_allclose(before[k] - params[k], 0.01 * np.sign(grads[0][k]), rtol=1e-4)


def test_updates_in_place_and_leaves_grads_alone():
    params, grads = _problem(np.float32)
    arrays = dict(params)
    grads_before = {k: g.copy() for k, g in grads[0].items()}
    for opt in (Adam(params), SGD(params, lr=0.1)):
        opt.step(grads[0])
        for k in params:
            assert params[k] is arrays[k] and params[k].dtype == np.float32
            np.testing.assert_array_equal(grads[0][k], grads_before[k])


def test_state_dict_round_trip_through_savez(tmp_path):
    """Stop after 2 steps, save, load into a fresh optimiser: step 3 matches an uninterrupted run."""
    params_a, grads = _problem()
    params_b = {k: p.copy() for k, p in params_a.items()}
    straight = Adam(params_a, lr=0.05)
    for g in grads:
        straight.step(g)
    first = Adam(params_b, lr=0.05)
    first.step(grads[0])
    first.step(grads[1])
    np.savez(tmp_path / "adam.npz", **first.state_dict())
    resumed = Adam(params_b, lr=0.05)
    with np.load(tmp_path / "adam.npz") as saved:
        resumed.load_state_dict(saved)
    resumed.step(grads[2])
    for k in params_a:
        np.testing.assert_array_equal(params_b[k], params_a[k])
    assert resumed.t == 3


def test_state_dict_copies_unless_asked_not_to():
    params, grads = _problem()
    opt = Adam(params)
    opt.step(grads[0])
    saved, live = opt.state_dict(), opt.state_dict(copy=False)
    opt.step(grads[1])
    assert not np.array_equal(saved["m/dense.b"], opt.m["dense.b"])
    assert live["m/dense.b"] is opt.m["dense.b"]


def test_load_state_dict_names_what_is_wrong():
    params, _ = _problem()
    opt = Adam(params)
    state = opt.state_dict()
    del state["v/conv.W"]
    with pytest.raises(KeyError, match="v/conv.W"):
        opt.load_state_dict(state)
    state = opt.state_dict()
    state["m/dense.b"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"'m/dense.b' has shape \(5,\)"):
        opt.load_state_dict(state)


def test_sgd_by_hand_and_state():
    params = {"w": np.array([1.0, -2.0])}
    opt = SGD(params, lr=0.5)
    opt.step({"w": np.array([2.0, 4.0])})
    np.testing.assert_array_equal(params["w"], [1.0 - 0.5 * 2.0, -2.0 - 0.5 * 4.0])
    other = SGD({"w": np.zeros(2)}, lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.t == 1


def test_bad_arguments_are_named():
    params, grads = _problem()
    with pytest.raises(KeyError, match="differ from params keys"):
        Adam(params).step({"conv.W": grads[0]["conv.W"]})
    with pytest.raises(ValueError, match="C-contiguous"):
        Adam({"w": np.zeros((3, 4)).T})
    with pytest.raises(ValueError, match="lr > 0"):
        SGD(params, lr=0)
    with pytest.raises(TypeError, match="float32 or float64"):
        Adam({"w": np.zeros(3, dtype=np.int64)})
