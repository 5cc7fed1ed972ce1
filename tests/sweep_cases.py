"""A small sweep shared by the sweep tests, and the comparison of results tables."""

import pandas as pd

# Tiny runs on the scikit-learn engine: one run per batch, each a few tenths of a second.
CONFIG = """
seeds = "0-4"
engine = "sklearn"
[stream]
kind = "seasons"
[model]
class = "MLPRegressor"
hidden_layer_sizes = [8]
[optimizer]
name = "lbfgs"
max_iter = 60
[[schedules]]
name = "sequential"
epochs_per_task = [2, 2]
[[schedules]]
name = "interspersed"
n_epochs = 12
[grid]
"schedules.interspersed.k" = [5, 20]
"""


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    key = ["run", "epoch", "task", "metric"]
    assert not got.duplicated(key).any(), "no row twice"
    pd.testing.assert_frame_equal(
        got.sort_values(key, ignore_index=True), expected.sort_values(key, ignore_index=True), check_exact=True
    )
