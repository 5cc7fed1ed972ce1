"""The compiled engine: a run's bits do not depend on what else runs; divergence is flagged; refusals in one line."""

import numpy as np
import pytest
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_info

from forgetlab import Experiment, InvalidParameterError
from forgetlab.api import run_experiment
from forgetlab.engines.compiled import ENGINE, train_run
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.strategies import EWC
from forgetlab.tasks import Stream, Task, seasons

MODEL = MLPRegressor(hidden_layer_sizes=(20, 20), solver="lbfgs", max_iter=200)


def experiment(seeds, **changes) -> Experiment:
    settings = dict(
        stream=seasons(),
        estimator=MODEL,
        schedules=[Sequential(epochs_per_task=(1, 1)), Interspersed(k=5, n_epochs=2)],
        seeds=seeds,
        engine="compiled",
    )
    return Experiment(**{**settings, **changes})


def seed_rows(scores, seed: int):
    rows = scores[scores["seed"] == seed].sort_values(["schedule", "epoch", "task", "metric"])
    return rows[["schedule", "epoch", "task", "metric", "value"]].reset_index(drop=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_run_alone_equals_the_same_run_among_64_seeds_and_in_2_processes(dtype):
    among = run_experiment(experiment(range(64), dtype=dtype), n_jobs=1, progress=False)
    spread = run_experiment(experiment(range(64), dtype=dtype), n_jobs=2, progress=False)
    for seed in (3, 61):
        alone = run_experiment(experiment([seed], dtype=dtype), progress=False)
        for result in (among, spread):
            assert seed_rows(alone.scores, seed).equals(seed_rows(result.scores, seed))
    assert all(seed_rows(among.scores, s).equals(seed_rows(spread.scores, s)) for s in range(64))
    assert set(among.scores["engine"]) == {"compiled"}


def test_the_tutorial_forgets_summer_on_the_compiled_engine():
    stream, schedule = seasons(), Sequential(epochs_per_task=(1, 1))
    model = MLPRegressor(hidden_layer_sizes=(100, 100), solver="lbfgs", max_iter=10000)
    for seed in (0, 1):
        result = train_run(model, stream, schedule, seed)
        summer = result.scores[:, 0]
        assert summer[0] > 0.5 and summer[1] < 0
        assert (result.n_iter > 0).all() and (result.n_fun >= result.n_iter).all()


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


def test_a_diverging_run_is_flagged_and_stops():
    stream, schedule = poisoned_stream(), Interspersed(k=20, n_epochs=2)
    results = [train_run(MODEL, stream, schedule, seed) for seed in range(8)]
    diverged = [r for r in results if r.diverged]
    assert diverged and len(diverged) < len(results), "some seeds draw the poisoned sample, some do not"
    for r in diverged:
        assert np.isnan(r.scores[-1]).all() and all(np.isnan(p).all() for p in r.predictions)
    for r in results:
        if not r.diverged:
            assert np.isfinite(r.scores).all()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"estimator": SGDRegressor()}, "estimator"),
        ({"estimator": MLPRegressor(solver="adam")}, "solver"),
        ({"strategies": [EWC()]}, "strategies"),
    ],
)
def test_what_the_engine_cannot_train_is_refused_in_one_line(changes, field):
    with pytest.raises(InvalidParameterError, match=rf"^The '{field}' parameter of the compiled engine must be") as err:
        experiment([0], **changes)
    assert "\n" not in str(err.value)


def test_train_uses_the_requested_blas_threads(monkeypatch):
    seen = []
    original = train_run

    def spy(*args, **kwargs):
        seen.append({i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return original(*args, **kwargs)

    monkeypatch.setattr("forgetlab.engines.compiled.train_run", spy)
    chosen = experiment([0])
    ENGINE.train(chosen, 1, [0])
    scipy_blas = [threads for path, threads in seen[0].items() if "scipy_openblas" in path or "scipy.libs" in path]
    assert scipy_blas and set(scipy_blas) == {1}
    assert ENGINE.max_seeds_per_batch(chosen) <= 8
