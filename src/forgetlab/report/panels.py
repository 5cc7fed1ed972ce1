"""What the report shows side by side: panels of runs, one per (variant, schedule, strategy).

A panel holds its runs' per-task score rows (R² or accuracy); its figures draw every
task's curve over seeds (:func:`curve`), its final predictions and its score matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from forgetlab.report import phases
from forgetlab.results import TASK_METRICS
from forgetlab.stats import BAND

__all__ = ["METRIC_LABELS", "Panel", "curve", "metric_label", "panels"]

#: How metrics are named in figures and tables.
METRIC_LABELS = {"r2": "R²", "accuracy": "accuracy", "acc": "ACC", "bwt": "BWT", "fwt": "FWT"}


def metric_label(metric: str) -> str:
    """A metric's name for people.

    Examples
    --------
    >>> metric_label("r2"), metric_label("forgetting")
    ('R²', 'forgetting')
    """
    return METRIC_LABELS.get(metric, metric)


@dataclass(frozen=True, eq=False)
class Panel:
    """The runs of one (variant, schedule, strategy): their per-task score rows of one metric.

    Attributes
    ----------
    variant, schedule, strategy : str
        What the runs share (``variant`` is "" for a single experiment).
    metric : str
        The per-task metric of the rows (:data:`forgetlab.results.TASK_METRICS`).
    tasks : tuple of str
        The stream's tasks, in stream order.
    rows : DataFrame
        The results rows of the runs with this metric.
    """

    variant: str
    schedule: str
    strategy: str
    metric: str
    tasks: tuple[str, ...]
    rows: pd.DataFrame

    @property
    def name(self) -> str:
        """``variant / schedule / strategy`` (no variant for a single experiment)."""
        return " / ".join([*([self.variant] if self.variant else []), self.schedule, self.strategy])

    @property
    def n_seeds(self) -> int:
        return int(self.rows["seed"].nunique())

    @property
    def label(self) -> str:
        """The metric's name for people (:func:`metric_label`)."""
        return metric_label(self.metric)

    @property
    def has_phases(self) -> bool:
        """Whether the rows carry the ``phase`` column (tables of older versions do not)."""
        return phases.has_phases(self.rows)

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """The first run's recorded epochs: ``epoch``, ``samples_seen``, ``trained`` (and ``phase`` if known)."""
        rows = self.rows[self.rows["run"] == self.rows["run"].iloc[0]]
        columns = ["epoch", "samples_seen", "trained", *(["phase"] if self.has_phases else [])]
        return rows.drop_duplicates("epoch").sort_values("epoch")[columns].reset_index(drop=True)

    def switches(self) -> list[phases.Switch]:
        """Where the first run's phase changes (:func:`forgetlab.report.phases.switches`); none without phases."""
        return phases.switches(self.epochs) if self.has_phases else []

    def matrix_epochs(self) -> list[int] | None:
        """The epochs of the score matrix's rows (:func:`forgetlab.report.phases.matrix_epochs`), or None."""
        return phases.matrix_epochs(self.rows, len(self.tasks)) if self.has_phases else None

    def no_matrix_reason(self) -> str:
        """Why the panel has no score matrix (:func:`forgetlab.report.phases.no_matrix_reason`)."""
        return phases.no_matrix_reason(self.rows, len(self.tasks))

    def task_rows(self, task: str) -> pd.DataFrame:
        """The rows of one task, every run and epoch."""
        return self.rows[self.rows["task"] == task]


def panels(scores: pd.DataFrame) -> list[Panel]:
    """The panels of a results table, in the order their runs appear; each with its first per-task metric."""
    rows = scores[scores["metric"].isin(TASK_METRICS)]
    found = []
    for (variant, schedule, strategy), part in rows.groupby(["variant", "schedule", "strategy"], sort=False):
        metric = str(part["metric"].iloc[0])
        part = part[part["metric"] == metric]
        tasks = tuple(str(task) for task in dict.fromkeys(part["task"]))
        found.append(Panel(str(variant), str(schedule), str(strategy), metric, tasks, part))
    return found


def curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Per epoch, over seeds: samples seen, median, the 95% band and the number of finite values.

    Parameters
    ----------
    rows : DataFrame
        Results rows of one task (``epoch``, ``samples_seen``, ``value``), any number of runs.

    Returns
    -------
    DataFrame
        Columns ``epoch``, ``samples`` (median samples seen), ``median``, ``low`` and
        ``high`` (the :data:`forgetlab.stats.BAND` percentiles) and ``n``.

    Examples
    --------
    >>> rows = pd.DataFrame({"epoch": [1, 1, 2, 2], "samples_seen": [5, 5, 10, 10], "value": [0.1, 0.3, 0.5, 0.7]})
    >>> curve(rows)[["epoch", "samples", "median", "n"]].to_dict("list")
    {'epoch': [1, 2], 'samples': [5.0, 10.0], 'median': [0.2, 0.6], 'n': [2, 2]}
    """
    by_epoch = rows.groupby("epoch")
    return pd.DataFrame(
        {
            "samples": by_epoch["samples_seen"].median(),
            "median": by_epoch["value"].median(),
            "low": by_epoch["value"].quantile(BAND[0] / 100),
            "high": by_epoch["value"].quantile(BAND[1] / 100),
            "n": by_epoch["value"].count(),
        }
    ).reset_index()
