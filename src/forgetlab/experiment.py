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

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from forgetlab.engines import ENGINE_CHOICES
from forgetlab.engines import sklearn as sklearn_engine
from forgetlab.engines.base import RunResult
from forgetlab.errors import InvalidParameterError, invalid
from forgetlab.schedules import Schedule
from forgetlab.tasks import Stream

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        object.__setattr__(self, "engine", resolve_engine(self.engine, self.estimator))
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

    def runs(self) -> list[tuple[Schedule, int]]:
        """Every (schedule, seed) pair, schedules outer; a run's id is its index here."""
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
            "strategy": "naive",
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
                    "strategy": "naive",
                    "engine": experiment.engine,
                    "epoch": np.repeat(np.arange(1, n_epochs + 1), n_tasks),
                    "samples_seen": np.repeat(result.samples_seen, n_tasks),
                    "trained": np.repeat(result.trained, n_tasks),
                    "task": np.tile(names, n_epochs),
                    "metric": "r2",
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
    return pd.concat(score_parts, ignore_index=True), pd.concat(prediction_parts, ignore_index=True)


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
    results = _engine(experiment.engine).run_many(
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
