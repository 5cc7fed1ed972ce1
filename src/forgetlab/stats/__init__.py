"""Aggregation over seeds: what a conclusion needs beyond one run.

Two questions are answered here, with seeds as the unit of replication (every seed is an
independent repetition of the whole run: initialisation, sampling order, task draws):

- *How large is a score, and how sure are we?* :func:`summarise` gives, per group of runs,
  the number of seeds, the mean and median over seeds and a percentile bootstrap interval
  of the mean (:func:`bootstrap_interval`). :func:`final_scores` and :func:`seed_band`
  describe the spread of the seeds themselves (median and central 95% of seeds).
- *Is one schedule (or strategy) better than another?* :func:`compare` pairs runs by seed
  and applies the Wilcoxon signed-rank test to every pair of levels, with Holm's
  correction over the family of tests (:func:`holm`) and the matched-pairs rank-biserial
  correlation as effect size (:func:`rank_biserial`).

NaN values (diverged runs, undefined scores) are never silently averaged: they are left
out and counted.

References
----------
Efron, B. & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin* 1(6), 80-83.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian
Journal of Statistics* 6(2), 65-70.
Kerby, D. S. (2014). The simple difference formula: an approach to teaching nonparametric
correlation. *Comprehensive Psychology* 3, 11.IT.3.1.
"""

from forgetlab.stats.paired import ALTERNATIVES, BETWEEN, COMPARE_CONSTRAINTS, compare, holm, rank_biserial
from forgetlab.stats.summaries import (
    BAND,
    BOOTSTRAP_CONSTRAINTS,
    SUMMARY_BY,
    at_epoch,
    bootstrap_interval,
    final_scores,
    format_number,
    format_p_value,
    seed_band,
    summarise,
)

__all__ = [
    "ALTERNATIVES",
    "BAND",
    "BETWEEN",
    "BOOTSTRAP_CONSTRAINTS",
    "COMPARE_CONSTRAINTS",
    "SUMMARY_BY",
    "at_epoch",
    "bootstrap_interval",
    "compare",
    "final_scores",
    "format_number",
    "format_p_value",
    "holm",
    "rank_biserial",
    "seed_band",
    "summarise",
]
