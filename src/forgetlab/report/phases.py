"""Phases of a panel's runs, read from the results table's ``phase`` column.

A phase is the span of epochs whose newest task (the highest task index trained so far)
is the same (:func:`forgetlab.schedules.phases`): a new phase starts where a new task
arrives. Sequential training has one phase per task, interspersed training one, and
alternating training one per task too (the first tasks' first epochs, then everything
after the last task arrives). The report reads phases only from the ``phase`` column;
the ``trained`` labels are for people: shown, never parsed.

A panel gets a score matrix ``R[i, j]`` when all its runs have the same phase at every
recorded epoch and as many phases as tasks, the rule by which a run gets its stream
metrics (:func:`forgetlab.results.tidy_tables`); row ``i`` is read at the last recorded
epoch of phase ``i`` (:func:`matrix_epochs`). Dashed lines in the score curves mark where
the phase changes (:func:`switches`). Tables written before the ``phase`` column existed
get neither (:data:`NO_PHASE_COLUMN`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forgetlab.results import phase_ends

__all__ = [
    "NO_PHASE_COLUMN",
    "Switch",
    "has_phases",
    "matrix_epochs",
    "no_matrix_reason",
    "phase_end_epochs",
    "shared_phases",
    "switches",
]

#: What the report says, once, of a results table without the ``phase`` column.
NO_PHASE_COLUMN = (
    "This results table has no 'phase' column (an older forgetlab wrote it): the report shows no score "
    "matrices and no marks where a new task arrives."
)


def has_phases(scores: pd.DataFrame) -> bool:
    """Whether a results table records the phase of every epoch (tables of older versions do not)."""
    return "phase" in scores.columns


def shared_phases(rows: pd.DataFrame) -> pd.Series | None:
    """The phase of every recorded epoch, if every run of ``rows`` records the same epochs in the same phases.

    Parameters
    ----------
    rows : DataFrame
        Results rows of some runs, with ``run``, ``epoch`` and ``phase``.

    Returns
    -------
    Series or None
        Phases (int) indexed by epoch, in epoch order; None if the runs differ, or a run
        records an epoch without a phase.

    Examples
    --------
    >>> rows = pd.DataFrame({"run": [0, 0, 1, 1], "epoch": [1, 2, 1, 2], "phase": [0, 1, 0, 1]})
    >>> shared_phases(rows).to_dict()
    {1: 0, 2: 1}
    >>> shared_phases(rows.assign(phase=[0, 1, 0, 0])) is None
    True
    """
    per_run = rows.drop_duplicates(["run", "epoch"]).pivot(index="run", columns="epoch", values="phase")
    per_run = per_run.sort_index(axis="columns")
    if per_run.isna().to_numpy().any() or not (per_run == per_run.iloc[0]).to_numpy().all():
        return None
    return per_run.iloc[0].astype(int)


def phase_end_epochs(phase: pd.Series) -> list[int]:
    """The last recorded epoch of each phase (:func:`forgetlab.results.phase_ends`), from phases indexed by epoch.

    Examples
    --------
    >>> phase_end_epochs(pd.Series([0, 0, 1, 1], index=[1, 2, 3, 4]))
    [2, 4]
    >>> phase_end_epochs(pd.Series([0, 1, 1, 1], index=[1, 2, 3, 4]))  # alternating over two tasks
    [1, 4]
    """
    return [int(epoch) for epoch in phase.index[phase_ends(phase.to_numpy())]]


def matrix_epochs(rows: pd.DataFrame, n_tasks: int) -> list[int] | None:
    """The epochs at which the rows ``R[i, :]`` of the runs' score matrix are read, or None without a matrix.

    Parameters
    ----------
    rows : DataFrame
        Results rows of the runs of one panel, with ``run``, ``epoch`` and ``phase``.
    n_tasks : int
        The stream's number of tasks.

    Returns
    -------
    list of int or None
        The last recorded epoch of each phase, if the runs share their phases
        (:func:`shared_phases`) and have one phase per task; otherwise None
        (:func:`no_matrix_reason` says why).

    Examples
    --------
    >>> sequential = pd.DataFrame({"run": 0, "epoch": [1, 2, 3], "phase": [0, 0, 1]})
    >>> matrix_epochs(sequential, 2)
    [2, 3]
    >>> interspersed = pd.DataFrame({"run": 0, "epoch": [1, 2, 3], "phase": [0, 0, 0]})
    >>> matrix_epochs(interspersed, 2) is None
    True
    """
    phase = shared_phases(rows)
    if phase is None:
        return None
    ends = phase_end_epochs(phase)
    return ends if len(ends) == n_tasks else None


def no_matrix_reason(rows: pd.DataFrame, n_tasks: int) -> str:
    """Why runs have no score matrix (:func:`matrix_epochs` is None), as a phrase.

    Examples
    --------
    >>> no_matrix_reason(pd.DataFrame({"run": 0, "epoch": [1, 2], "phase": [0, 0]}), 2)
    'its epochs form 1 phase (no new task arrives after the first epoch), not one per task (2 tasks)'
    """
    if rows["phase"].isna().any():
        return "some of its runs were recorded without phases (by an older forgetlab)"
    phase = shared_phases(rows)
    if phase is None:
        return "its runs differ in the epochs they record or in their phases"
    n_phases = len(phase_end_epochs(phase))
    if n_phases == 1:
        return (
            f"its epochs form 1 phase (no new task arrives after the first epoch), not one per task ({n_tasks} tasks)"
        )
    return f"its epochs form {n_phases} phases, not one per task ({n_tasks} tasks)"


@dataclass(frozen=True)
class Switch:
    """Where a new task arrives: after ``epoch`` (``samples_seen`` samples), the next epoch trains ``trained``."""

    epoch: int
    samples_seen: float
    trained: str


def switches(epochs: pd.DataFrame) -> list[Switch]:
    """Where a run's phase changes, from its recorded ``epoch``, ``samples_seen``, ``trained`` and ``phase``.

    Parameters
    ----------
    epochs : DataFrame
        One row per recorded epoch of one run, in epoch order.

    Returns
    -------
    list of Switch
        For each phase but the last, its last recorded epoch, the samples seen then,
        and the ``trained`` label of the next epoch (for the mark's text).

    Examples
    --------
    >>> epochs = pd.DataFrame(
    ...     {"epoch": [1, 2, 3], "samples_seen": [10, 20, 25], "trained": ["a", "a", "b"], "phase": [0, 0, 1]}
    ... )
    >>> switches(epochs)
    [Switch(epoch=2, samples_seen=20.0, trained='b')]
    """
    phase = epochs["phase"].to_numpy()
    changes = [i for i in range(len(phase) - 1) if phase[i] != phase[i + 1]]
    return [
        Switch(int(epochs["epoch"].iloc[i]), float(epochs["samples_seen"].iloc[i]), str(epochs["trained"].iloc[i + 1]))
        for i in changes
    ]
