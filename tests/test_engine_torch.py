"""The batched torch engine: a run's numbers do not depend on its batch; divergence is contained."""

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from forgetlab import run_experiment, tutorial_experiment
from forgetlab.engines import torch as torch_engine
from forgetlab.engines.torch import train_batch
from forgetlab.experiment import Experiment
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.tasks import Stream, Task, seasons

# the tutorial's architecture (batch invariance is exact for it), few iterations to stay fast
MODEL = MLPRegressor(hidden_layer_sizes=(100, 100), solver="lbfgs", max_iter=40)


@pytest.mark.parametrize("schedule", [Sequential(epochs_per_task=(1, 1)), Interspersed(k=10, n_epochs=3)])
def test_a_run_alone_equals_the_same_run_in_a_batch(schedule):
    stream = seasons()
    batch = train_batch(MODEL, stream, schedule, [3, 1, 4, 5])
    for result in batch:
        (alone,) = train_batch(MODEL, stream, schedule, [result.seed])
        np.testing.assert_array_equal(result.scores, alone.scores)
        np.testing.assert_array_equal(result.n_iter, alone.n_iter)
        for ours, theirs in zip(result.predictions, alone.predictions, strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_a_batch_larger_than_an_lbfgs_group_equals_its_runs_alone(monkeypatch):
    """Batches beyond LBFGS_GROUP runs are optimised group by group, with the same numbers."""
    schedule = Interspersed(k=10, n_epochs=2)
    alone = [train_batch(MODEL, seasons(), schedule, [seed])[0] for seed in (3, 1, 4, 5, 9)]
    monkeypatch.setattr(torch_engine, "LBFGS_GROUP", 2)
    grouped = train_batch(MODEL, seasons(), schedule, [3, 1, 4, 5, 9])
    for ours, theirs in zip(grouped, alone, strict=True):
        np.testing.assert_array_equal(ours.scores, theirs.scores)
        np.testing.assert_array_equal(ours.n_fun, theirs.n_fun)


def test_runs_come_back_in_order_with_their_schedule_and_phases():
    schedules = [Sequential(epochs_per_task=(1, 1)), Interspersed(k=10, n_epochs=2)]
    experiment = Experiment(stream=seasons(), estimator=MODEL, schedules=schedules, seeds=[7, 8], engine="torch")
    scores = run_experiment(experiment, n_jobs=1, progress=False).scores
    runs = scores.drop_duplicates("run").set_index("run")
    assert runs[["schedule", "seed"]].to_records().tolist() == [
        (0, "sequential", 7),
        (1, "sequential", 8),
        (2, "interspersed", 7),
        (3, "interspersed", 8),
    ]
    epochs = scores[(scores["run"] == 0) & (scores["task"] == "summer")]
    assert epochs["trained"].tolist() == ["summer", "autumn"] and epochs["phase"].tolist() == [0, 1]
    mixed = scores[(scores["run"] == 2) & (scores["task"] == "summer")]
    assert mixed["trained"].tolist() == ["autumn+summer"] * 2 and mixed["phase"].tolist() == [0, 0]


def poisoned_stream() -> Stream:
    """Summer and autumn, with one summer training target so large that squaring it overflows float32."""
    clean = seasons()
    summer = clean.tasks[0]
    y = summer.y_train.copy()
    y[0] = 3e38
    poisoned = Task(name="summer", x_train=summer.x_train, y_train=y, x_test=summer.x_test, y_test=summer.y_test)
    return Stream(
        tasks=(poisoned, clean.tasks[1]),
        name="poisoned",
        input_offset=clean.input_offset,
        input_scale=clean.input_scale,
    )


def test_a_diverging_run_is_flagged_and_leaves_the_others_untouched():
    stream = poisoned_stream()
    schedule = Interspersed(k=20, n_epochs=2)
    seeds = list(range(8))
    batch = train_batch(MODEL, stream, schedule, seeds)
    diverged = [r.seed for r in batch if r.diverged]
    healthy = [r.seed for r in batch if not r.diverged]
    assert diverged and healthy, "some seeds draw the poisoned sample, some do not"
    for r in batch:
        if r.diverged:
            assert np.isnan(r.scores[-1]).all() and np.isnan(r.predictions[0]).all()
    without = train_batch(MODEL, stream, schedule, healthy)
    for result, clean in zip([r for r in batch if not r.diverged], without, strict=True):
        np.testing.assert_array_equal(result.scores, clean.scores)


def test_the_tutorial_on_the_torch_engine_forgets_summer():
    experiment = tutorial_experiment(
        seeds=[0, 1], schedules=["sequential"], sequential_epochs=(1, 1), engine="torch", threads=1
    )
    scores = run_experiment(experiment, progress=False).scores
    assert set(scores["engine"]) == {"torch"}
    summer = scores.query("task == 'summer'").pivot(index="seed", columns="epoch", values="value")
    assert (summer[1] > 0.5).all() and (summer[2] < 0).all()
    assert experiment.manifest()["dtype"] == "float32"
    assert experiment.manifest()["threads"] == 1
