"""Paired comparisons over seeds: is one schedule (or strategy) better than another?

:func:`compare` pairs runs by seed and applies the Wilcoxon signed-rank test to every pair
of levels, with Holm's correction over the family of tests (:func:`holm`) and the
matched-pairs rank-biserial correlation as effect size (:func:`rank_biserial`).

References
----------
Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin* 1(6), 80-83.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
Journal of Statistics* 6(2), 65-70.
Kerby, D. S. (2014). The simple difference formula: an approach to teaching nonparametric
correlation. *Comprehensive Psychology* 3, 11.IT.3.1.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Literal

import numpy as np
import pandas as pd

from forgetlab.errors import invalid
from forgetlab.stats.summaries import _check_table, at_epoch
from forgetlab.validation import Constraint, Options, validate

__all__ = ["ALTERNATIVES", "BETWEEN", "compare", "holm", "rank_biserial"]

#: The columns :func:`compare` can compare levels of; the other one is held fixed.
BETWEEN = ("schedule", "strategy")

#: The alternatives of :func:`compare`, as in :func:`scipy.stats.wilcoxon`.
ALTERNATIVES = ("two-sided", "greater", "less")

#: What :func:`compare`'s choices accept (:mod:`forgetlab.validation`); levels, metric,
#: task and epoch are checked against the table.
COMPARE_CONSTRAINTS: dict[str, Constraint] = {"between": Options(*BETWEEN), "alternative": Options(*ALTERNATIVES)}


def holm(p_values: np.ndarray | Sequence[float]) -> np.ndarray:
    r"""Holm–Bonferroni adjusted p-values (Holm 1979): step-down, monotone.

    With the :math:`m` finite p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`, the
    adjusted p-values are

    .. math:: \tilde p_{(i)} = \min\Bigl(1, \max_{j \le i} (m - j + 1)\, p_{(j)}\Bigr),

    returned in the input's order. Rejecting every hypothesis with
    :math:`\tilde p \le \alpha` controls the family-wise error rate at :math:`\alpha`
    under any dependence between the tests. NaN p-values (tests that could not be done)
    stay NaN and are not counted in :math:`m`.

    Parameters
    ----------
    p_values : array-like of float
        Raw p-values of one family of tests.

    Returns
    -------
    ndarray
        Adjusted p-values, same shape; each is >= its raw p-value, and they are ordered
        like the raw ones.

    Examples
    --------
    Sorted: 0.01, 0.03, 0.04 → 3 × 0.01, 2 × 0.03, max(0.06, 1 × 0.04):

    >>> holm([0.01, 0.04, 0.03]).round(6).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    flat, out = p.ravel(), adjusted.reshape(-1)
    finite = np.flatnonzero(~np.isnan(flat))
    m = finite.size
    if m:
        order = finite[np.argsort(flat[finite], kind="stable")]
        steps = (m - np.arange(m)) * flat[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted


def rank_biserial(differences: np.ndarray | Sequence[float]) -> float:
    r"""The matched-pairs rank-biserial correlation of paired differences (Kerby 2014).

    Rank the non-zero :math:`|d_i|` (average ranks for ties; zero differences are
    dropped, as in the Wilcoxon test), let :math:`R_+` and :math:`R_-` be the rank sums of
    the positive and negative differences; then, by the simple difference formula,

    .. math:: r = \frac{R_+ - R_-}{R_+ + R_-} = \frac{R_+ - R_-}{n(n+1)/2},

    with :math:`n` non-zero differences: the share of rank mass favouring :math:`a`
    minus the share favouring :math:`b`, in [-1, 1]. :math:`r = 1` when every
    :math:`a > b`, 0 when the ranks balance.

    Parameters
    ----------
    differences : array-like of float
        Paired differences :math:`d_i = a_i - b_i`; NaN values are left out.

    Returns
    -------
    float
        NaN if no difference is non-zero.

    Examples
    --------
    d = (1, -2, 3, 4): ranks 1, 2, 3, 4; R+ = 1 + 3 + 4 = 8, R- = 2, r = 6 / 10.

    >>> rank_biserial([1.0, -2.0, 3.0, 4.0])
    0.6
    """
    from scipy.stats import rankdata

    d = np.asarray(differences, dtype=float).ravel()
    d = d[~np.isnan(d) & (d != 0)]
    if d.size == 0:
        return float("nan")
    ranks = rankdata(np.abs(d))
    plus, minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((plus - minus) / (plus + minus))


def compare(
    scores: pd.DataFrame,
    *,
    between: str = "schedule",
    metric: str | None = None,
    task: str | None = None,
    epoch: int | Literal["last"] = "last",
    levels: Sequence[str] | None = None,
    alternative: str = "two-sided",
) -> pd.DataFrame:
    r"""Paired comparisons between every two levels of ``between``, over seeds.

    The runs of two levels ``a`` and ``b`` (e.g. two schedules) are paired by seed within
    each combination of the other grouping columns (the other of schedule/strategy, the
    task, and a sweep's variant when there are several): runs of different levels must
    share seeds to be paired, and seeds present in only one of the two (or NaN, e.g.
    diverged, in either) are dropped. On the
    :math:`n` pairs, with :math:`d_i = a_i - b_i`, the table reports

    - ``median_difference``: the median of :math:`d_i`;
    - ``statistic``, ``p_value``: the Wilcoxon signed-rank test (Wilcoxon 1945) of
      :func:`scipy.stats.wilcoxon` with its defaults (zero differences dropped; exact
      null distribution for :math:`n \le 50` without ties or zeros, else as scipy
      decides). For "two-sided" the statistic is :math:`\min(R_+, R_-)`, otherwise
      :math:`R_+`;
    - ``p_holm``: Holm-adjusted p-values (:func:`holm`) over the family of all the tests
      in the returned table (every pair of levels in every combination of the other
      columns); to adjust per task instead, call once per task;
    - ``rank_biserial``: the effect size :math:`r = (R_+ - R_-)/(R_+ + R_-)`
      (:func:`rank_biserial`, Kerby 2014), positive when ``a`` tends to score higher.

    A pair with fewer than 2 common seeds gets NaN ``statistic`` and p-values and a
    ``note`` (the descriptive columns are still filled when there is one pair); a pair
    whose differences are all zero gets statistic 0, p-value 1 (no evidence of a
    difference) and a note. Such pairs never raise.
    If a seed has several rows for one level and combination (e.g. tables of two engines
    concatenated), their mean is its value.

    Parameters
    ----------
    scores : DataFrame
        The tidy results table.
    between : {"schedule", "strategy"}, default "schedule"
        The column whose levels are compared.
    metric : str, optional
        Default: the per-task score ("r2" or "accuracy"). Stream metrics (e.g. "bwt")
        are compared on their task "all".
    task : str, optional
        Compare on this task only; default every task.
    epoch : "last" or int, default "last"
        Each run's last epoch, or a given epoch (see :func:`at_epoch`).
    levels : sequence of str, optional
        Compare only these levels, in this order; default every level, in the order they
        first appear.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        "greater": ``a`` scores higher than ``b`` (the differences are shifted upwards).

    Returns
    -------
    DataFrame
        One row per combination of the other columns and pair ``(a, b)``: the other
        columns, then ``a, b, n_pairs, median_difference, statistic, p_value, p_holm,
        rank_biserial, note`` (``note`` is "" when the test was done).

    Raises
    ------
    InvalidParameterError
        If ``between``, ``alternative``, the metric, task, epoch or a level is not
        allowed, or fewer than two levels are left to compare.

    Examples
    --------
    >>> scores = pd.DataFrame({
    ...     "run": range(6), "seed": [1, 2, 3] * 2, "epoch": 1, "task": "t", "metric": "r2",
    ...     "schedule": ["a"] * 3 + ["b"] * 3, "strategy": "naive",
    ...     "value": [0.9, 0.8, 0.7, 0.5, 0.6, 0.2]})
    >>> table = compare(scores)
    >>> table[["a", "b", "n_pairs", "median_difference", "p_value", "rank_biserial"]].round(3)
       a  b  n_pairs  median_difference  p_value  rank_biserial
    0  a  b        3                0.4     0.25            1.0
    """
    from scipy.stats import wilcoxon

    owner = "compare"
    validate(owner, COMPARE_CONSTRAINTS, {"between": between, "alternative": alternative})
    _check_table(scores, [*BETWEEN, "seed"], owner)
    rows = at_epoch(scores, metric=metric, task=task, epoch=epoch, owner=owner)
    present = [str(level) for level in pd.unique(rows[between])]
    if levels is None:
        levels = present
    else:
        if isinstance(levels, str):
            raise invalid("levels", owner, f"a list of {between}s, e.g. {', '.join(present[:2])}", levels)
        levels = list(dict.fromkeys(levels))
        for level in levels:
            if level not in present:
                raise invalid("levels", owner, f"a list of {between}s among {', '.join(present)}", levels)
    if len(levels) < 2 and len(present) >= 2:
        raise invalid("levels", owner, f"two or more of {', '.join(present)}", levels)
    if len(levels) < 2:
        raise invalid(
            "between", owner, f"a column with two or more levels to compare ({between} has only {levels})", between
        )
    rows = rows[rows[between].isin(levels)]
    strata = [column for column in BETWEEN if column != between] + ["task"]
    if "variant" in rows and rows["variant"].nunique() > 1:
        strata = ["variant", *strata]  # a sweep's variants are compared within, never across

    records = []
    for key, group in rows.groupby(strata, sort=False):
        wide = group.groupby([between, "seed"])["value"].mean().unstack(between)  # seeds x levels
        for a, b in combinations(levels, 2):
            record = dict(zip(strata, key, strict=True)) | {"a": a, "b": b}
            paired = a in wide.columns and b in wide.columns
            d = (wide[a] - wide[b]).dropna().to_numpy() if paired else np.empty(0)
            record |= {"n_pairs": d.size, "median_difference": np.median(d) if d.size else np.nan}
            record |= {"statistic": np.nan, "p_value": np.nan, "rank_biserial": rank_biserial(d), "note": ""}
            if d.size < 2:
                record["note"] = f"fewer than 2 common seeds ({d.size})"
            elif not d.any():
                record |= {"statistic": 0.0, "p_value": 1.0, "note": "all paired differences are zero"}
            else:
                test = wilcoxon(d, alternative=alternative)
                record |= {"statistic": float(test.statistic), "p_value": float(test.pvalue)}
            records.append(record)
    columns = [*strata, "a", "b", "n_pairs", "median_difference", "statistic", "p_value", "p_holm"]
    columns += ["rank_biserial", "note"]
    table = pd.DataFrame.from_records(records, columns=[c for c in columns if c != "p_holm"])
    table.insert(columns.index("p_holm"), "p_holm", holm(table["p_value"].to_numpy(dtype=float)))
    return table
