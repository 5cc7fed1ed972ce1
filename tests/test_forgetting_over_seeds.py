"""The tutorial's conclusions, checked over several seeds rather than one (slow)."""

import pytest

from forgetlab import run_experiment, tutorial_experiment

SEEDS = range(8)


@pytest.fixture(scope="module")
def scores():
    experiment = tutorial_experiment(
        seeds=SEEDS, schedules=["sequential", "interspersed"], sequential_epochs=(1, 3), engine="sklearn"
    )
    return run_experiment(experiment, progress=False).scores


@pytest.mark.slow
def test_one_autumn_epoch_wipes_out_summer(scores):
    """Summer R² drops in every seed and falls below 0 in all but one of seeds 0-7.

    Measured over seeds 0-31 (scikit-learn 1.9.1, one BLAS thread): below 0 in 31 of 32;
    the exception, seed 7, learned summer poorly (R² 0.64) and keeps 0.33 after autumn.
    """
    summer = scores.query("schedule == 'sequential' and task == 'summer'")
    after_summer = summer[summer["epoch"] == 1].set_index("seed")["value"]
    after_one_autumn = summer[summer["epoch"] == 2].set_index("seed")["value"]
    assert len(after_one_autumn) == len(SEEDS)
    assert (after_summer > 0.5).all(), "summer was learned first"
    assert (after_one_autumn < after_summer).all(), "then it drops in every seed"
    assert (after_one_autumn < 0).sum() >= len(SEEDS) - 1
    assert after_one_autumn.median() < -100


@pytest.mark.slow
def test_interspersed_ends_with_higher_summer_r2_than_sequential_in_every_seed(scores):
    summer = scores[scores["task"] == "summer"]
    final = summer[summer["epoch"] == summer.groupby("run")["epoch"].transform("max")]
    by_seed = final.pivot(index="seed", columns="schedule", values="value")
    assert (by_seed["interspersed"] > by_seed["sequential"]).all()
    assert by_seed["interspersed"].median() > 0.8
