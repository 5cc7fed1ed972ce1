"""Experiments with strategies and classification streams: tidy results, stream metrics, files."""

import numpy as np
import pytest
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor

from forgetlab import Experiment, load, run_experiment
from forgetlab.errors import InvalidParameterError
from forgetlab.results import STREAM_METRICS
from forgetlab.schedules import Sequential
from forgetlab.strategies import AGEM, Cumulative, Naive, Replay
from forgetlab.tasks import seasons, split_digits

TASKS = split_digits("class", n_tasks=3).task_names
MODEL = MLPClassifier(hidden_layer_sizes=(32,), solver="adam", learning_rate_init=1e-2, batch_size=64)


def digits_experiment(**changes) -> Experiment:
    settings = dict(
        stream=split_digits("class", n_tasks=3),
        estimator=MODEL,
        schedules=[Sequential(epochs_per_task=(3, 3, 3))],
        strategies=[Naive(), Replay(buffer_size=60), Cumulative()],
        seeds=[0, 1],
    )
    return Experiment(**{**settings, **changes})


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    return run_experiment(digits_experiment(), out=out, n_jobs=1, progress=False), out


def test_runs_are_schedules_by_strategies_by_seeds(digits):
    results, _ = digits
    scores = results.scores
    per_epoch = scores[scores["task"] != "all"]
    assert set(per_epoch["metric"]) == {"accuracy"}
    assert per_epoch.groupby("strategy")["run"].nunique().to_dict() == {"naive": 2, "replay": 2, "cumulative": 2}
    assert len(per_epoch) == 6 * 9 * 3  # runs x epochs x tasks
    assert per_epoch["value"].between(0, 1).all()


def test_stream_metrics_are_rows_computed_from_the_score_matrix(digits):
    results, _ = digits
    scores = results.scores
    stream_rows = scores[scores["task"] == "all"]
    naive = stream_rows[stream_rows["strategy"] == "naive"]
    assert set(naive["metric"]) == set(STREAM_METRICS)
    for run, rows in naive.groupby("run"):
        values = rows.set_index("metric")["value"]
        run_scores = scores[(scores["run"] == run) & (scores["task"] != "all")]
        table = run_scores.pivot(index="epoch", columns="task", values="value")[list(TASKS)]
        R = table.loc[[3, 6, 9]].to_numpy()  # the end of each task's phase
        assert values["acc"] == pytest.approx(R[-1].mean())
        assert values["bwt"] == pytest.approx(((R[2, 0] - R[0, 0]) + (R[2, 1] - R[1, 1])) / 2)
        assert values["forgetting"] == pytest.approx(
            ((max(R[0, 0], R[1, 0]) - R[2, 0]) + (max(R[0, 1], R[1, 1]) - R[2, 1])) / 2
        )
    cumulative = stream_rows[(stream_rows["strategy"] == "cumulative") & (stream_rows["metric"] == "intransigence")]
    np.testing.assert_array_equal(cumulative["value"], 0.0)  # against itself


def test_class_incremental_naive_forgets_and_replay_remembers(digits):
    results, _ = digits
    acc = results.scores.query("metric == 'acc'").groupby("strategy")["value"].mean()
    assert acc["naive"] < 0.5 < acc["replay"] < acc["cumulative"]


def test_files_on_disk(digits):
    results, out = digits
    assert (out / "scores.png").stat().st_size > 0
    assert not (out / "predictions.png").exists()  # no curve to draw for digits
    loaded = load(out)
    assert len(loaded) == len(results.scores)
    manifest = results.manifest
    assert manifest["stream_kind"] == "classification"
    assert [s["name"] for s in manifest["strategies"]] == ["naive", "replay", "cumulative"]


def test_a_regression_stream_with_a_strategy_scores_r2():
    experiment = Experiment(
        stream=seasons(),
        estimator=MLPRegressor(hidden_layer_sizes=(16,), solver="adam", learning_rate_init=1e-2),
        schedules=[Sequential(epochs_per_task=(5, 5))],
        strategies=[Naive()],
        seeds=[0],
    )
    scores = run_experiment(experiment, n_jobs=1, progress=False).scores
    assert set(scores["metric"]) == {"r2", *STREAM_METRICS} - {"intransigence"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"engine": "sklearn"}, "'engine'"),
        ({"estimator": MLPClassifier(solver="lbfgs")}, "'solver'"),
        ({"strategies": [Naive(), Naive()]}, "'strategies'"),
    ],
)
def test_bad_continual_experiments_name_the_field(changes, field):
    with pytest.raises(InvalidParameterError, match=field):
        digits_experiment(**changes)


@pytest.mark.parametrize(
    "estimator",
    [
        SGDClassifier(loss="log_loss"),
        SGDClassifier(),
        MLPClassifier(hidden_layer_sizes=(32,), activation="tanh", learning_rate_init=0.005, batch_size=32),
    ],
)
def test_the_sklearn_engine_trains_classifiers_on_schedules(estimator):
    """Schedules only, on the scikit-learn engine: accuracy, and task-IL predictions in the task's head."""
    stream = split_digits("task", n_tasks=3)
    experiment = Experiment(
        stream=stream,
        estimator=estimator,
        schedules=[Sequential(epochs_per_task=(5, 5, 5))],
        seeds=[0, 1],
        engine="sklearn",  # auto would take the MLPClassifier to the continual trainer
    )
    assert experiment.engine_name == "sklearn" and not experiment.continual
    results = run_experiment(experiment, n_jobs=1, progress=False)
    scores = results.scores
    assert set(scores["metric"]) == {"accuracy"} and scores["value"].between(0, 1).all()
    for task in stream.tasks:
        predicted = results.predictions.loc[results.predictions["task"] == task.name, "y_pred"]
        assert set(predicted) <= set(task.classes)
    last_task = scores[(scores["epoch"] == 15) & (scores["task"] == stream.tasks[-1].name)]
    assert last_task["value"].min() > 0.75  # two digits in one head: easy once trained


def test_a_regressor_on_a_classification_stream_is_refused():
    with pytest.raises(InvalidParameterError, match="'estimator'"):
        Experiment(
            stream=split_digits("task", n_tasks=2),
            estimator=SGDRegressor(),
            schedules=[Sequential(epochs_per_task=(1, 1))],
            seeds=[0],
        )


@pytest.mark.parametrize(
    ("strategies", "field"),
    [
        ([Replay(buffer_size=10_000)], "'buffer_size' parameter of Replay must be at most the stream's 812"),
        ([AGEM(memory_size=10_000)], "'memory_size' parameter of AGEM must be at most the stream's 812"),
    ],
)
def test_a_memory_larger_than_the_data_is_refused_in_one_line(strategies, field):
    with pytest.raises(InvalidParameterError, match=field) as error:
        digits_experiment(strategies=strategies)
    assert "\n" not in str(error.value)
