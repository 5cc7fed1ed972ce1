"""Reference strategies that only decide what is trained on: fine-tuning, joint and cumulative training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forgetlab.schedules import Epoch, newest_tasks
from forgetlab.strategies.base import Strategy

__all__ = ["Cumulative", "Joint", "Naive"]


@dataclass(frozen=True, kw_only=True)
class Naive(Strategy):
    """Fine-tuning: train on each epoch's samples and nothing else; the lower bound.

    "None" in van de Ven & Tolias (2019), whose split-MNIST class-IL accuracy of ~20 %
    is the catastrophic-forgetting baseline.

    Examples
    --------
    >>> Naive().to_dict()
    {'name': 'naive'}
    """

    name: ClassVar[str] = "naive"


def _whole_tasks(tasks: Sequence[int], train_sizes: Sequence[int]) -> Epoch:
    """An epoch of every training sample of ``tasks``, task by task."""
    return [(t, np.arange(train_sizes[t])) for t in tasks]


@dataclass(frozen=True, kw_only=True)
class Joint(Strategy):
    """Offline training on every task at once, ignoring the order; the upper bound.

    Every epoch of the plan is replaced by the whole training sets of every task the plan
    trains on (shuffled together by the trainer), so joint training has the schedule's
    number of epochs but sees every task in each. The schedule's sampling within tasks is
    ignored.

    References
    ----------
    van de Ven, G. M. & Tolias, A. S. (2019), "Three scenarios for continual learning",
    arXiv:1904.07734 ("offline", the upper bound).

    Examples
    --------
    >>> plan = [[(0, np.arange(2))], [(1, np.arange(3))]]
    >>> [[(t, len(idx)) for t, idx in epoch] for epoch in Joint().transform_plan(plan, (2, 3))]
    [[(0, 2), (1, 3)], [(0, 2), (1, 3)]]
    """

    name: ClassVar[str] = "joint"

    def transform_plan(self, plan: list[Epoch], train_sizes: Sequence[int]) -> list[Epoch]:
        tasks = sorted({t for epoch in plan for t, _ in epoch})
        return [_whole_tasks(tasks, train_sizes) for _ in plan]


@dataclass(frozen=True, kw_only=True)
class Cumulative(Strategy):
    """Phase ``i`` trains on the whole training sets of tasks ``0 .. i``: an upper bound of replay.

    Every epoch of the plan is replaced by the whole training sets of every task up to the
    newest one trained so far (the newest task of this and earlier epochs). For a
    sequential schedule that is "keep all data and retrain on it"; the schedule's sampling
    within tasks is ignored.

    References
    ----------
    De Lange, M. et al. (2022), "A continual learning survey: defying forgetting in
    classification tasks", IEEE TPAMI 44(7) (the "joint" incremental upper bound).

    Examples
    --------
    >>> plan = [[(0, np.arange(2))], [(1, np.arange(3))], [(1, np.arange(3))]]
    >>> [[t for t, _ in epoch] for epoch in Cumulative().transform_plan(plan, (2, 3))]
    [[0], [0, 1], [0, 1]]
    """

    name: ClassVar[str] = "cumulative"

    def transform_plan(self, plan: list[Epoch], train_sizes: Sequence[int]) -> list[Epoch]:
        newest = newest_tasks(plan)
        return [_whole_tasks(range(n + 1), train_sizes) for n in newest]
