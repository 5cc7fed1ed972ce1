"""Synaptic intelligence, learning without forgetting and A-GEM: each mechanism, batch invariance, bad settings."""

import itertools
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import forgetlab.strategies
from forgetlab import InvalidParameterError
from forgetlab.engines.continual import model_spec, train_continual
from forgetlab.numerics.mlp import forward, init_params, loss_and_grad
from forgetlab.schedules import Sequential
from forgetlab.strategies import Context, Minibatch, Naive, Phase, make_strategy
from forgetlab.strategies.agem import AGEM, equal_shares, project_gradient
from forgetlab.strategies.lwf import LwF, distillation
from forgetlab.strategies.si import SI
from forgetlab.tasks import split_digits

F64 = torch.float64


def test_the_three_are_registered():
    assert {"si": SI, "lwf": LwF, "agem": AGEM}.items() <= forgetlab.strategies.STRATEGIES.items()


def digits_context(scenario: str = "task", n_tasks: int = 3, seeds=(0, 1), hidden=(6,)) -> Context:
    stream = split_digits(scenario, n_tasks=n_tasks)
    return Context.build(model_spec(stream, hidden), stream, list(seeds), F64)


def whole_task(context: Context, t: int, number: int | None = None) -> Phase:
    samples = np.arange(context.offsets[t], context.offsets[t + 1])
    return Phase(number=t if number is None else number, newest=t, tasks=(t,), samples=samples)


def minibatch(context: Context, index: np.ndarray, newest: int) -> Minibatch:
    x, y, tasks = context.gather(index)
    mask = context.train_mask(tasks, newest)
    return Minibatch(index=index, x=x, y=y, tasks=tasks, mask=mask, newest=newest, n_new=index.shape[1])


# ---- SI ------------------------------------------------------------------------------------


def quadratic_context(n_runs: int, n_params: int) -> SimpleNamespace:
    """What SI.start reads of a context."""
    return SimpleNamespace(n_runs=n_runs, spec=SimpleNamespace(n_params=n_params), x=torch.zeros(1, dtype=F64))


def test_si_path_integral_of_two_gradient_steps_on_a_quadratic():
    """L = a θ² / 2 with a = 2, θ0 = 1 and two steps of size η = 1/4, by hand:

    g0 = 2, Δθ = -1/2 (θ1 = 1/2); g1 = 1, Δθ = -1/4 (θ2 = 1/4);
    ω = -(2 · -1/2) - (1 · -1/4) = 5/4; Δ = -3/4, Ω = (5/4) / (9/16 + ξ).
    A second coordinate that never moves gets ω = 0; a third moved up a slope, ω < 0, Ω clipped at 0.
    """
    strategy = SI(c=1.0, xi=0.0625)
    state = strategy.start(quadratic_context(1, 3))
    a, eta = torch.tensor([[2.0, 2.0, 0.0]], dtype=F64), 0.25
    theta = torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)
    for _ in range(2):
        assert strategy.penalty(state, theta) is None, "no anchor during the first task"
        grad = a * theta + torch.tensor([[0.0, 0.0, 1.0]], dtype=F64)  # the third: a constant slope of 1
        step = -eta * grad * torch.tensor([[1.0, 1.0, -1.0]], dtype=F64)  # ... climbed on purpose
        strategy.after_step(state, theta, theta + step, grad)
        theta = theta + step
    assert state.omega.tolist() == [[1.25, 0.0, -0.5]]
    strategy.end_phase(state, theta, Phase(number=0, newest=0, tasks=(0,), samples=np.arange(3)))
    assert state.importance.tolist() == [[1.25 / (0.5625 + 0.0625), 0.0, 0.0]]
    assert state.omega.abs().sum() == 0 and torch.equal(state.anchor, theta)


def test_si_path_integral_uses_the_task_gradient_without_the_penalty():
    strategy = SI(c=3.0, xi=0.1)
    generator = torch.Generator().manual_seed(0)
    state = strategy.start(quadratic_context(2, 5))
    start = torch.randn(2, 5, generator=generator, dtype=F64)
    strategy.after_step(state, start, start + 0.5, -torch.ones(2, 5, dtype=F64))  # ω = 1/2 everywhere
    strategy.end_phase(state, start + 0.5, Phase(number=0, newest=0, tasks=(0,), samples=np.arange(3)))
    importance = state.importance.clone()
    torch.testing.assert_close(importance, torch.full((2, 5), 0.5 / (0.25 + 0.1), dtype=F64))
    params = start + torch.randn(2, 5, generator=generator, dtype=F64)
    _, penalty_grad = strategy.penalty(state, params)
    task_grad = torch.randn(2, 5, generator=generator, dtype=F64)
    after = params + torch.randn(2, 5, generator=generator, dtype=F64)
    strategy.after_step(state, params, after, task_grad + penalty_grad)
    torch.testing.assert_close(state.omega, -task_grad * (after - params), rtol=1e-12, atol=1e-14)
    strategy.end_phase(state, after, Phase(number=1, newest=1, tasks=(1,), samples=np.arange(3)))
    omega = -task_grad * (after - params)
    expected = (importance + omega / ((after - (start + 0.5)) ** 2 + 0.1)).clamp(min=0)
    torch.testing.assert_close(state.importance, expected, rtol=1e-12, atol=1e-14)
    assert (state.importance == 0).any() and (state.importance > importance).any(), "both signs occurred"


def si_after_one_task(strategy: SI):
    """An SI state with non-trivial importance: two real training steps on task 0, then its end."""
    context = digits_context("class", n_tasks=2)
    params = init_params(context.spec, list(context.seeds), dtype=F64)
    state = strategy.start(context)
    index = np.stack([np.arange(20) + 7 * r for r in range(2)])
    for _ in range(3):
        batch = minibatch(context, index, 0)
        _, grad = loss_and_grad(context.spec, params, batch.x, batch.y, mask=batch.mask)
        after = params - 0.1 * grad
        strategy.after_step(state, params, after, grad)
        params = after
    strategy.end_phase(state, params, whole_task(context, 0))
    return state, params


def test_si_penalty_is_zero_at_the_anchor_and_its_gradient_equals_finite_differences():
    strategy = SI(c=2.0, xi=1e-3)
    state, anchor = si_after_one_task(strategy)
    assert (state.importance >= 0).all() and (state.importance > 0).any()
    loss, grad = strategy.penalty(state, anchor)
    assert (loss == 0).all() and (grad == 0).all()
    params = anchor + torch.randn(anchor.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    loss, grad = strategy.penalty(state, params)
    torch.testing.assert_close(loss, 2.0 * (state.importance * (params - anchor) ** 2).sum(1))
    grad = grad.clone()
    step = 1e-2  # central differences of a quadratic are exact up to rounding
    for i in range(0, params.shape[1], 29):
        bump = torch.zeros_like(params)
        bump[:, i] = step
        up, _ = strategy.penalty(state, params + bump)
        down, _ = strategy.penalty(state, params - bump)
        torch.testing.assert_close(grad[:, i], (up - down) / (2 * step), rtol=1e-6, atol=1e-10)


# ---- LwF -----------------------------------------------------------------------------------


def autograd_distillation(output, teacher, heads, temperature):
    """The stated loss, written with autograd operations: T² / n Σ_i Σ_h KL(p || q), or half the MSE."""
    n = output.shape[1]
    if heads is None:
        return 0.5 * ((output - teacher) ** 2).sum(dim=(1, 2)) / (n * output.shape[2])
    total = 0.0
    for head in heads:
        log_q = torch.log_softmax((output / temperature).masked_fill(~head, -torch.inf), dim=-1)
        log_p = torch.log_softmax((teacher / temperature).masked_fill(~head, -torch.inf), dim=-1)
        terms = log_p.exp() * (log_p - log_q)
        total = total + torch.where(head, terms, torch.zeros_like(terms)).sum(dim=(1, 2))
    return temperature**2 * total / n


HEADS = {
    "regression": None,
    "one head": torch.tensor([[True, True, True, False, False]]),
    "two heads": torch.tensor([[True, True, False, False, False], [False, False, True, True, False]]),
    "overlapping": torch.tensor([[True, True, True, False, False], [False, True, True, True, True]]),
}


@pytest.mark.parametrize("which", list(HEADS))
@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_distillation_and_its_output_gradient_equal_autograd(which, temperature):
    heads = HEADS[which]
    generator = torch.Generator().manual_seed(len(which))
    units = 1 if heads is None else 5
    teacher = 3 * torch.randn(3, 7, units, generator=generator, dtype=F64)
    output = (3 * torch.randn(3, 7, units, generator=generator, dtype=F64)).requires_grad_(True)
    expected = autograd_distillation(output, teacher, heads, temperature)
    (expected_grad,) = torch.autograd.grad(expected.sum(), output)
    loss, d_output = distillation(output.detach(), teacher, heads, temperature)
    torch.testing.assert_close(loss, expected.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(d_output, expected_grad, rtol=1e-12, atol=1e-14)
    assert (loss > 0).all()
    same, d_same = distillation(teacher, teacher.clone(), heads, temperature)
    assert (same.abs() < 1e-15).all() and (d_same.abs() < 1e-15).all()


@pytest.mark.parametrize(
    ("scenario", "heads"),
    [("task", [[0, 1], [2, 3]]), ("class", [[0, 1, 2, 3]]), ("domain", [[0, 1]])],
)
def test_lwf_distils_the_heads_of_every_task_trained(scenario, heads):
    context = digits_context(scenario)
    strategy = LwF(temperature=2.0, alpha=0.5)
    state = strategy.start(context)
    params = init_params(context.spec, list(context.seeds), dtype=F64)
    index = np.stack([np.arange(10) + context.offsets[2], np.arange(10) + context.offsets[2] + 5])
    batch = minibatch(context, index, 2)
    output = forward(context.spec, params, batch.x).output
    assert strategy.output_term(state, batch, output) is None, "no teacher before a phase ends"
    for t in (0, 1):
        strategy.end_phase(state, params + t, whole_task(context, t))
    units = [torch.nonzero(head).flatten().tolist() for head in state.heads]
    assert units == heads
    loss, d_output = strategy.output_term(state, batch, forward(context.spec, params + 1, batch.x).output)
    assert (loss == 0).all() and (d_output == 0).all(), "the student is the teacher"
    loss, d_output = strategy.output_term(state, batch, output)
    teacher = forward(context.spec, params + 1, batch.x).output
    expected, expected_d = distillation(output, teacher, state.heads, 2.0)
    torch.testing.assert_close(loss, 0.5 * expected)
    torch.testing.assert_close(d_output, 0.5 * expected_d)


def test_lwf_without_weight_is_fine_tuning_and_with_weight_changes_training():
    stream = split_digits("task", n_tasks=2)
    spec = model_spec(stream, (8,))
    schedule = Sequential(epochs_per_task=(1, 2))
    (naive,) = train_continual(spec, stream, schedule, Naive(), [0])
    (off,) = train_continual(spec, stream, schedule, LwF(alpha=0.0), [0])
    (on,) = train_continual(spec, stream, schedule, LwF(), [0])
    np.testing.assert_array_equal(naive.params, off.params)
    np.testing.assert_array_equal(naive.scores[0], on.scores[0])
    assert not np.array_equal(naive.params, on.params)


# ---- A-GEM ---------------------------------------------------------------------------------


@st.composite
def gradient_pairs(draw):
    n_runs, n_params = draw(st.integers(1, 4)), draw(st.integers(1, 12))
    # zero or normal magnitudes whose squares and products neither underflow nor overflow
    values = st.one_of(st.just(0.0), st.floats(1e-100, 1e3), st.floats(-1e3, -1e-100))
    grad = draw(st.lists(values, min_size=n_runs * n_params, max_size=n_runs * n_params))
    ref = draw(st.lists(values, min_size=n_runs * n_params, max_size=n_runs * n_params))
    shape = (n_runs, n_params)
    return torch.tensor(grad, dtype=F64).reshape(shape), torch.tensor(ref, dtype=F64).reshape(shape)


@settings(max_examples=200, deadline=None)
@given(gradient_pairs())
def test_projected_gradient_never_opposes_the_reference(pair):
    grad, ref = pair
    projected = project_gradient(grad, ref)
    dot = torch.linalg.vecdot(grad, ref)
    scale = grad.norm(dim=1) * ref.norm(dim=1)
    # non-negative up to the rounding of a dot product of P terms
    assert (torch.linalg.vecdot(projected, ref) >= -1e-12 * scale).all()
    keep = dot >= 0
    assert torch.equal(projected[keep], grad[keep]), "no conflict: the gradient is unchanged"
    # otherwise the smallest change that removes the conflict: along g_ref, by -g·g_ref / |g_ref|
    change = grad[~keep] - projected[~keep]
    torch.testing.assert_close(
        change.norm(dim=1), -dot[~keep] / ref[~keep].norm(dim=1), rtol=1e-9, atol=1e-9 * float(scale.max())
    )
    torch.testing.assert_close(
        torch.linalg.vecdot(change, ref[~keep]).abs(),
        change.norm(dim=1) * ref[~keep].norm(dim=1),
        rtol=1e-9,
        atol=1e-9 * float(scale.max()),
    )


def test_projection_keeps_runs_with_a_zero_reference():
    grad = torch.tensor([[1.0, -2.0], [3.0, 4.0]], dtype=F64)
    ref = torch.tensor([[0.0, 0.0], [-1.0, 0.0]], dtype=F64)
    assert project_gradient(grad, ref).tolist() == [[1.0, -2.0], [0.0, 4.0]]
    underflow = torch.tensor([[1e-200, 0.0]], dtype=F64)  # g·g_ref < 0 but g_ref·g_ref == 0
    assert project_gradient(-torch.ones(1, 2, dtype=F64), underflow).tolist() == [[-1.0, -1.0]]


def test_agem_memory_holds_equal_shares_of_every_finished_task():
    context = digits_context("task", n_tasks=3, seeds=(0, 1, 2))
    strategy = AGEM(memory_size=10)
    state = strategy.start(context)
    history = []
    for t, counts in zip(range(3), ([10], [5, 5], [4, 3, 3]), strict=True):
        strategy.end_phase(state, torch.zeros(3, context.spec.n_params, dtype=F64), whole_task(context, t))
        assert state.tasks == list(range(t + 1))
        for memory in state.memory:
            assert [len(memory[s]) for s in state.tasks] == counts
            for s in state.tasks:
                held = memory[s]
                assert len(set(held.tolist())) == len(held)
                assert ((held >= context.offsets[s]) & (held < context.offsets[s + 1])).all()
        history.append([dict(memory) for memory in state.memory])
    for before, after in itertools.pairwise(history):
        for run_before, run_after in zip(before, after, strict=True):
            for s, held in run_after.items():
                if s in run_before:
                    assert np.array_equal(run_before[s][: len(held)], held), "old tasks keep a prefix"
    assert len({tuple(memory[0].tolist()) for memory in state.memory}) == 3, "each run draws its own samples"
    alone = strategy.start(digits_context("task", n_tasks=3, seeds=(1,)))
    for t in range(3):
        strategy.end_phase(alone, torch.zeros(1, context.spec.n_params, dtype=F64), whole_task(context, t))
    assert all(np.array_equal(alone.memory[0][t], state.memory[1][t]) for t in range(3))
    assert equal_shares(7, [100, 2, 100]) == [3, 2, 2]


@pytest.mark.parametrize("scenario", ["task", "class"])
def test_agem_reference_gradient_is_the_memory_loss_gradient(scenario):
    context = digits_context(scenario, n_tasks=3)
    strategy = AGEM(memory_size=12, sample_size=500)  # a reference batch of the whole memory
    state = strategy.start(context)
    params = init_params(context.spec, list(context.seeds), dtype=F64)
    grad = torch.randn(params.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    index = np.stack([np.arange(5) + context.offsets[2]] * 2)
    batch = minibatch(context, index, 2)
    assert strategy.edit_gradient(state, batch, params, grad) is grad, "empty memory: unchanged"
    for t in (0, 1):
        strategy.end_phase(state, params, whole_task(context, t))
    edited = strategy.edit_gradient(state, batch, params, grad)
    memory = np.stack([state.contents(r) for r in range(2)])
    x, y, tasks = context.gather(memory)
    _, ref = loss_and_grad(context.spec, params, x, y, mask=context.train_mask(tasks, 2))
    torch.testing.assert_close(edited, project_gradient(grad, ref), rtol=1e-10, atol=1e-12)
    assert (torch.linalg.vecdot(grad, ref) < 0).any() and not torch.equal(edited, grad)


# ---- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SI, LwF, AGEM])
def test_settings_round_trip(cls):
    strategy = make_strategy(cls.name)
    settings_ = strategy.to_dict()
    assert settings_.pop("name") == cls.name
    assert make_strategy(cls.name, settings_) == strategy


@pytest.mark.parametrize(
    ("name", "settings_", "field"),
    [
        ("si", {"c": -1.0}, "'c'"),
        ("si", {"c": float("inf")}, "'c'"),
        ("si", {"xi": 0.0}, "'xi'"),
        ("si", {"xi": "small"}, "'xi'"),
        ("lwf", {"temperature": 0.0}, "'temperature'"),
        ("lwf", {"alpha": -0.5}, "'alpha'"),
        ("lwf", {"alpha": float("nan")}, "'alpha'"),
        ("agem", {"memory_size": 0}, "'memory_size'"),
        ("agem", {"memory_size": 10.0}, "'memory_size'"),
        ("agem", {"sample_size": 0}, "'sample_size'"),
        ("agem", {"sample_size": True}, "'sample_size'"),
        ("agem", {"buffer_size": 10}, "'buffer_size'"),
    ],
)
def test_bad_settings_name_the_field(name, settings_, field):
    with pytest.raises(InvalidParameterError, match=field) as error:
        make_strategy(name, settings_)
    assert "\n" not in str(error.value)
