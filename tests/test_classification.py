"""Classification in the batched MLP (masked softmax cross-entropy) and the continual trainer."""

import numpy as np
import pytest
import torch
from test_engine_torch import poisoned_stream

from forgetlab import InvalidParameterError
from forgetlab.engines.continual import ContinualResult, model_spec, train_continual
from forgetlab.metrics import score_matrix
from forgetlab.numerics.mlp import (
    MLPSpec,
    cross_entropy,
    forward,
    init_params,
    log_softmax,
    loss_and_grad,
    predict_classes,
    squared_sample_gradients,
)
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.strategies import EWC, SI, Joint, Naive, Replay
from forgetlab.tasks import rotated_digits, seasons, split_digits

F64 = torch.float64
R, N, C = 3, 7, 5


def autograd_model(spec: MLPSpec, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The MLP's logits written with plain autograd operations."""
    weights, biases = spec.views(params)
    h = x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w + b[:, None, :]
        h = torch.relu(h) if layer < len(weights) - 1 else h
    return h


def broadcastable(mask: torch.Tensor | None) -> torch.Tensor | None:
    """A mask of shape (C,), (R, C) or (R, n, C) in a form that broadcasts against (R, n, C)."""
    return mask.unsqueeze(1) if mask is not None and mask.dim() == 2 else mask


def autograd_cross_entropy(logits, y, mask):
    full = broadcastable(mask)
    masked = logits if full is None else logits.masked_fill(~full.expand_as(logits), -torch.inf)
    logp = masked - torch.logsumexp(masked, dim=-1, keepdim=True)  # independent of log_softmax
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=1)


def labels_within(mask: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    """Random labels (R, N), each an active unit of its sample."""
    full = torch.ones(R, N, C, dtype=torch.bool) if mask is None else broadcastable(mask).expand(R, N, C)
    scores = torch.rand(R, N, C, generator=generator).masked_fill(~full, -1.0)
    return scores.argmax(dim=-1)


def make_mask(which: str, generator: torch.Generator) -> torch.Tensor | None:
    """No mask, or a shared (C,), per-run (R, C) or per-sample (R, N, C) one."""
    if which == "shared":
        return torch.tensor([True, False, True, True, False])
    if which == "per run":
        return torch.tensor([[True, True, False, True, False], [False, True, True, True, True], [True] * 5])
    if which == "per sample":
        per_sample = torch.rand(R, N, C, generator=generator) < 0.6
        per_sample[..., 0] = True  # at least one active unit per sample
        return per_sample
    return None


MASKS = ["none", "shared", "per run", "per sample"]
MASK_OF_ONE = torch.ones(1, dtype=torch.bool)


@pytest.mark.parametrize("which", MASKS)
def test_cross_entropy_and_its_gradient_equal_autograd(which):
    generator = torch.Generator().manual_seed(MASKS.index(which))
    mask = make_mask(which, generator)
    logits = (3 * torch.randn(R, N, C, generator=generator, dtype=F64)).requires_grad_(True)
    y = labels_within(mask, generator)
    expected = autograd_cross_entropy(logits, y, mask)
    (expected_grad,) = torch.autograd.grad(expected.sum(), logits)
    loss, d_logits = cross_entropy(logits.detach(), y, mask)
    torch.testing.assert_close(loss, expected.detach(), rtol=1e-13, atol=0)
    torch.testing.assert_close(d_logits, expected_grad, rtol=1e-12, atol=1e-15)
    if mask is not None:
        assert (d_logits[~broadcastable(mask).expand(R, N, C)] == 0).all(), "masked units get exactly zero gradient"


@pytest.mark.parametrize("which", MASKS)
def test_softmax_loss_and_grad_equal_autograd_and_finite_differences(which):
    generator = torch.Generator().manual_seed(10 + MASKS.index(which))
    mask = make_mask(which, generator)
    spec = MLPSpec(layer_units=(4, 6, 5, C), alpha=0.3, output="softmax")
    params = init_params(spec, [0, 1, 2], dtype=F64).requires_grad_(True)
    x = torch.randn(R, N, 4, generator=generator, dtype=F64)
    y = labels_within(mask, generator)
    penalty = sum((w**2).sum((1, 2)) for w in spec.views(params)[0])
    expected = autograd_cross_entropy(autograd_model(spec, params, x), y, mask) + 0.5 * 0.3 * penalty / N
    (expected_grad,) = torch.autograd.grad(expected.sum(), params)
    loss, grad = loss_and_grad(spec, params.detach(), x, y, mask=mask)
    torch.testing.assert_close(loss, expected.detach(), rtol=1e-13, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-14)
    step = 1e-6
    for i in range(0, spec.n_params, 7):
        bump = torch.zeros(R, spec.n_params, dtype=F64)
        bump[:, i] = step
        up, _ = loss_and_grad(spec, params.detach() + bump, x, y, mask=mask)
        down, _ = loss_and_grad(spec, params.detach() - bump, x, y, mask=mask)
        torch.testing.assert_close(grad[:, i], (up - down) / (2 * step), rtol=1e-6, atol=1e-9)


def test_masked_output_units_get_zero_gradient_in_the_weights():
    spec = MLPSpec(layer_units=(3, 4, C), output="softmax", alpha=0.0)  # the weight penalty would move them
    params = init_params(spec, [0], dtype=F64)
    x = torch.randn(1, N, 3, dtype=F64)
    mask = torch.tensor([True, True, False, False, True])
    _, grad = loss_and_grad(spec, params, x, torch.zeros(1, N, dtype=torch.int64), mask=mask)
    weights, biases = spec.views(grad)
    assert (weights[-1][..., ~mask] == 0).all() and (biases[-1][..., ~mask] == 0).all()
    assert (weights[-1][..., mask] != 0).any()


def test_log_softmax_is_stable_for_huge_logits():
    logits = torch.tensor([[[1e4, -1e4, 0.0], [800.0, 799.0, -1e30]]], dtype=torch.float32)
    logp = log_softmax(logits, torch.tensor([True, True, True]))
    assert torch.isfinite(logp).all()
    assert logp[0, 1, 0].item() == pytest.approx(-np.log1p(np.exp(-1.0)), rel=1e-6)


def test_squared_sample_gradients_sum_the_per_sample_squares():
    spec = MLPSpec(layer_units=(3, 4, 2, C), activation="tanh", output="softmax")
    params = init_params(spec, [0, 1], dtype=F64)
    x = torch.randn(2, N, 3, dtype=F64)
    d_output = torch.randn(2, N, C, dtype=F64)
    expected = torch.zeros_like(params)
    for i in range(N):
        p = params.clone().requires_grad_(True)
        out = forward(spec, p, x[:, i : i + 1]).output
        (g,) = torch.autograd.grad((out * d_output[:, i : i + 1]).sum(), p)
        expected += g**2
    torch.testing.assert_close(squared_sample_gradients(spec, forward(spec, params, x), d_output), expected)


def test_predicted_classes_respect_the_mask():
    spec = MLPSpec(layer_units=(2, 4), output="softmax")
    params = torch.tensor([[0.0] * 8 + [3.0, 1.0, 2.0, 0.0]])
    x = torch.zeros(5, 2)
    assert predict_classes(spec, params, x).tolist() == [[0] * 5]
    assert predict_classes(spec, params, x, torch.tensor([False, True, True, True])).tolist() == [[2] * 5]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: MLPSpec(layer_units=(2, 3), output="sigmoid"), "'output'"),
        (lambda: MLPSpec(layer_units=(2, 1), output="softmax"), "'layer_units'"),
        (lambda: cross_entropy(torch.zeros(1, 2, 3), torch.tensor([[0, 2]]), torch.tensor([True, True, False])), "'y'"),
        (lambda: cross_entropy(torch.zeros(1, 2, 3), torch.tensor([[0, 1]]), torch.tensor([1, 1, 0])), "'mask'"),
        (lambda: log_softmax(torch.zeros(1, 2, 3), torch.ones(4, dtype=torch.bool)), "'mask'"),
        (
            lambda: loss_and_grad(
                MLPSpec(layer_units=(1, 1)),
                torch.zeros(1, 2),
                torch.zeros(1, 2, 1),
                torch.zeros(1, 2),
                mask=torch.ones(1),
            ),
            "'mask'",
        ),
    ],
)
def test_bad_classification_inputs_name_the_parameter(call, field):
    with pytest.raises(InvalidParameterError, match=field):
        call()


# ---- the continual trainer ---------------------------------------------------------------


def test_results_scores_phases_and_initial_scores():
    stream = split_digits("class", n_tasks=3)
    spec = model_spec(stream, (16,))
    results = train_continual(spec, stream, Sequential(epochs_per_task=(2, 1, 2)), Naive(), [0, 1], batch_size=64)
    first = results[0]
    assert isinstance(first, ContinualResult) and first.metric == "accuracy" and first.strategy == "naive"
    assert first.scores.shape == (5, 3) and first.initial_scores.shape == (3,)
    assert first.phase_ends.tolist() == [1, 2, 4]
    assert score_matrix(first.scores, first.phase_ends).shape == (3, 3)
    # ceil(n_train / 64) steps per epoch
    assert first.n_iter.tolist() == [-(-stream.train_sizes[t] // 64) for t in (0, 0, 1, 2, 2)]
    assert first.trained == ["digits 0-1", "digits 0-1", "digits 2-3", "digits 4-5", "digits 4-5"]
    assert [len(p) for p in first.predictions] == [task.n_test for task in stream.tasks]
    assert first.params.shape == (spec.n_params,)
    # class-IL: an untrained task is scored on its own classes plus those seen so far
    assert set(first.predictions[2].tolist()) <= {0, 1, 2, 3, 4, 5}
    assert not np.array_equal(results[0].params, results[1].params)


def test_class_il_before_training_scores_each_task_on_its_own_classes():
    stream = split_digits("class", n_tasks=2)
    results = train_continual(model_spec(stream, (8,)), stream, Sequential(epochs_per_task=(1, 1)), Naive(), [5])
    initial = results[0].initial_scores
    assert ((initial > 0.2) & (initial < 0.8)).all(), "two-way guesses, not ten-way"


def test_task_il_predictions_stay_within_the_tasks_head():
    stream = split_digits("task", n_tasks=3)
    (result,) = train_continual(model_spec(stream, (8,)), stream, Sequential(epochs_per_task=(1, 1, 1)), Naive(), [2])
    for task, predicted in zip(stream.tasks, result.predictions, strict=True):
        assert set(predicted.tolist()) <= set(task.classes)


def final_accuracy(results):
    return float(np.mean([r.scores[-1].mean() for r in results]))


def test_split_digits_class_il_naive_forgets_replay_remembers_joint_best():
    """A fast version of van de Ven & Tolias's class-IL pattern on the 8x8 digits (2 seeds)."""
    stream = split_digits("class")
    spec = model_spec(stream, (100,))
    schedule = Sequential(epochs_per_task=(20,) * 5)
    seeds = [0, 1]
    naive = final_accuracy(train_continual(spec, stream, schedule, Naive(), seeds))
    replay = final_accuracy(train_continual(spec, stream, schedule, Replay(buffer_size=200), seeds))
    joint = final_accuracy(train_continual(spec, stream, schedule, Joint(), seeds))
    assert naive < 0.3 and replay > naive + 0.3 and joint > replay and joint > 0.9


@pytest.mark.slow
def test_split_digits_class_il_over_ten_seeds():
    """10 seeds, MLP (64, 100, 10), Adam 1e-3, batch 128, 30 epochs per task."""
    stream = split_digits("class")
    spec = model_spec(stream, (100,))
    schedule = Sequential(epochs_per_task=(30,) * 5)
    seeds = list(range(10))
    naive = final_accuracy(train_continual(spec, stream, schedule, Naive(), seeds))
    replay = final_accuracy(train_continual(spec, stream, schedule, Replay(buffer_size=200), seeds))
    joint = final_accuracy(train_continual(spec, stream, schedule, Joint(), seeds))
    assert naive < 0.30
    assert replay >= 0.70
    assert joint >= 0.90


@pytest.mark.slow
def test_rotated_digits_task_il_ewc_and_si_beat_naive_by_five_points():
    """10 seeds, five angles, a ten-class head per task, 30 epochs per task (as the benchmark).

    With the benchmark's one hidden layer and 30 epochs, task-IL split digits fine-tuning
    already keeps ~97.6% (benchmarks/strategies.py), so no regulariser can gain 5 points
    there (the test below trains longer and deeper); rotated digits leave room: measured
    over 16 seeds, naive 0.870, EWC 0.925, SI 0.923.
    """
    stream = rotated_digits(scenario="task")
    spec = model_spec(stream, (100,))
    schedule = Sequential(epochs_per_task=(30,) * 5)
    seeds = list(range(10))
    naive, ewc, si = (
        final_accuracy(train_continual(spec, stream, schedule, strategy, seeds)) for strategy in (Naive(), EWC(), SI())
    )
    assert ewc >= naive + 0.05
    assert si >= naive + 0.05


@pytest.mark.slow
def test_split_digits_task_il_ewc_and_si_beat_naive_by_five_points():
    """10 seeds, MLP (64, 100, 100, 10), Adam 1e-3, batch 128, 100 epochs (~300 steps) per task.

    Closer to van de Ven & Tolias's split-MNIST setting (two hidden layers of 400, Adam 1e-3,
    batch 128, 2000 steps per task; task-IL naive ~87-93%, EWC ~98%, SI ~99%): with the
    default strengths, measured over seeds 0-9, naive 0.910 ± 0.023, EWC (lambda 1e3)
    0.980 ± 0.005, SI (c 1) 0.983 ± 0.005 (seeds 10-19: 0.917, 0.980, 0.984).
    """
    stream = split_digits("task")
    spec = model_spec(stream, (100, 100))
    schedule = Sequential(epochs_per_task=(100,) * 5)
    seeds = list(range(10))
    naive, ewc, si = (
        final_accuracy(train_continual(spec, stream, schedule, strategy, seeds, learning_rate=1e-3, batch_size=128))
        for strategy in (Naive(), EWC(ewc_lambda=1e3), SI(c=1.0))
    )
    assert naive < ewc - 0.05
    assert naive < si - 0.05


def test_a_diverging_run_is_flagged_frozen_and_leaves_the_others_untouched():
    stream = poisoned_stream()
    spec = model_spec(stream, (100, 100))  # the tutorial's model: batch invariance is exact for it
    schedule = Interspersed(k=10, n_epochs=3)
    seeds = list(range(8))
    batch = train_continual(spec, stream, schedule, Naive(), seeds, batch_size=5, optimizer="sgd")
    diverged = [r for r in batch if r.diverged]
    healthy = [r for r in batch if not r.diverged]
    assert diverged and healthy, "some seeds draw the poisoned sample, some do not"
    for r in diverged:
        assert np.isnan(r.scores[-1]).all() and np.isnan(r.predictions[0]).all()
        assert not np.isfinite(r.params).all()
    alone = train_continual(spec, stream, schedule, Naive(), [r.seed for r in healthy], batch_size=5, optimizer="sgd")
    for ours, theirs in zip(healthy, alone, strict=True):
        np.testing.assert_array_equal(ours.scores, theirs.scores)
        np.testing.assert_array_equal(ours.params, theirs.params)


def test_regression_streams_train_with_r2_scores():
    stream = seasons()
    (result,) = train_continual(
        model_spec(stream, (20,)), stream, Sequential(epochs_per_task=(3, 3)), Naive(), [0], learning_rate=0.01
    )
    assert result.metric == "r2" and result.scores.shape == (6, 2) and np.isfinite(result.scores).all()
    assert result.predictions[0].dtype == np.float64


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"optimizer": "rmsprop"}, "'optimizer'"),
        ({"learning_rate": 0.0}, "'learning_rate'"),
        ({"batch_size": 0}, "'batch_size'"),
        ({"dtype": "float16"}, "'dtype'"),
        ({"seeds": []}, "'seeds'"),
        ({"seeds": [-1]}, "'seeds'"),
        ({"spec": MLPSpec(layer_units=(64, 5, 10))}, "'spec'"),
        ({"spec": MLPSpec(layer_units=(64, 5, 6), output="softmax")}, "'spec'"),
        ({"strategy": "naive"}, "'strategy'"),
        ({"schedule": Sequential(epochs_per_task=(1,))}, "'epochs_per_task'"),
    ],
)
def test_bad_trainer_settings_name_the_field(kwargs, field):
    stream = split_digits("class", n_tasks=2)
    call = {
        "spec": model_spec(stream, (4,)),
        "stream": stream,
        "schedule": Sequential(epochs_per_task=(1, 1)),
        "strategy": Naive(),
        "seeds": [0],
        **kwargs,
    }
    options = {key: call.pop(key) for key in ("optimizer", "learning_rate", "batch_size", "dtype") if key in call}
    with pytest.raises(InvalidParameterError, match=field):
        train_continual(call["spec"], call["stream"], call["schedule"], call["strategy"], call["seeds"], **options)
