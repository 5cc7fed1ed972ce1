"""MNIST-1D: the paper's data from its generator, the split and permuted streams, configs, bad settings, accuracy."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier

from forgetlab import Experiment, InvalidParameterError, load_config, run_experiment
from forgetlab.config import parse_config
from forgetlab.schedules import Sequential
from forgetlab.strategies import DERPP, ERACE, Joint, Naive, Replay
from forgetlab.tasks import (
    MNIST1D_TEMPLATES,
    make_mnist1d,
    mnist1d_permutations,
    mnist1d_templates,
    permuted_mnist1d,
    split_mnist1d,
)

EXAMPLES = Path(__file__).parents[1] / "examples"

# ---- the dataset -------------------------------------------------------------------------------

#: From the paper's published data (github.com/greydanus/mnist1d, mnist1d_data.pkl, made with
#: seed 42 and the default settings): the first 8 steps of the first training signal and of the
#: last test signal, the sums of |x| over each set, the first 20 training labels, the class counts.
PAPER_FIRST_TRAIN = [-0.3320056673693902, -0.4719103656557236, -0.778697076293495, -1.0097408265367047,
                     -0.8823525654053074, 0.10393481264623418, 1.643284346437359, 1.6525071095153063]  # fmt: skip
PAPER_LAST_TEST = [-0.5193287078205188, -0.6987227646777667, -1.2810376906623184, -2.1610148481983207,
                   -2.3894211342504774, -0.24233900288813326, -0.14567826261303007, -0.04104002875460335]  # fmt: skip
PAPER_ABS_SUMS = (118338.29510719894, 29977.877540866408)
PAPER_FIRST_LABELS = [2, 6, 4, 5, 6, 6, 6, 0, 3, 1, 6, 9, 4, 3, 4, 5, 1, 9, 0, 3]
PAPER_TRAIN_COUNTS = [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]
PAPER_TEST_COUNTS = [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]


def test_the_default_dataset_is_the_papers():
    """Equal to the paper's pickle within 1e-12 (measured: 8.9e-16 at most, the labels exactly).

    Also bit for bit equal to ``make_dataset(get_dataset_args())`` of the mnist1d package
    0.0.2.post1 (not a dependency), checked by hand on 2026-12-07 with NumPy 2.4.6, SciPy 1.17.1.
    """
    x_train, y_train, x_test, y_test = make_mnist1d()
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x_train.dtype == np.float64 and y_train.dtype == y_test.dtype == np.int64
    np.testing.assert_allclose(x_train[0, :8], PAPER_FIRST_TRAIN, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x_test[-1, :8], PAPER_LAST_TEST, rtol=0, atol=1e-12)
    assert (np.abs(x_train).sum(), np.abs(x_test).sum()) == pytest.approx(PAPER_ABS_SUMS, rel=1e-12)
    assert y_train[:20].tolist() == PAPER_FIRST_LABELS
    assert np.bincount(y_train).tolist() == PAPER_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == PAPER_TEST_COUNTS


def test_the_whole_set_is_standardised_and_the_templates_start_at_zero():
    x_train, _, x_test, _ = make_mnist1d()
    both = np.concatenate([x_train, x_test])
    assert abs(both.mean()) < 1e-12 and both.std() == pytest.approx(1.0, abs=1e-12)
    templates = mnist1d_templates()
    assert templates.shape == MNIST1D_TEMPLATES.shape == (10, 12)
    np.testing.assert_array_equal(templates[:, 0], 0.0)
    np.testing.assert_allclose(templates.std(axis=1), 1 / 6)
    assert not MNIST1D_TEMPLATES.flags.writeable


def test_the_generator_is_deterministic_private_and_returns_copies():
    state = np.random.get_state()
    first = make_mnist1d(300, seed=7)
    assert np.random.get_state()[1].tolist() == state[1].tolist()  # the global RNG is not touched
    first[0][:] = 0.0  # a copy: the cached arrays are not changed
    again = make_mnist1d(300, seed=7)
    other = make_mnist1d(300, seed=8)
    assert not np.all(again[0] == 0.0)
    assert not np.array_equal(again[0], other[0])
    from forgetlab.tasks.mnist1d import _mnist1d

    _mnist1d.cache_clear()  # built afresh, the same numbers
    for cached, fresh in zip(again, make_mnist1d(300, seed=7), strict=True):
        np.testing.assert_array_equal(cached, fresh)


@pytest.mark.parametrize(("n_samples", "n_train", "n_test"), [(5000, 4000, 1000), (1000, 800, 200), (1237, 984, 246)])
def test_sizes_follow_n_samples(n_samples, n_train, n_test):
    """``n_samples // 10`` per class, the first 80% of them for training."""
    x_train, y_train, x_test, _ = make_mnist1d(n_samples)
    assert (len(x_train), len(y_train), len(x_test)) == (n_train, n_train, n_test)


# ---- the streams -------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["task", "domain", "class"])
def test_split_mnist1d_is_the_datasets_own_split_in_pairs(scenario):
    x_train, y_train, x_test, y_test = make_mnist1d()
    stream = split_mnist1d(scenario)
    assert stream.kind == "classification" and stream.scenario == scenario
    assert stream.task_names == ("mnist1d 0-1", "mnist1d 2-3", "mnist1d 4-5", "mnist1d 6-7", "mnist1d 8-9")
    assert stream.n_classes == (2 if scenario == "domain" else 10)
    assert sum(stream.train_sizes) == 4000 and sum(task.n_test for task in stream.tasks) == 1000
    for t, task in enumerate(stream.tasks):
        pair = (2 * t, 2 * t + 1)
        offset = 2 * t if scenario == "domain" else 0
        assert task.classes == ((0, 1) if scenario == "domain" else pair)
        for x, y, x_all, y_all in (
            (task.x_train, task.y_train, x_train, y_train),
            (task.x_test, task.y_test, x_test, y_test),
        ):
            keep = np.isin(y_all, pair)
            np.testing.assert_array_equal(x, x_all[keep])
            np.testing.assert_array_equal(y + offset, y_all[keep])
            assert set(y.tolist()) == set(task.classes)
    expected_active = {"task": (4, 5), "domain": (0, 1), "class": (0, 1, 2, 3, 4, 5)}[scenario]
    assert stream.active_classes(2) == expected_active


@pytest.mark.parametrize("scenario", ["task", "domain", "class"])
def test_permuted_mnist1d_permutes_the_time_steps_of_the_same_signals(scenario):
    x_train, y_train, x_test, y_test = make_mnist1d()
    stream = permuted_mnist1d(4, scenario=scenario, seed=3)
    perms = mnist1d_permutations(4, seed=3)
    assert stream.task_names == tuple(f"permuted mnist1d {t}" for t in range(4))
    assert stream.n_classes == (10 if scenario == "domain" else 40)
    np.testing.assert_array_equal(stream.tasks[0].x_train, x_train)  # the identity first
    for t, task in enumerate(stream.tasks):
        offset = 0 if scenario == "domain" else 10 * t
        np.testing.assert_array_equal(task.x_train, x_train[:, perms[t]])
        np.testing.assert_array_equal(task.x_test, x_test[:, perms[t]])
        np.testing.assert_array_equal(task.y_train, y_train + offset)
        np.testing.assert_array_equal(task.y_test, y_test + offset)
        assert task.classes == tuple(range(offset, offset + 10))
    assert len({p.tobytes() for p in perms}) == 4
    active = {"task": tuple(range(10, 20)), "domain": tuple(range(10)), "class": tuple(range(20))}
    assert stream.active_classes(1) == active[scenario]


def test_permutations_extend_and_depend_on_the_seed():
    np.testing.assert_array_equal(mnist1d_permutations(5, seed=1)[:3], mnist1d_permutations(3, seed=1))
    assert not np.array_equal(mnist1d_permutations(2, seed=1), mnist1d_permutations(2, seed=2))
    for perm in mnist1d_permutations(6, seed=0):
        assert sorted(perm.tolist()) == list(range(40))


def test_streams_are_deterministic_and_describe_themselves():
    a, b = (
        split_mnist1d("task", n_tasks=3, n_samples=2000, data_seed=5),
        split_mnist1d("task", 3, n_samples=2000, data_seed=5),
    )
    for task_a, task_b in zip(a.tasks, b.tasks, strict=True):
        np.testing.assert_array_equal(task_a.x_train, task_b.x_train)
        np.testing.assert_array_equal(task_a.y_test, task_b.y_test)
    assert a.description == {
        "kind": "split_mnist1d",
        "n_tasks": 3,
        "pairs": [[0, 1], [2, 3], [4, 5]],
        "n_samples": 2000,
        "data_seed": 5,
        "scenario": "task",
    }
    assert permuted_mnist1d(2).description == {
        "kind": "permuted_mnist1d",
        "n_tasks": 2,
        "seed": 0,
        "n_samples": 5000,
        "data_seed": 42,
        "scenario": "domain",
    }


# ---- bad settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "kwargs", "field"),
    [
        (split_mnist1d, {"scenario": "online"}, "'scenario' parameter of split_mnist1d"),
        (split_mnist1d, {"n_tasks": 6}, "'n_tasks' parameter of split_mnist1d must be an int in \\[1, 5\\]"),
        (split_mnist1d, {"n_tasks": 0}, "'n_tasks'"),
        (split_mnist1d, {"n_samples": 9}, "'n_samples' parameter of split_mnist1d must be an int in \\[10, 1000000\\]"),
        (split_mnist1d, {"n_samples": 2500.0}, "'n_samples'"),
        (split_mnist1d, {"n_samples": 20}, "'n_samples' parameter of split_mnist1d must be large enough"),
        (split_mnist1d, {"data_seed": -1}, "'data_seed'"),
        (permuted_mnist1d, {"n_tasks": 0}, "'n_tasks' parameter of permuted_mnist1d"),
        (permuted_mnist1d, {"scenario": "Class"}, "'scenario'"),
        (permuted_mnist1d, {"seed": 2**32}, "'seed'"),
        (permuted_mnist1d, {"n_samples": 10**7}, "'n_samples'"),
        (permuted_mnist1d, {"data_seed": "42"}, "'data_seed'"),
        (make_mnist1d, {"n_samples": True}, "'n_samples' parameter of make_mnist1d"),
        (make_mnist1d, {"seed": 1.5}, "'seed' parameter of make_mnist1d"),
        (mnist1d_permutations, {"n_tasks": 0, "seed": 0}, "'n_tasks' parameter of mnist1d_permutations"),
    ],
)
def test_bad_settings_are_one_line_naming_the_field(function, kwargs, field):
    with pytest.raises(InvalidParameterError, match=field) as error:
        function(**kwargs)
    assert "\n" not in str(error.value)


# ---- configs -----------------------------------------------------------------------------------

CONFIG = """
seeds = [0, 1]
[stream]
{stream}
[model]
class = "MLPClassifier"
hidden_layer_sizes = [16]
[optimizer]
name = "adam"
batch_size = 64
[[schedules]]
name = "sequential"
epochs_per_task = [1, 1]
[[strategies]]
name = "naive"
"""


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ('kind = "split_mnist1d"\nscenario = "task"\nn_tasks = 2', split_mnist1d("task", n_tasks=2)),
        ('kind = "permuted_mnist1d"\nn_tasks = 2\nseed = 4', permuted_mnist1d(2, seed=4)),
    ],
)
def test_configs_name_the_streams(stream, expected):
    (variant,) = parse_config(CONFIG.format(stream=stream)).variants
    built = variant.experiment.stream
    assert built.description == expected.description and built.task_names == expected.task_names
    np.testing.assert_array_equal(built.tasks[1].x_train, expected.tasks[1].x_train)


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ('kind = "split_mnist"', "stream.kind: must be one of .* \\(did you mean 'split_mnist1d'\\?\\)"),
        ('kind = "split_mnist1d"\nn_task = 2', "unknown key 'n_task' \\(did you mean 'n_tasks'\\?\\)"),
        ('kind = "split_mnist1d"\nscenario = "online"', "config: stream \\(split_mnist1d\\): The 'scenario' parameter"),
        ('kind = "permuted_mnist1d"\nn_samples = 5', "The 'n_samples' parameter of permuted_mnist1d"),
    ],
)
def test_bad_stream_settings_in_a_config_are_one_line(stream, message):
    with pytest.raises(InvalidParameterError, match=message) as error:
        parse_config(CONFIG.format(stream=stream))
    assert "\n" not in str(error.value)


# ---- training: joint, naive and replay over seeds (slow) ---------------------------------------

#: The protocol of the slow tests below and of examples/split-mnist1d.toml.
SEEDS = range(4)
EPOCHS_PER_TASK = 10
MODEL = MLPClassifier(hidden_layer_sizes=(100, 100), solver="adam", learning_rate_init=1e-3, batch_size=32)


def protocol_experiment(strategies, seeds=SEEDS) -> Experiment:
    """Class-IL split MNIST-1D: MLP 40-100-100-10 (ReLU), Adam 1e-3, minibatches of 32, 10 epochs per task."""
    return Experiment(
        stream=split_mnist1d("class"),
        estimator=MODEL,
        schedules=[Sequential(epochs_per_task=(EPOCHS_PER_TASK,) * 5)],
        strategies=strategies,
        seeds=seeds,
    )


def test_the_example_is_the_protocol_with_more_strategies_and_seeds():
    (variant,) = load_config(EXAMPLES / "split-mnist1d.toml").variants
    expected = protocol_experiment(
        [Naive(), Replay(buffer_size=500), DERPP(buffer_size=500), ERACE(buffer_size=500), Joint()], seeds=range(16)
    )
    assert variant.experiment.manifest() == expected.manifest()


@pytest.fixture(scope="module")
def trained():
    """Each task's final accuracy, per strategy, seed and task, of :func:`protocol_experiment`, trained once.

    ACC below is their mean over the five tasks (computed here, as joint training, one phase
    long, gets no stream metrics).
    """
    results = run_experiment(protocol_experiment([Naive(), Replay(buffer_size=500), Joint()]), n_jobs=1, progress=False)
    scores = results.scores
    last = scores[(scores["task"] != "all") & (scores["epoch"] == scores["epoch"].max())]
    return last.pivot_table(index=["strategy", "seed"], columns="task", values="value")


def acc(final, strategy: str) -> np.ndarray:
    """ACC per seed: the mean of the tasks' final accuracies."""
    return final.loc[strategy].mean(axis=1).to_numpy()


@pytest.mark.slow
def test_joint_training_is_near_the_papers_mlp(trained):
    """Theirs: 68% test accuracy for their MLP (40-100-100-10 with a residual connection, Adam
    1e-2, minibatches of 100, 6000 steps: the table of the paper and of the README of
    github.com/greydanus/mnist1d). Ours, joint training on the protocol (50 epochs of all 4000
    signals, 6250 steps), seeds 0-3, ACC (the mean of the five tasks' accuracies, 10-way):
    0.632, 0.631, 0.632, 0.660, mean 0.639 (Intel Xeon AVX-512, 2 cores, 2026-12-07)."""
    assert abs(acc(trained, "joint").mean() - 0.68) <= 0.08, acc(trained, "joint")


@pytest.mark.slow
def test_class_incremental_naive_keeps_only_the_last_task(trained):
    """Seeds 0-3: naive ACC 0.151, 0.152, 0.157, 0.159 (mean 0.155; joint / 5 = 0.128): the four
    earlier pairs at 0.000 in every seed, the last pair 0.774 on average; ACC = last / 5."""
    naive, last = acc(trained, "naive"), trained.loc["naive"]["mnist1d 8-9"].to_numpy()
    assert trained.loc["naive"].drop(columns="mnist1d 8-9").to_numpy().max() <= 0.02
    assert last.min() >= 0.65
    np.testing.assert_allclose(naive, last / 5, atol=0.005)
    assert abs(naive.mean() - acc(trained, "joint").mean() / 5) <= 0.05


@pytest.mark.slow
def test_replay_with_a_memory_of_500_is_far_above_naive(trained):
    """Seeds 0-3: replay (reservoir, 500 signals) ACC 0.405, 0.437, 0.449, 0.420 (mean 0.428)
    against naive's 0.151-0.159; the worst replay seed is 25 points above the best naive one."""
    assert acc(trained, "replay").min() >= acc(trained, "naive").max() + 0.2
