"""The classification and drifting streams, Stream.active_classes, and from_arrays on bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_friedman1
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from forgetlab import InvalidParameterError
from forgetlab.tasks import (
    Stream,
    Task,
    digit_permutations,
    friedman_concept,
    friedman_concepts,
    friedman_drift,
    from_arrays,
    load_digit_images,
    permuted_digits,
    rotate_images,
    rotated_digits,
    seasons,
    split_digits,
)


def labels_of(task):
    return set(np.concatenate([task.y_train, task.y_test]).tolist())


# --- the types ---------------------------------------------------------------------------


def test_regression_streams_keep_their_old_shape():
    stream = seasons()
    assert (stream.kind, stream.n_classes, stream.scenario) == ("regression", None, None)
    assert all(task.classes is None for task in stream.tasks)
    assert stream.active_classes(1) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "ordinal"}, "'kind'"),
        ({"scenario": "class"}, "'scenario'"),
        ({"n_classes": 3}, "'n_classes'"),
        ({"kind": "classification", "scenario": "online", "n_classes": 2}, "'scenario'"),
        ({"kind": "classification", "scenario": "class", "n_classes": 1}, "'n_classes'"),
        ({"kind": "classification", "scenario": "class", "n_classes": 2, "classes": (0, 2)}, "'classes'"),
        ({"kind": "classification", "scenario": "task", "n_classes": 2, "classes": None}, "'classes'"),
        ({"classes": (0, 1)}, "'classes'"),
    ],
)
def test_stream_refuses_inconsistent_kind_scenario_and_classes(kwargs, field):
    classes = kwargs.pop("classes", (0, 1) if kwargs.get("kind") == "classification" else None)
    x, y = np.zeros((4, 1)), np.array([0, 1, 0, 1])
    task = Task(name="a", x_train=x, y_train=y, x_test=x, y_test=y, classes=classes)
    with pytest.raises(InvalidParameterError, match=field):
        Stream(tasks=(task,), name="s", input_offset=np.zeros(1), input_scale=np.ones(1), **kwargs)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("task", [(0, 1), (2, 3), (4, 5)]),
        ("domain", [(0, 1), (0, 1), (0, 1)]),
        ("class", [(0, 1), (0, 1, 2, 3), (0, 1, 2, 3, 4, 5)]),
    ],
)
def test_active_classes_per_scenario(scenario, expected):
    stream = split_digits(scenario, n_tasks=3)
    assert [stream.active_classes(t) for t in range(3)] == expected


def test_active_classes_of_ten_class_blocks():
    task_il, class_il = permuted_digits(3, scenario="task"), permuted_digits(3, scenario="class")
    assert task_il.active_classes(1) == tuple(range(10, 20))
    assert class_il.active_classes(1) == tuple(range(20))
    assert permuted_digits(3).active_classes(2) == tuple(range(10))


@pytest.mark.parametrize("index", [-1, 3, 1.0, True, "0"])
def test_active_classes_refuses_a_bad_index(index):
    with pytest.raises(InvalidParameterError, match="'task_index'"):
        split_digits(n_tasks=3).active_classes(index)


# --- digits --------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["task", "domain", "class"])
def test_split_digits_pairs_labels_and_shapes(scenario):
    stream = split_digits(scenario)
    assert stream.task_names == ("digits 0-1", "digits 2-3", "digits 4-5", "digits 6-7", "digits 8-9")
    assert stream.n_classes == (2 if scenario == "domain" else 10)
    for t, task in enumerate(stream.tasks):
        pair = {2 * t, 2 * t + 1}
        assert labels_of(task) == ({0, 1} if scenario == "domain" else pair)
        assert set(task.classes) == labels_of(task)
        assert task.x_train.shape[1] == task.x_test.shape[1] == 64
        assert task.y_train.dtype == task.y_test.dtype == np.int64
        assert task.x_train.min() >= 0.0 and task.x_train.max() <= 1.0
        assert task.n_test == pytest.approx(0.25 * (task.n_train + task.n_test), abs=1)
    _, labels = load_digit_images()
    assert sum(t.n_train + t.n_test for t in stream.tasks) == len(labels)


def test_split_digits_description_and_denormalisation():
    stream = split_digits("task", n_tasks=2, test_size=0.5, split_seed=3)
    assert stream.description == {
        "kind": "split_digits",
        "n_tasks": 2,
        "pairs": [[0, 1], [2, 3]],
        "scenario": "task",
        "test_size": 0.5,
        "split_seed": 3,
    }
    pixels = stream.denormalise(stream.tasks[0].x_train)
    np.testing.assert_array_equal(pixels, np.round(pixels))
    assert pixels.max() == 16


@pytest.mark.parametrize(
    "stream", [split_digits("class"), permuted_digits(2), rotated_digits((0, 30))], ids=["split", "permuted", "rotated"]
)
def test_stratified_split_keeps_every_class_in_every_test_set(stream):
    for task in stream.tasks:
        assert set(task.y_test.tolist()) == set(task.y_train.tolist()) == set(task.classes)
        train_share = np.bincount(task.y_train) / task.n_train
        test_share = np.bincount(task.y_test) / task.n_test
        np.testing.assert_allclose(train_share, test_share, atol=0.02)


@pytest.mark.parametrize("scenario", ["task", "domain", "class"])
def test_permuted_digits_labels_and_classes(scenario):
    stream = permuted_digits(3, scenario=scenario)
    assert stream.task_names == ("permuted 0", "permuted 1", "permuted 2")
    assert stream.n_classes == (10 if scenario == "domain" else 30)
    for t, task in enumerate(stream.tasks):
        offset = 0 if scenario == "domain" else 10 * t
        assert task.classes == tuple(range(offset, offset + 10))
        assert labels_of(task) == set(task.classes)


def test_permutations_are_seeded_permutations_with_the_identity_first():
    perms = digit_permutations(4, seed=7)
    np.testing.assert_array_equal(perms[0], np.arange(64))
    for perm in perms:
        np.testing.assert_array_equal(np.sort(perm), np.arange(64))
    assert len({perm.tobytes() for perm in perms}) == 4
    np.testing.assert_array_equal(digit_permutations(4, seed=7), perms)
    np.testing.assert_array_equal(digit_permutations(2, seed=7), perms[:2])  # a longer stream extends a shorter
    assert not np.array_equal(digit_permutations(4, seed=8)[1:], perms[1:])


@pytest.mark.parametrize("scenario", ["task", "domain"])
def test_permuted_tasks_are_the_same_split_with_pixels_permuted(scenario):
    stream = permuted_digits(3, scenario=scenario, seed=5)
    first = stream.tasks[0]
    for t, perm in enumerate(digit_permutations(3, seed=5)):
        task = stream.tasks[t]
        np.testing.assert_array_equal(task.x_train, first.x_train[:, perm])
        np.testing.assert_array_equal(task.x_test, first.x_test[:, perm])
        np.testing.assert_array_equal(task.y_test - task.classes[0], first.y_test)
    assert stream.description["seed"] == 5


def test_same_seed_same_data_different_seed_different_data():
    a, b, c = permuted_digits(2, seed=1), permuted_digits(2, seed=1), permuted_digits(2, seed=2)
    np.testing.assert_array_equal(a.tasks[1].x_train, b.tasks[1].x_train)
    assert not np.array_equal(a.tasks[1].x_train, c.tasks[1].x_train)
    np.testing.assert_array_equal(a.tasks[0].x_train, c.tasks[0].x_train)  # the identity task
    d, e = split_digits(split_seed=1), split_digits(split_seed=2)
    assert not np.array_equal(d.tasks[0].y_test, e.tasks[0].y_test) or not np.array_equal(
        d.tasks[0].x_test, e.tasks[0].x_test
    )


def test_rotation_by_zero_is_the_identity_and_by_ninety_a_quarter_turn():
    images, _ = load_digit_images()
    np.testing.assert_array_equal(rotate_images(images, 0), images)
    np.testing.assert_array_equal(rotate_images(images, 90), np.rot90(images, 1, axes=(1, 2)))
    stream = rotated_digits((0, 90))
    np.testing.assert_array_equal(stream.tasks[0].x_train, permuted_digits(1).tasks[0].x_train)
    turned = np.rot90(stream.tasks[0].x_test.reshape(-1, 8, 8), 1, axes=(1, 2)).reshape(-1, 64)
    np.testing.assert_array_equal(stream.tasks[1].x_test, turned)


def test_rotated_digits_names_scenarios_and_range():
    stream = rotated_digits((0, 22.5, -45, 22.5), scenario="class")
    assert stream.task_names == ("rotated 0", "rotated 22.5", "rotated -45", "rotated 22.5_2")
    assert stream.n_classes == 40 and stream.tasks[3].classes == tuple(range(30, 40))
    assert stream.description["angles"] == [0.0, 22.5, -45.0, 22.5]
    for task in stream.tasks:
        assert task.x_train.min() >= 0.0 and task.x_train.max() <= 1.0
    assert not np.allclose(stream.tasks[0].x_train, stream.tasks[1].x_train)


@pytest.mark.parametrize(
    ("make", "kwargs", "field"),
    [
        (split_digits, {"scenario": "online"}, "'scenario'"),
        (split_digits, {"n_tasks": 6}, "'n_tasks'"),
        (split_digits, {"n_tasks": 2.0}, "'n_tasks'"),
        (split_digits, {"test_size": 0.0}, "'test_size'"),
        (split_digits, {"test_size": 0.001}, "'test_size'"),
        (split_digits, {"split_seed": -1}, "'split_seed'"),
        (permuted_digits, {"n_tasks": 0}, "'n_tasks'"),
        (permuted_digits, {"seed": 2**32}, "'seed'"),
        (permuted_digits, {"scenario": None}, "'scenario'"),
        (rotated_digits, {"angles": []}, "'angles'"),
        (rotated_digits, {"angles": [0, float("nan")]}, "'angles'"),
        (rotated_digits, {"angles": "0,45"}, "'angles'"),
        (rotated_digits, {"test_size": True}, "'test_size'"),
        (friedman_drift, {"n_tasks": 0}, "'n_tasks'"),
        (friedman_drift, {"n_samples": 2}, "'n_samples'"),
        (friedman_drift, {"n_samples": 4, "test_size": 0.1}, "'test_size'"),
        (friedman_drift, {"noise": -1.0}, "'noise'"),
        (friedman_drift, {"noise": float("inf")}, "'noise'"),
        (friedman_drift, {"drift": "rotate"}, "'drift'"),
        (friedman_drift, {"seed": "0"}, "'seed'"),
        (friedman_concepts, {"n_tasks": 2, "drift": None}, "'drift'"),
    ],
)
def test_generators_name_the_bad_parameter(make, kwargs, field):
    with pytest.raises(InvalidParameterError, match=field) as caught:
        make(**kwargs)
    assert "\n" not in str(caught.value)


# --- friedman --------------------------------------------------------------------------------


def test_friedman_task_zero_is_make_friedman1():
    stream = friedman_drift(n_tasks=2, n_samples=120, noise=0.5, seed=3)
    x, y = make_friedman1(120, n_features=10, noise=0.5, random_state=3)
    task = stream.tasks[0]
    xs, ys = np.vstack([task.x_train, task.x_test]), np.concatenate([task.y_train, task.y_test])
    order, mine = np.lexsort(x.T), np.lexsort(xs.T)
    np.testing.assert_array_equal(xs[mine], x[order])
    np.testing.assert_array_equal(ys[mine], y[order])
    assert (task.n_train, task.n_test) == (90, 30)
    assert stream.kind == "regression" and stream.input_scale.tolist() == [1.0] * 10


@pytest.mark.parametrize("drift", ["permute", "reweight"])
def test_friedman_targets_are_the_recorded_concept_plus_noise(drift):
    stream = friedman_drift(n_tasks=3, n_samples=2000, noise=0.5, drift=drift)
    roles, weights = friedman_concepts(3, drift, seed=0)
    assert stream.description["roles"] == roles.tolist() and stream.description["weights"] == weights.tolist()
    for task, r, w in zip(stream.tasks, roles, weights, strict=True):
        residual = task.y_train - friedman_concept(task.x_train, r, w)
        assert residual.std() == pytest.approx(0.5, rel=0.1)
    noiseless = friedman_drift(n_tasks=2, noise=0.0, drift=drift)
    np.testing.assert_allclose(
        noiseless.tasks[1].y_test, friedman_concept(noiseless.tasks[1].x_test, roles[1], weights[1])
    )
    other = friedman_drift(n_tasks=3, n_samples=2000, noise=0.5, drift="reweight" if drift == "permute" else "permute")
    np.testing.assert_array_equal(other.tasks[2].x_train, stream.tasks[2].x_train)  # the drifts share their inputs


def test_friedman_concepts_are_the_documented_transformations():
    roles, weights = friedman_concepts(6, "permute", seed=4)
    assert roles[0].tolist() == [0, 1, 2, 3, 4] and (weights == [10.0, 20.0, 10.0, 5.0]).all()
    rng = np.random.RandomState([4, 1])
    for t in range(1, 6):
        assert roles[t].tolist() == rng.permutation(10)[:5].tolist()
    assert len({tuple(r) for r in roles}) == 6
    np.testing.assert_array_equal(friedman_concepts(3, "permute", seed=4)[0], roles[:3])
    roles, weights = friedman_concepts(5, "reweight")
    assert (roles == [0, 1, 2, 3, 4]).all()
    assert weights.tolist() == [[10, 20, 10, 5], [5, 10, 20, 10], [10, 5, 10, 20], [20, 10, 5, 10], [10, 20, 10, 5]]
    x = np.random.default_rng(0).uniform(size=(50, 10))
    a, b, c, d, e = x[:, [9, 4, 0, 8, 1]].T
    expected = 5 * np.sin(np.pi * a * b) + 10 * (c - 0.5) ** 2 + 20 * d + 10 * e
    np.testing.assert_allclose(friedman_concept(x, (9, 4, 0, 8, 1), (5, 10, 20, 10)), expected)


def test_permute_drift_defeats_a_model_fitted_to_the_first_concept():
    for seed in range(3):
        stream = friedman_drift(n_tasks=2, n_samples=400, noise=1.0, drift="permute", seed=seed)
        first, second = stream.tasks
        model = LinearRegression().fit(first.x_train, first.y_train)
        assert r2_score(first.y_test, model.predict(first.x_test)) > 0.6
        assert r2_score(second.y_test, model.predict(second.x_test)) < 0.0
        refit = LinearRegression().fit(second.x_train, second.y_train)
        assert r2_score(second.y_test, refit.predict(second.x_test)) > 0.5  # the new concept is learnable


def test_friedman_is_deterministic_in_its_seed():
    a, b, c = friedman_drift(seed=1), friedman_drift(seed=1), friedman_drift(seed=2)
    np.testing.assert_array_equal(a.tasks[2].y_test, b.tasks[2].y_test)
    assert not np.array_equal(a.tasks[0].x_train, c.tasks[0].x_train)
    assert a.description["drift"] == "permute" and a.description["seed"] == 1


# --- from_arrays -----------------------------------------------------------------------------


def some_task(rng, n_train=6, n_test=3, n_features=2, labels=None):
    x_train, x_test = rng.normal(size=(n_train, n_features)), rng.normal(size=(n_test, n_features))
    if labels is None:
        return x_train, rng.normal(size=n_train), x_test, rng.normal(size=n_test)
    return x_train, rng.integers(0, labels, n_train), x_test, np.arange(n_test) % labels


def test_from_arrays_regression():
    rng = np.random.default_rng(0)
    a, b = some_task(rng), some_task(rng, n_train=4)
    ints = (a[0].astype(np.int32), [1, 2, 3, 4, 5, 6], a[2].tolist(), a[3])
    stream = from_arrays(
        [a, {**dict(zip(["x_train", "y_train", "x_test", "y_test"], b, strict=True)), "name": "b"}, ints]
    )
    assert stream.task_names == ("task 0", "b", "task 2")
    assert stream.train_sizes == (6, 4, 6)
    assert stream.kind == "regression" and stream.active_classes(0) is None
    assert stream.tasks[2].x_train.dtype == stream.tasks[2].y_train.dtype == np.float64
    np.testing.assert_array_equal(stream.tasks[0].x_train, a[0])
    assert stream.tasks[0].x_train is not a[0]
    np.testing.assert_array_equal(stream.denormalise(a[0]), a[0])
    scaled = from_arrays([a], input_offset=1.0, input_scale=[2.0, 4.0], name="mine")
    np.testing.assert_array_equal(scaled.denormalise(np.ones((1, 2))), [[3.0, 5.0]])
    assert scaled.name == "mine" and scaled.description == {"kind": "arrays", "n_tasks": 1, "n_features": 2}


def test_from_arrays_classification():
    rng = np.random.default_rng(1)
    a = some_task(rng, labels=2)
    b = {"x_train": a[0], "y_train": a[1] + 2.0, "x_test": a[2], "y_test": a[3] + 2, "classes": [2, 3]}
    stream = from_arrays([a, b], kind="classification", scenario="task")
    assert (stream.n_classes, stream.scenario) == (4, "task")
    assert [task.classes for task in stream.tasks] == [(0, 1), (2, 3)]
    assert stream.tasks[1].y_train.dtype == np.int64
    assert stream.active_classes(1) == (2, 3)
    wide = from_arrays([a, b], kind="classification", n_classes=6)
    assert (wide.n_classes, wide.scenario, wide.active_classes(1)) == (6, "class", (0, 1, 2, 3))


def replace(task, index, value):
    parts = list(task)
    parts[index] = value
    return tuple(parts)


X_TRAIN, Y_TRAIN, X_TEST, Y_TEST = range(4)
_rng = np.random.default_rng(2)
GOOD = some_task(_rng)
LABELLED = some_task(_rng, labels=3)


@pytest.mark.parametrize(
    ("tasks", "kwargs", "message"),
    [
        ([replace(GOOD, X_TRAIN, GOOD[0][:, 0])], {}, r"'x_train' of task 0 .* got shape \(6,\)\."),
        ([replace(GOOD, X_TRAIN, np.zeros((0, 2)))], {}, "'x_train' of task 0"),
        ([replace(GOOD, X_TEST, GOOD[2][:1])], {}, r"'x_test' of task 0 .*n_samples >= 2"),
        ([replace(GOOD, X_TEST, np.zeros((3, 3)))], {}, r"'x_test' of task 0 .*2 columns"),
        ([GOOD, some_task(_rng, n_features=3)], {}, r"'x_train' of task 1 .*2 columns"),
        ([replace(GOOD, Y_TRAIN, GOOD[1][:5])], {}, r"'y_train' of task 0 .*length 6"),
        ([replace(GOOD, Y_TEST, GOOD[3][:, None])], {}, "'y_test' of task 0"),
        ([replace(GOOD, X_TRAIN, np.where(GOOD[0] > 0, np.nan, GOOD[0]))], {}, "'x_train' .*NaN"),
        ([replace(GOOD, Y_TEST, [1.0, np.inf, 0.0])], {}, "'y_test' .*infinite"),
        ([replace(GOOD, X_TRAIN, GOOD[0].astype(str))], {}, "'x_train' .*dtype <U"),
        ([replace(GOOD, X_TRAIN, GOOD[0].astype(object))], {}, "'x_train' .*dtype object"),
        ([replace(GOOD, X_TRAIN, [[1.0, 2.0], [3.0]])], {}, "'x_train' of task 0 .*numpy cannot convert"),
        ([replace(GOOD, Y_TRAIN, ["a"] * 6)], {}, "'y_train' .*dtype"),
        ([replace(GOOD, Y_TRAIN, GOOD[1] > 0)], {}, "'y_train' .*dtype bool"),
        ([replace(GOOD, X_TEST, None)], {}, "'x_test' .*dtype object"),
        (
            [{"x_train": GOOD[0], "y_train": GOOD[1], "x_test": GOOD[2][:, :1], "y_test": GOOD[3], "name": "a"}],
            {},
            "'x_test' of task 'a'",
        ),
        (
            [{"x_train": GOOD[0], "y_train": GOOD[1], "x_test": GOOD[2], "y_test": GOOD[3], "name": "task 1"}, GOOD],
            {},
            r"'name' parameter of task 1 .*unique",
        ),
        (
            [{"x_train": GOOD[0], "y_train": GOOD[1], "x_test": GOOD[2], "y_test": GOOD[3], "name": "a"}] * 2,
            {},
            r"'name' parameter of task 1 .*unique",
        ),
        ([{"x_train": GOOD[0], "y_train": GOOD[1], "x_test": GOOD[2]}], {}, r"'tasks\[0\]'"),
        ([{"x_train": GOOD[0], "y_train": GOOD[1], "x_test": GOOD[2], "y_test": GOOD[3], "w": 1}], {}, r"'tasks\[0\]'"),
        ([GOOD[:3]], {}, r"'tasks\[0\]'"),
        ([], {}, "'tasks'"),
        (GOOD[0], {}, "'tasks'"),
        ([GOOD], {"kind": "ordinal"}, "'kind'"),
        ([GOOD], {"scenario": "class"}, "'scenario'"),
        ([GOOD], {"input_scale": [1.0, 0.0]}, "'input_scale'"),
        ([GOOD], {"input_offset": [1.0, 2.0, 3.0]}, "'input_offset'"),
        ([replace(LABELLED, Y_TRAIN, LABELLED[1] - 1)], {"kind": "classification"}, "'y_train' .*labels"),
        ([replace(LABELLED, Y_TEST, [0.5, 1, 2])], {"kind": "classification"}, "'y_test' .*labels"),
        ([LABELLED], {"kind": "classification", "n_classes": 2}, r"'y_(train|test)' .*\[0, 2\)"),
        ([LABELLED], {"kind": "classification", "n_classes": 1}, "'n_classes'"),
        ([LABELLED], {"kind": "classification", "scenario": "online"}, "'scenario'"),
        (
            [{**dict(zip(["x_train", "y_train", "x_test", "y_test"], LABELLED, strict=True)), "classes": [0, 1]}],
            {"kind": "classification"},
            "'classes' of task 0",
        ),
        (
            [{**dict(zip(["x_train", "y_train", "x_test", "y_test"], GOOD, strict=True)), "classes": [0, 1]}],
            {},
            "'classes' of task 0",
        ),
    ],
)
def test_from_arrays_names_the_task_and_field(tasks, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message) as caught:
        from_arrays(tasks, **kwargs)
    assert "\n" not in str(caught.value)


class Unconvertible:
    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("no")


@st.composite
def malformed_streams(draw):
    """A valid stream of one or two tasks with one array made malformed."""
    kind = draw(st.sampled_from(["regression", "classification"]))
    n_features = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    labels = 3 if kind == "classification" else None
    n_tasks = draw(st.integers(1, 2))
    tasks = [
        list(some_task(rng, draw(st.integers(1, 5)), draw(st.integers(2, 5)), n_features, labels))
        for _ in range(n_tasks)
    ]
    t, field = draw(st.integers(0, n_tasks - 1)), draw(st.sampled_from(range(4)))
    good = np.asarray(tasks[t][field])
    n = len(good)
    other_length = draw(st.integers(0, 8).filter(lambda m: m != n))
    common = [
        good.astype(object),
        good.astype(str),
        good.astype(complex),
        good != 0,
        None,
        "abc",
        {"a": 1},
        Unconvertible(),
        np.float64(1.0),
        good.reshape(n, -1, 1),
    ]
    if field in (X_TRAIN, X_TEST):
        bad_float = good.copy()
        options = [
            *common,
            good.ravel() if n_features > 1 else good[:, 0],
            np.zeros((other_length if other_length < 2 else 0, n_features)),
            np.zeros((n, 0)),
            np.zeros((n, n_features + draw(st.integers(1, 3)))),
            [*[list(row) for row in good[:-1]], [*good[-1][:-1].tolist(), 1.0, 2.0]],
        ]
    else:
        bad_float = good.astype(float)
        options = [*common, good[:, None], np.zeros(other_length)]
        if kind == "classification":
            options += [good - 5, good + 0.5]
    row = draw(st.integers(0, n - 1))
    bad_float[row] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    options.append(bad_float)
    tasks[t][field] = draw(st.sampled_from(options))
    return [tuple(task) for task in tasks], kind, ("x_train", "y_train", "x_test", "y_test")[field]


def test_a_thousand_malformed_arrays_each_end_in_one_line_naming_the_array():
    """Wrong shapes, NaN/inf, empty, mismatched lengths, non-numeric, too few test rows, bad labels."""
    tried = []

    @settings(max_examples=1000, deadline=None, database=None)
    @given(malformed_streams())
    def check(case):
        tasks, kind, field = case
        with pytest.raises(InvalidParameterError, match="of task ") as caught:
            from_arrays(tasks, kind=kind)
        message = str(caught.value)
        assert "\n" not in message
        # the array changed, or the one it no longer fits (x_train's width is checked against x_test's)
        names = ("x_train", "y_train", "x_test", "y_test")
        assert any(f"'{name}' of task" in message for name in names) or "'tasks[" in message, (field, message)
        tried.append(message)

    check()
    assert len(tried) >= 1000
    print(f"{len(tried)} malformed streams tried")
