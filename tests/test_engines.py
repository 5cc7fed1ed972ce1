"""The engine contract: every registered engine follows it, "auto" asks the registry, and a
new engine is one object plus one registry line (a test engine is registered here)."""

import numpy as np
import pytest
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPRegressor

from forgetlab import Experiment, InvalidParameterError, load, run_experiment
from forgetlab import engines as registry
from forgetlab.engines import ENGINES, engine_choices, get_engine
from forgetlab.engines.base import Engine
from forgetlab.metrics import r2_score
from forgetlab.results import RunResult, describe_plan
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.strategies import EWC
from forgetlab.sweep import Sweep, plan
from forgetlab.tasks import seasons

SMALL = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30)


def experiment(**changes) -> Experiment:
    settings = dict(stream=seasons(), estimator=SMALL, schedules=[Sequential(epochs_per_task=(1, 1))], seeds=[0, 1])
    return Experiment(**{**settings, **changes})


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_registered_engine_follows_the_contract(name):
    engine = get_engine(name)
    assert isinstance(engine, Engine) and engine.name == name
    for method in ("check", "run_bytes", "max_seeds_per_batch", "train"):
        assert callable(getattr(engine, method)) and getattr(engine, method).__doc__


@pytest.mark.parametrize("name", list(ENGINES))
def test_an_engine_that_accepts_an_experiment_trains_it_seed_by_seed_in_order(name):
    try:
        chosen = experiment(engine=name)
    except InvalidParameterError:
        pytest.skip(f"the {name} engine does not train the small lbfgs MLP")
    engine = chosen.trainer
    assert engine.run_bytes(chosen) > 0
    results = engine.train(chosen, 0, [1, 0])
    assert [r.seed for r in results] == [1, 0] and all(isinstance(r, RunResult) for r in results)
    assert all(r.scores.shape == (2, 2) and r.phase.tolist() == [0, 1] for r in results)


def test_auto_asks_the_registry_in_order():
    assert experiment().engine_name == "compiled"
    assert experiment(estimator=SGDRegressor()).engine_name == "sklearn"
    chosen = experiment(estimator=SGDRegressor())
    assert chosen.engine == "auto", "the experiment keeps what it was given"
    assert chosen.manifest()["engine"] == "sklearn"


def test_an_engine_that_cannot_train_an_experiment_says_why_in_one_line():
    with pytest.raises(InvalidParameterError, match=r"^The 'estimator' parameter of the torch engine must be"):
        experiment(estimator=SGDRegressor(), engine="torch")
    adam = MLPRegressor(hidden_layer_sizes=(8,), solver="adam")
    with pytest.raises(InvalidParameterError, match=r"^The 'engine' parameter must be torch or auto"):
        experiment(estimator=adam, strategies=[EWC()], engine="sklearn")
    with pytest.raises(
        InvalidParameterError, match=rf"^The 'engine' parameter must be one of {', '.join(engine_choices())};"
    ):
        experiment(engine="gpu")


class MeanEngine:
    """A test engine: predicts each task's training mean, whatever it trains on."""

    name = "mean"

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple[int, ...]]] = []

    def check(self, experiment: Experiment) -> None:
        """Regression streams only."""
        if experiment.stream.kind != "regression":
            raise InvalidParameterError("The 'stream' parameter of the mean engine must be a regression stream.")

    def run_bytes(self, experiment: Experiment) -> int:
        """A kibibyte a run."""
        return 1024

    def max_seeds_per_batch(self, experiment: Experiment) -> int:
        """Two seeds a call."""
        return 2

    def train(self, experiment: Experiment, schedule: int, seeds) -> list[RunResult]:
        """One result per seed, scores of predicting the mean."""
        self.calls.append((schedule, tuple(seeds)))
        stream, item = experiment.stream, experiment.schedules[schedule]
        results = []
        for seed in seeds:
            epochs = item.plan(stream.train_sizes, np.random.RandomState(seed))
            seen, trained, phase = describe_plan(stream, epochs)
            means = [np.full(t.n_test, t.y_train.mean()) for t in stream.tasks]
            final = [float(r2_score(t.y_test, m)) for t, m in zip(stream.tasks, means, strict=True)]
            scores = np.tile(final, (len(epochs), 1))
            results.append(
                RunResult(
                    seed=seed,
                    schedule=item.name,
                    scores=scores,
                    samples_seen=seen,
                    trained=trained,
                    phase=phase,
                    n_iter=np.zeros(len(epochs), dtype=int),
                    predictions=means,
                    diverged=False,
                )
            )
        return results


@pytest.fixture
def mean_engine(monkeypatch):
    engine = MeanEngine()
    monkeypatch.setitem(registry.ENGINES, "mean", engine)
    return engine


def test_a_new_engine_is_one_object_and_one_registry_line(mean_engine, tmp_path):
    assert "mean" in engine_choices()
    mine = experiment(engine="mean", seeds=range(5), schedules=[Interspersed(k=5, n_epochs=2)])
    assert [b.seeds for b in plan(Sweep.of(mine))] == [(0, 1), (2, 3), (4,)], "batches of at most two seeds"
    results = run_experiment(mine, out=tmp_path / "out", n_jobs=1, progress=False)
    assert set(results.scores["engine"]) == {"mean"} and results.scores["run"].nunique() == 5
    assert mean_engine.calls == [(0, (0, 1)), (0, (2, 3)), (0, (4,))]
    assert (results.scores["value"].abs() < 0.2).all(), "R² of the training mean is near 0"
    written = load(tmp_path / "out").sort_values(["run", "epoch", "task"], ignore_index=True)
    assert written.equals(results.scores.sort_values(["run", "epoch", "task"], ignore_index=True))


def test_the_experiment_validates_before_any_engine_trains(mean_engine):
    with pytest.raises(InvalidParameterError, match="'k' parameter of Interspersed"):
        experiment(engine="mean", schedules=[Interspersed(k=500)])
    assert mean_engine.calls == []
