"""Aggregation over seeds: what a conclusion needs beyond one run."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["final_scores", "seed_band"]

#: The central interval reported over seeds: 2.5th to 97.5th percentile.
BAND = (2.5, 97.5)


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
    """
    rows = scores[scores["metric"] == metric]
    last = rows[rows["epoch"] == rows.groupby("run")["epoch"].transform("max")]
    groups = last.groupby(["schedule", "task"], sort=False)["value"]
    table = groups.apply(lambda v: pd.Series(seed_band(v), index=["median", "low", "high"])).unstack()
    table["n_seeds"] = groups.size()
    return table
