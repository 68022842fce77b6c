"""How two tasks' losses become one update of what they share (``run --weighting``).

=========== ======================================================= =====================
weighting   the shared parameters' gradient                          module
=========== ======================================================= =====================
sum         g_1 + g_2 (the study)                                    ``sum.py``
uncertainty exp(-s_1) g_1 + exp(-s_2) g_2, s learned                 ``uncertainty.py``
dwa         lambda_1 g_1 + lambda_2 g_2, from the epochs' losses     ``dwa.py``
gradnorm    w_1 g_1 + w_2 g_2, w evening out gradient norms          ``gradnorm.py``
pcgrad      g_1 and g_2, each projected off the other where they     ``pcgrad.py``
            conflict, then added
mgda        the smallest vector alpha g_1 + (1 - alpha) g_2          ``mgda.py``
=========== ======================================================= =====================

g_k is task k's gradient on the shared (trunk) parameters (:mod:`.task_gradients`). sum, uncertainty
and dwa only scale each task's loss, so they run on either training step (the fused one included);
gradnorm, pcgrad and mgda need g_1 and g_2 apart (``needs_task_gradients``), so they run on the
readable step with one trunk backward pass per task. Multi-task architectures only.
"""

from minimtl.training.weighting.dwa import DynamicWeightAverage
from minimtl.training.weighting.gradnorm import GradNorm
from minimtl.training.weighting.mgda import MGDA
from minimtl.training.weighting.pcgrad import PCGrad
from minimtl.training.weighting.sum import Sum
from minimtl.training.weighting.uncertainty import Uncertainty

__all__ = ["WEIGHTINGS", "GRADIENT_WEIGHTINGS", "make_weighting"]

WEIGHTINGS = ("sum", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda")
GRADIENT_WEIGHTINGS = ("gradnorm", "pcgrad", "mgda")  # need each task's shared gradient apart


def make_weighting(config, model, rng):
    """The weighting method ``config.weighting`` for ``model``'s heads.

    Inputs: config (RunConfig: weighting and the Adam settings), model (MultiHead), rng (numpy
    Generator: PCGrad's task orders)."""
    heads, adam = model.head_names, dict(lr=config.lr, beta1=config.beta1, beta2=config.beta2, eps=config.eps)
    name = config.weighting
    if name == "sum":
        return Sum(heads)
    if name == "uncertainty":
        return Uncertainty(heads, **adam)
    if name == "dwa":
        return DynamicWeightAverage(heads)
    if name == "gradnorm":
        kernels = [key for key in model.trunk.params if key.endswith(".W")]
        return GradNorm(heads, kernels[-1], **adam)
    if name == "pcgrad":
        return PCGrad(heads, rng)
    if name == "mgda":
        return MGDA(heads)
    raise ValueError(f"unknown weighting {name!r}; choose one of {', '.join(WEIGHTINGS)}")
