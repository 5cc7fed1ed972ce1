"""R² over whole test sets and the summaries over seeds."""

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forgetlab.metrics import r2_score
from forgetlab.stats import final_scores, seed_band

finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(
    st.integers(2, 40).flatmap(
        lambda n: st.tuples(arrays(float, n, elements=finite), arrays(float, n, elements=finite))
    )
)
def test_r2_equals_scikit_learn_exactly_where_defined(pair):
    y, p = pair
    if np.sum((y - np.mean(y)) ** 2) == 0:  # constant targets: undefined
        assert np.isnan(r2_score(y, p))
    else:
        assert r2_score(y, p) == sklearn.metrics.r2_score(y, p)


def test_r2_by_hand_including_negative_values():
    y = np.array([0.0, 1.0, 2.0, 3.0])  # mean 1.5, total sum of squares 5
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, 1.5)) == 0.0
    assert r2_score(y, y + 1) == pytest.approx(1 - 4 / 5)
    assert r2_score(y, y + 10) == pytest.approx(1 - 400 / 5)  # -79: far below 0, unbounded


def test_r2_keeps_a_leading_run_axis():
    rng = np.random.default_rng(0)
    y = rng.normal(size=20)
    predictions = rng.normal(size=(3, 4, 20))
    scores = r2_score(y, predictions)
    assert scores.shape == (3, 4)
    assert scores[2, 1] == r2_score(y, predictions[2, 1])


def test_r2_is_nan_when_undefined():
    assert np.isnan(r2_score(np.ones(5), np.ones(5)))
    assert np.isnan(r2_score(np.array([1.0]), np.array([1.0])))
    assert np.isnan(r2_score(np.ones(5), np.zeros((2, 5)))).all()


def test_seed_band_is_median_and_central_95_percent():
    assert seed_band([3.0]) == (3.0, 3.0, 3.0)
    median, low, high = seed_band(np.array([-200.0, 0.5, 0.9, np.nan]))
    assert median == 0.5
    assert low == pytest.approx(np.percentile([-200.0, 0.5, 0.9], 2.5))
    assert high == pytest.approx(np.percentile([-200.0, 0.5, 0.9], 97.5))
    assert np.isnan(seed_band([np.nan])).all()


def test_final_scores_take_each_runs_last_epoch():
    rows = []
    for run, (schedule, seed, n_epochs) in enumerate([("a", 0, 3), ("a", 1, 3), ("b", 0, 2)]):
        for epoch in range(1, n_epochs + 1):
            for task in ("summer", "autumn"):
                value = 10 * run + epoch + (0.5 if task == "autumn" else 0)
                rows.append(
                    dict(run=run, seed=seed, schedule=schedule, epoch=epoch, task=task, metric="r2", value=value)
                )
    rows.append(dict(run=0, seed=0, schedule="a", epoch=3, task="summer", metric="other", value=99.0))
    table = final_scores(pd.DataFrame(rows))
    assert list(table.index) == [("a", "summer"), ("a", "autumn"), ("b", "summer"), ("b", "autumn")]
    assert table.loc[("a", "summer"), "median"] == pytest.approx((3 + 13) / 2)
    assert table.loc[("b", "autumn"), "median"] == 22.5
    assert table["n_seeds"].tolist() == [2, 2, 1, 1]
