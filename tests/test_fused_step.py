"""The fused training step against the readable one (model.backward, then Adam.step)."""

from dataclasses import replace

import numba
import numpy as np
import pytest

from minimtl.data import make_phantoms
from minimtl.fast.fused_step import FusedStep, UnsupportedModel
from minimtl.nn.graph import MultiHead, Sequential
from minimtl.nn.layers import Conv2D, Dense, Flatten, ReLU
from minimtl.nn.optim import SGD, Adam
from minimtl.training.config import RunConfig
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.steps import ReadableStep, make_step
from minimtl.training.tasks import head_targets
from minimtl.training.train import DurableRun

CASES = [
    ("single-tb", "softmax"),
    ("single-pneumonia", "sigmoid"),
    ("multiclass", "softmax"),
    ("multitask64", "softmax"),
    ("multitask32", "sigmoid"),
]
BATCHES = (8, 5, 3, 1)  # groups of four images, and every remainder


def batches(arch, dtype, seed=0, image_size=12):
    """(x, targets) for each batch size in BATCHES: images in [0, 1], random labels from both datasets."""
    rng = np.random.default_rng(seed)
    for n in BATCHES:
        x = rng.random((n, 1, image_size, image_size)).astype(dtype)
        dataset = rng.choice(["tb", "pneumonia"], n)
        labels = rng.integers(0, 2, n)
        yield x, head_targets(ARCHITECTURES[arch], dataset, labels)


def train_both_ways(arch, head, dtype):
    """The same model and batches, trained by the readable path and by the fused step."""
    readable, fused = (build_model(arch, 12, np.random.default_rng(3), head=head, dtype=dtype) for _ in range(2))
    readable_opt, fused_opt = Adam(readable.params), Adam(fused.params)
    step = FusedStep(fused, fused_opt)
    for x, targets in batches(arch, dtype):
        loss_a, _, dlogits = total_loss(readable.forward(x), targets)
        readable.backward(dlogits)
        readable_opt.step(readable.grads)
        loss_b, _, dlogits = total_loss(step.forward(x), targets)
        step.backward_and_update(dlogits)
        assert loss_b == pytest.approx(loss_a, rel=1e-5 if dtype == np.float32 else 1e-12)
    return (readable, readable_opt), (fused, fused_opt)


@pytest.mark.parametrize("arch, head", CASES)
def test_fused_step_equals_the_readable_step_in_float64(arch, head):
    """In float64 only the summation order differs: agreement to ~1e-15 of the weights' size."""
    (a, a_opt), (b, b_opt) = train_both_ways(arch, head, np.float64)
    assert a_opt.t == b_opt.t == len(BATCHES)
    for name in a.params:
        np.testing.assert_allclose(b.params[name], a.params[name], rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(b_opt.m[name], a_opt.m[name], rtol=0, atol=1e-13, err_msg=name)
        np.testing.assert_allclose(b_opt.v[name], a_opt.v[name], rtol=0, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("arch, head", CASES)
def test_fused_step_equals_the_readable_step_in_float32(arch, head):
    """Training precision. Stated tolerance: 1e-6 absolute on weights of size ~0.01-0.5 and on the
    moments, after four steps (a few float32 ulps; the steps themselves are ~1e-3). A wrong
    formula (a missing head, dx from the updated weights, a lost image) moves weights by ~1e-3."""
    (a, a_opt), (b, b_opt) = train_both_ways(arch, head, np.float32)
    for name in a.params:
        assert b.params[name].dtype == np.float32
        np.testing.assert_allclose(b.params[name], a.params[name], rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(b_opt.m[name], a_opt.m[name], rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(b_opt.v[name], a_opt.v[name], rtol=0, atol=1e-6, err_msg=name)


def test_fused_step_is_deterministic():
    runs = [train_both_ways("multitask64", "softmax", np.float32)[1] for _ in range(2)]
    (first, first_opt), (second, second_opt) = runs
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], second.params[name])
        np.testing.assert_array_equal(first_opt.v[name], second_opt.v[name])


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs Numba to be allowed two threads")
def test_both_paths_give_the_same_bits_on_one_and_two_threads():
    """The parallel contracts' promise: chunk boundaries and summation orders do not depend on threads."""
    runs = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            runs.append(train_both_ways("multitask64", "softmax", np.float32))
    finally:
        numba.set_num_threads(before)
    for (model_1, opt_1), (model_2, opt_2) in zip(*runs):  # the readable path, then the fused step
        for name in model_1.params:
            np.testing.assert_array_equal(model_1.params[name], model_2.params[name], err_msg=name)
            np.testing.assert_array_equal(opt_1.v[name], opt_2.v[name], err_msg=name)


def test_big_gradients_are_never_stored():
    """The fused step's point: the 28-bytes-per-weight pass never writes the big layers' dW."""
    model = build_model("multitask32", 12, np.random.default_rng(0))
    step = FusedStep(model, Adam(model.params))
    for x, targets in batches("multitask32", np.float32):
        step.backward_and_update(total_loss(step.forward(x), targets)[2])
    assert not np.any(model.grads["heads.tb.dense1.W"]) and not np.any(model.grads["heads.pneumonia.dense1.W"])
    assert np.any(model.grads["heads.tb.dense1.b"]) and np.any(model.grads["trunk.conv.W"])


def test_begin_step_gives_the_step_size_adam_step_applies():
    """Adam.begin_step (called by both steps) counts the step and returns lr_t = lr sqrt(1 - b2^t) /
    (1 - b1^t), the bias correction Adam.step applies: one Adam.step on a scalar moves it by
    lr_t * m / (sqrt(v) + eps) with the new moments."""
    w = np.array([1.0])
    opt, twin = Adam({"w": w}, lr=0.01), Adam({"w": np.array([1.0])}, lr=0.01)
    for t in (1, 2, 3):
        before = w.copy()
        m, v = (a.copy() for a in opt.moments("w"))
        opt.step({"w": np.array([2.0])})
        lr_t = twin.begin_step()
        assert twin.t == opt.t == t and lr_t == 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        m_new, v_new = 0.9 * m + 0.1 * 2.0, 0.999 * v + 0.001 * 4.0
        expected = before - lr_t * m_new / (np.sqrt(v_new) + opt.eps)
        np.testing.assert_allclose(w, expected, rtol=1e-15)


def test_unsupported_models_are_refused():
    rng = np.random.default_rng(0)
    model = build_model("single-tb", 8, rng)
    with pytest.raises(UnsupportedModel, match="Adam only"):
        FusedStep(model, SGD(model.params))
    with pytest.raises(UnsupportedModel, match="own parameter arrays"):
        FusedStep(model, Adam({k: v.copy() for k, v in model.params.items()}))
    no_hidden_relu = MultiHead(
        Sequential([("conv", Conv2D(1, 2, 3, rng=rng, relu=True, input_grad=False)), ("flatten", Flatten())]),
        {"tb": Sequential([("dense1", Dense(72, 2, rng=rng))])},
    )
    with pytest.raises(UnsupportedModel, match="dense1, relu, dense2"):
        FusedStep(no_hidden_relu, Adam(no_hidden_relu.params))
    conv_as_second_layer = MultiHead(
        Sequential([("relu", ReLU()), ("flatten", Flatten())]),
        {"tb": Sequential([("dense1", Dense(64, 2, rng=rng)), ("relu", ReLU()), ("dense2", Dense(2, 2, rng=rng))])},
    )
    with pytest.raises(UnsupportedModel, match="trunk conv, flatten"):
        FusedStep(conv_as_second_layer, Adam(conv_as_second_layer.params))


def test_backward_before_forward_is_an_error():
    model = build_model("single-tb", 8, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="before forward"):
        FusedStep(model, Adam(model.params)).backward_and_update({"tb": np.zeros((1, 2), np.float32)})


def test_trainer_fused_and_readable_steps_train_the_same_weights(tmp_path):
    """RunConfig.step chooses the step: "fused" (the default) or "readable", the same weights."""
    phantoms = make_phantoms(n_per_class=6, image_size=12, seed=1)
    config = RunConfig(
        arch="multitask64", image_size=12, batch_size=4, epochs=2, split="patient", val_fraction=0.2, seed=5
    )
    assert config.step == "fused"
    quiet = {"progress": None, "log": lambda line: None}
    trainers = {}
    for step in ("fused", "readable"):
        trainer = DurableRun(replace(config, step=step), phantoms, tmp_path / step, **quiet)
        trainer.make_or_load_split()
        trainer.fit()
        trainers[step] = trainer
    assert isinstance(trainers["fused"].train_step, FusedStep)
    assert isinstance(trainers["readable"].train_step, ReadableStep)
    for name, w in trainers["readable"].params.items():
        np.testing.assert_allclose(trainers["fused"].params[name], w, rtol=0, atol=1e-5, err_msg=name)


def test_unknown_step_is_named():
    model = build_model("single-tb", 8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown step 'fast'; choose one of fused, readable"):
        make_step("fast", model, Adam(model.params))
