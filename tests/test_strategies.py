"""Continual-learning strategies: each mechanism, batch invariance, the registry and bad settings."""

import numpy as np
import pytest
import torch
from scipy import stats

from forgetlab import InvalidParameterError
from forgetlab.engines.continual import model_spec, train_continual
from forgetlab.numerics.mlp import MLPSpec, forward, init_params, log_softmax, loss_and_grad
from forgetlab.schedules import Alternating, Sequential
from forgetlab.strategies import (
    EWC,
    STRATEGIES,
    ClassBalancedBuffer,
    Context,
    Cumulative,
    Joint,
    OnlineEWC,
    Phase,
    Replay,
    ReservoirBuffer,
    fisher_diagonal,
    make_strategy,
)
from forgetlab.tasks import friedman_drift, split_digits

F64 = torch.float64


def digits_context(scenario: str = "class", n_tasks: int = 2, seeds=(0, 1), hidden=(6,)) -> Context:
    stream = split_digits(scenario, n_tasks=n_tasks)
    return Context.build(model_spec(stream, hidden), stream, list(seeds), F64)


def whole_task(context: Context, t: int) -> Phase:
    samples = np.arange(context.offsets[t], context.offsets[t + 1])
    return Phase(number=t, newest=t, tasks=(t,), samples=samples)


# ---- EWC ----------------------------------------------------------------------------------


def ewc_after_one_task(strategy):
    context = digits_context()
    params = init_params(context.spec, list(context.seeds), dtype=F64)
    state = strategy.start(context)
    strategy.end_phase(state, params, whole_task(context, 0))
    return state, params


def test_ewc_penalty_is_zero_at_the_anchor_and_quadratic_around_it():
    strategy = EWC(ewc_lambda=50.0)
    state, anchor = ewc_after_one_task(strategy)
    loss, grad = strategy.penalty(state, anchor)
    assert (loss == 0).all() and (grad == 0).all()
    direction = torch.randn(anchor.shape, generator=torch.Generator().manual_seed(0), dtype=F64)
    one, _ = strategy.penalty(state, anchor + direction)
    three, _ = strategy.penalty(state, anchor + 3 * direction)
    assert (one > 0).all()
    torch.testing.assert_close(three, 9 * one, rtol=1e-12, atol=0)
    fisher = state.fishers[0]
    torch.testing.assert_close(one, 25.0 * (fisher * direction**2).sum(1))


def test_ewc_penalty_gradient_equals_finite_differences():
    strategy = EWC(ewc_lambda=3.0)
    state, anchor = ewc_after_one_task(strategy)
    strategy.end_phase(state, anchor + 0.1, whole_task(digits_context(), 1))  # a second anchor and Fisher
    params = anchor + torch.randn(anchor.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    _, grad = strategy.penalty(state, params)
    step = 1e-2  # central differences of a quadratic are exact up to rounding
    for i in range(0, params.shape[1], 37):
        bump = torch.zeros_like(params)
        bump[:, i] = step
        up, _ = strategy.penalty(state, params + bump)
        down, _ = strategy.penalty(state, params - bump)
        torch.testing.assert_close(grad[:, i], (up - down) / (2 * step), rtol=1e-6, atol=1e-10)


def test_online_ewc_keeps_one_running_fisher_and_the_latest_anchor():
    context = digits_context(n_tasks=3)
    strategy = OnlineEWC(ewc_lambda=1.0, gamma=0.5)
    state = strategy.start(context)
    points = [init_params(context.spec, [s, s + 1], dtype=F64) for s in (0, 10, 20)]
    fishers = []
    for t, params in enumerate(points):
        strategy.end_phase(state, params, whole_task(context, t))
        fishers.append(fisher_diagonal(context, params, whole_task(context, t).samples, t))
    assert len(state.fishers) == len(state.anchors) == 1
    torch.testing.assert_close(state.fishers[0], 0.25 * fishers[0] + 0.5 * fishers[1] + fishers[2])
    assert torch.equal(state.anchors[0], points[2])


@pytest.mark.parametrize("scenario", ["task", "class"])
@pytest.mark.parametrize("kind", ["expected", "empirical"])
def test_fisher_diagonal_equals_per_sample_autograd(scenario, kind):
    context = digits_context(scenario, n_tasks=2, hidden=(3,))
    params = init_params(context.spec, [0, 1], dtype=F64)
    samples = np.array([0, 5, 150, 300, 301])  # both tasks
    newest = 1
    expected = torch.zeros_like(params)
    for i in samples:
        x, y, task = context.gather(np.array([i]))
        mask = context.train_mask(task, newest)
        mask = mask.unsqueeze(0).expand(2, 1, -1) if mask is not None and mask.dim() == 2 else mask
        p = params.clone().requires_grad_(True)
        logp = log_softmax(forward(context.spec, p, x).output, mask)[:, 0]  # (R, C)
        classes = [int(y)] if kind == "empirical" else range(logp.shape[1])
        for c in classes:
            if torch.isinf(logp[:, c]).all():
                continue
            (g,) = torch.autograd.grad(logp[:, c].sum(), p, retain_graph=True)
            weight = 1.0 if kind == "empirical" else logp[:, c].detach().exp().unsqueeze(1)
            expected += weight * g**2
    ours = fisher_diagonal(context, params, samples, newest, fisher=kind)
    torch.testing.assert_close(ours, expected / len(samples), rtol=1e-10, atol=1e-15)


def test_regression_fisher_uses_the_squared_error_gradient():
    stream = friedman_drift(n_tasks=2, n_samples=40)
    context = Context.build(model_spec(stream, (4,)), stream, [0], F64)
    params = init_params(context.spec, [0], dtype=F64)
    samples = np.arange(10)
    expected = torch.zeros_like(params)
    for i in samples:
        x, y, _ = context.gather(np.array([[i]]))
        _, grad = loss_and_grad(MLPSpec(layer_units=context.spec.layer_units, alpha=0.0), params, x, y)
        expected += grad**2  # the gradient of (y - f)^2 / 2 for one sample
    torch.testing.assert_close(fisher_diagonal(context, params, samples, 0), expected / 10)


# ---- replay buffers -----------------------------------------------------------------------


def test_reservoir_buffer_holds_a_uniform_sample_of_the_stream():
    """Chi-square test of which stream positions end in the buffer, over 3000 seeded runs."""
    n_stream, capacity, n_runs = 40, 8, 3000
    counts = np.zeros(n_stream)
    for seed in range(n_runs):
        buffer = ReservoirBuffer(capacity, np.random.RandomState(seed))
        for chunk in np.array_split(np.arange(n_stream), 6):  # offered minibatch by minibatch
            buffer.add(chunk, np.zeros(len(chunk), dtype=np.int64))
        assert buffer.size == capacity and buffer.seen == n_stream
        assert len(set(buffer.contents.tolist())) == capacity
        counts[buffer.contents] += 1
    expected = n_runs * capacity / n_stream
    _, p_value = stats.chisquare(counts, np.full(n_stream, expected))
    assert p_value > 0.01, (p_value, counts)


def test_reservoir_buffer_keeps_everything_until_full():
    buffer = ReservoirBuffer(10, np.random.RandomState(0))
    buffer.add(np.arange(4), np.zeros(4, dtype=np.int64))
    buffer.add(np.arange(4, 7), np.zeros(3, dtype=np.int64))
    assert buffer.contents.tolist() == list(range(7))


def test_class_balanced_buffer_holds_equal_counts_per_class():
    rng = np.random.RandomState(0)
    buffer = ClassBalancedBuffer(60, rng, n_classes=6)
    # classes arrive in tasks of two, very unequal in number
    for task, sizes in enumerate([(200, 20), (50, 300), (90, 90)]):
        labels = np.repeat([2 * task, 2 * task + 1], sizes)
        rng.shuffle(labels)
        buffer.add(np.arange(len(labels)) + 1000 * task, labels)
        assert buffer.size == 60
    assert np.bincount(buffer.labels, minlength=6).tolist() == [10] * 6


def test_replay_appends_memory_samples_to_minibatches():
    context = digits_context(seeds=(0, 1, 2))
    strategy = Replay(buffer_size=20, replay_batch_size=5)
    state = strategy.start(context)
    first = np.stack([np.arange(8) + 10 * r for r in range(3)])
    assert np.array_equal(strategy.extend_batch(state, first), first), "empty memory: nothing to replay"
    strategy.observe(state, first)
    strategy.observe(state, first + 100)
    second = first + 200
    extended = strategy.extend_batch(state, second)
    assert extended.shape == (3, 13) and np.array_equal(extended[:, :8], second)
    for r in range(3):
        memory = set(state.buffers[r].contents.tolist())
        assert set(extended[r, 8:].tolist()) <= memory and len(set(extended[r, 8:].tolist())) == 5
    default = Replay(buffer_size=20)
    state = default.start(context)
    default.observe(state, first)
    assert default.extend_batch(state, second[:, :3]).shape == (3, 6), "1:1 by default"


# ---- what each strategy trains on ---------------------------------------------------------


def test_joint_and_cumulative_train_on_whole_tasks():
    stream = split_digits("class", n_tasks=3)
    spec = model_spec(stream, (4,))
    schedule = Sequential(epochs_per_task=(1, 2, 1))
    sizes = np.array(stream.train_sizes)
    (joint,) = train_continual(spec, stream, schedule, Joint(), [0])
    (cumulative,) = train_continual(spec, stream, schedule, Cumulative(), [0])
    assert joint.samples_seen.tolist() == (sizes.sum() * np.arange(1, 5)).tolist()
    assert joint.phase_ends.tolist() == [3]
    per_epoch = [sizes[:1].sum(), sizes[:2].sum(), sizes[:2].sum(), sizes.sum()]
    assert cumulative.samples_seen.tolist() == np.cumsum(per_epoch).tolist()
    assert cumulative.phase_ends.tolist() == [0, 2, 3]


def test_replay_changes_training_and_naive_does_not_replay():
    stream = split_digits("class", n_tasks=2)
    spec = model_spec(stream, (8,))
    schedule = Sequential(epochs_per_task=(2, 2))
    (naive,) = train_continual(spec, stream, schedule, make_strategy("naive"), [0])
    (replay,) = train_continual(spec, stream, schedule, Replay(buffer_size=50), [0])
    np.testing.assert_array_equal(naive.scores[0], replay.scores[0])  # the first minibatch has no memory yet
    assert not np.array_equal(naive.params, replay.params)


# ---- batch invariance ---------------------------------------------------------------------

SETTINGS = [
    ("naive", {}),
    ("joint", {}),
    ("cumulative", {}),
    ("replay", {"buffer_size": 40}),
    ("replay", {"buffer_size": 40, "buffer": "class_balanced", "replay_batch_size": 16}),
    ("ewc", {"ewc_lambda": 100.0}),
    ("online_ewc", {"ewc_lambda": 100.0, "fisher": "empirical"}),
    ("si", {"c": 1.0}),
    ("lwf", {"temperature": 2.0, "alpha": 1.0}),
    ("agem", {"memory_size": 40, "sample_size": 16}),
]


@pytest.mark.parametrize(("name", "settings"), SETTINGS)
@pytest.mark.parametrize("scenario", ["task", "class"])
def test_a_run_in_a_batch_equals_the_run_alone_bitwise(name, settings, scenario):
    stream = split_digits(scenario, n_tasks=3)
    spec = model_spec(stream, (32,))
    strategy = make_strategy(name, settings)
    schedule = Sequential(epochs_per_task=(2, 1, 2))
    batch = train_continual(spec, stream, schedule, strategy, [3, 1, 4], batch_size=64)
    for result in batch:
        (alone,) = train_continual(spec, stream, schedule, strategy, [result.seed], batch_size=64)
        np.testing.assert_array_equal(result.params, alone.params)
        np.testing.assert_array_equal(result.scores, alone.scores)
        np.testing.assert_array_equal(result.initial_scores, alone.initial_scores)
    assert len({r.params.tobytes() for r in batch}) == 3  # the runs are distinct


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("replay", {"buffer_size": 30}),
        ("online_ewc", {}),
        ("si", {"c": 1.0}),
        ("lwf", {"temperature": 2.0, "alpha": 1.0}),
        ("agem", {"memory_size": 40, "sample_size": 16}),
    ],
)
def test_regression_runs_are_batch_invariant_too(name, settings):
    stream = friedman_drift(n_tasks=2, n_samples=80)
    spec = model_spec(stream, (16,))
    strategy = make_strategy(name, settings)
    schedule = Alternating(k=20, n_epochs=4)
    batch = train_continual(spec, stream, schedule, strategy, [7, 8], learning_rate=0.01, batch_size=16)
    for result in batch:
        (alone,) = train_continual(spec, stream, schedule, strategy, [result.seed], learning_rate=0.01, batch_size=16)
        np.testing.assert_array_equal(result.params, alone.params)
        np.testing.assert_array_equal(result.scores, alone.scores)


# ---- the registry and bad settings --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_round_trips_through_its_settings(name):
    strategy = make_strategy(name)
    settings = strategy.to_dict()
    assert settings.pop("name") == name
    assert make_strategy(name, settings) == strategy


@pytest.mark.parametrize(
    ("name", "settings", "field"),
    [
        ("bogus", {}, "'strategy'"),
        ("naive", {"buffer_size": 3}, "'buffer_size'"),
        ("replay", {"buffer_size": 0}, "'buffer_size'"),
        ("replay", {"buffer_size": 2.5}, "'buffer_size'"),
        ("replay", {"buffer": "fifo"}, "'buffer'"),
        ("replay", {"replay_batch_size": 0}, "'replay_batch_size'"),
        ("ewc", {"ewc_lambda": -1.0}, "'ewc_lambda'"),
        ("ewc", {"ewc_lambda": float("nan")}, "'ewc_lambda'"),
        ("ewc", {"fisher": "sampled"}, "'fisher'"),
        ("online_ewc", {"gamma": 1.5}, "'gamma'"),
        ("online_ewc", {"lambda": 1.0}, "'lambda'"),
    ],
)
def test_bad_settings_name_the_field(name, settings, field):
    with pytest.raises(InvalidParameterError, match=field):
        make_strategy(name, settings)


def test_class_balanced_replay_needs_labels():
    stream = friedman_drift(n_tasks=2, n_samples=40)
    with pytest.raises(InvalidParameterError, match="'buffer'"):
        train_continual(
            model_spec(stream, (4,)),
            stream,
            Sequential(epochs_per_task=(1, 1)),
            Replay(buffer_size=20, buffer="class_balanced"),
            [0],
        )
