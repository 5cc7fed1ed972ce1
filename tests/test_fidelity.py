"""The torch and compiled engines against the scikit-learn engine on the tutorial, over 24 seeds (slow).

Why distributions and not run-by-run equality: a run's L-BFGS trajectory is chaotic. The
torch engine starts from the same weights and samples the same indices as scikit-learn
for the same seed, and in float64 it follows SciPy's rules step for step, but a last-bit
difference in a gradient (another summation order in a matrix product; float32 instead of
float64) changes an early line search, and thousands of iterations later the run is in
another local minimum. So the same seed ends elsewhere; what must agree is the
distribution of outcomes over seeds, and the tutorial's conclusions.

The reference is the scikit-learn engine over seeds 0-23 (one BLAS thread), written by
``tests/data/make_sklearn_reference.py``; the torch engine runs here in float32 (its
default), the compiled engine in float32 and float64.

The two-sample test is the k-sample Anderson-Darling test (Scholz & Stephens 1987,
``scipy.stats.anderson_ksamp``) with permutation p-values: it compares whole empirical
distributions, weights their tails more than the Kolmogorov-Smirnov test does, and, being
built on ranks, is unaffected by R²'s heavy lower tail (sequential summer R² spans -1000
to 0). Six comparisons (three schedules, two tasks), Bonferroni: each at 0.05 / 6.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forgetlab import run_experiment, tutorial_experiment

REFERENCE = Path(__file__).parent / "data" / "sklearn_tutorial_seeds_0-23.csv"
SEEDS = range(24)
ALPHA = 0.05 / 6

pytestmark = pytest.mark.slow


def _kept(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows the reference keeps: sequential epochs 1-2 and every schedule's last epoch."""
    last = scores["epoch"] == scores.groupby(["schedule", "seed"])["epoch"].transform("max")
    early = (scores["schedule"] == "sequential") & (scores["epoch"] <= 2)
    return scores.loc[last | early, ["seed", "schedule", "epoch", "task", "value"]]


@pytest.fixture(
    scope="module", params=[("torch", "float32"), ("compiled", "float32"), ("compiled", "float64")], ids="-".join
)
def both(request) -> dict[str, pd.DataFrame]:
    """The reference, and the engine under test as ``"other"``."""
    engine, dtype = request.param
    experiment = tutorial_experiment(seeds=SEEDS, engine=engine, dtype=dtype)
    return {"sklearn": pd.read_csv(REFERENCE), "other": _kept(run_experiment(experiment, progress=False).scores)}


def _final(scores: pd.DataFrame) -> pd.DataFrame:
    last = scores["epoch"] == scores.groupby(["schedule", "seed"])["epoch"].transform("max")
    return scores[last]


def test_the_reference_covers_every_seed(both):
    for scores in both.values():
        assert set(scores["seed"]) == set(SEEDS)
        assert len(_final(scores)) == len(SEEDS) * 3 * 2


def test_one_autumn_epoch_wipes_out_summer_in_both_engines(both):
    """Summer R² falls below 0 after one autumn epoch: 23 of 24 seeds with scikit-learn (seed 7
    learns summer poorly, R² 0.64, and keeps 0.33), and at least as often with the other engine."""
    below = {}
    for engine, scores in both.items():
        summer = scores.query("schedule == 'sequential' and task == 'summer'")
        learned = summer[summer["epoch"] == 1].set_index("seed")["value"]
        after = summer[summer["epoch"] == 2].set_index("seed")["value"]
        assert (after < learned).all(), engine
        below[engine] = int((after < 0).sum())
        assert after.median() < -100, engine
    assert below["sklearn"] == len(SEEDS) - 1
    assert below["other"] >= below["sklearn"]


def test_same_ordering_of_schedules_by_median_final_summer_r2(both):
    orders = {}
    for engine, scores in both.items():
        summer = _final(scores).query("task == 'summer'")
        orders[engine] = list(summer.groupby("schedule")["value"].median().sort_values().index)
    assert orders["other"] == orders["sklearn"]
    assert orders["sklearn"][0] == "sequential"


@pytest.mark.parametrize("schedule", ["sequential", "alternating", "interspersed"])
@pytest.mark.parametrize("task", ["summer", "autumn"])
def test_final_r2_distributions_are_not_told_apart(both, schedule, task):
    samples = []
    for scores in both.values():
        final = _final(scores)
        samples.append(final.loc[(final["schedule"] == schedule) & (final["task"] == task), "value"].to_numpy())
    assert all(len(s) == len(SEEDS) and np.isfinite(s).all() for s in samples)
    method = stats.PermutationMethod(n_resamples=9999, rng=np.random.default_rng(0))
    result = stats.anderson_ksamp(samples, variant="midrank", method=method)
    medians = [float(np.median(s)) for s in samples]
    print(f"{schedule} {task}: AD {result.statistic:.3f}, p = {result.pvalue:.4f}, medians sklearn/other {medians}")
    assert result.pvalue > ALPHA
