"""Running experiments from Python, the output directory's contract, and the figures."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import SGDRegressor
from sklearn.neural_network import MLPRegressor

import forgetlab
from forgetlab import Experiment, ForgetlabError, InvalidParameterError, run_experiment
from forgetlab.plots import plot_predictions, plot_scores
from forgetlab.schedules import Alternating, Interspersed, Sequential
from forgetlab.store import OutputError, load, prepare_output, write_atomic
from forgetlab.tasks import seasons

SMALL = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200)


def small_experiment(**changes) -> Experiment:
    settings = dict(
        stream=seasons(["summer", "autumn"]),
        estimator=SMALL,
        schedules=[Sequential(epochs_per_task=(1, 2)), Interspersed(k=10, n_epochs=3)],
        seeds=[0, 1, 2],
        engine="sklearn",
    )
    return Experiment(**{**settings, **changes})


@pytest.fixture(scope="module")
def results():
    return run_experiment(small_experiment(), progress=False, n_jobs=1)


def test_results_are_a_tidy_table_over_runs_epochs_and_tasks(results):
    scores = results.scores
    assert len(scores) == 3 * (3 + 3) * 2
    assert scores["run"].nunique() == 6
    assert set(scores["schedule"]) == {"sequential", "interspersed"}
    assert set(scores["strategy"]) == {"naive"} and set(scores["engine"]) == {"sklearn"}
    assert scores.groupby("run")["epoch"].max().tolist() == [3] * 6
    sequential = scores.query("schedule == 'sequential' and seed == 0 and task == 'summer'")
    assert sequential["trained"].tolist() == ["summer", "autumn", "autumn"]
    assert sequential["samples_seen"].tolist() == [69, 137, 205]
    assert not scores["diverged"].any()
    assert results.out is None


def test_fingerprint_identifies_the_experiment():
    assert small_experiment().fingerprint() == small_experiment().fingerprint()
    assert small_experiment().fingerprint() != small_experiment(seeds=[0, 1]).fingerprint()
    assert small_experiment().fingerprint() != small_experiment(threads=2).fingerprint()
    other_model = MLPRegressor(hidden_layer_sizes=(17,), solver="lbfgs", max_iter=200)
    assert small_experiment().fingerprint() != small_experiment(estimator=other_model).fingerprint()
    manifest = small_experiment().manifest()
    assert manifest["model"]["params"]["hidden_layer_sizes"] == [16]
    json.dumps(manifest)  # plain data


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedules": [Alternating(k=100)]}, "'k'"),
        ({"schedules": []}, "'schedules'"),
        ({"schedules": [Interspersed(), Interspersed(k=30)]}, "'schedules'"),
        ({"seeds": []}, "'seeds'"),
        ({"seeds": [-1]}, "'seeds'"),
        ({"seeds": [2**32]}, "'seeds'"),
        ({"engine": "jax"}, "'engine'"),
        ({"engine": "torch", "estimator": SGDRegressor()}, "'estimator' parameter of the torch engine"),
        ({"engine": "torch", "estimator": MLPRegressor(solver="adam", early_stopping=True)}, "'early_stopping'"),
        ({"engine": "torch", "dtype": "float16"}, "'dtype'"),
        ({"threads": 0}, "'threads'"),
    ],
)
def test_experiments_are_validated_on_construction(changes, field):
    with pytest.raises(InvalidParameterError, match=field):
        small_experiment(**changes)


def test_the_same_experiment_again_needs_resume_a_different_one_is_refused(tmp_path):
    experiment = small_experiment(seeds=[0], schedules=[Sequential(epochs_per_task=(1, 1))])
    first = run_experiment(experiment, out=tmp_path / "out", progress=False)
    assert first.out == tmp_path / "out"
    pd.testing.assert_frame_equal(load(first.out), first.scores)
    before = {p.name: p.read_bytes() for p in (first.out / "parts").iterdir()}
    with pytest.raises(OutputError, match=r"already holds results of this experiment; resume it \(--resume\)"):
        run_experiment(experiment, out=tmp_path / "out", progress=False)
    again = run_experiment(experiment, out=tmp_path / "out", progress=False, resume=True)
    pd.testing.assert_frame_equal(load(again.out), first.scores)
    assert {p.name: p.read_bytes() for p in (first.out / "parts").iterdir()} == before, "nothing retrained"
    manifest = json.loads((first.out / "experiment.json").read_text())
    assert manifest["fingerprint"] == experiment.fingerprint() and len(manifest["resumed"]) == 1
    with pytest.raises(OutputError, match="holds a different experiment"):
        run_experiment(small_experiment(seeds=[1]), out=tmp_path / "out", progress=False)
    assert {p.name: p.read_bytes() for p in (first.out / "parts").iterdir()} == before
    assert not [p for p in (first.out / "parts").iterdir() if p.name.startswith(".")], "no temporary files left"
    (part,) = (first.out / "parts").glob("results-*.parquet")
    assert part.stat().st_mode & 0o777 == 0o666 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "results.parquet"
    target.write_bytes(b"previous")

    def failing(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, failing)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["results.parquet"]


def test_output_errors(tmp_path):
    file = tmp_path / "a-file"
    file.write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        prepare_output(file, "f" * 64)
    with pytest.raises(ForgetlabError, match="No results table"):
        load(tmp_path)
    with pytest.raises(InvalidParameterError, match="'table' parameter of load must be one of results, predictions"):
        load(tmp_path, "figures")


def test_score_figure_has_a_panel_per_schedule_a_band_over_seeds_and_a_symlog_axis(results):
    figure = plot_scores(results.scores)
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["sequential (3 seeds)", "interspersed (3 seeds)"]
    assert all(ax.get_yscale() == "symlog" for ax in axes)
    assert [len(ax.lines) for ax in axes] == [3, 3]  # two tasks and the zero line
    assert [len(ax.collections) for ax in axes] == [2, 2]  # one band per task
    summer = axes[0].lines[0]
    median = results.scores.query("schedule == 'sequential' and task == 'summer'").groupby("epoch")["value"].median()
    np.testing.assert_allclose(summer.get_ydata(), median.to_numpy())


def test_prediction_figure_shows_the_true_curve_and_test_predictions(results):
    stream = seasons(["summer", "autumn"])
    figure = plot_predictions(results.predictions, stream, seed=1)
    ax = figure.axes[0]
    assert ax.get_title() == "sequential (seed 1)"
    assert len(ax.lines) == 2  # the true curve of each season
    assert [len(c.get_offsets()) for c in ax.collections] == [23, 23]


def test_the_package_exports_its_api_lazily():
    assert {"tutorial", "load", "Experiment", "final_scores"} <= set(dir(forgetlab))
    with pytest.raises(AttributeError):
        forgetlab.nothing_here  # noqa: B018
