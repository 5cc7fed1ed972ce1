"""What a week of sweeps relies on: bad input never crashes, faults lose nothing, same config same numbers.

docs/reliability.md lists each promise and the test here (or elsewhere) that proves it.
"""

import ast
import errno
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sweep_cases import CONFIG, assert_same_table

import forgetlab.store
from forgetlab import Experiment, InvalidParameterError
from forgetlab.api import run_experiment, run_sweep
from forgetlab.cli import main
from forgetlab.config import build_sweep, parse_config
from forgetlab.schedules import Sequential
from forgetlab.stats import summarise
from forgetlab.store import OutputError, load, part_files
from forgetlab.strategies import EWC, Replay
from forgetlab.tasks import from_arrays, seasons, split_digits

SRC = Path(__file__).parents[1] / "src" / "forgetlab"

# --------------------------------------------------------------------------------------
# Fuzzed configs: every malformed config is forgetlab's one-line error naming the field.

BASE = tomllib.loads(CONFIG)
JUNK = st.one_of(
    st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dictionaries(st.sampled_from(["a", "name", "k"]), st.integers(-2, 2), max_size=2),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=2)), max_size=3),
)
NOT_AN_INT = st.one_of(
    st.text(max_size=3), st.floats(allow_nan=True), st.booleans(), st.lists(st.integers(), max_size=2)
)
NEGATIVE = st.integers(-(2**40), -1)
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def _two_counts(value: object) -> bool:
    """Whether ``value`` is a valid ``epochs_per_task`` for the two seasons (two ints >= 1)."""
    return isinstance(value, list) and len(value) == 2 and all(type(v) is int and v >= 1 for v in value)


# (where, key, bad values, the word the message must hold); where is a path into the config.
MUTATIONS = [
    (
        (),
        "seeds",
        st.one_of(NEGATIVE.map(lambda v: [v]), st.just([]), st.just([1, 1]), st.floats(), st.booleans()),
        "seeds",
    ),
    (
        (),
        "seeds",
        st.one_of(st.text("abc -,", max_size=3), st.lists(st.text(max_size=2), min_size=1, max_size=2)),
        "seeds",
    ),
    ((), "threads", st.one_of(NEGATIVE, NOT_AN_INT), "threads"),
    (
        (),
        "engine",
        st.one_of(st.text(max_size=6), JUNK).filter(lambda v: v not in ("auto", "torch", "sklearn")),
        "engine",
    ),
    ((), "dtype", st.one_of(st.text(max_size=6), JUNK).filter(lambda v: v not in ("float32", "float64")), "dtype"),
    ((), "stream", st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), "stream"),
    ((), "model", st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), "model"),
    ((), "optimizer", st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), "optimizer"),
    ((), "schedules", st.one_of(st.integers(), st.text(max_size=3), st.just({"name": "sequential"})), "schedules"),
    ((), "schedules", st.lists(st.one_of(st.integers(), st.text(max_size=2)), min_size=1, max_size=2), "schedules"),
    ((), "grid", st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)), "grid"),
    ((), "evaluation", st.one_of(st.integers(), st.text(max_size=3)), "evaluation"),
    (("evaluation",), "every", st.one_of(NEGATIVE, NOT_AN_INT), "record_every"),
    (("stream",), "kind", JUNK.filter(lambda v: v != "seasons"), "kind"),
    (("stream",), "names", st.one_of(st.integers(), st.lists(st.text(max_size=4), min_size=1, max_size=2)), "seasons"),
    (("stream",), "test_size", st.one_of(st.floats(1.0, 1e9), st.floats(-1e9, 0.0), st.text(max_size=2)), "test_size"),
    (("stream",), "normalise", st.text(max_size=5).filter(lambda v: v not in ("stream", "first", "none")), "normalise"),
    (("model",), "class", JUNK.filter(lambda v: v != "MLPRegressor"), "class"),
    (
        ("model",),
        "hidden_layer_sizes",
        st.one_of(st.just([0]), st.just([-3]), st.text(min_size=1, max_size=3)),
        "hidden",
    ),
    (("model",), "alpha", st.one_of(st.floats(-1e9, -1e-9), st.text(max_size=2)), "alpha"),
    (("model",), "activation", st.text(max_size=5).filter(lambda v: v not in ACTIVATIONS), "activation"),
    (("model",), "random_state", st.integers(), "random_state"),
    (("optimizer",), "name", st.text(max_size=5).filter(lambda v: v not in ("lbfgs", "adam", "sgd")), "solver"),
    (("optimizer",), "max_iter", st.one_of(NEGATIVE, st.text(max_size=2)), "max_iter"),
    (("optimizer",), "tol", st.one_of(st.floats(-1e9, -1e-9), st.text(min_size=1, max_size=2)), "tol"),
    (
        ("schedules", 0),
        "epochs_per_task",
        st.one_of(st.just([1]), st.just([0, 1]), st.just([1, 2, 3]), JUNK.filter(lambda v: not _two_counts(v))),
        "epochs",
    ),
    (("schedules", 1), "k", st.one_of(NEGATIVE, st.integers(69, 2**60), NOT_AN_INT), "'k'"),
    (("schedules", 1), "n_epochs", st.one_of(NEGATIVE, NOT_AN_INT), "n_epochs"),
    (("schedules", 1), "name", JUNK.filter(lambda v: v not in ("interspersed", "alternating")), "schedules"),
]
UNKNOWN_KEYS = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
UNKNOWN_PLACES = [(), ("stream",), ("model",), ("optimizer",), ("schedules", 1), ("evaluation",)]
REQUIRED = [((), "seeds"), ((), "stream"), ((), "model"), ((), "schedules"), (("stream",), "kind")]
REQUIRED += [(("model",), "class"), (("schedules", 0), "name")]
GRIDS = [
    ({"schedules.interspersed.k": list(range(1, 1500)), "model.alpha": [x / 10 for x in range(1, 900)]}, "grid"),
    ({"schedules.interspersed.k": [5, 500]}, "'k'"),
    ({"schedules.interspersed.nope": [1]}, "nope"),
    ({"schedules.nothing.k": [1]}, "nothing"),
    ({"model.alpha": [0.1, -0.1]}, "alpha"),
    ({"model.alpha": []}, "model.alpha"),
    ({"model.alpha": [[1], [1]]}, "model.alpha"),
    ({"schedules": [1]}, "schedules"),
    ({"bogus.key": [1]}, "bogus"),
    ({"stream.test_size": [0.5, 7]}, "test_size"),
]


def _at(data: dict, where: tuple) -> dict:
    for step in where:
        data = data.setdefault(step, {}) if isinstance(step, str) else data[step]
    return data


@st.composite
def malformed_configs(draw):
    """The small sweep's config with one thing made wrong, and the word its error must name."""
    data = tomllib.loads(CONFIG)
    del data["grid"]  # the grid would override the item's k
    kind = draw(st.sampled_from(["bad value", "bad value", "bad value", "unknown key", "missing key", "grid"]))
    if kind == "bad value":
        where, key, values, word = draw(st.sampled_from(MUTATIONS))
        _at(data, where)[key] = draw(values)
    elif kind == "unknown key":
        where = draw(st.sampled_from(UNKNOWN_PLACES))
        table = _at(data, where)
        key = draw(UNKNOWN_KEYS.filter(lambda k: k not in table and k not in ALL_KNOWN))
        table[key] = draw(JUNK)
        word = repr(key)
    elif kind == "missing key":
        where, key = draw(st.sampled_from(REQUIRED))
        del _at(data, where)[key]
        word = key
    else:
        data["grid"], word = draw(st.sampled_from(GRIDS))
    return data, word


ALL_KNOWN = (
    {
        *BASE,
        *BASE["stream"],
        *BASE["model"],
        *BASE["optimizer"],
        "every",
        "description",
        "strategies",
        "evaluation",
        "grid",
        "engine",
        "dtype",
        "threads",
    }
    | set(MLPRegressor().get_params())
    | {"names", "A", "B", "phi", "C", "normalise", "split_seed", "test_size", "k"}
)


def test_a_thousand_malformed_configs_each_end_in_one_line_naming_the_field():
    tried = []

    @settings(max_examples=1200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(malformed_configs())
    def check(case):
        data, word = case
        with pytest.raises(InvalidParameterError) as error:
            build_sweep(data)
        message = str(error.value)
        assert "\n" not in message and message.startswith("config: ")
        assert word in message, (word, message)
        tried.append(message)

    check()
    assert len(tried) >= 1000, len(tried)
    print(f"{len(tried)} malformed configs tried, {len(set(tried))} distinct messages")


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(malformed_configs())
def test_the_cli_answers_a_malformed_config_with_one_line_and_exit_2_and_writes_nothing(tmp_path_factory, capsys, case):
    import tomli_w

    data, word = case
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "config.toml"
    path.write_text(tomli_w.dumps(data))
    out = folder / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and word in captured.err
    assert not out.exists()


def test_malformed_toml_is_one_line_with_its_position():
    with pytest.raises(InvalidParameterError, match=r"^config: not valid TOML: .*\(at line 2, column \d+\)\.$"):
        parse_config('seeds = 1\n[stream\nkind = "seasons"')


# --------------------------------------------------------------------------------------
# Faults: nothing written is lost, and --resume completes the sweep exactly.


def _failing_after(monkeypatch, n_parts: int, error: OSError) -> None:
    """Make the store's Parquet writes fail with ``error`` after ``n_parts`` successful files."""
    real = pd.DataFrame.to_parquet
    written = []

    def to_parquet(self, path, *args, **kwargs):
        if Path(path).parent.name == "parts" and len(written) >= n_parts:
            Path(path).write_bytes(b"half a file")  # what a full disk leaves behind
            raise error
        written.append(path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
    ],
)
def test_a_failing_disk_keeps_what_was_written_and_resume_completes_it(
    tmp_path, monkeypatch, sweep, uninterrupted, error, reason
):
    out = tmp_path / "out"
    _failing_after(monkeypatch, 8, error)  # 4 batches: predictions and results each
    with pytest.raises(OutputError, match=f"Cannot write results into .*: {reason}. The finished parts are kept"):
        run_sweep(sweep, out=out, jobs=1, progress=False)
    monkeypatch.undo()
    assert len(part_files(out, "results")) == 4
    assert not list((out / "parts").glob(".*")), "no temporary file left"
    load(out)  # the parts written are whole and readable
    run_sweep(sweep, out=out, resume=True, jobs=1, progress=False)
    assert_same_table(load(out), uninterrupted.scores)


def test_an_unwritable_output_directory_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG)

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)  # as root, chmod does not stop writes: refuse them here
    assert main(["run", str(config), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot be created: Permission denied" in err


# Runs of the tutorial's model (a few seconds each): the first writer is sure to be busy.
SLOW = CONFIG.replace('seeds = "0-4"', 'seeds = "0-7"').replace(
    "hidden_layer_sizes = [8]", "hidden_layer_sizes = [100, 100]"
)
SLOW = SLOW.replace("max_iter = 60", "max_iter = 10000")


def test_two_runs_on_one_directory_at_once_the_second_is_refused(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(SLOW)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "forgetlab.cli", "run", str(config), "--out", str(out), "--jobs", "1"]
    first = subprocess.Popen([*command, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not part_files(out, "results") and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        second = subprocess.run([*command, "--resume", "--no-progress"], capture_output=True, text=True, check=False)
        still_running = first.poll() is None
    finally:
        first.kill()
        first.wait(timeout=60)
    assert still_running, "the first run was still writing when the second started"
    assert second.returncode == 2
    assert second.stderr.count("\n") == 1 and "is in use by another forgetlab run (pid" in second.stderr
    done = load(out)  # what the first wrote is whole, and the second wrote nothing
    assert 1 <= done["run"].nunique() < 24 and not done.duplicated(["run", "epoch", "task", "metric"]).any()


def test_an_interruption_between_the_two_files_of_a_batch_loses_nothing(tmp_path, monkeypatch, sweep, uninterrupted):
    """Stopped in the middle of writing a batch: its predictions are on disk, its results not yet."""
    out = tmp_path / "out"
    real = forgetlab.store.write_atomic
    calls = []

    def write_atomic(path, write):
        calls.append(path)
        if len(calls) == 8:  # the manifest, 3 batches, the 4th's predictions: stop before its results
            real(path, write)
            raise KeyboardInterrupt  # the state a kill at this moment leaves
        return real(path, write)

    monkeypatch.setattr(forgetlab.store, "write_atomic", write_atomic)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out=out, jobs=1, progress=False)
    monkeypatch.undo()
    assert len(part_files(out, "results")) == 3 and len(part_files(out, "predictions")) == 4
    run_sweep(sweep, out=out, resume=True, jobs=1, progress=False)
    assert_same_table(load(out), uninterrupted.scores)
    assert len(load(out, "predictions")) == len(uninterrupted.predictions), "no predictions twice"


# --------------------------------------------------------------------------------------
# Determinism


def test_the_same_config_twice_gives_identical_values(sweep, uninterrupted):
    assert_same_table(run_sweep(sweep, jobs=2, progress=False).scores, uninterrupted.scores)


def test_the_same_continual_experiment_twice_gives_identical_values():
    experiment = Experiment(
        stream=split_digits("class", n_tasks=2),
        estimator=MLPClassifier(hidden_layer_sizes=(16,), solver="adam", batch_size=64),
        schedules=[Sequential(epochs_per_task=(2, 2))],
        strategies=[EWC(), Replay(buffer_size=50)],
        seeds=range(3),
    )
    first = run_experiment(experiment, n_jobs=1, progress=False).scores
    again = run_experiment(experiment, n_jobs=1, progress=False).scores
    assert_same_table(again, first)


# --------------------------------------------------------------------------------------
# Numerical edge cases


def small_regressor(**settings) -> MLPRegressor:
    return MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, **settings)


@pytest.mark.parametrize("engine", ["sklearn", "torch"])
def test_constant_targets_in_a_test_set_give_an_undefined_r2_nan_not_a_crash(engine):
    rng = np.random.RandomState(0)
    x = rng.uniform(size=(20, 2))
    flat = {"x_train": x, "y_train": x.sum(1), "x_test": x[:5], "y_test": np.full(5, 3.0), "name": "flat"}
    stream = from_arrays([(x, x.sum(1), x[:5], x[:5].sum(1)), flat])
    experiment = Experiment(
        stream=stream,
        estimator=small_regressor(),
        schedules=[Sequential(epochs_per_task=(1, 1))],
        seeds=[0, 1],
        engine=engine,
    )
    scores = run_experiment(experiment, n_jobs=1, progress=False).scores
    flat = scores[scores["task"] == "flat"]
    assert flat["value"].isna().all() and not flat["diverged"].any(), "undefined, not diverged"
    assert scores[scores["task"] == "task 0"]["value"].notna().all()
    summary = summarise(scores, metric="r2", by=["task"])
    assert summary.set_index("task").loc["flat", "n_seeds"] == 0


@pytest.mark.parametrize("engine", ["sklearn", "torch"])
def test_a_single_class_task_trains_and_scores(engine):
    rng = np.random.RandomState(0)
    x = rng.uniform(size=(20, 2))
    zeros, ones = np.zeros(20, int), np.ones(20, int)
    stream = from_arrays([(x, zeros, x[:5], zeros[:5]), (x, ones, x[:5], ones[:5])], kind="classification")
    experiment = Experiment(
        stream=stream,
        estimator=MLPClassifier(hidden_layer_sizes=(8,), solver="adam"),
        schedules=[Sequential(epochs_per_task=(1, 1))],
        seeds=[0],
        engine=engine,
    )
    scores = run_experiment(experiment, n_jobs=1, progress=False).scores
    accuracy = scores[scores["metric"] == "accuracy"]
    assert set(accuracy["task"]) == {"task 0", "task 1"} and len(accuracy) == 2 * 2
    assert accuracy["value"].between(0, 1).all() and not scores["diverged"].any()


def test_an_exploding_learning_rate_flags_its_runs_and_leaves_the_others_untouched():
    def experiment(seeds):
        return Experiment(
            stream=seasons(),
            estimator=MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=2.0),
            schedules=[Sequential(epochs_per_task=(3, 3))],
            seeds=seeds,
            engine="torch",
        )

    batch = run_experiment(experiment(range(8)), n_jobs=1, progress=False).scores
    diverged = batch.groupby("seed")["diverged"].first()
    assert diverged[[0, 1]].all() and not diverged[2:].any()
    assert batch[batch["diverged"]].groupby("seed")["value"].apply(lambda v: v.isna().any()).all()
    alone = run_experiment(experiment(range(2, 8)), n_jobs=1, progress=False).scores
    kept = batch[~batch["diverged"]].drop(columns="run").reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, alone.drop(columns="run"), check_exact=True)


def test_inputs_beyond_float32_are_refused_for_float32_and_train_in_float64():
    rng = np.random.RandomState(0)
    x = rng.uniform(size=(20, 1)) * 1e39
    stream = from_arrays([{"x_train": x, "y_train": x[:, 0] / 1e39, "x_test": x[:5], "y_test": x[:5, 0] / 1e39}])
    settings = dict(stream=stream, estimator=small_regressor(), schedules=[Sequential(epochs_per_task=(1,))], seeds=[0])
    with pytest.raises(InvalidParameterError, match=r"The 'dtype' parameter must be float64 for values beyond float32"):
        Experiment(**settings, engine="torch")
    scores = run_experiment(Experiment(**settings, engine="torch", dtype="float64"), n_jobs=1, progress=False).scores
    assert len(scores) == 1, "float64 trains; whether the optimiser copes with 1e39 is the data's business"
    assert scores["value"].notna().all() or scores["diverged"].all(), "a non-finite score is flagged"


# --------------------------------------------------------------------------------------
# Untrusted files: configs and results are data, never code.

UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_ATTRIBUTES = {
    ("pickle", "load"),
    ("pickle", "loads"),
    ("cloudpickle", "loads"),
    ("yaml", "load"),
    ("marshal", "loads"),
}


def test_no_module_evaluates_or_unpickles_what_a_user_hands_in():
    """No eval/exec, no pickle or yaml loading anywhere in forgetlab except the Dask transport of its own tasks."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            function = node.func
            if isinstance(function, ast.Name) and function.id in UNSAFE_CALLS:
                found.append(f"{path.name}:{node.lineno} {function.id}")
            name = (getattr(function.value, "id", None), function.attr) if isinstance(function, ast.Attribute) else None
            if name in UNSAFE_ATTRIBUTES:
                found.append(f"{path.name}:{node.lineno} {name[0]}.{name[1]}")
    assert all(entry.startswith("executors.py:") for entry in found), found
