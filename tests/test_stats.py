"""Summaries over seeds with bootstrap intervals, and paired comparisons between schedules or strategies."""

import subprocess
import sys
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from forgetlab.cli import main
from forgetlab.errors import InvalidParameterError
from forgetlab.results import RESULT_COLUMNS
from forgetlab.stats import at_epoch, bootstrap_interval, compare, holm, rank_biserial, summarise

# --------------------------------------------------------------------------------------
# helpers


def results_table(
    values: dict[tuple[str, str, str], np.ndarray | list[float]],
    seeds: list[int] | None = None,
    n_epochs: int = 1,
) -> pd.DataFrame:
    """A tidy results table: ``values[(schedule, strategy, task)]`` holds the last epoch's value per seed.

    Earlier epochs get the value minus the number of epochs still to go, so "last" matters.
    """
    rows = []
    runs: dict[tuple[str, str, int], int] = {}
    for (schedule, strategy, task), per_seed in values.items():
        for seed, value in zip(seeds or range(len(per_seed)), per_seed, strict=True):
            run = runs.setdefault((schedule, strategy, seed), len(runs))
            for epoch in range(1, n_epochs + 1):
                rows.append(
                    dict(
                        run=run,
                        seed=seed,
                        schedule=schedule,
                        strategy=strategy,
                        engine="sklearn",
                        epoch=epoch,
                        samples_seen=10 * epoch,
                        trained=task,
                        task=task,
                        metric="r2",
                        value=float(value) - (n_epochs - epoch),
                        diverged=bool(np.isnan(value)),
                    )
                )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


@pytest.fixture
def three_schedules() -> tuple[pd.DataFrame, dict]:
    """3 schedules x 2 strategies x 2 tasks, 12 seeds, with real differences between schedules."""
    rng = np.random.default_rng(7)
    shift = {"s1": 0.0, "s2": 0.6, "s3": 0.65}
    values = {
        (schedule, strategy, task): rng.normal(shift[schedule], 0.3, size=12)
        for strategy in ("naive", "ewc")
        for task in ("t1", "t2")
        for schedule in shift
    }
    return results_table(values, n_epochs=3), values


# --------------------------------------------------------------------------------------
# the bootstrap interval of the mean


def test_bootstrap_interval_by_hand():
    # two seeds 0 and 1: resample means 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4
    assert bootstrap_interval([0.0, 1.0]) == (0.0, 1.0)
    assert bootstrap_interval([0.0, 1.0], confidence=0.4) == (0.5, 0.5)
    # one seed, constant seeds: no spread at all
    assert bootstrap_interval([0.7]) == (0.7, 0.7)
    assert bootstrap_interval([0.1] * 7) == (0.1, 0.1)
    # NaN seeds are left out; none left: NaN
    assert bootstrap_interval([0.0, np.nan, 1.0]) == bootstrap_interval([0.0, 1.0])
    assert np.isnan(bootstrap_interval([np.nan, np.nan])).all()


def test_bootstrap_interval_is_deterministic_and_agrees_with_scipy():
    values = np.random.default_rng(3).normal(size=15)
    assert bootstrap_interval(values) == bootstrap_interval(values)
    assert bootstrap_interval(values, seed=1) != bootstrap_interval(values, seed=2)
    low, high = bootstrap_interval(values, n_resamples=4000)
    reference = scipy.stats.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=4000, random_state=np.random.default_rng(0)
    ).confidence_interval
    width = reference.high - reference.low
    assert low == pytest.approx(reference.low, abs=0.05 * width)
    assert high == pytest.approx(reference.high, abs=0.05 * width)
    # the bootstrap distribution of the mean has the plug-in standard error sd * sqrt((n-1)/n) / sqrt(n)
    se = values.std() / np.sqrt(values.size)
    assert (high - low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.06)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    """300 experiments of 20 seeds each, normal scores: the interval of each covers the true mean ~95%."""
    n_repetitions, n_seeds, true_mean = 300, 20, 0.8
    samples = np.random.default_rng(2024).normal(true_mean, 0.5, size=(n_repetitions, n_seeds))
    scores = pd.DataFrame(
        {
            "repetition": np.repeat(np.arange(n_repetitions), n_seeds),
            "seed": np.tile(np.arange(n_seeds), n_repetitions),
            "value": samples.ravel(),
        }
    )
    table = summarise(scores, by=["repetition"])
    assert len(table) == n_repetitions
    np.testing.assert_allclose(table["mean"], samples.mean(axis=1))
    coverage = ((table["low"] <= true_mean) & (true_mean <= table["high"])).mean()
    assert 0.90 <= coverage <= 0.98, coverage
    # the single-group function agrees with the vectorised one
    assert bootstrap_interval(samples[5]) == pytest.approx(tuple(table.loc[5, ["low", "high"]]), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"confidence": 1.0}, "'confidence' parameter of bootstrap_interval must be a number in (0, 1)"),
        ({"n_resamples": 0}, "'n_resamples' parameter of bootstrap_interval must be an int >= 1"),
        ({"seed": -1}, "'seed' parameter of bootstrap_interval must be an int >= 0"),
    ],
)
def test_bootstrap_interval_rejects_bad_parameters(kwargs, field):
    with pytest.raises(InvalidParameterError, match=field.replace("(", r"\(").replace(")", r"\)")):
        bootstrap_interval([1.0, 2.0], **kwargs)


# --------------------------------------------------------------------------------------
# summarise


def test_summarise_counts_seeds_and_diverged_runs():
    values = {("a", "naive", "t"): [0.2, np.nan, 0.6, 0.4], ("b", "naive", "t"): [np.nan, np.nan, np.nan, np.nan]}
    table = summarise(results_table(values, n_epochs=2), metric="r2")
    assert list(table.columns) == [
        "schedule",
        "strategy",
        "task",
        "epoch",
        "n_seeds",
        "n_diverged",
        "mean",
        "median",
        "low",
        "high",
    ]
    last = table[table["epoch"] == 2].set_index("schedule")
    assert last.loc["a", "n_seeds"] == 3 and last.loc["a", "n_diverged"] == 1
    assert last.loc["a", "mean"] == pytest.approx(0.4) and last.loc["a", "median"] == pytest.approx(0.4)
    assert last.loc["a", "low"] <= 0.4 <= last.loc["a", "high"]
    assert last.loc["a", "low"] >= 0.2 and last.loc["a", "high"] <= 0.6
    assert last.loc["b", "n_seeds"] == 0 and last.loc["b", "n_diverged"] == 4
    assert last.loc[["b"], ["mean", "median", "low", "high"]].isna().all(axis=None)


def test_summarise_does_not_depend_on_row_order_or_on_other_groups(three_schedules):
    scores, _ = three_schedules
    table = summarise(scores)
    shuffled = summarise(scores.sample(frac=1.0, random_state=1))
    keys = ["metric", "schedule", "strategy", "task", "epoch"]
    pd.testing.assert_frame_equal(
        table.sort_values(keys).reset_index(drop=True), shuffled.sort_values(keys).reset_index(drop=True)
    )
    alone = summarise(scores[scores["schedule"] == "s2"])
    pd.testing.assert_frame_equal(alone, table[table["schedule"] == "s2"].reset_index(drop=True))


def test_summarise_averages_a_seeds_rows_within_a_group(three_schedules):
    scores, values = three_schedules
    table = summarise(at_epoch(scores), metric="r2", by=["schedule", "strategy"]).set_index(["schedule", "strategy"])
    per_seed = (values[("s1", "ewc", "t1")] + values[("s1", "ewc", "t2")]) / 2  # the seed is the unit
    assert table.loc[("s1", "ewc"), "n_seeds"] == 12
    assert table.loc[("s1", "ewc"), "mean"] == pytest.approx(per_seed.mean())
    assert table.loc[("s1", "ewc"), "median"] == pytest.approx(np.median(per_seed))
    assert (table.loc[("s1", "ewc"), ["low", "high"]].to_numpy() == bootstrap_interval(per_seed)).all()


def test_summarise_groups_by_metric_unless_one_is_chosen(three_schedules):
    scores, _ = three_schedules
    extra = scores.assign(metric="bwt", task="all").drop_duplicates(["run", "epoch"])
    both = pd.concat([scores, extra], ignore_index=True)
    table = summarise(both, by=["schedule"])
    assert list(table.columns[:2]) == ["metric", "schedule"] and len(table) == 6
    assert len(summarise(both, metric="bwt", by=["schedule"])) == 3
    with pytest.raises(InvalidParameterError, match="'metric' parameter of summarise must be one of bwt, r2"):
        summarise(both, metric="accuracy")
    with pytest.raises(InvalidParameterError, match="'by' parameter of summarise must be columns of the table"):
        summarise(both, by=["schedule", "colour"])


# --------------------------------------------------------------------------------------
# Holm and the rank-biserial correlation


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 -> 3 * 0.01, 2 * 0.03, max(2 * 0.03, 1 * 0.04)
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.01, 0.02, 0.03, 0.04]), [0.04, 0.06, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.001]), [0.5, 0.002])
    np.testing.assert_allclose(holm([0.9, 0.8]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(holm([0.02]), [0.02])  # one test: nothing to correct
    # NaN: no test, not counted in the family
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04, 0.03]), [0.03, np.nan, 0.06, 0.06])
    assert holm([]).shape == (0,)


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_is_monotone_in_the_raw_order_and_never_below_the_raw_p(p_values):
    p = np.array(p_values)
    adjusted = holm(p)
    assert (adjusted >= p).all() and (adjusted <= 1.0).all()
    assert (adjusted <= np.minimum(1.0, len(p) * p) + 1e-15).all(), "never above Bonferroni"
    order = np.argsort(p, kind="stable")
    assert (np.diff(adjusted[order]) >= 0).all()
    assert adjusted[order[0]] == min(1.0, len(p) * p[order[0]])


def test_rank_biserial_by_hand():
    assert rank_biserial([1.0, -2.0, 3.0, 4.0]) == pytest.approx(0.6)  # (8 - 2) / 10
    assert rank_biserial([0.0, 1.0, -2.0, 3.0]) == pytest.approx(1 / 3)  # zero dropped: (4 - 2) / 6
    assert rank_biserial([1.0, 1.0, -2.0]) == 0.0  # tied ranks 1.5, 1.5 against 3
    assert rank_biserial([0.5, 2.0, 0.1]) == 1.0
    assert rank_biserial([-0.5, np.nan, -2.0]) == -1.0
    assert np.isnan(rank_biserial([0.0, 0.0])) and np.isnan(rank_biserial([]))


def test_rank_biserial_is_the_wilcoxon_rank_sum_rescaled():
    d = np.random.default_rng(5).normal(0.3, 1.0, size=17)
    r_plus = scipy.stats.wilcoxon(d, alternative="greater").statistic  # R+
    total = d.size * (d.size + 1) / 2
    assert rank_biserial(d) == pytest.approx((r_plus - (total - r_plus)) / total)


# --------------------------------------------------------------------------------------
# compare


def test_compare_equals_scipy_wilcoxon_on_the_same_pairs(three_schedules):
    scores, values = three_schedules
    table = compare(scores)
    assert list(table.columns) == [
        "strategy",
        "task",
        "a",
        "b",
        "n_pairs",
        "median_difference",
        "statistic",
        "p_value",
        "p_holm",
        "rank_biserial",
        "note",
    ]
    assert len(table) == 2 * 2 * 3  # strategies x tasks x pairs of schedules
    for row in table.itertuples():
        a, b = values[(row.a, row.strategy, row.task)], values[(row.b, row.strategy, row.task)]
        expected = scipy.stats.wilcoxon(a, b)
        assert row.n_pairs == 12 and row.note == ""
        assert row.statistic == expected.statistic
        assert row.p_value == expected.pvalue
        assert row.median_difference == pytest.approx(np.median(a - b))
        assert row.rank_biserial == pytest.approx(rank_biserial(a - b))
    np.testing.assert_array_equal(table["p_holm"], holm(table["p_value"]))
    assert [tuple(pair) for pair in table[["a", "b"]].to_numpy()[:3]] == list(combinations(["s1", "s2", "s3"], 2))
    assert (table.query("a == 's1'")["p_value"] < 0.05).all(), "s1 is 0.6 lower: detected"
    greater = compare(scores, alternative="greater")
    for row in greater.itertuples():
        a, b = values[(row.a, row.strategy, row.task)], values[(row.b, row.strategy, row.task)]
        assert row.p_value == scipy.stats.wilcoxon(a, b, alternative="greater").pvalue


def test_compare_between_strategies_pairs_within_each_schedule(three_schedules):
    scores, values = three_schedules
    table = compare(scores, between="strategy", task="t2", levels=["ewc", "naive"])
    assert list(table.columns[:4]) == ["schedule", "task", "a", "b"]
    assert table["schedule"].tolist() == ["s1", "s2", "s3"] and (table["a"] == "ewc").all()
    for row in table.itertuples():
        expected = scipy.stats.wilcoxon(values[(row.schedule, "ewc", "t2")], values[(row.schedule, "naive", "t2")])
        assert row.p_value == expected.pvalue


def test_compare_pairs_by_seed_whatever_the_row_order(three_schedules):
    scores, _ = three_schedules
    levels = ["s1", "s2", "s3"]  # by default, levels come in the order they first appear
    table = compare(scores, levels=levels)
    keys = ["strategy", "task", "a", "b"]
    shuffled = compare(scores.sample(frac=1.0, random_state=3), levels=levels)
    pd.testing.assert_frame_equal(
        table.sort_values(keys).reset_index(drop=True), shuffled.sort_values(keys).reset_index(drop=True)
    )


def test_compare_drops_unmatched_seeds_and_nan_values():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=10), rng.normal(size=10)
    a_with_nan = a.copy()
    a_with_nan[[2, 7]] = np.nan  # two diverged runs of schedule a
    scores = pd.concat(
        [
            results_table({("a", "naive", "t"): a_with_nan}, seeds=list(range(10))),
            results_table({("b", "naive", "t"): b[3:]}, seeds=list(range(3, 10))),  # b has no seeds 0, 1, 2
            results_table({("c", "naive", "t"): [0.0, 1.0]}, seeds=[100, 101]),  # no seed in common
        ],
        ignore_index=True,
    )
    scores["run"] = np.arange(len(scores))
    table = compare(scores).set_index(["a", "b"])
    common = [3, 4, 5, 6, 8, 9]
    assert table.loc[("a", "b"), "n_pairs"] == len(common)
    assert table.loc[("a", "b"), "p_value"] == scipy.stats.wilcoxon(a[common], b[common]).pvalue
    for pair in [("a", "c"), ("b", "c")]:
        assert table.loc[pair, "n_pairs"] == 0
        assert table.loc[pair, "note"] == "fewer than 2 common seeds (0)"
        assert np.isnan(table.loc[pair, ["statistic", "p_value", "p_holm", "rank_biserial"]].astype(float)).all()
    # the untestable pairs are not part of Holm's family: one test, nothing to correct
    assert table.loc[("a", "b"), "p_holm"] == table.loc[("a", "b"), "p_value"]


def test_compare_one_common_seed_or_no_difference_never_raises():
    scores = results_table(
        {("a", "naive", "t"): [0.5, 0.6, 0.7], ("b", "naive", "t"): [0.5, 0.6, 0.7], ("c", "naive", "t"): [0.1]}
    )
    table = compare(scores).set_index(["a", "b"])
    assert table.loc[("a", "b"), "p_value"] == 1.0
    assert table.loc[("a", "b"), "note"] == "all paired differences are zero"
    assert table.loc[("a", "c"), "n_pairs"] == 1 and np.isnan(table.loc[("a", "c"), "p_value"])
    assert table.loc[("a", "c"), "note"] == "fewer than 2 common seeds (1)"
    assert table.loc[("a", "c"), "median_difference"] == pytest.approx(0.4)


def test_compare_at_an_epoch_and_on_stream_metrics(three_schedules):
    scores, values = three_schedules
    at_one = compare(scores, epoch=1, task="t1")
    for row in at_one.itertuples():
        a, b = values[(row.a, row.strategy, "t1")] - 2, values[(row.b, row.strategy, "t1")] - 2
        assert row.p_value == scipy.stats.wilcoxon(a, b).pvalue
    bwt = scores[scores["task"] == "t1"].assign(metric="bwt", task="all")
    table = compare(pd.concat([scores, bwt], ignore_index=True), metric="bwt")
    assert set(table["task"]) == {"all"} and len(table) == 2 * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"between": "engine"}, "'between' parameter of compare must be one of schedule, strategy; got 'engine'"),
        ({"alternative": "bigger"}, "'alternative' parameter of compare must be one of two-sided, greater, less"),
        ({"metric": "accuracy"}, "'metric' parameter of compare must be one of r2; got 'accuracy'"),
        ({"task": "t9"}, "'task' parameter of compare must be one of t1, t2 (for metric 'r2'); got 't9'"),
        ({"epoch": 4}, "'epoch' parameter of compare must be 'last' or an epoch of the 'r2' rows, in [1, 3]; got 4"),
        ({"epoch": "first"}, "'epoch' parameter of compare"),
        ({"levels": ["s1", "s4"]}, "'levels' parameter of compare must be a list of schedules among s1, s2, s3"),
        ({"levels": ["s1"]}, "'levels' parameter of compare must be two or more of s1, s2, s3"),
        ({"levels": "s1"}, "'levels' parameter of compare must be a list of schedules"),
        ({"between": "strategy", "levels": ["naive"]}, "'levels' parameter of compare must be two or more of naive"),
    ],
)
def test_compare_rejects_bad_input_naming_the_parameter(three_schedules, kwargs, message):
    scores, _ = three_schedules
    with pytest.raises(InvalidParameterError) as info:
        compare(scores, **kwargs)
    assert message in str(info.value)


def test_compare_needs_two_levels():
    scores = results_table({("a", "naive", "t"): [0.5, 0.6]})
    with pytest.raises(InvalidParameterError, match="'between' parameter of compare must be a column with two or more"):
        compare(scores)
    with pytest.raises(InvalidParameterError, match="'metric' parameter of compare must be given"):
        compare(pd.concat([scores, scores.assign(metric="accuracy")]))


# --------------------------------------------------------------------------------------
# forgetlab compare DIR


@pytest.fixture
def results_dir(tmp_path, three_schedules):
    scores, _ = three_schedules
    (tmp_path / "parts").mkdir()
    scores.to_parquet(tmp_path / "parts" / "results-v0-s0-0.parquet", index=False)
    return tmp_path


def test_cli_compare_prints_the_summary_and_the_paired_comparisons(results_dir, three_schedules, capsys):
    assert main(["compare", str(results_dir), "--task", "t1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert lines[0] == "r2 at each run's last epoch, over seeds: mean with 95% bootstrap interval (seeds resampled)"
    header = ["strategy", "task", "schedule", "seeds", "mean", "95%", "interval", "median", "diverged"]
    assert lines[1].split() == header
    summary = summarise(at_epoch(three_schedules[0], task="t1"), metric="r2", by=["strategy", "task", "schedule"])
    for line, row in zip(lines[2:8], summary.itertuples(), strict=True):
        cells = line.split()
        assert cells[:4] == [row.strategy, "t1", row.schedule, "12"]
        assert float(cells[4]) == pytest.approx(row.mean, abs=5e-4)
    assert lines[8] == ""
    assert lines[9].startswith("Paired by seed, difference a - b: Wilcoxon signed-rank test, p Holm-adjusted over 6")
    header = lines[10].split()
    assert header[:4] == ["strategy", "task", "a", "b"] and header[-6:] == ["W", "p", "p", "Holm", "r", "note"]
    table = compare(three_schedules[0], task="t1")
    assert len(lines) == 11 + len(table)
    for line, row in zip(lines[11:], table.itertuples(), strict=True):
        cells = line.split()
        assert cells[:5] == [row.strategy, "t1", row.a, row.b, "12"]
        assert float(cells[7]) == pytest.approx(row.p_value, rel=0.05)  # 2 significant digits
        assert float(cells[8]) == pytest.approx(row.p_holm, rel=0.05)


def test_cli_compare_end_to_end_with_options(results_dir):
    options = ["--between", "strategy", "--epoch", "2", "--levels", "naive,ewc"]
    done = subprocess.run(
        [sys.executable, "-m", "forgetlab.cli", "compare", str(results_dir), *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("r2 at epoch 2, over seeds")
    assert len(lines) == 1 + 1 + 3 * 2 * 2 + 1 + 1 + 1 + 3 * 2  # 3 schedules x 2 tasks x 2 strategies; 1 pair each
    assert "Holm-adjusted over 6 tests" in lines[15]
    assert lines[16].split()[:2] == ["schedule", "task"]
    assert all(line.split()[2:4] == ["naive", "ewc"] for line in lines[17:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "f1"], "The 'metric' parameter of compare must be one of r2; got 'f1'."),
        (["--task", "t9"], "The 'task' parameter of compare must be one of t1, t2"),
        (["--levels", "s1,s9"], "The 'levels' parameter of compare must be a list of schedules among s1, s2, s3"),
        (["--epoch", "9"], "The 'epoch' parameter of compare must be 'last' or an epoch of the 'r2' rows, in [1, 3]"),
        (["--epoch", "x"], "argument --epoch: --epoch must be 'last' or an int >= 1; got 'x'"),
        (["--epoch", "0"], "argument --epoch: --epoch must be 'last' or an int >= 1; got '0'"),
        (["--between", "engine"], "argument --between: invalid choice: 'engine'"),
    ],
)
def test_cli_compare_bad_options_are_one_line_and_exit_code_2(results_dir, args, message, capsys):
    try:
        code = main(["compare", str(results_dir), *args])
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("forgetlab") and message in lines[0]


def test_cli_compare_a_missing_directory(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No results table in" in err
