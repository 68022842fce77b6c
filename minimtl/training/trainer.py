"""What one training step needs, built from a run's options: the model, Adam, the step and the update.

A run (:class:`minimtl.training.train.DurableRun`), the comparison's up-front time estimate and the
benchmarks that time a run's step all build these four the same way, here, so that what they time or
replay is what a run trains.
"""

from dataclasses import dataclass

from minimtl.nn.optim import Adam
from minimtl.training.models import build_model
from minimtl.training.multitask_update import MultiTaskUpdate, check_method_options
from minimtl.training.steps import make_step

__all__ = ["Trainer", "build_trainer"]


@dataclass(frozen=True)
class Trainer:
    """The four parts of a run's training step.

    - model: the :class:`~minimtl.training.models.MultiHead` network (its layers own the weights)
    - optimizer: :class:`~minimtl.nn.optim.Adam` over ``model.params``, updating them in place
    - step: the training step (:func:`~minimtl.training.steps.make_step`): forward, backward, update
    - update: the :class:`~minimtl.training.multitask_update.MultiTaskUpdate` (weighting method and
      conflict measurement) that the loop hands each batch's head gradients to
    """

    model: object
    optimizer: Adam
    step: object
    update: MultiTaskUpdate


def build_trainer(config, init_rng):
    """The :class:`Trainer` of RunConfig ``config``, its initial weights drawn from ``init_rng`` (a numpy
    Generator; a run passes its seed's second stream, :func:`~minimtl.training.loop.seed_streams`).

    ValueError naming the option when the trunk, weighting and step do not go together, before any
    weight is drawn.
    """
    check_method_options(config)  # (MultiTaskUpdate checks again; here it stops us before any weight is drawn)
    model = build_model(config.arch, config.image_size, init_rng, head=config.head, trunk=config.trunk)
    optimizer = Adam(model.params, lr=config.lr, beta1=config.beta1, beta2=config.beta2, eps=config.eps)
    step = make_step(config.step, model, optimizer)
    return Trainer(model, optimizer, step, MultiTaskUpdate(config, model, optimizer, step))
