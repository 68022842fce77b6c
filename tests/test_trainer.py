"""build_trainer: a run's model, Adam, step and update built from its options, in one place; what the
comparison's time estimate and the benchmarks build is what a run trains."""

import numpy as np
import pytest

from minimtl.data import make_phantoms
from minimtl.fast.fused_step import FusedStep
from minimtl.training.config import RunConfig
from minimtl.training.loop import seed_streams
from minimtl.training.models import build_model
from minimtl.training.steps import ReadableStep
from minimtl.training.train import DurableRun
from minimtl.training.trainer import build_trainer

QUIET = {"progress": None, "log": lambda line: None}


def config(**changes):
    options = dict(arch="multitask32", image_size=12, batch_size=4, epochs=1, seed=3) | changes
    return RunConfig(**options)


def test_build_trainer_takes_every_optimizer_option_and_the_step_from_the_config():
    made = config(lr=3e-4, beta1=0.8, beta2=0.99, eps=1e-6, step="readable")
    trainer = build_trainer(made, np.random.default_rng(0))
    optimizer = trainer.optimizer
    assert (optimizer.lr, optimizer.beta1, optimizer.beta2, optimizer.eps) == (3e-4, 0.8, 0.99, 1e-6)
    model_params = trainer.model.params
    assert all(optimizer.params[name] is w for name, w in model_params.items())  # Adam updates them in place
    assert isinstance(trainer.step, ReadableStep)
    assert trainer.update.step is trainer.step and trainer.update.optimizer is optimizer
    assert isinstance(build_trainer(config(), np.random.default_rng(0)).step, FusedStep)


def test_a_run_starts_from_the_model_its_seed_draws_and_nothing_else_draws_first(tmp_path):
    """The initial weights are build_model's on the seed's second stream, as before build_trainer existed:
    an extra draw anywhere on the way would change every seeded run and break resuming old ones."""
    made = config()
    run = DurableRun(made, make_phantoms(n_per_class=4, image_size=12, seed=0), tmp_path / "run", **QUIET)
    model = build_model(made.arch, made.image_size, seed_streams(made.seed)[1], head=made.head, trunk=made.trunk)
    assert run.params.keys() == model.params.keys()
    for name, weights in model.params.items():
        np.testing.assert_array_equal(run.params[name], weights, err_msg=name)
    other = build_trainer(config(seed=4), seed_streams(4)[1])  # another seed, other weights: the check can fail
    assert any(not np.array_equal(other.model.params[name], w) for name, w in model.params.items())


def test_options_that_do_not_go_together_are_refused_before_any_weight_is_drawn():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match="--step readable"):
        build_trainer(config(weighting="pcgrad", step="fused"), rng)
    assert rng.bit_generator.state == state
