"""The compiled engine's continual trainer: the batched torch trainer's numbers, one run at a time, without PyTorch."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from forgetlab import Experiment, InvalidParameterError
from forgetlab.api import run_experiment
from forgetlab.engines.compiled_continual import train_run
from forgetlab.engines.continual import train_continual
from forgetlab.engines.estimators import model_spec
from forgetlab.schedules import Alternating, Sequential
from forgetlab.strategies import DER, DERPP, ERACE, EWC, STRATEGIES, Cumulative, Joint, Naive, Replay
from forgetlab.tasks import seasons, split_digits

CASES = [
    # stream, hidden layers, optimiser, learning rate, strategy
    ("class", (20,), "adam", 1e-3, Naive()),
    ("task", (20,), "sgd", 1e-2, Naive()),
    ("domain", (20,), "adam", 1e-3, Cumulative()),
    ("class", (16, 16), "sgd", 1e-2, Joint()),
    ("seasons", (16, 16), "adam", 1e-2, Naive()),
    ("seasons", (16,), "sgd", 1e-3, Joint()),
    ("class", (20,), "adam", 1e-3, Replay(buffer_size=30)),
    ("task", (20,), "adam", 1e-3, Replay(buffer_size=40, buffer="class_balanced", replay_batch_size=8)),
    ("domain", (16, 16), "sgd", 1e-2, Replay(buffer_size=25, replay_batch_size=50)),
    ("seasons", (16,), "adam", 1e-2, Replay(buffer_size=20)),
    ("class", (20,), "adam", 1e-3, DER(buffer_size=30, alpha=0.5)),
    ("task", (20,), "sgd", 1e-2, DERPP(buffer_size=30, replay_batch_size=8)),
    ("domain", (16, 16), "adam", 1e-3, DERPP(buffer_size=25, alpha=0.3, beta=0.7, draws="shared")),
    ("seasons", (16,), "adam", 1e-2, DERPP(buffer_size=20)),
]


def stream_of(name: str):
    return seasons() if name == "seasons" else split_digits(name, n_tasks=3)


@pytest.mark.parametrize(("name", "hidden", "optimizer", "rate", "strategy"), CASES)
def test_float64_runs_equal_the_batched_torch_trainers(name, hidden, optimizer, rate, strategy):
    """Same seed, same rules: every recorded score, the untrained scores and the step counts agree.

    Accuracies are equal (every test prediction the same); R² agrees to 1e-12: the two
    differ only in the rounding of their sums.
    """
    stream = stream_of(name)
    spec = model_spec(stream, hidden)
    schedule = Sequential(epochs_per_task=(3,) * len(stream))
    options = dict(optimizer=optimizer, learning_rate=rate, batch_size=32, dtype="float64", record_every=2)
    (torch_run,) = train_continual(spec, stream, schedule, strategy, [7], **options)
    compiled = train_run(spec, stream, schedule, strategy, 7, **options)
    np.testing.assert_array_equal(np.isnan(compiled.scores), np.isnan(torch_run.scores))
    np.testing.assert_allclose(compiled.scores, torch_run.scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(compiled.initial_scores, torch_run.initial_scores, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(compiled.n_iter, torch_run.n_iter)
    np.testing.assert_array_equal(compiled.phase, torch_run.phase)
    assert compiled.trained == torch_run.trained and compiled.metric == torch_run.metric
    for ours, theirs in zip(compiled.predictions, torch_run.predictions, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_float32_runs_agree_with_the_batched_torch_trainers_to_rounding():
    stream = split_digits("class", n_tasks=3)
    spec = model_spec(stream, (20,))
    schedule = Alternating(k=2, n_epochs=6)
    (torch_run,) = train_continual(spec, stream, schedule, Naive(), [1], batch_size="auto")
    compiled = train_run(spec, stream, schedule, Naive(), 1, batch_size="auto")
    np.testing.assert_allclose(compiled.scores, torch_run.scores, atol=2 / len(stream.tasks[0].y_test))


def test_a_diverging_run_is_flagged_and_its_later_scores_are_nan():
    stream = seasons()
    spec = model_spec(stream, (16,))
    schedule = Sequential(epochs_per_task=(3, 3))
    result = train_run(spec, stream, schedule, Naive(), 0, optimizer="sgd", learning_rate=1e6, batch_size=8)
    (torch_run,) = train_continual(
        spec, stream, schedule, Naive(), [0], optimizer="sgd", learning_rate=1e6, batch_size=8
    )
    assert result.diverged and torch_run.diverged
    assert np.isnan(result.scores[-1]).all() and all(np.isnan(p).all() for p in result.predictions)
    np.testing.assert_array_equal(np.isnan(result.scores), np.isnan(torch_run.scores))


def test_only_index_only_strategies_are_accepted():
    assert sorted(name for name, cls in STRATEGIES.items() if cls().plan_only) == ["cumulative", "joint", "naive"]
    index_only = sorted(name for name, cls in STRATEGIES.items() if cls().index_only)
    assert index_only == ["cumulative", "der", "derpp", "joint", "naive", "replay"]
    stream = seasons()
    for strategy in (EWC(), ERACE()):
        with pytest.raises(ValueError, match="index-only strategies, not"):
            train_run(model_spec(stream, (4,)), stream, Sequential(epochs_per_task=(1, 1)), strategy, 0)


def classifier_experiment(seeds, **changes) -> Experiment:
    settings = dict(
        stream=split_digits("class", n_tasks=2),
        estimator=MLPClassifier(hidden_layer_sizes=(16,), solver="adam", batch_size=64),
        schedules=[Sequential(epochs_per_task=(2, 2))],
        strategies=[Naive(), Joint()],
        seeds=seeds,
    )
    return Experiment(**{**settings, **changes})


def test_auto_takes_the_compiled_engine_for_index_only_strategies_and_torch_for_the_others():
    assert classifier_experiment([0]).engine_name == "compiled"
    assert classifier_experiment([0], strategies=[]).engine_name == "compiled"  # naive fine-tuning
    assert classifier_experiment([0], strategies=[Naive(), Replay(buffer_size=50), DERPP()]).engine_name == "compiled"
    assert classifier_experiment([0], strategies=[Naive(), EWC()]).engine_name == "torch"
    with pytest.raises(InvalidParameterError, match=r"^The 'strategies' parameter of the compiled engine .*EWC"):
        classifier_experiment([0], strategies=[EWC()], engine="compiled")
    lbfgs = MLPRegressor(solver="lbfgs")
    with pytest.raises(InvalidParameterError, match="'solver'"):
        classifier_experiment([0], stream=seasons(), estimator=lbfgs, strategies=[Naive()], engine="compiled")


def test_a_run_alone_equals_the_same_run_among_other_seeds_and_processes():
    among = run_experiment(classifier_experiment(range(6)), n_jobs=2, progress=False).scores
    alone = run_experiment(classifier_experiment([4]), progress=False).scores
    assert set(among["engine"]) == {"compiled"}
    columns = ["strategy", "epoch", "task", "metric", "value"]
    ours = alone.sort_values(columns[:-1])[columns].reset_index(drop=True)
    theirs = among[among["seed"] == 4].sort_values(columns[:-1])[columns].reset_index(drop=True)
    assert ours.equals(theirs)
    assert {"acc", "bwt", "fwt"} <= set(among["metric"])  # stream metrics from the untrained scores


def test_naming_validating_and_training_index_only_strategies_loads_no_pytorch():
    code = (
        "import sys\n"
        "from forgetlab.strategies import STRATEGIES, make_strategy\n"
        "from forgetlab.engines.compiled_continual import train_run\n"
        "from forgetlab.engines.estimators import model_spec\n"
        "from forgetlab.schedules import Sequential\n"
        "from forgetlab.tasks import split_digits\n"
        "make_strategy('cumulative'); assert sorted(STRATEGIES)[0] == 'agem'\n"
        "stream = split_digits('class', n_tasks=2)\n"
        "for name in ('replay', 'derpp'):\n"
        "    strategy = make_strategy(name, {'buffer_size': 20})\n"
        "    train_run(model_spec(stream, (8,)), stream, Sequential(epochs_per_task=(1, 1)), strategy, 0)\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False"], done.stderr
