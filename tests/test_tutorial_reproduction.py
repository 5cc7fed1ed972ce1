"""forgetlab's path for seed 42 against the tutorial's own code (tests/tutorial_transcript.py).

Both run with one BLAS thread: scikit-learn's numbers depend on the thread count. The
full exercise 2a and the interspersed training of many epochs take long with scikit-learn,
so the default suite compares their first epochs and the slow suite the whole series.
"""

import numpy as np
import pytest
import tutorial_transcript as tt
from threadpoolctl import threadpool_limits

from forgetlab import tutorial_experiment
from forgetlab.engines.sklearn import train_run


def forgetlab_series(schedule: str, **settings) -> np.ndarray:
    experiment = tutorial_experiment(schedules=[schedule], seeds=[42], engine="sklearn", **settings)
    result = train_run(experiment.estimator, experiment.stream, experiment.schedules[0], 42, threads=1)
    return result.scores


def tutorial_series(exercise, *args) -> np.ndarray:
    tt.set_seed(42)
    with threadpool_limits(limits=1):
        _, summer, autumn = exercise(*args)
    return np.column_stack([summer, autumn])


def test_exercise_1_naive_fine_tuning_is_identical():
    ours = forgetlab_series("sequential")
    theirs = tutorial_series(tt.exercise_1)
    np.testing.assert_array_equal(ours, theirs)
    # the tutorial's story: summer learned, then forgotten after one epoch of autumn
    assert ours[0, 0] > 0.9
    assert ours[1, 0] < -100 and ours[1, 1] > 0.99


def test_exercise_2a_first_epochs_are_identical():
    np.testing.assert_array_equal(
        forgetlab_series("alternating", alternating_epochs=16), tutorial_series(tt.sequential_training, 30, 16)
    )


def test_exercise_2b_first_epochs_are_identical():
    np.testing.assert_array_equal(
        forgetlab_series("interspersed", interspersed_epochs=5), tutorial_series(tt.interspersed_training, 30, 5)
    )


@pytest.mark.slow
def test_exercise_2a_whole_series_is_identical():
    ours = forgetlab_series("alternating")
    np.testing.assert_array_equal(ours, tutorial_series(tt.sequential_training, 30, 100))
    assert ours.shape == (100, 2)


@pytest.mark.slow
def test_exercise_2b_whole_series_is_identical():
    ours = forgetlab_series("interspersed")
    np.testing.assert_array_equal(ours, tutorial_series(tt.interspersed_training, 30, 50))
    assert ours.shape == (50, 2)
