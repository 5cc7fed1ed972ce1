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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd

from forgetlab.engines import engine_choices, resolve_engine
from forgetlab.errors import about_item, invalid
from forgetlab.models import Model
from forgetlab.results import RunResult, tidy_tables
from forgetlab.schedules import Schedule
from forgetlab.tasks import Stream
from forgetlab.validation import AnyOf, Constraint, Hidden, Interval, Options, SequenceOf, check, validate

if TYPE_CHECKING:
    from forgetlab.engines.base import Engine
    from forgetlab.strategies import Strategy

__all__ = [
    "Experiment",
    "Results",
    "labels",
    "parse_seeds",
    "tables",
    "train_schedule",
]

MAX_SEED = 2**32 - 1

#: Seeds of an experiment: distinct ints NumPy's ``RandomState`` accepts.
SEEDS = SequenceOf(Interval(int, 0, MAX_SEED), non_empty=True, distinct=True)


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
    """A non-empty tuple of distinct ints in [0, 2**32 - 1] (:data:`SEEDS`), or InvalidParameterError.

    Examples
    --------
    >>> check_seeds(range(3))
    (0, 1, 2)
    """
    seeds = tuple(seeds)
    check(list(seeds), "seeds", None, SEEDS)
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
    estimator : Model or scikit-learn estimator
        The model template (each run sets ``random_state=seed``): a scikit-learn
        estimator with ``partial_fit``, kept as its :class:`~forgetlab.models.Model`
        (checked on entry), or a :class:`~forgetlab.models.Model` (what a config builds,
        without importing scikit-learn).
    schedules : sequence of Schedule
        Each is run with every seed; distinct. Two of the same kind (e.g. interspersed
        with K 10 and 30) are told apart in the results by the settings in which they
        differ (:func:`labels`: ``interspersed(k=10)``).
    seeds : sequence of int
        Distinct, in [0, 2**32 - 1]. Seed ``s`` sets the model's initialisation and the
        schedule's sampling RNG; the stream's split is fixed by the stream.
    engine : {"auto", "compiled", "torch", "sklearn"} or another registered engine, default "auto"
        Which engine trains the runs (:mod:`forgetlab.engines`): each L-BFGS run in
        compiled loops, all runs of a schedule batched in PyTorch, or one scikit-learn
        estimator per run. ``"auto"`` takes the first registered engine that can train
        the experiment (the compiled one for lbfgs MLPs without strategies and for naive,
        joint, cumulative, replay, DER and DER++ continual runs); the attribute
        keeps what was asked, :attr:`engine_name` is the engine chosen.
    threads : int or None
        BLAS threads per run for the sklearn and compiled engines, PyTorch threads per
        worker process for the torch engine; None means 1 (:attr:`n_threads`: on small
        matrices threads cost more than they give; processes spread the work instead).
        Results may depend on it, so it is part of the experiment.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of the compiled and torch engines (the sklearn engine computes in float64).
    strategies : sequence of Strategy, optional
        Continual-learning strategies (:mod:`forgetlab.strategies`), each run with every
        schedule and seed by the continual trainer (:mod:`forgetlab.engines.continual`,
        torch engine); the estimator is then an ``MLPRegressor`` or ``MLPClassifier``
        with solver adam or sgd that describes the model and optimiser. A classification
        stream trains this way too (``Naive`` if no strategy is given) unless the
        engine is sklearn or the estimator is another classifier with ``partial_fit``
        (e.g. ``SGDClassifier``): the scikit-learn engine then trains it, schedules only.
        Continual runs' results also hold their stream metrics
        (:data:`forgetlab.results.STREAM_METRICS`).
    record_every : int, default 1
        Keep every task's scores after every ``record_every``-th epoch, after the last
        epoch of each block of epochs on the same tasks (before a task switch) and after
        the last epoch; 1 keeps them all. The continual trainer scores only these
        epochs (the other engines score every epoch and thin the table).

    Raises
    ------
    InvalidParameterError
        If a schedule or a strategy cannot run on the stream (e.g. K larger than a task's
        training set; the error's ``item`` says which, e.g. ``("schedules", 1)``), a seed
        is invalid or repeated, or anything else is out of range (:attr:`constraints`).

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

    #: What the plain fields accept (:mod:`forgetlab.validation`); the estimator is checked
    #: by :meth:`Model.of <forgetlab.models.Model.of>`, ``engine`` against the registered engines, the
    #: schedules and strategies against the stream.
    constraints: ClassVar[dict[str, Constraint]] = {
        "seeds": SEEDS,
        "threads": AnyOf(Hidden(None), Interval(int, 1, None)),
        "record_every": Interval(int, 1, None),
        "dtype": Options("float32", "float64"),
    }

    stream: Stream
    estimator: Model
    schedules: Sequence[Schedule]
    seeds: Sequence[int]
    engine: str = "auto"
    threads: int | None = None
    dtype: str = "float32"
    strategies: Sequence[Strategy] = ()
    record_every: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedules", tuple(self.schedules))
        object.__setattr__(self, "strategies", tuple(self.strategies))
        seeds = tuple(self.seeds)
        plain = {"seeds": list(seeds), "threads": self.threads, "record_every": self.record_every, "dtype": self.dtype}
        validate(None, self.constraints, plain)
        object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))
        object.__setattr__(self, "estimator", Model.of(self.estimator))
        check(self.engine, "engine", None, Options(*engine_choices()))
        distinct = "a non-empty list of distinct schedules"
        if not self.schedules:
            raise invalid("schedules", None, distinct, list(self.schedules))
        for index, schedule in enumerate(self.schedules):
            with about_item("schedules", index):
                schedule.validate(self.stream.train_sizes, self.stream.task_names)
        if len(set(self.schedules)) != len(self.schedules):  # valid settings are hashable
            raise invalid("schedules", None, distinct, list(self.schedules))
        for index, strategy in enumerate(self.strategies):
            with about_item("strategies", index):
                strategy.validate(self.stream)
        if len(set(self.strategies)) != len(self.strategies):
            raise invalid("strategies", None, "a list of distinct strategies", list(self.strategies))
        object.__setattr__(self, "_engine", resolve_engine(self))

    @property
    def engine_name(self) -> str:
        """The engine that trains the runs: :attr:`engine`, or the one ``"auto"`` chose."""
        return self._engine.name

    @property
    def trainer(self) -> Engine:
        """The engine object that trains the runs (:class:`~forgetlab.engines.base.Engine`)."""
        return self._engine

    @property
    def n_threads(self) -> int:
        """Threads per run: :attr:`threads`, or 1 when it is None."""
        return 1 if self.threads is None else self.threads

    @property
    def continual_request(self) -> bool:
        """Whether the runs need a continual trainer: strategies given, or a classification
        stream on an engine other than sklearn (engines ask this in their ``check``)."""
        return bool(self.strategies) or (self.stream.kind == "classification" and self.engine != "sklearn")

    @property
    def continual(self) -> bool:
        """True when the runs train under strategies (:mod:`forgetlab.engines.continual`)."""
        return self.continual_request and self.engine_name != "sklearn"

    @cached_property
    def trained_strategies(self) -> tuple[Strategy, ...]:
        """The strategies the runs train under: :attr:`strategies`, or ``Naive`` alone for a
        continual experiment without any; none for schedules-only experiments."""
        if not self.continual_request:
            return ()
        if self.strategies:
            return self.strategies
        from forgetlab.strategies import Naive

        return (Naive(),)

    @property
    def schedule_labels(self) -> list[str]:
        """The ``schedule`` column's names of the schedules (:func:`labels`)."""
        return labels(self.schedules)

    @property
    def strategy_labels(self) -> list[str]:
        """The ``strategy`` column's names of the strategies (``["naive"]`` without strategies)."""
        return labels(self.trained_strategies) if self.continual else ["naive"]

    def runs(self) -> list[tuple]:
        """Every run, schedules outer, then strategies (if any), then seeds; a run's id is its index here.

        Runs are ``(schedule, seed)`` pairs, or ``(schedule, strategy, seed)`` for a
        continual experiment.
        """
        if self.continual:
            return [
                (sch, strategy, seed)
                for sch in self.schedules
                for strategy in self.trained_strategies
                for seed in self.seeds
            ]
        return [(schedule, seed) for schedule in self.schedules for seed in self.seeds]

    def manifest(self) -> dict:
        """Plain description of the experiment (what the results depend on)."""
        return {
            "stream": self.stream.description,
            "model": {
                "class": self.estimator.class_name,
                "params": {key: _plain(value) for key, value in sorted(self.estimator.get_params().items())},
            },
            "schedules": [schedule.to_dict() for schedule in self.schedules],
            "seeds": list(self.seeds),
            **(
                {
                    "stream_kind": self.stream.kind,
                    "strategies": [strategy.to_dict() for strategy in self.trained_strategies],
                }
                if self.continual
                else {"strategy": "naive"}
            ),
            "engine": self.engine_name,
            "threads": self.n_threads,
            **({"dtype": self.dtype} if self.engine_name != "sklearn" else {}),
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
        One row per (run, epoch, task, metric) with :data:`~forgetlab.results.RESULT_COLUMNS`; ``diverged``
        marks every row of a run whose training produced non-finite numbers.
    predictions : DataFrame
        The final model of every run on every task's test set, with
        :data:`~forgetlab.results.PREDICTION_COLUMNS` (``x`` in original units, e.g. days).
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
    """Train the runs of one schedule for some seeds, in this process, on the experiment's engine.

    Every strategy of the experiment (or the schedule alone) is trained for ``seeds``
    (:meth:`~forgetlab.engines.base.Engine.train`). Engines give a run the same numbers
    whatever batch it is in, so how a sweep splits its seeds into calls of this function
    changes nothing but the time.

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
    return experiment.trainer.train(experiment, schedule, list(seeds))


def tables(
    experiment: Experiment,
    schedule: int,
    results: Sequence[RunResult],
    run_ids: Sequence[int],
    *,
    variant: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and predictions tables of results from :func:`train_schedule` (:func:`forgetlab.results.tidy_tables`).

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
    """
    n_seeds = len(results) // len(experiment.strategy_labels)
    strategies = [experiment.strategy_labels[i // n_seeds] for i in range(len(results))]
    cumulative = next(
        (
            label
            for strategy, label in zip(experiment.trained_strategies, experiment.strategy_labels, strict=False)
            if strategy.name == "cumulative"
        ),
        None,
    )
    return tidy_tables(
        results,
        run_ids=run_ids,
        strategies=strategies,
        stream=experiment.stream,
        labels={"variant": variant, "schedule": experiment.schedule_labels[schedule], "engine": experiment.engine_name},
        record_every=experiment.record_every,
        cumulative=cumulative if experiment.continual else None,
    )
