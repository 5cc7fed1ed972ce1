"""Summaries over seeds: how large is a score, and how sure are we?

:func:`summarise` gives, per group of runs, the number of seeds, the mean and median over
seeds and a percentile bootstrap interval of the mean (:func:`bootstrap_interval`);
:func:`final_scores` and :func:`seed_band` describe the spread of the seeds themselves
(median and central 95% of seeds); :func:`at_epoch` picks the rows of one epoch. NaN values
(diverged runs, undefined scores) are left out and counted.

References
----------
Efron, B. & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from forgetlab.errors import invalid
from forgetlab.results import TASK_METRICS
from forgetlab.validation import Constraint, Interval, is_int, validate

__all__ = [
    "BAND",
    "at_epoch",
    "bootstrap_interval",
    "final_scores",
    "format_number",
    "format_p_value",
    "seed_band",
    "summarise",
]

#: The central interval reported over seeds: 2.5th to 97.5th percentile.
BAND = (2.5, 97.5)

#: The groups :func:`summarise` reports by default: one row per curve point.
SUMMARY_BY = ("schedule", "strategy", "task", "epoch")

#: Groups per matrix product in the bootstrap, to bound memory (groups x resamples floats).
_CHUNK = 256


def seed_band(values: np.ndarray | pd.Series) -> tuple[float, float, float]:
    """Median and the central 95% range (2.5th, 97.5th percentiles) of per-seed values.

    The range describes how much the outcome varies with the seed; with one seed all three
    numbers are that seed's value. NaN values (diverged runs) are ignored.

    Examples
    --------
    >>> seed_band(np.arange(101.0))
    (50.0, 2.5, 97.5)
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (np.nan, np.nan, np.nan)
    low, high = np.percentile(values, BAND)
    return float(np.median(values)), float(low), float(high)


def final_scores(scores: pd.DataFrame, metric: str = "r2") -> pd.DataFrame:
    """Per schedule and task, the score after the last epoch summarised over seeds.

    Parameters
    ----------
    scores : DataFrame
        The tidy results table (``forgetlab.load(OUT)``).
    metric : str, default "r2"
        Which metric's rows to summarise.

    Returns
    -------
    DataFrame
        Index (schedule, task) in the order they first appear; columns ``median, low,
        high, n_seeds`` where ``[low, high]`` is the central 95% range over seeds.

    See Also
    --------
    summarise : the mean over seeds with a bootstrap interval of the mean.
    """
    rows = scores[scores["metric"] == metric]
    last = rows[rows["epoch"] == rows.groupby("run")["epoch"].transform("max")]
    groups = last.groupby(["schedule", "task"], sort=False)["value"]
    table = groups.apply(lambda v: pd.Series(seed_band(v), index=["median", "low", "high"])).unstack()
    table["n_seeds"] = groups.size()
    return table


# --------------------------------------------------------------------------------------
# The bootstrap interval of a mean over seeds


#: What the bootstrap's settings accept (:mod:`forgetlab.validation`).
BOOTSTRAP_CONSTRAINTS: dict[str, Constraint] = {
    "confidence": Interval(float, 0, 1, closed="neither", example=0.95),
    "n_resamples": Interval(int, 1, None),
    "seed": Interval(int, 0, None),
}


def _check_bootstrap(confidence: float, n_resamples: int, seed: int, owner: str) -> None:
    validate(owner, BOOTSTRAP_CONSTRAINTS, {"confidence": confidence, "n_resamples": n_resamples, "seed": seed})


def _bootstrap_mean_intervals(values: np.ndarray, confidence: float, n_resamples: int, seed: int) -> np.ndarray:
    """Percentile bootstrap intervals of the mean of each row of ``values`` (shape (G, n), no NaN).

    Resampling ``n`` seeds with replacement is drawing multinomial counts ``w`` (summing to
    ``n``); the resample mean is ``w @ x / n``. All rows share one set of ``n_resamples``
    count vectors, drawn from a generator seeded by ``(seed, n)``: a row's interval depends
    only on its own values, ``confidence``, ``n_resamples`` and ``seed``.
    """
    n_groups, n = values.shape
    rng = np.random.default_rng([int(seed), n])
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)  # (B, n)
    tail = 50.0 * (1.0 - confidence)
    out = np.empty((n_groups, 2))
    for start in range(0, n_groups, _CHUNK):
        block = values[start : start + _CHUNK]
        means = block @ counts.T / n  # (g, B): the bootstrap distribution of each row's mean
        interval = np.percentile(means, [tail, 100.0 - tail], axis=1).T
        # a resample mean lies in [min, max] of the row; clip away rounding (e.g. constant rows)
        out[start : start + _CHUNK] = np.clip(interval, block.min(axis=1)[:, None], block.max(axis=1)[:, None])
    return out


def bootstrap_interval(
    values: np.ndarray | pd.Series | Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    r"""Percentile bootstrap interval of the mean of per-seed values.

    Method (Efron & Tibshirani 1993, ch. 13): draw ``n_resamples`` resamples of the ``n``
    values with replacement, compute each resample's mean :math:`\bar x^*_b`, and report
    the :math:`\alpha/2` and :math:`1 - \alpha/2` percentiles of
    :math:`\{\bar x^*_1, \dots, \bar x^*_B\}`, with :math:`\alpha = 1 - \text{confidence}`.
    Each value is one seed's, so seeds are the unit of resampling. The interval is
    deterministic given ``seed`` (and ``n``); it always lies within the range of the values.

    With few seeds the percentile interval is too narrow (it covers less often than its
    nominal level: with 20 normal seeds a nominal 95% interval covers about 93% of the
    time; with 5 seeds far less); with one seed it is that seed's value, twice.

    Parameters
    ----------
    values : array-like of float
        One value per seed. NaN values (diverged runs) are left out.
    confidence : float, default 0.95
        The nominal coverage, in (0, 1).
    n_resamples : int, default 2000
        The number of bootstrap resamples :math:`B`.
    seed : int, default 0
        Seeds the resampling.

    Returns
    -------
    (low, high) : tuple of float
        NaN, NaN if no value is finite.

    Examples
    --------
    Two seeds, 0 and 1: a resample's mean is 0, 0.5 or 1 with probabilities 1/4, 1/2 and
    1/4, so the central 95% of resample means runs from 0 to 1, and the central 40% is 0.5.

    >>> bootstrap_interval([0.0, 1.0])
    (0.0, 1.0)
    >>> bootstrap_interval([0.0, 1.0], confidence=0.4)
    (0.5, 0.5)
    """
    _check_bootstrap(confidence, n_resamples, seed, "bootstrap_interval")
    array = np.asarray(values, dtype=float).ravel()
    array = array[~np.isnan(array)]
    if array.size == 0:
        return (np.nan, np.nan)
    low, high = _bootstrap_mean_intervals(array[None, :], confidence, n_resamples, seed)[0]
    return float(low), float(high)


def _check_table(scores: pd.DataFrame, columns: Sequence[str], owner: str) -> None:
    if not isinstance(scores, pd.DataFrame):
        raise invalid("scores", owner, "a results table (a DataFrame, e.g. forgetlab.load(OUT))", type(scores).__name__)
    missing = [column for column in columns if column not in scores.columns]
    if missing:
        raise invalid("scores", owner, f"a results table with columns {', '.join(columns)}", f"missing {missing}")


def _check_metric(scores: pd.DataFrame, metric: str, owner: str) -> None:
    available = sorted(str(m) for m in pd.unique(scores["metric"]))
    if metric not in available:
        raise invalid("metric", owner, f"one of {', '.join(available) or '(none: the table is empty)'}", metric)


def summarise(
    scores: pd.DataFrame,
    *,
    metric: str | None = None,
    by: Sequence[str] = SUMMARY_BY,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Per group of runs: the number of seeds, the mean and median over seeds, and a bootstrap interval.

    Within each group (by default one schedule, strategy, task and epoch: one point of a
    curve), each seed contributes one value: its row's value, or the mean of its rows if
    the group holds several (e.g. ``by`` without ``"task"`` averages a seed's tasks). The
    seeds' values :math:`x_1, \dots, x_n` give

    - ``mean`` :math:`\bar x = \frac1n \sum_i x_i` and ``median``;
    - ``[low, high]``: the percentile bootstrap interval of the mean (Efron & Tibshirani
      1993), resampling *seeds* with replacement (see :func:`bootstrap_interval`): it
      says how precisely the seeds pin down the expected score, not how much seeds
      vary (for that, see :func:`seed_band`).

    NaN values (a diverged run, an undefined score) are excluded before anything is
    computed; a seed whose values in the group are all NaN is not counted in ``n_seeds``
    but in ``n_diverged``. A group whose seeds all diverged has ``n_seeds == 0`` and NaN
    statistics.

    The computation is vectorised: groups with the same number of seeds share one set of
    ``n_resamples`` resampling patterns, drawn from a generator seeded by ``(seed, n)``, so
    a group's interval depends only on its own values (not on row order, nor on the other
    groups in the table, up to rounding in the last digit) and is the same on every call.

    Parameters
    ----------
    scores : DataFrame
        The tidy results table (``forgetlab.load(OUT)``) or a subset of its rows.
    metric : str, optional
        Summarise only this metric's rows (e.g. "r2", "accuracy", "bwt"). By default every
        metric, and ``"metric"`` is added in front of ``by``.
    by : sequence of str, default ("schedule", "strategy", "task", "epoch")
        The columns whose combinations form the groups.
    confidence : float, default 0.95
        The nominal coverage of the interval.
    n_resamples : int, default 2000
        Bootstrap resamples per group.
    seed : int, default 0
        Seeds the resampling.

    Returns
    -------
    DataFrame
        One row per group, in the order groups first appear: the ``by`` columns, then
        ``n_seeds, n_diverged, mean, median, low, high``.

    Raises
    ------
    InvalidParameterError
        If ``metric`` is not in the table, a ``by`` column does not exist, or a
        bootstrap parameter is out of range.

    Examples
    --------
    >>> scores = pd.DataFrame({"schedule": "sequential", "seed": [1, 2, 3],
    ...                        "metric": "r2", "value": [0.5, 1.0, np.nan]})
    >>> summarise(scores, metric="r2", by=["schedule"])
         schedule  n_seeds  n_diverged  mean  median  low  high
    0  sequential        2           1  0.75    0.75  0.5   1.0
    """
    owner = "summarise"
    _check_bootstrap(confidence, n_resamples, seed, owner)
    if isinstance(by, str) or not all(isinstance(column, str) for column in by):
        raise invalid("by", owner, "a sequence of column names, e.g. ['schedule', 'task']", by)
    by = list(dict.fromkeys(by))
    if metric is None and "metric" not in by and "metric" in scores:
        by = ["metric", *by]
    _check_table(scores, ["seed", "value", *(["metric"] if metric is not None else [])], owner)
    unknown = [column for column in by if column not in scores.columns]
    if unknown:
        raise invalid("by", owner, f"columns of the table ({', '.join(map(str, scores.columns))})", unknown)
    rows = scores
    if metric is not None:
        _check_metric(scores, metric, owner)
        rows = scores[scores["metric"] == metric]
    keys = by if "seed" in by else [*by, "seed"]
    # one value per seed and group: NaN only if all of the seed's rows in the group are NaN
    per_seed = rows.groupby(keys, sort=False, dropna=False)["value"].mean().reset_index()
    columns = [*by, "n_seeds", "n_diverged", "mean", "median", "low", "high"]
    if per_seed.empty:
        return pd.DataFrame(columns=columns)
    codes = per_seed.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
    groups = per_seed[by].drop_duplicates().reset_index(drop=True)
    n_groups = len(groups)
    order = np.lexsort((per_seed["seed"].to_numpy(), codes))  # by group, then by seed
    values = per_seed["value"].to_numpy(dtype=float)[order]
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))

    stats = np.full((n_groups, 4), np.nan)  # mean, median, low, high
    n_seeds = np.zeros(n_groups, dtype=int)
    n_diverged = np.zeros(n_groups, dtype=int)
    by_size: dict[int, list[tuple[int, np.ndarray]]] = {}
    for g in range(n_groups):
        group = values[bounds[g] : bounds[g + 1]]
        finite = group[~np.isnan(group)]
        n_seeds[g], n_diverged[g] = finite.size, group.size - finite.size
        if finite.size:
            stats[g, 0], stats[g, 1] = finite.mean(), np.median(finite)
            by_size.setdefault(finite.size, []).append((g, finite))
    for members in by_size.values():
        index = np.array([g for g, _ in members])
        matrix = np.stack([finite for _, finite in members])
        stats[index, 2:] = _bootstrap_mean_intervals(matrix, confidence, n_resamples, seed)

    table = groups.copy()
    table["n_seeds"] = n_seeds
    table["n_diverged"] = n_diverged
    for j, name in enumerate(("mean", "median", "low", "high")):
        table[name] = stats[:, j]
    return table


# --------------------------------------------------------------------------------------
# Paired comparisons between schedules or strategies


def at_epoch(
    scores: pd.DataFrame,
    *,
    metric: str | None = None,
    task: str | None = None,
    epoch: int | Literal["last"] = "last",
    owner: str = "at_epoch",
) -> pd.DataFrame:
    """The rows of one metric (and optionally one task) at one epoch of every run.

    Parameters
    ----------
    scores : DataFrame
        The tidy results table.
    metric : str, optional
        Default: the table's per-task score ("r2" or "accuracy"), if it has exactly one.
    task : str, optional
        Keep only this task's rows; by default every task. The stream metrics (acc, bwt,
        fwt, forgetting, intransigence) have the single task "all".
    epoch : "last" or int, default "last"
        ``"last"``: each run's last epoch (runs of different schedules may train for
        different numbers of epochs); an int: that epoch (runs without it are left out).
    owner : str, default "at_epoch"
        The function named in error messages.

    Returns
    -------
    DataFrame
        The selected rows, in their original order.

    Raises
    ------
    InvalidParameterError
        If the metric, the task or the epoch is not in the table; the message lists
        what is.
    """
    _check_table(scores, ["run", "seed", "epoch", "task", "metric", "value"], owner)
    if metric is None:
        present = [m for m in TASK_METRICS if (scores["metric"] == m).any()]
        if len(present) != 1:
            available = sorted(str(m) for m in pd.unique(scores["metric"]))
            raise invalid("metric", owner, f"given, one of {', '.join(available) or '(none: empty table)'}", metric)
        metric = present[0]
    _check_metric(scores, metric, owner)
    rows = scores[scores["metric"] == metric]
    if task is not None:
        tasks = [str(t) for t in pd.unique(rows["task"])]
        if task not in tasks:
            raise invalid("task", owner, f"one of {', '.join(tasks)} (for metric {metric!r})", task)
        rows = rows[rows["task"] == task]
    if isinstance(epoch, str) and epoch == "last":
        return rows[rows["epoch"] == rows.groupby("run")["epoch"].transform("max")]
    first, last = int(rows["epoch"].min()), int(rows["epoch"].max())
    if not is_int(epoch) or not (rows["epoch"] == epoch).any():
        raise invalid("epoch", owner, f"'last' or an epoch of the {metric!r} rows, in [{first}, {last}]", epoch)
    return rows[rows["epoch"] == epoch]


def format_number(value: float | None, digits: int = 3, *, missing: str = "nan") -> str:
    """``digits`` decimals, or two significant digits for values too small to show them.

    Examples
    --------
    >>> format_number(0.98765), format_number(0.00012), format_number(float("nan"), missing="–")
    ('0.988', '0.00012', '–')
    """
    if value is None or value != value:
        return missing
    value = float(value)
    return f"{value:.2g}" if 0 < abs(value) < 10**-digits else f"{value:.{digits}f}"


def format_p_value(value: float, *, missing: str = "nan") -> str:
    """A p-value: three decimals, or two significant digits below 0.01.

    Examples
    --------
    >>> format_p_value(0.0312), format_p_value(3.1e-05)
    ('0.031', '3.1e-05')
    """
    return missing if value != value else f"{value:.2g}" if value < 0.01 else f"{value:.3f}"
