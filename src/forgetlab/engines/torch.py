"""The batched PyTorch engine: all seeds of a schedule train as one set of tensors.

The model is described by the same scikit-learn ``MLPRegressor`` the scikit-learn engine
trains, and the engine mirrors its semantics run by run:

- initialisation: the very numbers ``MLPRegressor(random_state=seed)`` draws;
- loss and gradient: squared error / 2 plus ``alpha * ||W||² / (2 n)``, biases not
  penalised (:mod:`forgetlab.numerics.mlp`);
- ``solver="lbfgs"``: each epoch is a complete L-BFGS run on the epoch's batch, with
  SciPy's L-BFGS-B rules (history 10, stop when max |g| <= ``tol``, after ``max_iter``
  iterations or ``max_fun`` evaluations, or when the relative reduction of the loss falls
  below 2.2e-9) — :mod:`forgetlab.numerics.lbfgs`, batched over runs.
- ``solver="adam"`` or ``"sgd"``: each epoch is one pass of minibatch steps over the epoch's
  batch, shuffled with the run's ``RandomState(seed)`` created afresh every epoch, and the
  optimiser's state (moments, velocities, learning rate, samples seen) carries over from
  epoch to epoch, exactly as ``partial_fit`` does — :mod:`forgetlab.numerics.sgd`. ``n_iter``
  and ``n_fun`` count the epoch's minibatch steps (scikit-learn's ``n_iter_`` is 1).

Runs are a batch dimension: parameters are (R, P), each run's batch of the epoch is
(R, n, d) (every seed samples its own indices), the L-BFGS of each run stops on its
own and finished runs are no longer computed; Adam and SGD keep one state row per run. A
run whose loss or gradient (L-BFGS) or parameters (Adam, SGD) become non-finite is flagged
``diverged``, frozen, and its later scores are NaN; the other runs of the batch are
untouched. Every reduction is per run, so a run's numbers do not depend
on the batch it ran in.

Per-run and shared: seeds, plans, parameters and batches are per run; the stream's test
sets, the model description and the optimiser settings are shared. Seed ``s`` seeds
the initialisation and the minibatch shuffles (``RandomState(s)``, as scikit-learn) and the
schedule's sampling (its own ``RandomState(s)``, as the scikit-learn engine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from forgetlab.engines import continual
from forgetlab.engines.base import check_float32_range, estimate_run_bytes
from forgetlab.errors import invalid
from forgetlab.metrics import r2_score
from forgetlab.models import Model
from forgetlab.numerics import sgd
from forgetlab.numerics.mlp import DTYPES, MLPSpec, init_params, loss_and_grad, predict, torch_threads
from forgetlab.results import RunResult, describe_plan
from forgetlab.schedules import Epoch, Schedule
from forgetlab.tasks import Stream

if TYPE_CHECKING:
    from forgetlab.engines.base import Spec

__all__ = ["ENGINE", "SOLVERS", "TorchEngine", "check_estimator", "train_batch"]

#: The ``MLPRegressor`` solvers this engine implements: L-BFGS and the stochastic optimisers.
SOLVERS = ("lbfgs", *sgd.OPTIMIZERS)
#: Runs per L-BFGS optimisation; a larger batch is optimised group after group.
LBFGS_GROUP = 128


def check_estimator(estimator: object) -> None:
    """Raise InvalidParameterError unless the torch engine can train ``estimator``.

    It must be an ``MLPRegressor`` with a solver this engine implements, without
    ``early_stopping`` for adam and sgd (scikit-learn's ``partial_fit`` refuses it).
    """
    if Model.of(estimator).class_name != "MLPRegressor":
        raise invalid("estimator", "the torch engine", "an MLPRegressor", estimator)
    if estimator.solver not in SOLVERS:
        raise invalid("solver", "the torch engine", f"one of {', '.join(SOLVERS)}", estimator.solver)
    if estimator.solver in sgd.SOLVERS and estimator.early_stopping:
        raise invalid("early_stopping", "the torch engine with adam or sgd", "False (as for partial_fit)", True)
    if estimator.loss != "squared_error":
        raise invalid("loss", "the torch engine", "'squared_error'", estimator.loss)


def _epoch_batch(
    stream_x: list[torch.Tensor], stream_y: list[torch.Tensor], epochs: list[Epoch]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack every run's batch of one epoch: x (R, n, d), y (R, n).

    All runs share the epoch's structure (same tasks in the same order, same sizes); only
    their sample indices differ.
    """
    xs, ys = [], []
    for part in range(len(epochs[0])):
        task = epochs[0][part][0]
        idx = torch.from_numpy(np.stack([epoch[part][1] for epoch in epochs]))
        xs.append(stream_x[task][idx])
        ys.append(stream_y[task][idx])
    return torch.cat(xs, dim=1), torch.cat(ys, dim=1)


#: Trains one epoch: ``(epoch, params, x, y, alive) -> (n_iter, n_fun, diverged)``, per alive run;
#: ``params`` (the alive runs' rows) is edited in place.
EpochTrainer = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray], tuple[np.ndarray, ...]]


def _lbfgs_epochs(estimator: Model, spec: MLPSpec) -> EpochTrainer:
    """Epochs of ``solver="lbfgs"``: a complete L-BFGS run per epoch, nothing kept between epochs.

    The runs are optimised in groups of at most ``LBFGS_GROUP``, one after the other: a run's
    numbers do not depend on its group, and the optimiser's state (its history is 0.8 MB per
    run of the tutorial model in float32) stays bounded for any number of seeds.
    """
    from forgetlab.numerics import lbfgs  # its compiled line search loads numba: only for lbfgs

    def train_epoch(
        epoch: int, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, alive: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        outcomes = []
        for start in range(0, params.shape[0], LBFGS_GROUP):
            group = slice(start, start + LBFGS_GROUP)
            xg, yg = x[group], y[group]

            def objective(p: torch.Tensor, runs: torch.Tensor, xg=xg, yg=yg) -> tuple[torch.Tensor, torch.Tensor]:
                return loss_and_grad(spec, p, xg[runs], yg[runs])

            result = lbfgs.minimize(
                objective, params[group], max_iter=estimator.max_iter, max_fun=estimator.max_fun, gtol=estimator.tol
            )
            params[group] = result.x
            outcomes.append((result.n_iter.numpy(), result.n_fun.numpy(), result.status.numpy()))
        n_iter, n_fun, status = (np.concatenate(column) for column in zip(*outcomes, strict=True))
        return n_iter, n_fun, status == lbfgs.Status.DIVERGED

    return train_epoch


def _stochastic_epochs(estimator: Model, spec: MLPSpec, seeds: list[int], dtype: torch.dtype) -> EpochTrainer:
    """Epochs of ``solver="adam"`` or ``"sgd"``: one ``partial_fit`` pass each, one optimiser for all epochs."""
    optimizer = sgd.optimizer_for(estimator, len(seeds), spec.n_params, dtype=dtype)

    def train_epoch(
        epoch: int, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, alive: np.ndarray
    ) -> tuple[np.ndarray, ...]:
        result = sgd.partial_fit(
            spec,
            optimizer,
            params,
            x,
            y,
            [seeds[r] for r in alive],
            first=epoch == 0,
            batch_size=estimator.batch_size,
            shuffle=estimator.shuffle,
            runs=alive,
        )
        return result.n_updates, result.n_updates, result.diverged

    return train_epoch


def train_batch(
    estimator: Model,
    stream: Stream,
    schedule: Schedule,
    seeds: Sequence[int],
    *,
    dtype: str = "float32",
) -> list[RunResult]:
    """Train one run per seed of ``schedule`` on ``stream``, all in one batch.

    Parameters
    ----------
    estimator : Model or MLPRegressor
        Describes the model and the optimiser (never fitted).
    stream : Stream
        The tasks.
    schedule : Schedule
        Validated against the stream by the caller; shared by every run.
    seeds : sequence of int
        One run per seed (per run: initialisation and sampling).
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of parameters and batches; scores are computed in float64.

    Returns
    -------
    list of RunResult
        One per seed, in the order of ``seeds``.

    Examples
    --------
    >>> from forgetlab.tasks import seasons
    >>> from forgetlab.schedules import Interspersed
    >>> model = Model.from_params("MLPRegressor", hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50)
    >>> results = train_batch(model, seasons(), Interspersed(k=5, n_epochs=3), seeds=[0, 1])
    >>> [r.scores.shape for r in results]
    [(3, 2), (3, 2)]
    """
    check_estimator(estimator)
    torch_dtype = DTYPES[dtype]
    seeds = list(seeds)
    n_runs, n_tasks = len(seeds), len(stream)
    spec = MLPSpec.from_estimator(estimator, n_features=stream[0].x_train.shape[1])
    plans = [schedule.plan(stream.train_sizes, np.random.RandomState(seed)) for seed in seeds]
    n_epochs = len(plans[0])
    train_x = [torch.from_numpy(task.x_train).to(torch_dtype) for task in stream.tasks]
    train_y = [torch.from_numpy(task.y_train).to(torch_dtype) for task in stream.tasks]
    test_x = [torch.from_numpy(task.x_test).to(torch_dtype) for task in stream.tasks]

    params = init_params(spec, seeds, dtype=torch_dtype)
    if estimator.solver == "lbfgs":
        train_epoch = _lbfgs_epochs(estimator, spec)
    else:
        train_epoch = _stochastic_epochs(estimator, spec, seeds, torch_dtype)
    scores = np.full((n_runs, n_epochs, n_tasks), np.nan)
    n_iter = np.zeros((n_runs, n_epochs), dtype=np.int64)
    n_fun = np.zeros((n_runs, n_epochs), dtype=np.int64)
    diverged = np.zeros(n_runs, dtype=bool)
    for e in range(n_epochs):
        alive = np.flatnonzero(~diverged)
        if alive.size == 0:
            break
        x, y = _epoch_batch(train_x, train_y, [plans[r][e] for r in alive])
        current = params[alive]
        n_iter[alive, e], n_fun[alive, e], failed = train_epoch(e, current, x, y, alive)
        params[alive] = current
        diverged[alive] |= failed
        alive = np.flatnonzero(~diverged)
        outputs = [predict(spec, params[alive], tx).double().numpy() for tx in test_x]
        with np.errstate(over="ignore", invalid="ignore"):  # huge predictions: flagged just below
            epoch_scores = np.stack([r2_score(t.y_test, o) for t, o in zip(stream.tasks, outputs, strict=True)], 1)
        # as the scikit-learn engine: non-finite predictions or overflowing scores diverge
        bad = ~np.isfinite(np.stack([out.sum(1) for out in outputs], 1)).all(1) | np.isinf(epoch_scores).any(1)
        diverged[alive[bad]] = True
        scores[alive[~bad], e] = epoch_scores[~bad]

    samples_seen, trained, phase = describe_plan(stream, plans[0])
    final = [predict(spec, params, tx).double().numpy() for tx in test_x]
    return [
        RunResult(
            seed=seed,
            schedule=schedule.name,
            scores=scores[r],
            samples_seen=samples_seen,
            trained=trained,
            phase=phase,
            n_iter=n_iter[r],
            n_fun=n_fun[r],
            predictions=[out[r] if not diverged[r] else np.full(out.shape[1], np.nan) for out in final],
            diverged=bool(diverged[r]),
        )
        for r, seed in enumerate(seeds)
    ]


class TorchEngine:
    """The batched PyTorch engine (:class:`~forgetlab.engines.base.Engine`): all seeds of a batch as one tensor.

    Schedules alone on a regression stream train with :func:`train_batch`; with
    strategies, or on a classification stream, the continual trainer
    (:func:`forgetlab.engines.continual.train_continual`) trains every strategy in turn.
    """

    name = "torch"

    def check(self, experiment: Spec) -> None:
        """Raise InvalidParameterError unless this engine can train ``experiment``."""
        if experiment.continual_request:
            continual.check_experiment(experiment)
        else:
            check_estimator(experiment.estimator)
        if experiment.dtype == "float32":
            check_float32_range(experiment.stream)

    def run_bytes(self, experiment: Spec) -> int:
        """:func:`~forgetlab.engines.base.estimate_run_bytes`."""
        return estimate_run_bytes(experiment)

    def max_seeds_per_batch(self, experiment: Spec) -> None:
        """None: as many seeds as the memory budget holds."""
        return None

    def train(self, experiment: Spec, schedule: int, seeds: Sequence[int]) -> list[RunResult]:
        """One batch of ``seeds`` per strategy (or for the schedule alone), with ``experiment.n_threads`` threads."""
        plan, stream, seeds = experiment.schedules[schedule], experiment.stream, list(seeds)
        with torch_threads(experiment.n_threads):
            if not experiment.continual:
                return train_batch(experiment.estimator, stream, plan, seeds, dtype=experiment.dtype)
            options = {
                **continual.train_settings(experiment.estimator, stream),
                "dtype": experiment.dtype,
                "record_every": experiment.record_every,  # score only the epochs the table keeps
            }
            return [
                result
                for strategy in experiment.trained_strategies
                for result in continual.train_continual(
                    stream=stream, schedule=plan, strategy=strategy, seeds=seeds, **options
                )
            ]


ENGINE = TorchEngine()
