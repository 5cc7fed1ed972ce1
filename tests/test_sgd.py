"""Adam and SGD on the torch engine: scikit-learn's partial_fit, run by run, batched.

Measured in float64 on seasons() with MLPRegressor((16,)): scores and predictions agree with
the scikit-learn engine to ~1e-12 relative or better (rounding of the matrix products and of
the gradient's order of operations; the optimiser arithmetic itself is scikit-learn's), so
the tests assert 1e-9.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.neural_network import MLPRegressor
from test_engine_torch import poisoned_stream

from forgetlab.engines import sklearn as sklearn_engine
from forgetlab.engines.torch import check_estimator, train_batch
from forgetlab.errors import InvalidParameterError
from forgetlab.numerics.mlp import MLPSpec, init_params
from forgetlab.numerics.sgd import SGD, Adam, optimizer_for, partial_fit
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.tasks import seasons

RTOL = 1e-9

# learning rates large enough that the runs move far from their start within a few epochs
SOLVERS = {
    "adam": {"solver": "adam", "learning_rate_init": 0.01},
    "sgd-constant": {"solver": "sgd", "learning_rate": "constant", "learning_rate_init": 0.05},
    "sgd-classical-momentum": {"solver": "sgd", "learning_rate_init": 0.05, "nesterovs_momentum": False},
    "sgd-invscaling": {"solver": "sgd", "learning_rate": "invscaling", "learning_rate_init": 0.2},
    # a loose tolerance and no patience, so that the learning rate is divided within a few epochs
    "sgd-adaptive": {
        "solver": "sgd",
        "learning_rate": "adaptive",
        "learning_rate_init": 0.05,
        "tol": 1e-2,
        "n_iter_no_change": 1,
    },
}
SCHEDULES = [Sequential(epochs_per_task=(2, 2)), Interspersed(k=10, n_epochs=4)]


def model(solver: str, **kwargs) -> MLPRegressor:
    return MLPRegressor(hidden_layer_sizes=(16,), **{**SOLVERS[solver], **kwargs})


@pytest.mark.parametrize("batch_size", ["auto", 16])
@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
@pytest.mark.parametrize("solver", list(SOLVERS))
def test_every_run_is_sklearns_partial_fit(solver, schedule, batch_size):
    """Per-epoch scores and final predictions of the scikit-learn engine, to 1e-9 relative.

    With batch_size=16 an epoch has several minibatches and a partial last one (69 = 4 * 16 + 5,
    20 = 16 + 4), shuffled with the run's RandomState.
    """
    stream, estimator, seeds = seasons(), model(solver, batch_size=batch_size), [0, 1, 2]
    ours = train_batch(estimator, stream, schedule, seeds, dtype="float64")
    n_samples = stream.train_sizes[0] if schedule.name == "sequential" else 20
    steps = -(-n_samples // (n_samples if batch_size == "auto" else batch_size))
    for result, seed in zip(ours, seeds, strict=True):
        reference = sklearn_engine.train_run(estimator, stream, schedule, seed)
        assert not result.diverged and not reference.diverged
        np.testing.assert_allclose(result.scores, reference.scores, rtol=RTOL, atol=0)
        for a, b in zip(result.predictions, reference.predictions, strict=True):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-12)
        assert result.n_iter[0] == result.n_fun[0] == steps


def pack(arrays: list[np.ndarray]) -> np.ndarray:
    """scikit-learn's parameter lists (coefs then intercepts) as one flat vector, as ours."""
    return np.concatenate([a.ravel() for a in arrays])


@pytest.mark.parametrize("solver", ["adam", "sgd-adaptive", "sgd-invscaling"])
def test_the_optimiser_state_after_every_call_is_sklearns(solver):
    """Parameters, moments/velocities, step count, learning rate, t_, best_loss_ and the counter."""
    stream, seeds = seasons(), [0, 1]
    estimator = model(solver, batch_size=16)
    schedule = Interspersed(k=10, n_epochs=12)
    plans = [schedule.plan(stream.train_sizes, np.random.RandomState(seed)) for seed in seeds]
    spec = MLPSpec.from_estimator(estimator, n_features=1)
    params = init_params(spec, seeds, dtype=torch.float64)
    optimizer = optimizer_for(estimator, len(seeds), spec.n_params, dtype=torch.float64)
    references = [clone(estimator).set_params(random_state=seed) for seed in seeds]
    for epoch in range(schedule.n_epochs):
        batches = [stream.training_batch(plan[epoch]) for plan in plans]
        x = torch.from_numpy(np.stack([x for x, _ in batches]))
        y = torch.from_numpy(np.stack([y for _, y in batches]))
        result = partial_fit(spec, optimizer, params, x, y, seeds, first=epoch == 0, batch_size=16)
        for r, reference in enumerate(references):
            reference.partial_fit(*batches[r])
            theirs = reference._optimizer
            np.testing.assert_allclose(params[r].numpy(), pack(reference.coefs_ + reference.intercepts_), rtol=RTOL)
            assert result.loss[r] == pytest.approx(reference.loss_, rel=1e-12)
            assert optimizer.samples_seen[r] == reference.t_
            assert optimizer.best_loss[r] == pytest.approx(reference.best_loss_, rel=1e-12)
            assert optimizer.no_improvement_count[r] == reference._no_improvement_count
            assert optimizer.learning_rate[r] == pytest.approx(theirs.learning_rate, rel=1e-15)
            if isinstance(optimizer, Adam):
                assert optimizer.t[r] == theirs.t
                np.testing.assert_allclose(optimizer.ms[r].numpy(), pack(theirs.ms), rtol=1e-7, atol=1e-14)
                np.testing.assert_allclose(optimizer.vs[r].numpy(), pack(theirs.vs), rtol=1e-7, atol=1e-20)
            else:
                np.testing.assert_allclose(optimizer.velocities[r].numpy(), pack(theirs.velocities), atol=1e-12)
    if solver == "sgd-adaptive":
        assert (optimizer.learning_rate < 0.05).all(), "the adaptive rate was divided"


def test_the_first_shuffle_follows_the_initial_weights_later_ones_restart():
    """scikit-learn draws the weights and then the first shuffle from one RandomState(seed); every
    later partial_fit creates RandomState(seed) afresh, so equal-sized batches get one permutation.
    """
    x, y = np.linspace(0, 1, 20)[:, None], np.linspace(1, 2, 20)
    reference = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", random_state=7).partial_fit(x, y)
    rng = np.random.RandomState(7)
    rng.random_sample(MLPSpec(layer_units=(1, 16, 1)).n_params)  # the initial weights' draws
    rng.shuffle(np.arange(20))
    assert all(np.array_equal(a, b) for a, b in zip(rng.get_state(), reference._random_state.get_state(), strict=True))
    reference.partial_fit(x, y)
    rng = np.random.RandomState(7)
    rng.shuffle(np.arange(20))
    assert all(np.array_equal(a, b) for a, b in zip(rng.get_state(), reference._random_state.get_state(), strict=True))


@pytest.mark.parametrize("solver", ["adam", "sgd-adaptive"])
def test_a_run_alone_equals_the_same_run_in_a_batch(solver):
    stream, estimator = seasons(), model(solver, batch_size=16)
    schedule = Interspersed(k=20, n_epochs=5)
    batch = train_batch(estimator, stream, schedule, [3, 1, 4, 5], dtype="float64")
    for result in batch:
        (alone,) = train_batch(estimator, stream, schedule, [result.seed], dtype="float64")
        np.testing.assert_array_equal(result.scores, alone.scores)
        for ours, theirs in zip(result.predictions, alone.predictions, strict=True):
            np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("optimizer_class", [Adam, SGD])
def test_a_non_finite_run_is_reported_and_the_others_are_untouched(optimizer_class):
    spec = MLPSpec(layer_units=(1, 16, 1))
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(4, 37, 1, generator=generator, dtype=torch.float64)
    y = torch.rand(4, 37, generator=generator, dtype=torch.float64)
    seeds = [0, 1, 2, 3]
    params = init_params(spec, seeds, dtype=torch.float64)
    params[2, 5] = float("nan")
    optimizer = optimizer_class(4, spec.n_params, dtype=torch.float64)
    healthy = [0, 1, 3]
    clean_params = init_params(spec, [seeds[r] for r in healthy], dtype=torch.float64)
    clean_optimizer = optimizer_class(3, spec.n_params, dtype=torch.float64)
    for call in range(2):
        result = partial_fit(spec, optimizer, params, x, y, seeds, first=call == 0, batch_size=10)
        clean = partial_fit(
            spec, clean_optimizer, clean_params, x[healthy], y[healthy], [0, 1, 3], first=call == 0, batch_size=10
        )
        assert result.diverged.tolist() == [False, False, True, False]
        assert result.n_updates.tolist() == [4, 4, 1, 4]  # 37 = 3 * 10 + 7; the NaN run stops after one
        assert not torch.isfinite(params[2]).all()
        torch.testing.assert_close(params[healthy], clean_params, rtol=0, atol=0)
        np.testing.assert_array_equal(result.loss[healthy], clean.loss)


def test_runs_that_diverge_are_flagged_as_sklearn_and_leave_the_others_untouched():
    """SGD in float64 on summer with one huge target: the seeds that draw it diverge, as in scikit-learn."""
    stream, estimator, schedule = poisoned_stream(), model("sgd-constant"), Interspersed(k=20, n_epochs=3)
    seeds = list(range(8))
    batch = train_batch(estimator, stream, schedule, seeds, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scikit-learn's overflow on the way to NaN
        references = [sklearn_engine.train_run(estimator, stream, schedule, seed) for seed in seeds]
    assert [r.diverged for r in batch] == [r.diverged for r in references]
    assert any(r.diverged for r in batch) and not all(r.diverged for r in batch)
    for ours, theirs in zip(batch, references, strict=True):
        np.testing.assert_allclose(ours.scores, theirs.scores, rtol=RTOL, atol=0)  # NaN where theirs are
    healthy = [r.seed for r in batch if not r.diverged]
    without = train_batch(estimator, stream, schedule, healthy, dtype="float64")
    for result, clean in zip([r for r in batch if not r.diverged], without, strict=True):
        np.testing.assert_array_equal(result.scores, clean.scores)


def test_the_torch_engine_refuses_early_stopping_for_stochastic_solvers():
    check_estimator(MLPRegressor(solver="lbfgs", early_stopping=True))  # ignored by lbfgs, as in scikit-learn
    with pytest.raises(InvalidParameterError, match="'early_stopping'"):
        check_estimator(MLPRegressor(solver="adam", early_stopping=True))
