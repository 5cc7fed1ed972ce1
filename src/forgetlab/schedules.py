"""Which samples a run trains on in each epoch.

A schedule is a frozen dataclass of plain settings. :meth:`plan` turns it, the stream's
training-set sizes and a NumPy ``RandomState`` into the whole training plan: a list of
epochs, each epoch a list of ``(task_index, sample_indices)`` parts that are concatenated,
in that order, into the one batch the engine trains on in that epoch (one ``partial_fit``
call for the scikit-learn engine). Scores are recorded after every epoch.

Plans are pure functions of ``(train_sizes, rng)``; the RNG is consumed in the tutorial's
order so that the tutorial's numbers come out exactly:

- within a draw, tasks are sampled in stream order (summer before autumn), each with
  ``rng.choice(n_train, size=k, replace=False)``;
- an interspersed batch lists the newest task's samples first (autumn before summer).

Examples
--------
>>> import numpy as np
>>> plan = Alternating(k=2, n_epochs=3).plan((5, 4), np.random.RandomState(0))
>>> [[(task, idx.tolist()) for task, idx in epoch] for epoch in plan]
[[(0, [2, 0])], [(1, [0, 2])], [(0, [1, 3])]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from forgetlab._registry import make_from_registry
from forgetlab.validation import Constraint, Interval, SequenceOf, check, validate

__all__ = [
    "SCHEDULES",
    "Alternating",
    "Epoch",
    "Interspersed",
    "Schedule",
    "Sequential",
    "make_schedule",
    "newest_tasks",
    "phases",
]

#: One epoch: ``(task_index, sample_indices)`` parts, concatenated in order into one batch.
Epoch = list[tuple[int, np.ndarray]]


def newest_tasks(plan: Sequence[Epoch]) -> np.ndarray:
    """The newest task trained up to each epoch of a plan: the highest task index so far.

    Examples
    --------
    >>> newest_tasks([[(0, np.arange(2))], [(1, np.arange(2)), (0, np.arange(1))], [(0, np.arange(2))]]).tolist()
    [0, 1, 1]
    """
    return np.maximum.accumulate([max(task for task, _ in epoch) for epoch in plan])


def phases(plan: Sequence[Epoch]) -> np.ndarray:
    """The phase of every epoch of a plan: how many times a new task has arrived before it.

    A phase is the span of epochs whose newest task (the highest task index trained so
    far) is the same: a sequential plan has one phase per task; an interspersed one, whose
    every epoch trains all tasks, has one; an alternating one has two (the first task's
    first epoch, then everything after the second task arrives). Strategies consolidate
    at the end of each phase, and the score matrix R[i, j] is read at the end of phase i.

    Examples
    --------
    >>> plan = Sequential(epochs_per_task=(2, 1)).plan((5, 4), np.random.RandomState(0))
    >>> phases(plan).tolist()
    [0, 0, 1]
    >>> phases(Alternating(k=2, n_epochs=4).plan((5, 4), np.random.RandomState(0))).tolist()
    [0, 1, 1, 1]
    """
    newest = newest_tasks(plan)
    return np.concatenate([[0], np.cumsum(newest[1:] != newest[:-1])]).astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """Base class: a named, validated training schedule.

    ``constraints`` declares what each setting accepts whatever the stream
    (:mod:`forgetlab.validation`); :meth:`validate` checks them, after the bounds that
    depend on the stream's tasks.
    """

    name: ClassVar[str]
    constraints: ClassVar[dict[str, Constraint]] = {}

    def validate(self, train_sizes: Sequence[int], task_names: Sequence[str] | None = None) -> None:
        """Raise InvalidParameterError if the schedule cannot run on tasks of these sizes."""
        validate(type(self).__name__, self.constraints, self.__dict__)

    def n_epochs_for(self, n_tasks: int) -> int:
        """How many epochs (training calls, each followed by scoring) the plan has."""
        raise NotImplementedError

    def plan(self, train_sizes: Sequence[int], rng: np.random.RandomState) -> list[Epoch]:
        """The whole training plan for tasks with these training-set sizes."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Plain settings with the schedule's name, e.g. for a manifest."""
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class Sequential(Schedule):
    """Naive fine-tuning: every training sample of task 1 for some epochs, then task 2...

    The tutorial's exercise 1 is ``Sequential(epochs_per_task=(1, 9))``: one fit on all of
    summer, then nine epochs on all of autumn. Each epoch is the task's whole training set
    in its stored order; no randomness is used.

    Parameters
    ----------
    epochs_per_task : tuple of int
        Epochs on each task, in stream order; each >= 1.

    Examples
    --------
    >>> plan = Sequential(epochs_per_task=(1, 2)).plan((3, 2), np.random.RandomState(0))
    >>> [[(task, idx.tolist()) for task, idx in epoch] for epoch in plan]
    [[(0, [0, 1, 2])], [(1, [0, 1])], [(1, [0, 1])]]
    """

    name: ClassVar[str] = "sequential"
    constraints: ClassVar[dict[str, Constraint]] = {
        "epochs_per_task": SequenceOf(Interval(int, 1, None), kind="tuple", non_empty=True),
    }
    epochs_per_task: tuple[int, ...] = (1, 9)

    def validate(self, train_sizes: Sequence[int], task_names: Sequence[str] | None = None) -> None:
        one_per_task = SequenceOf(Interval(int, 1, None), kind="tuple", length=len(train_sizes), note="(one per task)")
        check(self.epochs_per_task, "epochs_per_task", "Sequential", one_per_task)
        super().validate(train_sizes, task_names)

    def n_epochs_for(self, n_tasks: int) -> int:
        return int(sum(self.epochs_per_task))

    def plan(self, train_sizes: Sequence[int], rng: np.random.RandomState) -> list[Epoch]:
        return [[(t, np.arange(size))] for t, size in enumerate(train_sizes) for _ in range(self.epochs_per_task[t])]


def _check_k(k: int, owner: str, train_sizes: Sequence[int], task_names: Sequence[str] | None) -> None:
    """K in [1, the smallest training set], the message naming that task."""
    smallest = int(np.argmin(train_sizes))
    which = f"the training set of {task_names[smallest]!r}" if task_names else f"task {smallest}'s training set"
    check(k, "k", f"{owner} (at most {which})", Interval(int, 1, int(train_sizes[smallest])))


def _draw(train_sizes: Sequence[int], k: int, rng: np.random.RandomState) -> list[np.ndarray]:
    """K distinct indices from every task, tasks in stream order (the tutorial's RNG order)."""
    return [rng.choice(np.arange(size), size=k, replace=False) for size in train_sizes]


@dataclass(frozen=True, kw_only=True)
class _Sampling(Schedule):
    """Base of the schedules that draw K fresh samples per task, for ``n_epochs`` epochs."""

    constraints: ClassVar[dict[str, Constraint]] = {"k": Interval(int, 1, None), "n_epochs": Interval(int, 1, None)}
    k: int = 30
    n_epochs: int = 50

    def validate(self, train_sizes: Sequence[int], task_names: Sequence[str] | None = None) -> None:
        _check_k(self.k, type(self).__name__, train_sizes, task_names)
        super().validate(train_sizes, task_names)

    def n_epochs_for(self, n_tasks: int) -> int:
        return self.n_epochs


@dataclass(frozen=True, kw_only=True)
class Alternating(_Sampling):
    """One task per epoch, round robin, K fresh samples each: the tutorial's exercise 2a.

    At the start of every round of ``n_tasks`` epochs, K distinct training indices are
    drawn from every task (in stream order); epoch ``e`` then trains on task
    ``e % n_tasks``'s draw. The tutorial calls this "sequential joint training".

    Parameters
    ----------
    k : int, default 30
        Samples per task per epoch, at most the smallest training set.
    n_epochs : int, default 100
        Epochs in all (the tutorial: 100, i.e. 50 of each season).
    """

    name: ClassVar[str] = "alternating"
    n_epochs: int = 100

    def plan(self, train_sizes: Sequence[int], rng: np.random.RandomState) -> list[Epoch]:
        plan: list[Epoch] = []
        while len(plan) < self.n_epochs:
            draws = _draw(train_sizes, self.k, rng)
            plan.extend([(t, idx)] for t, idx in enumerate(draws))
        return plan[: self.n_epochs]


@dataclass(frozen=True, kw_only=True)
class Interspersed(_Sampling):
    """K fresh samples of every task mixed in each epoch: the tutorial's exercise 2b.

    Each epoch draws K distinct training indices from every task (in stream order) and
    trains on all of them at once, the newest task's samples first (the tutorial puts
    autumn before summer).

    Parameters
    ----------
    k : int, default 30
        Samples per task per epoch, at most the smallest training set.
    n_epochs : int, default 50
        Epochs in all (the tutorial: 50).
    """

    name: ClassVar[str] = "interspersed"

    def plan(self, train_sizes: Sequence[int], rng: np.random.RandomState) -> list[Epoch]:
        plan = []
        for _ in range(self.n_epochs):
            draws = _draw(train_sizes, self.k, rng)
            plan.append([(t, draws[t]) for t in reversed(range(len(draws)))])
        return plan


#: Every schedule by name.
SCHEDULES: dict[str, type[Schedule]] = {cls.name: cls for cls in (Sequential, Alternating, Interspersed)}


def make_schedule(name: str, settings: Mapping[str, object] | None = None) -> Schedule:
    """A schedule from its name and a mapping of its settings.

    Examples
    --------
    >>> make_schedule("interspersed", {"k": 10, "n_epochs": 5})
    Interspersed(k=10, n_epochs=5)

    Raises
    ------
    InvalidParameterError
        If ``name`` is not a known schedule or a setting is not one of its fields.
    """
    return make_from_registry(SCHEDULES, name, settings, field="schedules", allowed=f"a list of {', '.join(SCHEDULES)}")
