"""The scikit-learn engine on small models: shapes, seeds, processes, divergence, estimators."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, SGDRegressor
from sklearn.neural_network import MLPRegressor
from sweep_cases import assert_same_table

from forgetlab import Experiment, InvalidParameterError, run_experiment
from forgetlab.engines.sklearn import check_estimator, train_run
from forgetlab.schedules import Alternating, Interspersed, Sequential
from forgetlab.tasks import seasons

SMALL = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200)


@pytest.fixture(scope="module")
def stream():
    return seasons(["summer", "autumn"])


def test_a_run_records_every_task_after_every_epoch(stream):
    result = train_run(SMALL, stream, Alternating(k=10, n_epochs=4), seed=3)
    assert result.scores.shape == (4, 2)
    assert np.isfinite(result.scores).all()
    assert result.samples_seen.tolist() == [10, 20, 30, 40]
    assert result.trained == ["summer", "autumn", "summer", "autumn"]
    assert (result.n_iter > 0).all()
    assert [len(p) for p in result.predictions] == [23, 23]
    assert not result.diverged


def test_interspersed_batches_are_labelled_newest_first(stream):
    result = train_run(SMALL, stream, Interspersed(k=5, n_epochs=2), seed=0)
    assert result.trained == ["autumn+summer", "autumn+summer"]


def test_same_seed_same_numbers_other_seed_other_numbers(stream):
    schedule = Interspersed(k=10, n_epochs=3)
    first = train_run(SMALL, stream, schedule, seed=5)
    again = train_run(SMALL, stream, schedule, seed=5)
    other = train_run(SMALL, stream, schedule, seed=6)
    np.testing.assert_array_equal(first.scores, again.scores)
    assert not np.array_equal(first.scores, other.scores)


def test_the_template_estimator_is_never_modified(stream):
    template = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=20)
    train_run(template, stream, Sequential(epochs_per_task=(1, 1)), seed=0)
    assert not hasattr(template, "coefs_")
    assert template.random_state is None


def test_runs_in_worker_processes_equal_runs_in_process(stream):
    schedules = [Interspersed(k=10, n_epochs=2), Sequential(epochs_per_task=(1, 2))]
    experiment = Experiment(stream=stream, estimator=SMALL, schedules=schedules, seeds=range(3), engine="sklearn")
    in_process = run_experiment(experiment, n_jobs=1, progress=False).scores
    in_workers = run_experiment(experiment, n_jobs=2, progress=False).scores
    assert_same_table(in_workers, in_process)
    assert in_process.drop_duplicates("run")["seed"].tolist() == [0, 1, 2] * 2


def test_any_estimator_with_partial_fit_trains(stream):
    result = train_run(SGDRegressor(), stream, Interspersed(k=10, n_epochs=3), seed=0)
    assert result.scores.shape == (3, 2)


def test_an_exploding_run_is_flagged_diverged_and_stops(stream):
    exploding = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e4, max_iter=5)
    result = train_run(exploding, stream, Interspersed(k=5, n_epochs=60), seed=0)
    assert result.diverged
    assert np.isnan(result.scores[-1]).all()
    assert np.isnan(result.predictions[0]).all()


@pytest.mark.parametrize("estimator", [LinearRegression(), "MLPRegressor", None])
def test_estimators_without_partial_fit_are_refused(estimator):
    with pytest.raises(InvalidParameterError, match="'estimator' parameter of the sklearn engine"):
        check_estimator(estimator)
