"""The compiled CPU engine: each run's training in compiled loops, one run at a time per process.

The engine trains two kinds of experiment:

- continual experiments (a classification stream, or strategies) whose strategies only
  choose and weigh the samples (naive, joint, cumulative, replay, DER, DER++) with an adam or sgd MLP: the continual
  trainer's rules, one run at a time (:mod:`forgetlab.engines.compiled_continual`);
- ``MLPRegressor(solver="lbfgs")`` on regression streams without strategies, with the
  semantics of the torch engine (:mod:`forgetlab.engines.torch`) and of scikit-learn's
  ``partial_fit``, as follows:

- initialisation: the very numbers ``MLPRegressor(random_state=seed)`` draws;
- loss and gradient: squared error / 2 plus ``alpha * ||W||² / (2 n)``, biases not penalised;
- each epoch is a complete L-BFGS run from the current weights on the epoch's batch, with
  SciPy's L-BFGS-B rules (history 10, stop when max |g| <= ``tol``, after ``max_iter``
  iterations or ``max_fun`` evaluations, or when the relative reduction of the loss falls
  below 2.2e-9);
- after every epoch, every task's test set is scored (R², :func:`forgetlab.metrics.r2_score`);
  a run whose loss or gradient becomes non-finite, or whose predictions overflow, is
  flagged ``diverged`` and stops; its later scores are NaN.

How. The arithmetic is :mod:`forgetlab.numerics.compiled_mlp` and
:mod:`forgetlab.numerics.compiled_lbfgs`, compiled by numba: a run's weights, activations
and L-BFGS history (about 1 MB for the tutorial's MLP in float32) stay in cache, and no
interpreter runs between two steps. On a CPU that beats batching runs as tensors, where
every run's history streams from memory on every iteration (see DESIGN.md). Runs are
computed one after the other, each alone, so a run's bits cannot depend on the other runs
of its batch or on the number of processes; batches are small (:data:`SEEDS_PER_BATCH`) so
that the executors spread the runs over worker processes, one per core.

Per-run and shared: seed ``s`` seeds the initialisation (``RandomState(s)``, as
scikit-learn) and the schedule's sampling (its own ``RandomState(s)``, as the other
engines); the stream, the model description and the optimiser's settings are shared.

numba is imported only when the engine trains (its ``check`` needs none of it), so that
``engine="auto"``, which asks this engine first, costs nothing to the experiments it refuses.

BLAS threads. ``np.dot`` in the kernels calls SciPy's OpenBLAS, which numba loads when the
kernels first run; a thread limit set before that does not reach it. So the kernels are
loaded first (:func:`forgetlab.numerics.compiled_mlp.compile_kernels`) and the runs then
train under ``threadpoolctl.threadpool_limits(experiment.n_threads)``.

Cold start. The first use compiles the kernels (tens of seconds on a loaded machine) and
says so once on stderr; numba caches the machine code (:mod:`forgetlab.numerics.jit`),
which later processes load in about a second. ``make`` warms the cache when it installs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from forgetlab.engines import compiled_continual, estimators
from forgetlab.engines.base import check_float32_range, estimate_run_bytes
from forgetlab.errors import invalid
from forgetlab.metrics import r2_score
from forgetlab.models import Model
from forgetlab.numerics.spec import MLPSpec
from forgetlab.results import RunResult, describe_plan
from forgetlab.schedules import Schedule
from forgetlab.tasks import Stream

if TYPE_CHECKING:
    from forgetlab.engines.base import Spec

__all__ = ["ENGINE", "SEEDS_PER_BATCH", "CompiledEngine", "check_estimator", "ensure_compiled", "train_run"]

#: Seeds per call of :meth:`CompiledEngine.train`: small, so that batches spread over the worker processes.
SEEDS_PER_BATCH = 4
#: Line-search trials per iteration, SciPy's ``maxls`` default (scikit-learn does not change it).
MAX_LINE_SEARCH = 20
#: L-BFGS pairs kept, SciPy's ``maxcor`` default.
HISTORY = 10
_DTYPES = {"float32": np.float32, "float64": np.float64}
_ready: set[tuple[str, str]] = set()


def check_estimator(estimator: object) -> None:
    """Raise InvalidParameterError unless the compiled engine can train ``estimator``: an lbfgs MLPRegressor."""
    if Model.of(estimator).class_name != "MLPRegressor":
        raise invalid("estimator", "the compiled engine", "an MLPRegressor", estimator)
    if estimator.solver != "lbfgs":
        raise invalid("solver", "the compiled engine", "'lbfgs'", estimator.solver)
    if estimator.loss != "squared_error":
        raise invalid("loss", "the compiled engine", "'squared_error'", estimator.loss)


def ensure_compiled(dtype: str, trainer: str = "lbfgs") -> None:
    """Compile or load the kernels of ``trainer`` for ``dtype`` once per process; say so on stderr if it compiled.

    ``trainer`` is "lbfgs" (:mod:`forgetlab.numerics.compiled_mlp`'s fits) or "continual"
    (:mod:`forgetlab.numerics.compiled_sgd`'s minibatch passes): a process loads only the
    machine code it runs.
    """
    if (dtype, trainer) in _ready:
        return
    from forgetlab.numerics import compiled_mlp, compiled_sgd

    start = time.perf_counter()
    compiled = (compiled_mlp if trainer == "lbfgs" else compiled_sgd).compile_kernels((dtype,))
    if compiled:
        seconds = time.perf_counter() - start
        print(f"forgetlab: compiling the compiled engine once ({seconds:.0f} s)", file=sys.stderr, flush=True)
    _ready.add((dtype, trainer))


def _score(stream: Stream, params: np.ndarray, units: np.ndarray, code: int, dtype: type) -> tuple[list, np.ndarray]:
    """Predictions (float64) on every task's test set, and their R² (NaN-free unless they overflow)."""
    from forgetlab.numerics import compiled_mlp

    outputs = [
        compiled_mlp.predict(params, np.ascontiguousarray(t.x_test, dtype=dtype), units, code)[:, 0].astype(np.float64)
        for t in stream.tasks
    ]
    with np.errstate(over="ignore", invalid="ignore"):  # huge predictions: the caller flags them
        scores = np.array([r2_score(t.y_test, out) for t, out in zip(stream.tasks, outputs, strict=True)])
    return outputs, scores


def train_run(estimator: Model, stream: Stream, schedule: Schedule, seed: int, *, dtype: str = "float32") -> RunResult:
    """Train one run of ``schedule`` on ``stream`` with seed ``seed``, alone, in compiled loops.

    Parameters
    ----------
    estimator : Model or MLPRegressor
        Describes the model and the optimiser (never fitted); ``solver="lbfgs"``.
    stream : Stream
        The tasks (regression).
    schedule : Schedule
        Validated against the stream by the caller.
    seed : int
        Initialisation and sampling.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of parameters and batches; scores are computed in float64.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> from forgetlab.tasks import seasons
    >>> from forgetlab.schedules import Interspersed
    >>> model = Model.from_params("MLPRegressor", hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50)
    >>> train_run(model, seasons(), Interspersed(k=5, n_epochs=3), 0).scores.shape
    (3, 2)
    """
    ensure_compiled(dtype)
    from forgetlab.numerics import compiled_mlp
    from forgetlab.numerics.compiled_lbfgs import DEFAULT_FTOL, DIVERGED

    np_dtype = _DTYPES[dtype]
    spec = MLPSpec.from_estimator(estimator, n_features=stream[0].x_train.shape[1])
    units, code = compiled_mlp.units_of(spec)
    plan = schedule.plan(stream.train_sizes, np.random.RandomState(seed))
    params = compiled_mlp.init_params(spec, seed, dtype=np_dtype)
    n_epochs, n_tasks = len(plan), len(stream)
    scores = np.full((n_epochs, n_tasks), np.nan)
    n_iter = np.zeros(n_epochs, dtype=np.int64)
    n_fun = np.zeros(n_epochs, dtype=np.int64)
    options = (int(estimator.max_iter), int(estimator.max_fun), float(estimator.tol), DEFAULT_FTOL)
    diverged = False
    for e, epoch in enumerate(plan):
        x = np.ascontiguousarray(np.concatenate([stream[t].x_train[idx] for t, idx in epoch]), dtype=np_dtype)
        y = np.concatenate([stream[t].y_train[idx] for t, idx in epoch]).astype(np_dtype).reshape(-1, 1)
        n_iter[e], n_fun[e], status = compiled_mlp.fit(
            params, x, y, units, code, float(spec.alpha), *options, HISTORY, MAX_LINE_SEARCH
        )
        if status == DIVERGED:
            diverged = True
            break
        outputs, epoch_scores = _score(stream, params, units, code, np_dtype)
        if not all(np.isfinite(out).all() for out in outputs) or np.isinf(epoch_scores).any():
            diverged = True  # as the other engines: non-finite predictions or overflowing scores
            break
        scores[e] = epoch_scores
    samples_seen, trained, phase = describe_plan(stream, plan)
    predictions = _score(stream, params, units, code, np_dtype)[0]
    return RunResult(
        seed=seed,
        schedule=schedule.name,
        scores=scores,
        samples_seen=samples_seen,
        trained=trained,
        phase=phase,
        n_iter=n_iter,
        n_fun=n_fun,
        predictions=[np.full(p.shape, np.nan) for p in predictions] if diverged else predictions,
        diverged=diverged,
    )


class CompiledEngine:
    """The compiled CPU engine (:class:`~forgetlab.engines.base.Engine`): one run at a time, in compiled loops."""

    name = "compiled"

    def check(self, experiment: Spec) -> None:
        """Raise InvalidParameterError unless this engine can train ``experiment``."""
        if experiment.continual_request:
            others = [type(s).__name__ for s in experiment.trained_strategies if not s.index_only]
            if others:
                allowed = (
                    "naive, joint, cumulative, replay, der or derpp (strategies that only choose and weigh samples; "
                    "torch trains the others)"
                )
                raise invalid("strategies", "the compiled engine", allowed, ", ".join(others))
            estimators.check_estimator(experiment.estimator)
        else:
            check_estimator(experiment.estimator)
        if experiment.dtype == "float32":
            check_float32_range(experiment.stream)

    def run_bytes(self, experiment: Spec) -> int:
        """:func:`~forgetlab.engines.base.estimate_run_bytes`."""
        return estimate_run_bytes(experiment)

    def max_seeds_per_batch(self, experiment: Spec) -> int:
        """:data:`SEEDS_PER_BATCH`: runs are computed one by one, so small batches spread them over the processes."""
        return SEEDS_PER_BATCH

    def train(self, experiment: Spec, schedule: int, seeds: Sequence[int]) -> list[RunResult]:
        """One run per seed (and strategy), each alone, with ``experiment.n_threads`` BLAS threads."""
        plan, stream, dtype = experiment.schedules[schedule], experiment.stream, experiment.dtype
        # loading the kernels loads the BLAS of np.dot, so that the limit below reaches it
        ensure_compiled(dtype, "continual" if experiment.continual else "lbfgs")
        with threadpool_limits(limits=experiment.n_threads, user_api="blas"):
            if not experiment.continual:
                return [train_run(experiment.estimator, stream, plan, seed, dtype=dtype) for seed in list(seeds)]
            options = {
                **estimators.train_settings(experiment.estimator, stream),
                "dtype": dtype,
                "record_every": experiment.record_every,
            }
            return [
                compiled_continual.train_run(stream=stream, schedule=plan, strategy=strategy, seed=seed, **options)
                for strategy in experiment.trained_strategies
                for seed in list(seeds)
            ]


ENGINE = CompiledEngine()
