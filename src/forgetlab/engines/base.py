"""What every engine returns, and the plan descriptions they share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from forgetlab.schedules import Epoch
from forgetlab.tasks import Stream

__all__ = ["RunResult", "collect_in_order", "describe_plan"]


@dataclass(frozen=True, kw_only=True, eq=False)
class RunResult:
    """What one run produced.

    Attributes
    ----------
    seed : int
    schedule : str
    scores : ndarray of shape (n_epochs, n_tasks)
        R² of every task's whole test set after every epoch; NaN after divergence.
    samples_seen : ndarray of shape (n_epochs,)
        Training samples seen up to and including each epoch.
    trained : list of str
        The tasks each epoch trained on, joined with ``+`` in batch order.
    n_iter : ndarray of shape (n_epochs,)
        Optimiser iterations in each epoch (for lbfgs, L-BFGS iterations).
    n_fun : ndarray of shape (n_epochs,) or None
        Loss-and-gradient evaluations in each epoch, where the engine knows them
        (scikit-learn does not report them).
    predictions : list of ndarray
        The final model's predictions on each task's test set.
    diverged : bool
        True if the estimator produced non-finite weights or scores (overflowing
        predictions); the run stops there and that epoch's and later scores are NaN.
    """

    seed: int
    schedule: str
    scores: np.ndarray
    samples_seen: np.ndarray
    trained: list[str]
    n_iter: np.ndarray
    predictions: list[np.ndarray]
    diverged: bool
    n_fun: np.ndarray | None = None


def describe_plan(stream: Stream, plan: list[Epoch]) -> tuple[np.ndarray, list[str]]:
    """Samples seen up to each epoch, and the tasks each epoch trains on (``+``-joined).

    Examples
    --------
    >>> from forgetlab.tasks import seasons
    >>> from forgetlab.schedules import Interspersed
    >>> plan = Interspersed(k=3, n_epochs=2).plan((69, 68), np.random.RandomState(0))
    >>> seen, trained = describe_plan(seasons(), plan)
    >>> seen.tolist(), trained
    ([6, 12], ['autumn+summer', 'autumn+summer'])
    """
    samples_seen = np.cumsum([sum(len(idx) for _, idx in epoch) for epoch in plan])
    trained = ["+".join(stream[t].name for t, _ in epoch) for epoch in plan]
    return samples_seen, trained


def collect_in_order(
    n_runs: int,
    finished: Iterable[tuple[int, RunResult]],
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Results in the order of the runs, from ``(run index, result)`` pairs in any order.

    ``on_done`` is called with each result as it arrives (e.g. a progress bar's update).

    Examples
    --------
    >>> collect_in_order(2, [(1, "b"), (0, "a")])
    ['a', 'b']
    """
    ordered: list[RunResult | None] = [None] * n_runs
    for i, result in finished:
        ordered[i] = result
        if on_done is not None:
            on_done(result)
    return ordered  # type: ignore[return-value]
