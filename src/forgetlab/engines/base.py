"""What every engine returns, and the plan descriptions they share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed

from forgetlab.schedules import Epoch
from forgetlab.tasks import Stream

__all__ = ["RunResult", "collect_in_order", "describe_plan", "run_in_batches"]


@dataclass(frozen=True, kw_only=True, eq=False)
class RunResult:
    """What one run produced.

    Attributes
    ----------
    seed : int
    schedule : str
    scores : ndarray of shape (n_epochs, n_tasks)
        Every task's score (``metric``) on its whole test set after every epoch; NaN
        after divergence.
    samples_seen : ndarray of shape (n_epochs,)
        Training samples seen up to and including each epoch.
    trained : list of str
        The tasks each epoch trained on, joined with ``+`` in batch order.
    n_iter : ndarray of shape (n_epochs,)
        Optimiser iterations in each epoch (for lbfgs, L-BFGS iterations).
    n_fun : ndarray of shape (n_epochs,) or None
        Loss-and-gradient evaluations in each epoch, where the engine knows them
        (scikit-learn does not report them).
    metric : {"r2", "accuracy"}
        What ``scores`` hold: R² for regression streams, accuracy for classification.
    predictions : list of ndarray
        The final model's predictions on each task's test set (labels for
        classification).
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
    metric: str = "r2"


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


def run_in_batches(
    train: Callable[..., list[RunResult]],
    runs: Sequence[tuple],
    *,
    n_jobs: int,
    on_done: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Train runs in batches of identical shape, spread over ``n_jobs`` worker processes.

    Each run is a tuple whose last element is its seed; runs that agree on everything
    else (e.g. schedule and strategy) form a group, and each group is split into
    ``n_jobs`` balanced batches. ``train(*key, seeds)`` trains one batch and returns one
    result per seed, in order. Batched engines keep a run's numbers independent of its
    batch, so the split changes nothing but the time.

    Examples
    --------
    >>> def train(name, seeds):
    ...     return [f"{name}{seed}" for seed in seeds]
    >>> run_in_batches(train, [("a", 1), ("b", 2), ("a", 3)], n_jobs=1)
    ['a1', 'b2', 'a3']
    """
    batches = []
    for key in dict.fromkeys(run[:-1] for run in runs):
        members = np.array([i for i, run in enumerate(runs) if run[:-1] == key])
        batches.extend((key, part.tolist()) for part in np.array_split(members, min(n_jobs, len(members))))
    work = (delayed(train)(*key, [runs[i][-1] for i in members]) for key, members in batches)
    if n_jobs <= 1:
        finished = (function(*args, **kwargs) for function, args, kwargs in work)
    else:
        finished = Parallel(n_jobs=n_jobs, return_as="generator")(work)
    pairs = (
        (i, result)
        for (_, members), results in zip(batches, finished, strict=True)
        for i, result in zip(members, results, strict=True)
    )
    return collect_in_order(len(runs), pairs, on_done)
