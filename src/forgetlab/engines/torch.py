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

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.neural_network import MLPClassifier, MLPRegressor

from forgetlab.engines.base import RunResult, describe_plan, run_in_batches
from forgetlab.errors import invalid
from forgetlab.metrics import r2_score
from forgetlab.numerics import lbfgs, sgd
from forgetlab.numerics.mlp import MLPSpec, init_params, loss_and_grad, predict
from forgetlab.schedules import Epoch, Schedule
from forgetlab.tasks import Stream

__all__ = ["DTYPES", "check_estimator", "hidden_sizes", "run_many", "spec_of", "torch_threads", "train_batch"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SOLVERS = ("lbfgs", "adam", "sgd")
#: Runs per L-BFGS optimisation; a larger batch is optimised group after group.
LBFGS_GROUP = 128


def check_estimator(estimator: object) -> None:
    """Raise InvalidParameterError unless the torch engine can train ``estimator``.

    It must be an ``MLPRegressor`` with a solver this engine implements, without
    ``early_stopping`` for adam and sgd (scikit-learn's ``partial_fit`` refuses it).
    """
    if not isinstance(estimator, MLPRegressor):
        raise invalid("estimator", "the torch engine", "an sklearn.neural_network.MLPRegressor", estimator)
    if estimator.solver not in SOLVERS:
        raise invalid("solver", "the torch engine", f"one of {', '.join(SOLVERS)}", estimator.solver)
    if estimator.solver in sgd.SOLVERS and estimator.early_stopping:
        raise invalid("early_stopping", "the torch engine with adam or sgd", "False (as for partial_fit)", True)
    if estimator.loss != "squared_error":
        raise invalid("loss", "the torch engine", "'squared_error'", estimator.loss)


def hidden_sizes(estimator: MLPRegressor | MLPClassifier) -> tuple[int, ...]:
    """A scikit-learn MLP's ``hidden_layer_sizes`` as a tuple of ints (it also accepts one int).

    Examples
    --------
    >>> hidden_sizes(MLPRegressor(hidden_layer_sizes=50))
    (50,)
    """
    hidden = estimator.hidden_layer_sizes
    return (int(hidden),) if isinstance(hidden, int) else tuple(int(h) for h in hidden)


def spec_of(estimator: MLPRegressor, n_features: int, n_outputs: int = 1) -> MLPSpec:
    """The batched MLP described by a scikit-learn ``MLPRegressor``.

    Examples
    --------
    >>> spec_of(MLPRegressor(hidden_layer_sizes=(100, 100)), n_features=1).layer_units
    (1, 100, 100, 1)
    """
    return MLPSpec(
        layer_units=(n_features, *hidden_sizes(estimator), n_outputs),
        activation=estimator.activation,
        alpha=float(estimator.alpha),
    )


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


def _lbfgs_epochs(estimator: MLPRegressor, spec: MLPSpec) -> EpochTrainer:
    """Epochs of ``solver="lbfgs"``: a complete L-BFGS run per epoch, nothing kept between epochs.

    The runs are optimised in groups of at most ``LBFGS_GROUP``, one after the other: a run's
    numbers do not depend on its group, and the optimiser's state (its history is 0.8 MB per
    run of the tutorial model in float32) stays bounded for any number of seeds.
    """

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


def _stochastic_epochs(estimator: MLPRegressor, spec: MLPSpec, seeds: list[int], dtype: torch.dtype) -> EpochTrainer:
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
    estimator: MLPRegressor,
    stream: Stream,
    schedule: Schedule,
    seeds: Sequence[int],
    *,
    dtype: str = "float32",
) -> list[RunResult]:
    """Train one run per seed of ``schedule`` on ``stream``, all in one batch.

    Parameters
    ----------
    estimator : MLPRegressor
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
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50)
    >>> results = train_batch(model, seasons(), Interspersed(k=5, n_epochs=3), seeds=[0, 1])
    >>> [r.scores.shape for r in results]
    [(3, 2), (3, 2)]
    """
    check_estimator(estimator)
    torch_dtype = DTYPES[dtype]
    seeds = list(seeds)
    n_runs, n_tasks = len(seeds), len(stream)
    spec = spec_of(estimator, n_features=stream[0].x_train.shape[1])
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

    samples_seen, trained = describe_plan(stream, plans[0])
    final = [predict(spec, params, tx).double().numpy() for tx in test_x]
    return [
        RunResult(
            seed=seed,
            schedule=schedule.name,
            scores=scores[r],
            samples_seen=samples_seen,
            trained=trained,
            n_iter=n_iter[r],
            n_fun=n_fun[r],
            predictions=[out[r] if not diverged[r] else np.full(out.shape[1], np.nan) for out in final],
            diverged=bool(diverged[r]),
        )
        for r, seed in enumerate(seeds)
    ]


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` PyTorch intra-op threads, restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_many(
    estimator: MLPRegressor,
    stream: Stream,
    runs: Sequence[tuple[Schedule, int]],
    *,
    threads: int | None = None,
    n_jobs: int | None = None,
    dtype: str = "float32",
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Train many ``(schedule, seed)`` runs in batches, one schedule per batch.

    A run's numbers do not depend on the batch it is in, so the runs of a schedule can be
    split over worker processes freely: each of ``n_jobs`` processes trains a share of
    every schedule's seeds with ``threads`` PyTorch threads.

    Parameters
    ----------
    estimator, stream
        As for :func:`train_batch`; shared by all runs.
    runs : sequence of (Schedule, int)
        Each run's schedule and seed.
    threads : int or None
        PyTorch intra-op threads per process; None uses ``cores // n_jobs``.
    n_jobs : int or None
        Worker processes; None uses one per core when ``threads`` is 1 or None, else
        ``cores // threads``. With 1, everything trains in this process.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of the batches.
    on_done : callable, optional
        Called with each RunResult as its batch finishes.

    Returns
    -------
    list of RunResult
        In the order of ``runs``.
    """
    cores = os.cpu_count() or 1
    if n_jobs is None:
        n_jobs = max(1, cores // (threads or 1))
    threads = threads or max(1, cores // n_jobs)

    def train(schedule: Schedule, seeds: list[int]) -> list[RunResult]:
        with torch_threads(threads):
            return train_batch(estimator, stream, schedule, seeds, dtype=dtype)

    return run_in_batches(train, runs, n_jobs=n_jobs, on_done=on_done)
