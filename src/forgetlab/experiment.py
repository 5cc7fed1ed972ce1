"""The experiment: a validated spec, its plan of runs, and running it.

An :class:`Experiment` is everything that determines the results: the stream, the model,
the schedules, the seeds, the engine and its BLAS threads. It is validated once, when
built. :func:`run` trains all its runs and returns :class:`Results` (tidy tables); the
store, the figures and the CLI take it from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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

__all__ = [
    "PREDICTION_COLUMNS",
    "RESULT_COLUMNS",
    "Experiment",
    "Results",
    "labels",
    "parse_seeds",
    "recorded_epochs",
    "tables",
    "train_schedule",
]

#: Columns of the tidy results table, one row per (run, epoch, task, metric).
RESULT_COLUMNS = (
    "run",
    "seed",
    "variant",
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

#: Columns of the predictions table, one row per (run, test sample).
PREDICTION_COLUMNS = ("run", "seed", "variant", "schedule", "strategy", "task", "x", "y_true", "y_pred")

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


def check_estimator_params(estimator: object) -> None:
    """Raise InvalidParameterError if a scikit-learn estimator's parameters are not allowed.

    scikit-learn checks them only when fitting; checking them here makes a bad value fail
    before any run trains, in forgetlab's one-line form.

    Examples
    --------
    >>> from sklearn.neural_network import MLPRegressor
    >>> check_estimator_params(MLPRegressor(alpha=-1.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    forgetlab.errors.InvalidParameterError: The 'estimator' parameter must be a valid MLPRegressor: The 'alpha' ...
    """
    validate = getattr(estimator, "_validate_params", None)
    if validate is None:
        return
    owner = type(estimator).__name__
    try:
        validate()
    except ValueError as error:  # scikit-learn's InvalidParameterError is a ValueError
        message = str(error).rstrip(".")
        raise InvalidParameterError(f"The 'estimator' parameter must be a valid {owner}: {message}.") from None
    hidden = getattr(estimator, "hidden_layer_sizes", None)
    if hidden is not None:  # scikit-learn checks the sizes only when fitting
        sizes = np.atleast_1d(np.asarray(hidden, dtype=object))
        if sizes.ndim != 1 or not all(
            isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h >= 1 for h in sizes
        ):
            raise invalid("hidden_layer_sizes", owner, "ints >= 1 (one per hidden layer)", hidden)


def _check_float32_range(stream: Stream) -> None:
    """float32 arithmetic needs every input and target within float32's range."""
    limit = float(np.finfo(np.float32).max)
    for task in stream.tasks:
        for array in (task.x_train, task.y_train, task.x_test, task.y_test):
            largest = float(np.max(np.abs(array))) if np.size(array) else 0.0
            if largest > limit:
                allowed = (
                    f"float64 for values beyond float32's range (|value| up to {largest:.3g} in task {task.name!r})"
                )
                raise invalid("dtype", None, allowed, "float32")


def _setting(value: object) -> str:
    """A setting's value as it reads in a label: ``10``, ``0.001``, ``(1, 9)``, ``reservoir``."""
    return value if isinstance(value, str) else repr(_plain(value)).replace("[", "(").replace("]", ")")


def labels(items: Sequence[Schedule] | Sequence[Strategy]) -> list[str]:
    """Names that tell the items apart: the name alone, or with the settings that differ.

    Items of a kind that occurs once keep their name; items that share a name get the
    settings in which they differ, in field order, e.g. ``interspersed(k=10)``.

    Examples
    --------
    >>> from forgetlab.schedules import Interspersed, Sequential
    >>> labels([Sequential(), Interspersed(k=10), Interspersed(k=30)])
    ['sequential', 'interspersed(k=10)', 'interspersed(k=30)']
    """
    settings = [item.to_dict() for item in items]
    result = []
    for item, mine in zip(items, settings, strict=True):
        same_name = [other for other in settings if other["name"] == item.name]
        if len(same_name) == 1:
            result.append(item.name)
            continue
        differ = [key for key in mine if key != "name" and any(other[key] != mine[key] for other in same_name)]
        result.append(f"{item.name}({', '.join(f'{key}={_setting(mine[key])}' for key in differ)})")
    return result


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
        Each is run with every seed; distinct. Two of the same kind (e.g. interspersed
        with K 10 and 30) are told apart in the results by the settings in which they
        differ (:func:`labels`: ``interspersed(k=10)``).
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
    record_every : int, default 1
        Keep every task's scores after every ``record_every``-th epoch, after the last
        epoch of each block of epochs on the same tasks (before a task switch) and after
        the last epoch; 1 keeps them all. The scores are computed every epoch either
        way (scoring costs little next to training); this thins the table.

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
    record_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "seeds", check_seeds(self.seeds))
        check_estimator_params(self.estimator)
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
        if not isinstance(self.record_every, int) or isinstance(self.record_every, bool) or self.record_every < 1:
            raise invalid("record_every", None, "an int >= 1", self.record_every)
        if self.dtype not in ("float32", "float64"):
            raise invalid("dtype", None, "one of float32, float64", self.dtype)
        if self.engine == "torch" and self.dtype == "float32":
            _check_float32_range(self.stream)
        if not self.schedules or len(set(self.schedules)) != len(self.schedules):
            raise invalid("schedules", None, "a non-empty list of distinct schedules", list(self.schedules))
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
        if len(set(strategies)) != len(strategies):
            raise invalid("strategies", None, "a list of distinct strategies", list(strategies))
        for strategy in strategies:
            strategy.validate(self.stream)
        object.__setattr__(self, "strategies", strategies)

    @property
    def schedule_labels(self) -> list[str]:
        """The ``schedule`` column's names of the schedules (:func:`labels`)."""
        return labels(self.schedules)

    @property
    def strategy_labels(self) -> list[str]:
        """The ``strategy`` column's names of the strategies (``["naive"]`` without strategies)."""
        return labels(self.strategies) if self.continual else ["naive"]

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
            **({"record_every": self.record_every} if self.record_every != 1 else {}),
        }

    def fingerprint(self) -> str:
        """SHA-256 of the manifest's canonical JSON: equal for equal experiments."""
        text = json.dumps(self.manifest(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, eq=False)
class Results:
    """An experiment's (or a sweep's) outcome as tidy tables.

    Attributes
    ----------
    scores : DataFrame
        One row per (run, epoch, task, metric) with :data:`RESULT_COLUMNS`; ``diverged``
        marks every row of a run whose training produced non-finite numbers.
    predictions : DataFrame
        The final model of every run on every task's test set, with
        :data:`PREDICTION_COLUMNS` (``x`` in original units, e.g. days).
    manifest : dict
        What the results depend on, with its ``fingerprint``.
    out : Path or None
        Where the tables and figures were written, if anywhere.
    """

    scores: pd.DataFrame
    predictions: pd.DataFrame
    manifest: dict
    out: Path | None = None


def train_schedule(experiment: Experiment, schedule: int, seeds: Sequence[int]) -> list[RunResult]:
    """Train the runs of one schedule for some seeds, in this process: one batch per strategy.

    Every strategy of the experiment (or the schedule alone) is trained for ``seeds`` as
    one batch of the experiment's engine, with ``experiment.threads`` threads (the
    scikit-learn engine trains the seeds one after the other). Batched engines give a
    run the same numbers whatever batch it is in, so how a sweep splits its seeds into
    calls of this function changes nothing but the time.

    Parameters
    ----------
    experiment : Experiment
        What to train.
    schedule : int
        Index into ``experiment.schedules``.
    seeds : sequence of int
        Some of ``experiment.seeds``.

    Returns
    -------
    list of RunResult
        Strategies outer, seeds inner (the order of :meth:`Experiment.runs`).
    """
    plan = experiment.schedules[schedule]
    seeds = list(seeds)
    if experiment.engine == "sklearn":
        return [
            sklearn_engine.train_run(experiment.estimator, experiment.stream, plan, seed, threads=experiment.threads)
            for seed in seeds
        ]
    from forgetlab.engines import continual
    from forgetlab.engines import torch as torch_engine

    with torch_engine.torch_threads(experiment.threads):
        if not experiment.continual:
            return torch_engine.train_batch(
                experiment.estimator, experiment.stream, plan, seeds, dtype=experiment.dtype
            )
        options = {**continual.train_settings(experiment.estimator, experiment.stream), "dtype": experiment.dtype}
        return [
            result
            for strategy in experiment.strategies
            for result in continual.train_continual(
                stream=experiment.stream, schedule=plan, strategy=strategy, seeds=seeds, **options
            )
        ]


def tables(
    experiment: Experiment,
    schedule: int,
    results: Sequence[RunResult],
    run_ids: Sequence[int],
    *,
    variant: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and predictions tables of results from :func:`train_schedule`.

    Parameters
    ----------
    experiment : Experiment
        The experiment the results come from.
    schedule : int
        The index of the results' schedule.
    results : sequence of RunResult
        Strategies outer, seeds inner, as :func:`train_schedule` returns them.
    run_ids : sequence of int
        The ``run`` of each result (its place in the sweep).
    variant : str, default ""
        The ``variant`` column: the sweep's name of the experiment's settings.

    Returns
    -------
    scores, predictions : DataFrame
        With :data:`RESULT_COLUMNS` and :data:`PREDICTION_COLUMNS`.
    """
    stream = experiment.stream
    names = np.array(stream.task_names)
    n_seeds = len(results) // len(experiment.strategy_labels)
    strategies = [experiment.strategy_labels[i // n_seeds] for i in range(len(results))]
    base = {"variant": variant, "schedule": experiment.schedule_labels[schedule]}
    score_parts, prediction_parts = [], []
    for run_id, strategy, result in zip(run_ids, strategies, results, strict=True):
        n_tasks = result.scores.shape[1]
        kept = recorded_epochs(result.trained, experiment.record_every)
        labelled = {"run": run_id, "seed": result.seed, **base, "strategy": strategy}
        score_parts.append(
            pd.DataFrame(
                {
                    **labelled,
                    "engine": experiment.engine,
                    "epoch": np.repeat(kept + 1, n_tasks),
                    "samples_seen": np.repeat(result.samples_seen[kept], n_tasks),
                    "trained": np.repeat(np.asarray(result.trained)[kept], n_tasks),
                    "task": np.tile(names, len(kept)),
                    "metric": result.metric,
                    "value": result.scores[kept].ravel(),
                    "diverged": result.diverged,
                }
            )
        )
        for task, y_pred in zip(stream.tasks, result.predictions, strict=True):
            x = stream.denormalise(task.x_test)[:, 0]
            prediction_parts.append(
                pd.DataFrame({**labelled, "task": task.name, "x": x, "y_true": task.y_test, "y_pred": y_pred})
            )
    if experiment.continual:
        score_parts.extend(_stream_metric_rows(experiment, results, run_ids, strategies, base))
    scores = pd.concat(score_parts, ignore_index=True)[list(RESULT_COLUMNS)]
    return scores, pd.concat(prediction_parts, ignore_index=True)[list(PREDICTION_COLUMNS)]


def recorded_epochs(trained: Sequence[str], every: int) -> np.ndarray:
    """The 0-based epochs whose scores a results table keeps (see ``Experiment.record_every``).

    Every ``every``-th epoch, the last epoch before the trained tasks change, and the last.

    Examples
    --------
    >>> recorded_epochs(["a", "a", "a", "b", "b", "b", "b"], 2).tolist()
    [1, 2, 3, 5, 6]
    """
    epochs = np.arange(len(trained))
    switch = np.append(np.asarray(trained[1:]) != np.asarray(trained[:-1]), True)
    return epochs[((epochs + 1) % every == 0) | switch]


#: The stream metrics of a continual run, in the results table with ``task`` "all".
STREAM_METRICS = ("acc", "bwt", "fwt", "forgetting", "intransigence")


def _stream_metric_rows(
    experiment: Experiment, results: Sequence[RunResult], run_ids: Sequence[int], strategies: Sequence[str], base: dict
) -> list[pd.DataFrame]:
    """ACC, BWT, FWT, forgetting and intransigence of every continual run with one phase per task.

    From the score matrix at the end of each phase (:func:`forgetlab.metrics.score_matrix`);
    FWT against the untrained model's scores; intransigence against the ``cumulative``
    strategy's run with the same seed (trained jointly on tasks 0..k in phase k), when the
    results include it (:func:`train_schedule` trains every strategy of a schedule together
    for that reason). Schedules whose phases are not one per task (the
    tutorial's alternating and interspersed ones) get no rows.
    """
    n_tasks = len(experiment.stream)
    cumulative = next(
        (
            label
            for strategy, label in zip(experiment.strategies, experiment.strategy_labels, strict=True)
            if strategy.name == "cumulative"
        ),
        None,
    )
    matrices = {
        (strategy, result.seed): score_matrix(result.scores, result.phase_ends)
        for strategy, result in zip(strategies, results, strict=True)
        if len(result.phase_ends) == n_tasks
    }
    rows = []
    for run_id, strategy, result in zip(run_ids, strategies, results, strict=True):
        R = matrices.get((strategy, result.seed))
        if R is None:
            continue
        values = {
            "acc": average_score(R),
            "bwt": backward_transfer(R),
            "fwt": forward_transfer(R, result.initial_scores),
            "forgetting": forgetting(R),
        }
        joint = matrices.get((cumulative, result.seed))
        if joint is not None:
            values["intransigence"] = intransigence(R, np.diagonal(joint))
        rows.append(
            pd.DataFrame(
                {
                    "run": run_id,
                    "seed": result.seed,
                    **base,
                    "strategy": strategy,
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
