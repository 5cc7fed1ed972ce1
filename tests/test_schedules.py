"""Schedules: plan sizes, valid distinct indices, determinism, the tutorial's RNG order."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forgetlab import InvalidParameterError
from forgetlab.schedules import SCHEDULES, Alternating, Interspersed, Sequential, make_schedule

sizes_strategy = st.lists(st.integers(1, 80), min_size=1, max_size=5)


@st.composite
def schedule_and_sizes(draw):
    sizes = draw(sizes_strategy)
    name = draw(st.sampled_from(sorted(SCHEDULES)))
    if name == "sequential":
        schedule = Sequential(epochs_per_task=tuple(draw(st.integers(1, 4)) for _ in sizes))
    else:
        schedule = SCHEDULES[name](k=draw(st.integers(1, min(sizes))), n_epochs=draw(st.integers(1, 25)))
    return schedule, sizes


@given(schedule_and_sizes(), st.integers(0, 2**32 - 1))
def test_every_plan_has_valid_distinct_indices_of_the_right_sizes(case, seed):
    schedule, sizes = case
    schedule.validate(sizes)
    plan = schedule.plan(sizes, np.random.RandomState(seed))
    assert len(plan) == schedule.n_epochs_for(len(sizes))
    for epoch in plan:
        assert epoch, "an epoch trains on something"
        for task, idx in epoch:
            assert 0 <= task < len(sizes)
            assert idx.dtype.kind == "i"
            assert ((idx >= 0) & (idx < sizes[task])).all()
            assert len(np.unique(idx)) == len(idx), "no repeats within a draw"
            expected = sizes[task] if isinstance(schedule, Sequential) else schedule.k
            assert len(idx) == expected


@given(schedule_and_sizes(), st.integers(0, 2**32 - 1))
def test_plans_are_deterministic_for_a_fixed_rng(case, seed):
    schedule, sizes = case
    first = schedule.plan(sizes, np.random.RandomState(seed))
    second = schedule.plan(sizes, np.random.RandomState(seed))
    assert [[(t, i.tolist()) for t, i in e] for e in first] == [[(t, i.tolist()) for t, i in e] for e in second]


@given(sizes_strategy, st.integers(1, 30), st.integers(0, 1000))
def test_alternating_is_round_robin_and_interspersed_mixes_every_task_newest_first(sizes, n_epochs, seed):
    k = min(sizes)
    alternating = Alternating(k=k, n_epochs=n_epochs).plan(sizes, np.random.RandomState(seed))
    assert [epoch[0][0] for epoch in alternating] == [e % len(sizes) for e in range(n_epochs)]
    interspersed = Interspersed(k=k, n_epochs=n_epochs).plan(sizes, np.random.RandomState(seed))
    assert all([t for t, _ in epoch] == list(reversed(range(len(sizes)))) for epoch in interspersed)


def test_sequential_uses_whole_training_sets_in_stored_order_without_randomness():
    rng = np.random.RandomState(0)
    state = rng.get_state()[1].copy()
    plan = Sequential(epochs_per_task=(1, 9)).plan((69, 68), rng)
    assert [epoch[0][0] for epoch in plan] == [0] + [1] * 9
    assert all(np.array_equal(idx, np.arange(68)) for epoch in plan[1:] for _, idx in epoch)
    np.testing.assert_array_equal(rng.get_state()[1], state)


def test_rng_is_consumed_in_the_tutorials_order():
    """Summer's K indices are drawn before autumn's, with ``choice(..., replace=False)``."""
    reference = np.random.RandomState(42)
    expected = []
    for _ in range(3):
        summer = reference.choice(np.arange(69), size=30, replace=False)
        autumn = reference.choice(np.arange(68), size=30, replace=False)
        expected.append((summer, autumn))
    alternating = Alternating(k=30, n_epochs=6).plan((69, 68), np.random.RandomState(42))
    interspersed = Interspersed(k=30, n_epochs=3).plan((69, 68), np.random.RandomState(42))
    for r, (summer, autumn) in enumerate(expected):
        assert np.array_equal(alternating[2 * r][0][1], summer)
        assert np.array_equal(alternating[2 * r + 1][0][1], autumn)
        (first_task, first), (second_task, second) = interspersed[r]
        assert (first_task, second_task) == (1, 0), "autumn first in a mixed batch"
        assert np.array_equal(first, autumn) and np.array_equal(second, summer)


def test_alternating_with_an_odd_number_of_epochs_ends_mid_round():
    plan = Alternating(k=2, n_epochs=5).plan((4, 4, 4), np.random.RandomState(0))
    assert [epoch[0][0] for epoch in plan] == [0, 1, 2, 0, 1]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (Alternating(k=69), r"'k' parameter of Alternating \(at most the training set of 'autumn'\) must be"),
        (Interspersed(k=0), "'k' parameter of Interspersed"),
        (Interspersed(k=3.5), "'k' parameter of Interspersed"),
        (Alternating(n_epochs=0), "'n_epochs' parameter of Alternating must be an int >= 1; got 0"),
        (Interspersed(n_epochs=-2), "'n_epochs' parameter of Interspersed"),
        (Sequential(epochs_per_task=(1, 0)), "'epochs_per_task' parameter of Sequential"),
        (Sequential(epochs_per_task=(1,)), r"a tuple of 2 ints >= 1 \(one per task\)"),
    ],
)
def test_bad_settings_name_the_field_and_what_is_allowed(schedule, message):
    with pytest.raises(InvalidParameterError, match=message):
        schedule.validate((69, 68), ("summer", "autumn"))


def test_make_schedule_refuses_unknown_names_and_settings():
    with pytest.raises(InvalidParameterError, match="'schedules' parameter must be a list of sequential"):
        make_schedule("blocked")
    with pytest.raises(InvalidParameterError, match="'K' parameter of Alternating must be one of its settings"):
        make_schedule("alternating", {"K": 3})
    assert make_schedule("sequential", {"epochs_per_task": (2, 2)}).to_dict() == {
        "name": "sequential",
        "epochs_per_task": (2, 2),
    }
