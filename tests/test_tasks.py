"""The seasons stream: the tutorial's data exactly, the other seasons, shifts, bad input."""

import numpy as np
import pytest
import tutorial_transcript as tt
from hypothesis import given
from hypothesis import strategies as st

from forgetlab import InvalidParameterError
from forgetlab.tasks import SEASONS, day_grid, price, seasons


def test_tutorial_stream_is_the_tutorials_data_exactly():
    stream = seasons(["summer", "autumn"])
    summer, autumn = stream.tasks
    np.testing.assert_array_equal(summer.x_train, tt.summer_days_train_norm)
    np.testing.assert_array_equal(summer.x_test, tt.summer_days_test_norm)
    np.testing.assert_array_equal(summer.y_train, tt.summer_prices_train)
    np.testing.assert_array_equal(summer.y_test, tt.summer_prices_test)
    np.testing.assert_array_equal(autumn.x_train, tt.autumn_days_train_norm)
    np.testing.assert_array_equal(autumn.y_test, tt.autumn_prices_test)
    assert stream.train_sizes == (69, 68)
    assert (summer.n_test, autumn.n_test) == (23, 23)
    np.testing.assert_array_equal(stream.denormalise(summer.x_test), tt.summer_days_test)


def test_seasons_partition_the_year():
    indices = np.concatenate(list(SEASONS.values()))
    assert sorted(indices.tolist()) == list(range(365))
    assert {name: len(idx) for name, idx in SEASONS.items()} == {
        "winter": 90,
        "spring": 92,
        "summer": 92,
        "autumn": 91,
    }
    assert len(day_grid()) == 365


def test_normalisation_over_the_first_season_only():
    stream = seasons(["summer", "autumn"], normalise="first")
    summer_days = day_grid()[151:243]
    assert stream.input_offset[0] == pytest.approx(summer_days.mean())
    assert stream.input_scale[0] == pytest.approx(summer_days.std())
    # autumn lies beyond summer's span: its inputs are all > 1.7 standard deviations out
    assert stream.tasks[1].x_train.min() > 1.7


def test_no_normalisation_keeps_days():
    stream = seasons(["spring"], normalise="none")
    assert np.isin(stream.tasks[0].x_train[:, 0], day_grid()[59:151]).all()


def test_concept_shift_changes_only_the_shifted_task():
    plain = seasons(["summer", "autumn"])
    shifted = seasons(["summer", "autumn"], phi=[0.0, -2 * np.pi / 7])
    np.testing.assert_array_equal(plain.tasks[0].y_train, shifted.tasks[0].y_train)
    assert not np.allclose(plain.tasks[1].y_train, shifted.tasks[1].y_train)
    days = shifted.denormalise(shifted.tasks[1].x_train)[:, 0]
    np.testing.assert_allclose(shifted.tasks[1].y_train, price(days, phi=-2 * np.pi / 7))
    assert shifted.description["phi"] == [0.0, -2 * np.pi / 7]


def test_a_repeated_season_gets_a_unique_name():
    stream = seasons(["winter", "spring", "summer", "autumn", "winter"])
    assert stream.task_names == ("winter", "spring", "summer", "autumn", "winter_2")
    np.testing.assert_array_equal(stream.tasks[0].y_test, stream.tasks[4].y_test)


@given(st.lists(st.sampled_from(sorted(SEASONS)), min_size=1, max_size=6), st.integers(0, 2**31 - 1))
def test_any_list_of_seasons_is_a_stream_normalised_over_its_span(names, split_seed):
    stream = seasons(names, split_seed=split_seed)
    assert len(stream) == len(names)
    assert len(set(stream.task_names)) == len(names)
    every_day = np.unique(np.concatenate([np.vstack([t.x_train, t.x_test])[:, 0] for t in stream.tasks]))
    assert every_day.mean() == pytest.approx(0.0, abs=1e-9)
    assert every_day.std() == pytest.approx(1.0)
    for task, name in zip(stream.tasks, names, strict=True):
        assert task.n_train + task.n_test == len(SEASONS[name])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"names": ["summer", "monsoon"]}, "'seasons'"),
        ({"names": []}, "'seasons'"),
        ({"normalise": "global"}, "'normalise'"),
        ({"phi": [0.0, 1.0, 2.0]}, "'phi'"),
        ({"A": [0.1, float("nan")]}, "'A'"),
        ({"test_size": 1.0}, "'test_size'"),
    ],
)
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(InvalidParameterError, match=field):
        seasons(**kwargs)
