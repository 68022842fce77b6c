"""The weighting methods: hand-worked examples, gradient checks, and the per-task gradients they combine."""

import numpy as np
import pytest

from minimtl.nn.gradcheck import TOLERANCE, check_gradients, numerical_gradient, rel_error
from minimtl.nn.losses import softmax_cross_entropy
from minimtl.training.models import ARCHITECTURES, build_model
from minimtl.training.objective import total_loss
from minimtl.training.tasks import head_targets
from minimtl.training.weighting.dwa import TEMPERATURE, DynamicWeightAverage, dwa_weights
from minimtl.training.weighting.gradnorm import GradNorm, gradnorm_objective, gradnorm_targets
from minimtl.training.weighting.mgda import MGDA, min_norm_weight
from minimtl.training.weighting.pcgrad import PCGrad, project_conflicting
from minimtl.training.weighting.task_gradients import TaskGradients, backward_per_task, probe_task_gradients
from minimtl.training.weighting.uncertainty import Uncertainty, uncertainty_objective

HEADS = ["tb", "pneumonia"]


def test_pcgrad_on_two_known_conflicting_vectors():
    g1, g2 = np.array([1.0, 0.0]), np.array([-1.0, 1.0])  # g1 . g2 = -1 < 0: they conflict
    projected = project_conflicting(np.stack([g1, g2]), orders=[[1, 0], [0, 1]])
    # g1 - (g1.g2)/|g2|^2 g2 = [1, 0] + 1/2 [-1, 1];  g2 - (g2.g1)/|g1|^2 g1 = [-1, 1] + [1, 0]
    np.testing.assert_allclose(projected, [[0.5, 0.5], [0.0, 1.0]], rtol=0, atol=1e-15)
    assert np.dot(projected[0], g2) == pytest.approx(0.0) and np.dot(projected[1], g1) == pytest.approx(0.0)
    agreeing = np.array([[1.0, 0.0], [1.0, 1.0]])  # g1 . g2 = 1 > 0: left alone
    np.testing.assert_array_equal(project_conflicting(agreeing, [[1], [0]]), agreeing)


def test_pcgrad_combines_the_projected_gradients_and_draws_its_order_from_its_stream():
    method = PCGrad(HEADS, np.random.default_rng(0))
    grads = TaskGradients(HEADS, ["conv.W"], [(2,)], np.array([[1.0, 0.0], [-1.0, 1.0]]))
    np.testing.assert_allclose(method.combine(grads, {"tb": 1.0, "pneumonia": 1.0}), [0.5, 1.5], rtol=0, atol=1e-15)
    untouched = np.random.default_rng(0)
    untouched.permutation(2), untouched.permutation(2)  # one order per task was drawn
    assert method.rng.bit_generator.state == untouched.bit_generator.state
    assert method.end_epoch() == {"pcgrad_projected": 1.0}


def test_mgda_closed_form_weight():
    # min |a g1 + (1-a) g2|^2 with g1 = [1, 0], g2 = [0, 2]: a = (g2 - g1).g2 / |g1 - g2|^2 = 4 / 5
    assert min_norm_weight([1.0, 0.0], [0.0, 2.0]) == pytest.approx(0.8)
    d = 0.8 * np.array([1.0, 0.0]) + 0.2 * np.array([0.0, 2.0])
    assert np.dot(d, [1.0, 0.0]) == pytest.approx(np.dot(d, [0.0, 2.0]))  # inside (0, 1): equal dot products
    assert min_norm_weight([1.0, 0.0], [2.0, 0.0]) == 1.0  # clipped: the shorter vector itself
    assert min_norm_weight([2.0, 0.0], [1.0, 0.0]) == 0.0
    assert min_norm_weight([1.0, 1.0], [1.0, 1.0]) == 0.5  # equal vectors: any weight, we take 1/2
    # against a brute-force search over alpha
    rng = np.random.default_rng(1)
    g1, g2 = rng.standard_normal(5), rng.standard_normal(5)
    alphas = np.linspace(0, 1, 100001)
    norms = np.linalg.norm(alphas[:, None] * g1 + (1 - alphas[:, None]) * g2, axis=1)
    assert min_norm_weight(g1, g2) == pytest.approx(alphas[np.argmin(norms)], abs=1e-5)


def test_dwa_weights_from_a_known_loss_history():
    # tb fell from 1.0 to 0.5 (ratio 0.5), pneumonia stayed at 1.0 (ratio 1); T = 2
    weights = dwa_weights([[1.0, 1.0], [0.5, 1.0]])
    e_tb, e_pn = np.exp(0.5 / 2), np.exp(1.0 / 2)
    np.testing.assert_allclose(weights, [2 * e_tb / (e_tb + e_pn), 2 * e_pn / (e_tb + e_pn)], rtol=1e-15)
    np.testing.assert_allclose(
        weights, [0.875647, 1.124353], atol=1e-6
    )  # 2 x 1.284025 / 2.932747, 2 x 1.648721 / 2.932747
    assert weights.sum() == pytest.approx(2.0)


def test_dwa_epoch_means_leave_out_the_batches_without_the_task():
    """A batch with no label for tb (loss None) does not count as a tb loss of 0: the mean is over the two
    batches that had one. Counted as 0 it would be (1.0 + 0 + 0.5) / 3 = 0.5, not 0.75."""
    method = DynamicWeightAverage(HEADS)
    for tb in (1.0, None, 0.5):
        method.after_step({"tb": tb, "pneumonia": 2.0})
    method.end_epoch()
    method.after_step({"tb": None, "pneumonia": 1.0})  # an epoch without one tb label: no tb loss at all
    method.end_epoch()
    assert method.epoch_losses == [[0.75, 2.0], [None, 1.0]]
    ratios = np.array([1.0, 1.0 / 2.0])  # tb has no ratio: 1
    expected = np.exp(ratios / TEMPERATURE) / np.exp(ratios / TEMPERATURE).sum() * 2
    assert list(method.loss_weights(None).values()) == pytest.approx(list(expected), rel=1e-15)
    older = {**method.state_dict(), "batches": 3}  # a checkpoint from before the count per task
    method.load_state_dict(older)
    assert method.batches == [3, 3]


def test_dwa_uses_ones_for_two_epochs_then_the_epoch_means():
    method = DynamicWeightAverage(HEADS)
    for epoch_losses in ([(1.0, 2.0), (1.0, 0.0)], [(0.5, 1.0), (0.5, 1.0)]):  # epoch means 1.0/1.0, 0.5/1.0
        assert method.loss_weights(None) == {"tb": 1.0, "pneumonia": 1.0}
        for tb, pneumonia in epoch_losses:
            method.after_step({"tb": tb, "pneumonia": pneumonia})
        method.end_epoch()
    assert method.epoch_losses == [[1.0, 1.0], [0.5, 1.0]]
    assert list(method.loss_weights(None).values()) == pytest.approx(list(dwa_weights(method.epoch_losses)))


def test_uncertainty_log_variance_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    s, losses = rng.normal(size=2), rng.uniform(0.1, 2.0, size=2)
    value, gradient = uncertainty_objective(s, losses)
    assert value == pytest.approx(np.sum(np.exp(-s) * losses + s / 2))
    numeric = numerical_gradient(lambda: uncertainty_objective(s, losses)[0], s)
    assert rel_error(gradient, numeric) < TOLERANCE


def test_uncertainty_objective_through_the_heads_matches_finite_differences():
    """The whole objective sum_k exp(-s_k) L_k(z_k) + s_k/2, checked in the logits and the log-variances:
    the logits' gradient is the loss gradient scaled by exp(-s_k), as the training step applies it."""
    rng = np.random.default_rng(5)
    params = {"s": rng.normal(size=2), "z_tb": rng.normal(size=(4, 2)), "z_pneumonia": rng.normal(size=(4, 2))}
    labels = {"tb": np.array([0, 1, 1, 0]), "pneumonia": np.array([1, 1, 0, 0])}
    mask = {"tb": np.array([1, 1, 0, 1], bool), "pneumonia": np.ones(4, bool)}
    grads = {}

    def loss_and_backward():
        losses, total = [], 0.0
        for k, head in enumerate(HEADS):
            loss, dz = softmax_cross_entropy(params[f"z_{head}"], labels[head], mask[head])
            grads[f"z_{head}"] = np.exp(-params["s"][k]) * dz  # what MultiTaskUpdate feeds the step
            losses.append(loss)
        total, grads["s"] = uncertainty_objective(params["s"], losses)
        return total

    errors = check_gradients(loss_and_backward, params, grads)
    assert max(errors.values()) < TOLERANCE, errors


def test_uncertainty_starts_at_the_sum_and_learns_with_adam():
    method = Uncertainty(HEADS, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-7)
    assert method.loss_weights(None) == {"tb": 1.0, "pneumonia": 1.0}
    for _ in range(200):
        method.after_step({"tb": 2.0, "pneumonia": 0.1})
    # the minimum of exp(-s) L + s/2 is at exp(-s) = 1/(2L): tb 0.25, pneumonia 5
    weights = method.loss_weights(None)
    assert weights["tb"] == pytest.approx(0.25, rel=0.1) and weights["pneumonia"] == pytest.approx(5.0, rel=0.1)
    assert method.optimizers["tb"].t == method.optimizers["pneumonia"].t == 200


def test_uncertainty_leaves_an_absent_task_alone_momentum_and_all():
    """A batch without a tb label (loss None) gives s_tb no gradient, and its Adam takes no step: s_tb and
    its moments stay bit for bit (Adam with a zero gradient would still move s_tb by its momentum, and a
    loss counted as 0 would push s_tb down by the regulariser's 1/2), while s_pneumonia learns."""
    method = Uncertainty(HEADS, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-7)
    for _ in range(3):
        method.after_step({"tb": 2.0, "pneumonia": 0.1})  # both present: momentum builds up in s_tb
    before = method.state_dict()
    for _ in range(4):
        method.after_step({"tb": None, "pneumonia": 0.1})
    after = method.state_dict()
    assert after["log_variance"][0] == before["log_variance"][0]
    assert after["adam"]["tb"] == before["adam"]["tb"] and method.optimizers["tb"].t == 3
    assert after["log_variance"][1] < before["log_variance"][1] and method.optimizers["pneumonia"].t == 7
    # the step s_pneumonia took alone is the one it takes beside tb: the objective is a sum over tasks
    both = Uncertainty(HEADS, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-7)
    for tb in (2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0):
        both.after_step({"tb": tb, "pneumonia": 0.1})
    assert both.params["log_variance"][1] == method.params["log_variance"][1]


def test_uncertainty_reads_a_checkpoint_of_one_adam_over_s():
    """Before each s_k had its own Adam, one Adam over s was saved; both tasks present on every step, the
    split state is the same numbers."""
    method = Uncertainty(HEADS, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-7)
    for tb in (2.0, 1.0, 0.5):
        method.after_step({"tb": tb, "pneumonia": 0.1})
    state = method.state_dict()
    adam = state["adam"]
    older = {
        "log_variance": state["log_variance"],
        "adam": {
            key: adam["tb"][key] if key == "t" else adam["tb"][key] + adam["pneumonia"][key] for key in adam["tb"]
        },
    }
    assert older["adam"]["t"] == 3 and len(older["adam"]["m/log_variance"]) == 2
    fresh = Uncertainty(HEADS, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-7)
    fresh.load_state_dict(older)
    assert fresh.state_dict() == state


def test_gradnorm_objective_gradient_matches_finite_differences():
    rng = np.random.default_rng(6)
    norms, ratios = rng.uniform(0.5, 2.0, 2), rng.uniform(0.5, 1.0, 2)
    weights = np.array([0.7, 1.3])
    targets = gradnorm_targets(norms, weights, ratios)
    assert np.all(np.abs(weights * norms - targets) > 1e-3)  # away from the kinks of |.|
    _, gradient = gradnorm_objective(weights, norms, targets)
    numeric = numerical_gradient(lambda: gradnorm_objective(weights, norms, targets)[0], weights)
    assert rel_error(gradient, numeric) < TOLERANCE


def test_gradnorm_targets_by_hand():
    # G = w n = [1, 3], G_bar = 2; L~ = [1, 0.5], r = L~ / 0.75 = [4/3, 2/3]; target = 2 r^1.5
    np.testing.assert_allclose(
        gradnorm_targets([1.0, 3.0], [1.0, 1.0], [1.0, 0.5]), [2 * (4 / 3) ** 1.5, 2 * (2 / 3) ** 1.5], rtol=1e-15
    )


def test_gradnorm_moves_weight_to_the_task_that_trains_slower_and_keeps_the_sum():
    method = GradNorm(HEADS, "conv.W", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7)
    rows = np.array([[1.0, 0.0], [0.0, 1.0]])  # equal gradient norms on the last shared kernel
    grads = TaskGradients(HEADS, ["conv.W"], [(2,)], rows)
    method.after_step({"tb": 1.0, "pneumonia": 1.0}, grads)  # the first step: L(0)
    for _ in range(5):
        w = method.params["weights"]
        grads = TaskGradients(HEADS, ["conv.W"], [(2,)], rows * w[:, None])  # rows carry w_k
        method.after_step({"tb": 0.9, "pneumonia": 0.5}, grads)  # tb's loss fell less: train it harder
    w = method.params["weights"]
    assert w[0] > 1.0 > w[1] and w.sum() == pytest.approx(2.0)


def test_gradnorm_learns_nothing_from_a_step_without_one_task():
    method = GradNorm(HEADS, "conv.W", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-7)
    method.after_step({"tb": None, "pneumonia": 1.0}, TaskGradients(HEADS, ["conv.W"], [(2,)], np.eye(2) * [0, 1]))
    assert method.initial_losses == [None, 1.0]  # L_tb(0) waits for a step with tb labels
    rows = TaskGradients(HEADS, ["conv.W"], [(2,)], np.eye(2))
    method.after_step({"tb": 0.8, "pneumonia": 0.9}, rows)  # L_tb(0) = 0.8; weights learn from here
    before = method.state_dict()
    method.after_step({"tb": None, "pneumonia": 0.5}, TaskGradients(HEADS, ["conv.W"], [(2,)], np.eye(2) * [0, 1]))
    assert method.state_dict() == before  # no ratio from an absent task's loss; the weights' Adam not stepped


@pytest.mark.parametrize("method", [PCGrad(HEADS, np.random.default_rng(0)), MGDA(HEADS)], ids=["pcgrad", "mgda"])
def test_a_gradient_method_passes_the_present_task_through_when_the_other_has_no_labels(method):
    """tb has no label in the batch: its row is 0 and its loss None. PCGrad projects nothing (no division
    by ||g_tb||^2 = 0); MGDA steps along g_pneumonia, where its formula over {0, g_pneumonia} would give the
    zero vector, and does not count the step in its mean weight."""
    g_pneumonia = np.array([0.5, -2.0, 1.0])
    grads = TaskGradients(HEADS, ["conv.W"], [(3,)], np.stack([np.zeros(3), g_pneumonia]))
    with np.errstate(all="raise"):
        combined = method.combine(grads, {"tb": None, "pneumonia": 0.7})
    np.testing.assert_array_equal(combined, g_pneumonia)
    nobody = method.combine(TaskGradients(HEADS, ["conv.W"], [(3,)], np.zeros((2, 3))), {"tb": None, "pneumonia": None})
    np.testing.assert_array_equal(nobody, np.zeros(3))
    if isinstance(method, MGDA):
        assert method.end_epoch() == {"mgda_weight_tb": None}  # no choice of alpha was made


def two_task_model(trunk, rng, size):
    model = build_model("multitask32", size, rng, dtype=np.float64, trunk=trunk)
    for name, array in model.params.items():
        if name.endswith(".b"):
            array[...] = rng.normal(0, 0.1, size=array.shape)
    x = rng.random((3, 1, size, size))
    targets = head_targets(
        ARCHITECTURES["multitask32"], np.array(["tb", "pneumonia", "tb"]), np.array([1, 0, 0]), "negative"
    )
    return model, x, targets


@pytest.mark.parametrize("trunk, size", [("study", 8), ("deep", 22)])
def test_task_gradients_add_up_to_the_study_gradient_and_the_probe_agrees(trunk, size):
    rng = np.random.default_rng(2)
    model, x, targets = two_task_model(trunk, rng, size)
    _, _, dlogits = total_loss(model.forward(x), targets)
    model.backward(dlogits)
    summed = {name: g.copy() for name, g in model.trunk.grads.items()}
    model.forward(x)
    per_task = backward_per_task(model, dlogits)
    probed = probe_task_gradients(model, x, dlogits)
    np.testing.assert_allclose(per_task.matrix, probed.matrix, rtol=1e-12, atol=1e-14)
    for name, g in summed.items():
        np.testing.assert_allclose(per_task.part(name).sum(axis=0), g.reshape(-1), rtol=1e-10, atol=1e-13)
    assert np.all(np.abs(per_task.matrix).max(axis=1) > 0)
    cosine = per_task.cosine()
    g1, g2 = per_task.matrix
    assert cosine == pytest.approx(np.dot(g1, g2) / np.linalg.norm(g1) / np.linalg.norm(g2))
    assert TaskGradients(HEADS, ["w"], [(2,)], np.array([[1.0, 0.0], [0.0, 0.0]])).cosine() is None
