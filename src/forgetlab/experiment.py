"""The experiment: a validated spec, its plan of runs, and running it.

An :class:`Experiment` is everything that determines the results: the stream, the model,
the schedules, the seeds, the engine and its BLAS threads. It is validated once, when
built. :func:`run` trains all its runs and returns :class:`Results` (tidy tables); the
store, the figures and the CLI take it from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, is_classifier

from forgetlab.engines import ENGINE_CHOICES
from forgetlab.engines import sklearn as sklearn_engine
from forgetlab.engines.base import RunResult
from forgetlab.errors import InvalidParameterError, invalid
from forgetlab.metrics import (
    average_score,
    backward_transfer,
    forgetting,
    forward_transfer,
    intransigence,
    score_matrix,
)
from forgetlab.schedules import Schedule
from forgetlab.tasks import Stream

if TYPE_CHECKING:
    from forgetlab.strategies import Strategy

__all__ = ["RESULT_COLUMNS", "Experiment", "Results", "parse_seeds", "run"]

#: Columns of the tidy results table, one row per (run, epoch, task, metric).
RESULT_COLUMNS = (
    "run",
    "seed",
    "schedule",
    "strategy",
    "engine",
    "epoch",
    "samples_seen",
    "trained",
    "task",
    "metric",
    "value",
    "diverged",
)

MAX_SEED = 2**32 - 1


def resolve_engine(name: str, estimator: object) -> str:
    """The engine that trains ``estimator``: ``name`` itself, or for ``"auto"`` the torch
    engine when it can train the estimator (an ``MLPRegressor`` with a solver it
    implements), else the scikit-learn engine.

    Raises
    ------
    InvalidParameterError
        If ``name`` is not an engine, or the named engine cannot train ``estimator``.

    Examples
    --------
    >>> from sklearn.linear_model import SGDRegressor
    >>> from forgetlab.engines.sklearn import tutorial_model
    >>> resolve_engine("auto", tutorial_model()), resolve_engine("auto", SGDRegressor())
    ('torch', 'sklearn')
    """
    if name not in ENGINE_CHOICES:
        raise invalid("engine", None, f"one of {', '.join(ENGINE_CHOICES)}", name)
    if name != "auto":
        _engine(name).check_estimator(estimator)
        return name
    try:
        _engine("torch").check_estimator(estimator)
    except InvalidParameterError:
        return "sklearn"
    return "torch"


def _engine(name: str) -> ModuleType:
    """An engine's module; the torch engine (and torch) is imported only when used."""
    if name == "torch":
        from forgetlab.engines import torch as torch_engine

        return torch_engine
    return sklearn_engine


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from the CLI's syntax: ``"42"``, ``"0-15"``, ``"1,2,3"`` or ``"0-3,10"``.

    Examples
    --------
    >>> parse_seeds("0-3,10")
    (0, 1, 2, 3, 10)

    Raises
    ------
    InvalidParameterError
        For an empty list, a malformed item, a reversed range or a repeated seed.
    """
    allowed = "seeds like 42, 0-15 or 1,2,3"
    seeds: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        low, dash, high = item.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            raise invalid("seeds", None, allowed, text)
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise invalid("seeds", None, f"{allowed} (a range must go upwards)", text)
        seeds.extend(range(first, last + 1))
    return check_seeds(seeds)


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """A non-empty tuple of distinct ints in [0, 2**32 - 1], or InvalidParameterError."""
    seeds = tuple(seeds)
    allowed = f"a non-empty list of distinct ints in [0, {MAX_SEED}]"
    ok = all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds)
    if not seeds or not ok or len(set(seeds)) != len(seeds):
        raise invalid("seeds", None, allowed, list(seeds))
    return tuple(int(s) for s in seeds)


def _plain(value: object) -> object:
    """JSON-able form of an estimator parameter (tuples become lists, objects their repr)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


@dataclass(frozen=True, kw_only=True, eq=False)
class Experiment:
    """Everything that determines an experiment's results, validated on construction.

    Parameters
    ----------
    stream : Stream
        The tasks, in training order.
    estimator : scikit-learn estimator with ``partial_fit``
        The model template; each run clones it with ``random_state=seed``.
    schedules : sequence of Schedule
        Each is run with every seed.
    seeds : sequence of int
        Distinct, in [0, 2**32 - 1]. Seed ``s`` sets the model's initialisation and the
        schedule's sampling RNG; the stream's split is fixed by the stream.
    engine : {"auto", "sklearn", "torch"}, default "auto"
        Which engine trains the runs: one scikit-learn estimator per run, or all runs of a
        schedule batched in PyTorch (``MLPRegressor`` only). ``"auto"`` takes torch when
        it can train the estimator, else sklearn; the attribute holds the engine chosen.
    threads : int or None
        BLAS threads per run for the sklearn engine, PyTorch threads per worker process
        for the torch engine; default 1 (on small matrices threads cost more than they
        give; processes spread the work instead). Results may depend on it, so it is part
        of the experiment.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of the torch engine (the sklearn engine computes in float64).
    strategies : sequence of Strategy, optional
        Continual-learning strategies (:mod:`forgetlab.strategies`), each run with every
        schedule and seed by the continual trainer (:mod:`forgetlab.engines.continual`,
        torch engine); the estimator is then an ``MLPRegressor`` or ``MLPClassifier``
        with solver adam or sgd that describes the model and optimiser. A classification
        stream trains this way too (``Naive`` if no strategy is given) unless the
        engine is sklearn or the estimator is another classifier with ``partial_fit``
        (e.g. ``SGDClassifier``): the scikit-learn engine then trains it, schedules only.
        Continual runs' results also hold their stream metrics (:data:`STREAM_METRICS`).

    Raises
    ------
    InvalidParameterError
        If a schedule cannot run on the stream (e.g. K larger than a task's training set),
        a seed is invalid or repeated, or anything else is out of range.

    Examples
    --------
    >>> from forgetlab.tasks import seasons
    >>> from forgetlab.schedules import Interspersed
    >>> from forgetlab.engines.sklearn import tutorial_model
    >>> experiment = Experiment(
    ...     stream=seasons(), estimator=tutorial_model(), schedules=[Interspersed()], seeds=[1, 2]
    ... )
    >>> len(experiment.runs())
    2
    """

    stream: Stream
    estimator: BaseEstimator
    schedules: Sequence[Schedule]
    seeds: Sequence[int]
    engine: str = "auto"
    threads: int | None = None
    dtype: str = "float32"
    strategies: Sequence[Strategy] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        if self.strategies or (self.stream.kind == "classification" and self._continual_can_train()):
            self._check_continual()
        else:
            object.__setattr__(self, "engine", resolve_engine(self.engine, self.estimator))
            if self.stream.kind == "classification" and not is_classifier(self.estimator):
                raise invalid("estimator", None, "a classifier for a classification stream", self.estimator)
        if self.threads is None:
            object.__setattr__(self, "threads", 1)
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise invalid("threads", None, "an int >= 1", self.threads)
        if self.dtype not in ("float32", "float64"):
            raise invalid("dtype", None, "one of float32, float64", self.dtype)
        names = [schedule.name for schedule in self.schedules]
        if not names or len(set(names)) != len(names):
            raise invalid("schedules", None, "a non-empty list of distinct schedules", names)
        for schedule in self.schedules:
            schedule.validate(self.stream.train_sizes, self.stream.task_names)

    def _continual_can_train(self) -> bool:
        """Whether the continual trainer takes this experiment (engine torch or auto, a model it knows)."""
        from forgetlab.engines import continual

        if self.engine == "sklearn":
            return False
        try:
            continual.check_estimator(self.estimator)
        except InvalidParameterError:
            return self.engine == "torch"  # then _check_continual names what is wrong
        return True

    def _check_continual(self) -> None:
        """Strategies or a classification stream: the continual trainer, on the torch engine."""
        from forgetlab.engines import continual
        from forgetlab.strategies import Naive

        if self.engine not in ("auto", "torch"):
            raise invalid(
                "engine", None, "torch or auto (strategies and classification need the torch engine)", self.engine
            )
        object.__setattr__(self, "engine", "torch")
        continual.check_estimator(self.estimator)
        strategies = tuple(self.strategies) or (Naive(),)
        names = [strategy.name for strategy in strategies]
        if len(set(names)) != len(names):
            raise invalid("strategies", None, "a list of distinct strategies", names)
        for strategy in strategies:
            strategy.validate(self.stream)
        object.__setattr__(self, "strategies", strategies)

    @property
    def continual(self) -> bool:
        """True when the runs train under strategies (:mod:`forgetlab.engines.continual`)."""
        return bool(self.strategies)

    def runs(self) -> list[tuple]:
        """Every run, schedules outer, then strategies (if any), then seeds; a run's id is its index here.

        Runs are ``(schedule, seed)`` pairs, or ``(schedule, strategy, seed)`` for a
        continual experiment.
        """
        if self.continual:
            return [
                (sch, strategy, seed) for sch in self.schedules for strategy in self.strategies for seed in self.seeds
            ]
        return [(schedule, seed) for schedule in self.schedules for seed in self.seeds]

    def manifest(self) -> dict:
        """Plain description of the experiment (what the results depend on)."""
        return {
            "stream": self.stream.description,
            "model": {
                "class": type(self.estimator).__name__,
                "params": {key: _plain(value) for key, value in sorted(self.estimator.get_params().items())},
            },
            "schedules": [schedule.to_dict() for schedule in self.schedules],
            "seeds": list(self.seeds),
            **(
                {"stream_kind": self.stream.kind, "strategies": [strategy.to_dict() for strategy in self.strategies]}
                if self.continual
                else {"strategy": "naive"}
            ),
            "engine": self.engine,
            "threads": self.threads,
            **({"dtype": self.dtype} if self.engine == "torch" else {}),
        }

    def fingerprint(self) -> str:
        """SHA-256 of the manifest's canonical JSON: equal for equal experiments."""
        text = json.dumps(self.manifest(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, eq=False)
class Results:
    """An experiment's outcome as tidy tables.

    Attributes
    ----------
    scores : DataFrame
        One row per (run, epoch, task, metric) with :data:`RESULT_COLUMNS`; ``diverged``
        marks every row of a run whose training produced non-finite numbers.
    predictions : DataFrame
        The final model of every run on every task's test set: ``run, seed, schedule,
        task, x, y_true, y_pred`` (``x`` in original units, e.g. days).
    manifest : dict
        :meth:`Experiment.manifest` plus its ``fingerprint``.
    out : Path or None
        Where the tables and figures were written, if anywhere.
    """

    scores: pd.DataFrame
    predictions: pd.DataFrame
    manifest: dict
    out: Path | None = None


def _tables(experiment: Experiment, results: Sequence[RunResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    stream = experiment.stream
    names = np.array(stream.task_names)
    score_parts, prediction_parts = [], []
    for run_id, result in enumerate(results):
        n_epochs, n_tasks = result.scores.shape
        score_parts.append(
            pd.DataFrame(
                {
                    "run": run_id,
                    "seed": result.seed,
                    "schedule": result.schedule,
                    "strategy": getattr(result, "strategy", "naive"),
                    "engine": experiment.engine,
                    "epoch": np.repeat(np.arange(1, n_epochs + 1), n_tasks),
                    "samples_seen": np.repeat(result.samples_seen, n_tasks),
                    "trained": np.repeat(result.trained, n_tasks),
                    "task": np.tile(names, n_epochs),
                    "metric": result.metric,
                    "value": result.scores.ravel(),
                    "diverged": result.diverged,
                }
            )
        )
        for task, y_pred in zip(stream.tasks, result.predictions, strict=True):
            prediction_parts.append(
                pd.DataFrame(
                    {
                        "run": run_id,
                        "seed": result.seed,
                        "schedule": result.schedule,
                        "task": task.name,
                        "x": stream.denormalise(task.x_test)[:, 0],
                        "y_true": task.y_test,
                        "y_pred": y_pred,
                    }
                )
            )
    score_parts.extend(_stream_metric_rows(experiment, results))
    return pd.concat(score_parts, ignore_index=True), pd.concat(prediction_parts, ignore_index=True)


#: The stream metrics of a continual run, in the results table with ``task`` "all".
STREAM_METRICS = ("acc", "bwt", "fwt", "forgetting", "intransigence")


def _stream_metric_rows(experiment: Experiment, results: Sequence[RunResult]) -> list[pd.DataFrame]:
    """ACC, BWT, FWT, forgetting and intransigence of every continual run with one phase per task.

    From the score matrix at the end of each phase (:func:`forgetlab.metrics.score_matrix`);
    FWT against the untrained model's scores; intransigence against the ``cumulative``
    strategy's run with the same schedule and seed (trained jointly on tasks 0..k in phase
    k), when the experiment has one. Schedules whose phases are not one per task (the
    tutorial's alternating and interspersed ones) get no rows.
    """
    n_tasks = len(experiment.stream)
    matrices = {
        (result.schedule, result.strategy, result.seed): score_matrix(result.scores, result.phase_ends)
        for result in results
        if getattr(result, "phase_ends", None) is not None and len(result.phase_ends) == n_tasks
    }
    rows = []
    for run_id, result in enumerate(results):
        R = matrices.get((result.schedule, getattr(result, "strategy", None), result.seed))
        if R is None:
            continue
        values = {
            "acc": average_score(R),
            "bwt": backward_transfer(R),
            "fwt": forward_transfer(R, result.initial_scores),
            "forgetting": forgetting(R),
        }
        joint = matrices.get((result.schedule, "cumulative", result.seed))
        if joint is not None:
            values["intransigence"] = intransigence(R, np.diagonal(joint))
        rows.append(
            pd.DataFrame(
                {
                    "run": run_id,
                    "seed": result.seed,
                    "schedule": result.schedule,
                    "strategy": result.strategy,
                    "engine": experiment.engine,
                    "epoch": len(result.scores),
                    "samples_seen": result.samples_seen[-1],
                    "trained": result.trained[-1],
                    "task": "all",
                    "metric": list(values),
                    "value": [float(v) for v in values.values()],
                    "diverged": result.diverged,
                }
            )
        )
    return rows


def run(experiment: Experiment, *, n_jobs: int | None = None, on_run_done: Callable[[], None] | None = None) -> Results:
    """Train every run of ``experiment`` and return its tidy tables.

    Parameters
    ----------
    experiment : Experiment
        What to run.
    n_jobs : int or None
        Worker processes; None uses one per ``threads`` cores, 1 trains in this process.
    on_run_done : callable, optional
        Called once per finished run (e.g. a progress bar's ``update``).

    Returns
    -------
    Results
    """
    engine_options = {"dtype": experiment.dtype} if experiment.engine == "torch" else {}
    if experiment.continual:
        from forgetlab.engines import continual as engine
    else:
        engine = _engine(experiment.engine)
    results = engine.run_many(
        experiment.estimator,
        experiment.stream,
        experiment.runs(),
        threads=experiment.threads,
        n_jobs=n_jobs,
        on_done=None if on_run_done is None else (lambda _: on_run_done()),
        **engine_options,
    )
    scores, predictions = _tables(experiment, results)
    manifest = {**experiment.manifest(), "fingerprint": experiment.fingerprint()}
    return Results(scores=scores, predictions=predictions, manifest=manifest)
