"""Config files: the examples describe the experiments they claim, grids expand, bad configs are one line."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.neural_network import MLPClassifier

from forgetlab import Experiment, InvalidParameterError
from forgetlab.api import tutorial_experiment
from forgetlab.cli import main
from forgetlab.config import MAX_RUNS, build_sweep, load_config, parse_config
from forgetlab.schedules import Sequential
from forgetlab.strategies import AGEM, EWC, SI, Cumulative, Joint, LwF, Naive, OnlineEWC, Replay
from forgetlab.tasks import rotated_digits, seasons, split_digits

EXAMPLES = Path(__file__).parents[1] / "examples"

SMALL = """
seeds = [0, 1]
[stream]
kind = "seasons"
[model]
class = "MLPRegressor"
hidden_layer_sizes = [8]
[optimizer]
name = "lbfgs"
max_iter = 50
[[schedules]]
name = "sequential"
epochs_per_task = [1, 1]
[[schedules]]
name = "interspersed"
k = 5
n_epochs = 2
"""


def small(**sections: str) -> str:
    """The small config with extra TOML appended (e.g. a [grid] table)."""
    return SMALL + "".join(sections.values())


def test_the_tutorial_example_is_the_tutorial_experiment():
    sweep = load_config(EXAMPLES / "tutorial.toml")
    assert sweep.fingerprint() == tutorial_experiment(seeds=[42], engine="sklearn").fingerprint()
    assert sweep.manifest() == tutorial_experiment(seeds=[42], engine="sklearn").manifest()


BENCHMARK_STRATEGIES = [
    Naive(),
    EWC(),
    OnlineEWC(),
    SI(),
    LwF(),
    AGEM(),
    Replay(buffer_size=200),
    Replay(buffer_size=200, buffer="class_balanced"),
    Cumulative(),
    Joint(),
]


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("strategies-split-digits", lambda scenario: split_digits(scenario)),
        ("strategies-rotated-digits", lambda _: rotated_digits(scenario="task")),
    ],
)
def test_the_strategies_examples_are_the_benchmark_settings(name, stream):
    """benchmarks/strategies.py: MLP 64-100-10, Adam 1e-3, minibatches of 128, 30 epochs per task, 16 seeds."""
    sweep = load_config(EXAMPLES / f"{name}.toml")
    for variant in sweep.variants:
        scenario = variant.settings.get("stream.scenario", "task")
        expected = Experiment(
            stream=stream(scenario),
            estimator=MLPClassifier(hidden_layer_sizes=(100,), solver="adam", learning_rate_init=1e-3, batch_size=128),
            schedules=[Sequential(epochs_per_task=(30,) * 5)],
            strategies=BENCHMARK_STRATEGIES,
            seeds=range(16),
        )
        assert variant.experiment.manifest() == expected.manifest()
    assert [v.name for v in sweep.variants] == (
        ["stream.scenario=class", "stream.scenario=task", "stream.scenario=domain"] if "split" in name else [""]
    )


def test_the_seasons_strategies_example_is_the_benchmark_setting():
    (variant,) = load_config(EXAMPLES / "strategies-seasons.toml").variants
    from sklearn.neural_network import MLPRegressor

    expected = Experiment(
        stream=seasons(["winter", "spring", "summer", "autumn"]),
        estimator=MLPRegressor(hidden_layer_sizes=(100, 100), solver="adam", learning_rate_init=1e-2, batch_size=32),
        schedules=[Sequential(epochs_per_task=(100,) * 4)],
        strategies=[s for s in BENCHMARK_STRATEGIES if getattr(s, "buffer", None) != "class_balanced"],
        seeds=range(16),
    )
    assert variant.experiment.manifest() == expected.manifest()


def test_every_example_loads():
    for path in sorted(EXAMPLES.glob("*.toml")):
        assert load_config(path).n_runs > 0, path.name


def test_a_grid_over_an_item_labels_the_items_and_a_grid_over_the_model_makes_variants():
    sweep = parse_config(small(grid='[grid]\n"schedules.interspersed.k" = [5, 10]\n"model.alpha" = [0.001, 0.1]\n'))
    assert [v.name for v in sweep.variants] == ["model.alpha=0.001", "model.alpha=0.1"]
    assert [v.settings for v in sweep.variants] == [{"model.alpha": 0.001}, {"model.alpha": 0.1}]
    experiment = sweep.variants[1].experiment
    assert experiment.estimator.alpha == 0.1
    assert experiment.schedule_labels == ["sequential", "interspersed(k=5)", "interspersed(k=10)"]
    assert sweep.n_runs == 2 * 3 * 2  # variants x schedules x seeds
    manifest = sweep.manifest()
    assert [v["name"] for v in manifest["variants"]] == ["model.alpha=0.001", "model.alpha=0.1"]


def test_items_that_share_a_name_are_addressed_by_position():
    config = small(more='[[schedules]]\nname = "interspersed"\nk = 3\nn_epochs = 4\n')
    with pytest.raises(InvalidParameterError, match=r"2 schedules are named 'interspersed'; name one by position"):
        parse_config(config + '[grid]\n"schedules.interspersed.k" = [2, 4]\n')
    sweep = parse_config(config + '[grid]\n"schedules.2.n_epochs" = [1, 2]\n')
    assert sweep.variants[0].experiment.schedule_labels == [
        "sequential",
        "interspersed(k=5, n_epochs=2)",
        "interspersed(k=3, n_epochs=1)",
        "interspersed(k=3, n_epochs=2)",
    ]


def test_seeds_accept_an_int_a_list_and_a_range():
    for text, seeds in (("7", (7,)), ("[3, 1]", (3, 1)), ('"0-2,5"', (0, 1, 2, 5))):
        config = SMALL.replace("seeds = [0, 1]", f"seeds = {text}")
        assert parse_config(config).variants[0].experiment.seeds == seeds


def test_evaluation_every_keeps_fewer_epochs():
    sweep = parse_config(small(evaluation="[evaluation]\nevery = 2\n"))
    assert sweep.variants[0].experiment.record_every == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("seeds = [0, 1]", "seeds = [0, 1"), "config: not valid TOML: "),
        (("seeds = [0, 1]", "seed = [0, 1]"), "config: unknown key 'seed' (did you mean 'seeds'?); allowed: "),
        (("seeds = [0, 1]", ""), "config: missing key 'seeds' (required: seeds, stream, model, schedules)"),
        (("seeds = [0, 1]", "seeds = [0, 0]"), "config: seeds: The 'seeds' parameter must be a non-empty list"),
        (("seeds = [0, 1]", 'seeds = "ten"'), "config: seeds: The 'seeds' parameter must be seeds like 42"),
        (
            ("seeds = [0, 1]", "seeds = [0, 1]\nthreads = 'two'"),
            "config: threads: The 'threads' parameter must be an int >= 1; got 'two'.",
        ),
        (
            ("seeds = [0, 1]", "seeds = [0, 1]\nengine = 'jax'"),
            "config: engine: The 'engine' parameter must be one of auto",
        ),
        (('kind = "seasons"', 'kind = "season"'), "config: stream.kind: must be one of seasons, split_digits,"),
        (('kind = "seasons"', 'kind = "seasons"\nname = ["summer"]'), "config: stream (seasons): unknown key 'name'"),
        (('kind = "seasons"', 'kind = "seasons"\nnames = ["summer", "july"]'), "'seasons' parameter must be a list"),
        (('class = "MLPRegressor"', 'class = "MLP"'), "config: model.class: must be one of MLPRegressor"),
        (("hidden_layer_sizes = [8]", "hiden_layer_sizes = [8]"), "did you mean 'hidden_layer_sizes'?"),
        (
            ("hidden_layer_sizes = [8]", "alpha = -1.0"),
            "config: model: The 'alpha' parameter of MLPRegressor must be a number >= 0; got -1.0.",
        ),
        (("hidden_layer_sizes = [8]", "random_state = 3"), "config: model.random_state: is set by each run's seed"),
        (('name = "lbfgs"', 'name = "lbfgs"\nlearning_rate_int = 0.1'), "did you mean 'learning_rate_init'?"),
        (('name = "lbfgs"', 'name = "newton"'), "config: model: The 'solver' parameter of MLPRegressor must be one"),
        (("k = 5", "k = 80"), "config: schedules[1]: The 'k' parameter of Interspersed (at most the training set"),
        (("k = 5", "k = 'five'"), "config: schedules[1]: The 'k' parameter of Interspersed"),
        (("k = 5", "kk = 5"), "config: schedules[1]: The 'kk' parameter of Interspersed must be one of its settings"),
        (('name = "sequential"', 'name = "blocked"'), "config: schedules[0]: The 'schedules' parameter must be a list"),
        (("epochs_per_task = [1, 1]", "epochs_per_task = [1]"), "'epochs_per_task' parameter of Sequential"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(change, message):
    old, new = change
    assert old in SMALL
    with pytest.raises(InvalidParameterError) as error:
        parse_config(SMALL.replace(old, new, 1))
    text = str(error.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ('"schedules.interspersed.k" = [5, 80]', "config: schedules[1] with k=80: The 'k' parameter of Interspersed"),
        ('"schedules.interspersed.kk" = [5]', "interspersed has no setting 'kk' (did you mean 'k'?)"),
        ('"schedules.blocked.k" = [5]', "grid.'schedules.blocked.k': names no item of [[schedules]]"),
        ('"schedules.interspersed" = [5]', "a schedules key is schedules.NAME.SETTING"),
        ('"modle.alpha" = [0.1]', "must start with one of schedules, strategies, stream, model, optimizer"),
        ('"model.alpha" = []', "must be a non-empty array of values; got []"),
        ('"model.alpha" = [0.1, 0.1]', "must be an array of distinct values"),
        ('"model.alpha" = 0.1', "must be a non-empty array of values; got 0.1"),
        (
            '"model.alpha" = [0.1, -1.0]',
            "config: grid point model.alpha=-1.0: The 'alpha' parameter of MLPRegressor must be a number >= 0",
        ),
        ('"model.aplha" = [0.1]', "did you mean 'alpha'?"),
        ('"stream.names" = [["summer", "autumn"], ["summer", "july"]]', "'seasons' parameter must be a list"),
    ],
)
def test_an_impossible_grid_is_one_line_naming_the_key(grid, message):
    with pytest.raises(InvalidParameterError) as error:
        parse_config(small(grid=f"[grid]\n{grid}\n"))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "[evaluation]\nevery = 0\n",
            "config: evaluation.every: The 'record_every' parameter must be an int >= 1; got 0.",
        ),
        ('[grid]\n"threads" = [1, 0]\n', "config: grid point threads=0: The 'threads' parameter must be an int >= 1"),
        ('[grid]\n"model.alpha" = [0.1, 0.2]\n', "config: seeds: The 'seeds' parameter must be a non-empty list"),
        ('[grid]\n"optimizer.max_iter" = [5, -5]\n', "config: grid point optimizer.max_iter=-5: The 'max_iter'"),
        ('[[schedules]]\nname = "interspersed"\nk = 500\n', "config: schedules[2]: The 'k' parameter of Interspersed"),
        (
            '[[strategies]]\nname = "naive"\n[[strategies]]\nname = "replay"\nbuffer_size = 10000\n',
            "config: strategies[1]: The 'buffer_size' parameter of Replay must be at most the stream's 137",
        ),
    ],
)
def test_a_value_the_constructors_refuse_is_named_by_its_config_key(extra, message):
    """Values are checked once, by the constructors; the config names the key or the item they came from."""
    config = small(extra=extra)
    if "seeds" in message:
        config = config.replace("seeds = [0, 1]", "seeds = [3, 3]")
    with pytest.raises(InvalidParameterError) as error:
        parse_config(config)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_the_config_leaves_values_to_the_constructors_which_check_each_once_per_grid_point(monkeypatch):
    """config.py checks no value itself; Experiment checks each schedule and strategy once, Model the model.

    (The engines may check again what they are given: that is theirs, not the config's.)
    """
    import sys

    from forgetlab import models
    from forgetlab.schedules import Schedule
    from forgetlab.strategies import Strategy

    calls = []

    def counted(function, name):
        def wrapper(*args, **kwargs):
            caller = sys._getframe(1)
            while caller.f_code.co_name == "validate" and "schedules.py" in caller.f_code.co_filename:
                caller = caller.f_back  # a subclass's validate ending in its base's
            calls.append((caller.f_globals["__name__"], name(args[0])))
            return function(*args, **kwargs)

        return wrapper

    for owner in (Schedule, Strategy):
        monkeypatch.setattr(owner, "validate", counted(owner.validate, lambda item: type(item).__name__))
    monkeypatch.setattr(models, "validate", counted(models.validate, lambda owner: owner))
    config = small(strategies='[[strategies]]\nname = "ewc"\n[grid]\n"model.alpha" = [0.1, 0.2]\n')
    parse_config(config.replace('name = "lbfgs"', 'name = "adam"'))
    assert not [name for module, name in calls if module == "forgetlab.config"]
    checked = sorted(name for module, name in calls if module in ("forgetlab.experiment", "forgetlab.models"))
    assert checked == sorted(["MLPRegressor", "Sequential", "Interspersed", "EWC"] * 2)


def test_a_huge_grid_is_refused_before_anything_is_built():
    values = ", ".join(str(v) for v in range(1, 1001))
    grid = f'[grid]\n"model.alpha" = [{values}]\n"model.tol" = [{values}]\n'
    with pytest.raises(InvalidParameterError, match=f"describes 4,000,000 runs; at most {MAX_RUNS:,}"):
        parse_config(small(grid=grid))


def test_the_cli_refuses_a_bad_config_with_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(SMALL.replace("k = 5", "k = 80"))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"forgetlab: error: {path}: schedules[1]: The 'k' parameter")
    assert captured.out == ""
    assert not out.exists()
    assert main(["run", str(tmp_path / "missing.toml"), "--no-progress"]) == 2
    assert "Cannot read the config" in capsys.readouterr().err


# Values a fuzzer puts where a setting goes: every kind TOML can hold, and a few out of range.
VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=5),
    st.lists(st.integers(-3, 100), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
KEYS = st.sampled_from(
    ["seeds", "engine", "dtype", "threads", "stream", "model", "optimizer", "schedules", "strategies", "grid", "x"]
)


def config_data() -> dict:
    import tomllib

    return tomllib.loads(SMALL)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(["top", "stream", "model", "optimizer", "schedule"]), KEYS, VALUES), max_size=3)
)
def test_any_malformed_config_is_an_invalid_parameter_error_or_a_sweep(changes):
    """Whatever a config's keys hold, loading it ends in a Sweep or in forgetlab's one-line error."""
    data = config_data()
    for where, key, value in changes:
        schedules = data.get("schedules")
        target = {
            "top": data,
            "stream": data.get("stream"),
            "model": data.get("model"),
            "optimizer": data.get("optimizer"),
            "schedule": schedules[-1] if isinstance(schedules, list) and schedules else None,
        }[where]
        if isinstance(target, dict):
            target[key] = value
    try:
        build_sweep(data)
    except InvalidParameterError as error:
        assert "\n" not in str(error)
        assert str(error).startswith("config: ")
