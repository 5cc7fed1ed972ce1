"""The tidy results schema every layer shares: what a run produced, and the tables made of it.

Every engine returns one :class:`RunResult` per run; :func:`tidy_tables` turns the runs of
a batch into two tidy tables, the scores (:data:`RESULT_COLUMNS`, one row per run, epoch,
task and metric) and the final models' predictions (:data:`PREDICTION_COLUMNS`). The store
writes them, and statistics, figures and the report read them by these names only.

A run's epochs are grouped into *phases*: phase ``p`` is the span of epochs whose newest
task (the highest task index trained so far) is the ``p``-th one to arrive
(:func:`forgetlab.schedules.phases`). The ``phase`` column carries it, so nothing has to
read it back from the ``trained`` labels, which are for people (task names joined with
``+``) and are never parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forgetlab.metrics import (
    average_score,
    backward_transfer,
    forgetting,
    forward_transfer,
    intransigence,
    score_matrix,
)
from forgetlab.schedules import Epoch, phases

if TYPE_CHECKING:  # the tables' readers (report, stats, query) need no stream, nor scikit-learn's datasets
    from forgetlab.tasks import Stream

__all__ = [
    "ALL_TASKS",
    "PREDICTION_COLUMNS",
    "RESULT_COLUMNS",
    "STREAM_METRICS",
    "TASK_METRICS",
    "RunResult",
    "describe_plan",
    "phase_ends",
    "recorded_epochs",
    "tidy_tables",
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
    "phase",
    "task",
    "metric",
    "value",
    "diverged",
)

#: Columns of the predictions table, one row per (run, test sample).
PREDICTION_COLUMNS = ("run", "seed", "variant", "schedule", "strategy", "task", "x", "y_true", "y_pred")

#: The per-task metrics: R² for regression streams, accuracy for classification ones.
TASK_METRICS = ("r2", "accuracy")

#: The stream metrics of a run with one phase per task, in the results table with ``task`` :data:`ALL_TASKS`.
STREAM_METRICS = ("acc", "bwt", "fwt", "forgetting", "intransigence")

#: The ``task`` of the rows of :data:`STREAM_METRICS`.
ALL_TASKS = "all"


@dataclass(frozen=True, kw_only=True, eq=False)
class RunResult:
    """What one run produced, whichever engine trained it.

    Attributes
    ----------
    seed : int
    schedule : str
    scores : ndarray of shape (n_epochs, n_tasks)
        Every task's score (``metric``) on its whole test set after every epoch; NaN
        after divergence, and at the epochs an engine did not score because no table
        keeps them (:func:`recorded_epochs`; the continual trainer scores only those).
    samples_seen : ndarray of shape (n_epochs,)
        Training samples seen up to and including each epoch.
    trained : list of str
        The tasks each epoch trained on, joined with ``+`` in batch order (for people).
    phase : ndarray of shape (n_epochs,)
        The phase of each epoch (:func:`forgetlab.schedules.phases`).
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
    initial_scores : ndarray of shape (n_tasks,) or None
        Every task's score of the untrained model (the ``b`` of forward transfer), where
        the engine computes it (the continual trainer does).
    """

    seed: int
    schedule: str
    scores: np.ndarray
    samples_seen: np.ndarray
    trained: list[str]
    phase: np.ndarray
    n_iter: np.ndarray
    predictions: list[np.ndarray]
    diverged: bool
    n_fun: np.ndarray | None = None
    metric: str = "r2"
    initial_scores: np.ndarray | None = None

    @property
    def phase_ends(self) -> np.ndarray:
        """The last epoch of each phase (:func:`phase_ends`)."""
        return phase_ends(self.phase)


def phase_ends(phase: np.ndarray) -> np.ndarray:
    """The position of the last epoch of each phase, from the phase of every epoch.

    Examples
    --------
    >>> phase_ends(np.array([0, 0, 1, 1, 1])).tolist()
    [1, 4]
    """
    phase = np.asarray(phase)
    return np.flatnonzero(np.append(phase[1:] != phase[:-1], True)) if len(phase) else np.array([], dtype=int)


def describe_plan(stream: Stream, plan: list[Epoch]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Samples seen up to each epoch, the tasks each epoch trains on (``+``-joined), and its phase.

    Examples
    --------
    >>> from forgetlab.tasks import seasons
    >>> from forgetlab.schedules import Interspersed
    >>> plan = Interspersed(k=3, n_epochs=2).plan((69, 68), np.random.RandomState(0))
    >>> seen, trained, phase = describe_plan(seasons(), plan)
    >>> seen.tolist(), trained, phase.tolist()
    ([6, 12], ['autumn+summer', 'autumn+summer'], [0, 0])
    """
    samples_seen = np.cumsum([sum(len(idx) for _, idx in epoch) for epoch in plan])
    trained = ["+".join(stream[t].name for t, _ in epoch) for epoch in plan]
    return samples_seen, trained, phases(plan)


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


def tidy_tables(
    results: Sequence[RunResult],
    *,
    run_ids: Sequence[int],
    strategies: Sequence[str],
    stream: Stream,
    labels: dict[str, str],
    record_every: int = 1,
    cumulative: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and predictions tables of some runs of one schedule.

    Parameters
    ----------
    results : sequence of RunResult
        The runs.
    run_ids : sequence of int
        The ``run`` of each result (its place in the sweep).
    strategies : sequence of str
        The ``strategy`` column of each result.
    stream : Stream
        The stream the runs trained on.
    labels : dict
        The columns shared by every row: ``variant``, ``schedule`` and ``engine``.
    record_every : int, default 1
        Keep the scores of every ``record_every``-th epoch (:func:`recorded_epochs`).
    cumulative : str, optional
        The ``strategy`` label of the cumulative strategy, whose run of the same seed is
        the reference of intransigence.

    Returns
    -------
    scores, predictions : DataFrame
        With :data:`RESULT_COLUMNS` and :data:`PREDICTION_COLUMNS`; runs that report their
        ``initial_scores`` (continual runs) also get their stream metrics
        (:data:`STREAM_METRICS`) when they have one phase per task.
    """
    names = np.array(stream.task_names)
    score_parts, prediction_parts = [], []
    for run_id, strategy, result in zip(run_ids, strategies, results, strict=True):
        n_tasks = result.scores.shape[1]
        kept = recorded_epochs(result.trained, record_every)
        run = {"run": run_id, "seed": result.seed, "variant": labels["variant"], "schedule": labels["schedule"]}
        run["strategy"] = strategy
        score_parts.append(
            pd.DataFrame(
                {
                    **run,
                    "engine": labels["engine"],
                    "epoch": np.repeat(kept + 1, n_tasks),
                    "samples_seen": np.repeat(result.samples_seen[kept], n_tasks),
                    "trained": np.repeat(np.asarray(result.trained)[kept], n_tasks),
                    "phase": np.repeat(result.phase[kept], n_tasks),
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
                pd.DataFrame({**run, "task": task.name, "x": x, "y_true": task.y_test, "y_pred": y_pred})
            )
    score_parts.extend(_stream_metric_rows(results, run_ids, strategies, labels, cumulative))
    scores = pd.concat(score_parts, ignore_index=True)[list(RESULT_COLUMNS)]
    return scores, pd.concat(prediction_parts, ignore_index=True)[list(PREDICTION_COLUMNS)]


def _stream_metrics(R: np.ndarray, initial_scores: np.ndarray, joint: np.ndarray | None) -> dict[str, float]:
    """ACC, BWT, FWT, forgetting and (with the cumulative run's matrix ``joint``) intransigence."""
    values = {
        "acc": average_score(R),
        "bwt": backward_transfer(R),
        "fwt": forward_transfer(R, initial_scores),
        "forgetting": forgetting(R),
    }
    if joint is not None:
        values["intransigence"] = intransigence(R, np.diagonal(joint))
    return {name: float(value) for name, value in values.items()}


def _stream_metric_rows(
    results: Sequence[RunResult],
    run_ids: Sequence[int],
    strategies: Sequence[str],
    labels: dict[str, str],
    cumulative: str | None,
) -> list[pd.DataFrame]:
    """The stream metrics of every run with one phase per task and known initial scores.

    From the score matrix at the end of each phase (:func:`forgetlab.metrics.score_matrix`);
    FWT against the untrained model's scores; intransigence against the ``cumulative``
    strategy's run with the same seed (trained jointly on tasks 0..k in phase k), when the
    results include it. Schedules whose phases are not one per task (the tutorial's
    interspersed one) get no rows.
    """
    matrices = {
        (strategy, result.seed): score_matrix(result.scores, result.phase_ends)
        for strategy, result in zip(strategies, results, strict=True)
        if result.initial_scores is not None and len(result.phase_ends) == result.scores.shape[1]
    }
    rows = []
    for run_id, strategy, result in zip(run_ids, strategies, results, strict=True):
        R = matrices.get((strategy, result.seed))
        if R is None:
            continue
        values = _stream_metrics(R, result.initial_scores, matrices.get((cumulative, result.seed)))
        rows.append(
            pd.DataFrame(
                {
                    "run": run_id,
                    "seed": result.seed,
                    "variant": labels["variant"],
                    "schedule": labels["schedule"],
                    "strategy": strategy,
                    "engine": labels["engine"],
                    "epoch": len(result.scores),
                    "samples_seen": result.samples_seen[-1],
                    "trained": result.trained[-1],
                    "phase": result.phase[-1],
                    "task": ALL_TASKS,
                    "metric": list(values),
                    "value": list(values.values()),
                    "diverged": result.diverged,
                }
            )
        )
    return rows
