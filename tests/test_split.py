"""The streams are built without scikit-learn, and give what scikit-learn gave.

forgetlab's ``train_test_split`` (forgetlab.tasks._split) against scikit-learn's, array for
array and error for error; the digits read from scikit-learn's file against ``load_digits``;
the streams against the same recipe made with scikit-learn; and a fresh process that builds
a digits and a seasons stream without importing scikit-learn.
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits, make_friedman1
from sklearn.model_selection import train_test_split as sklearn_split
from sklearn.utils.extmath import _approximate_mode

from forgetlab import InvalidParameterError
from forgetlab.tasks import digits as digits_module
from forgetlab.tasks import friedman_drift, permuted_digits, rotate_images, rotated_digits, seasons, split_digits
from forgetlab.tasks._checks import split
from forgetlab.tasks._split import approximate_mode, check_random_state, train_test_split
from forgetlab.tasks.seasons import SEASONS, day_grid, price

SEEDS = st.integers(0, 2**32 - 1)
FRACTIONS = st.floats(0.01, 0.99)


def assert_same_split(arrays, **kwargs):
    """Both splits equal (values, dtypes, shapes), or both raise ValueError."""
    try:
        expected = sklearn_split(*arrays, **kwargs)
    except ValueError:
        with pytest.raises(ValueError):
            train_test_split(*arrays, **kwargs)
        return None
    got = train_test_split(*arrays, **kwargs)
    assert len(got) == len(expected) == 2 * len(arrays)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine.dtype == theirs.dtype
        np.testing.assert_array_equal(mine, theirs, strict=True)
    return got


@st.composite
def plain_inputs(draw):
    n = draw(st.integers(3, 300))
    rng = np.random.RandomState(draw(st.integers(0, 1000)))
    arrays = [rng.standard_normal((n, draw(st.integers(1, 4)))), rng.randint(0, 5, n)]
    if draw(st.booleans()):
        arrays.append(rng.standard_normal(n).astype(np.float32))
    return arrays, draw(FRACTIONS), draw(SEEDS)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(plain_inputs())
def test_plain_split_equals_scikit_learns(case):
    arrays, test_size, seed = case
    assert_same_split(arrays, test_size=test_size, random_state=seed)


@st.composite
def stratified_inputs(draw):
    """Labels of 1..12 classes with counts drawn freely (unbalanced, some of a single sample), in random order."""
    counts = draw(st.lists(st.integers(1, 60), min_size=1, max_size=12))
    if sum(counts) < 3:
        counts.append(3)
    values = draw(st.lists(st.integers(-50, 50), min_size=len(counts), max_size=len(counts), unique=True))
    rng = np.random.RandomState(draw(st.integers(0, 1000)))
    labels = rng.permutation(np.repeat(np.array(values, dtype=np.int64), counts))
    x = rng.standard_normal((len(labels), 3))
    return x, labels, draw(FRACTIONS), draw(SEEDS)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(stratified_inputs())
def test_stratified_split_equals_scikit_learns(case):
    x, labels, test_size, seed = case
    assert_same_split([x, labels], test_size=test_size, random_state=seed, stratify=labels)


@pytest.mark.parametrize("n", [3, 4, 7, 10, 33, 100, 299, 300])
@pytest.mark.parametrize("test_size", [0.1, 0.25, 0.3, 0.5, 0.75, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
def test_fixed_splits_equal_scikit_learns(n, test_size, seed):
    rng = np.random.RandomState(n)
    x, labels = rng.standard_normal((n, 2)), rng.randint(0, 3, n)
    assert_same_split([x, labels], test_size=test_size, random_state=seed)
    assert_same_split([x, labels], test_size=test_size, random_state=seed, stratify=labels)
    skewed = np.where(np.arange(n) < max(2, n // 10), 1, 0)  # a small class and a large one
    assert_same_split([x, skewed], test_size=test_size, random_state=seed, stratify=skewed)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=10).filter(sum), st.data(), SEEDS)
def test_approximate_mode_equals_scikit_learns_and_draws_as_much(counts, data, seed):
    class_counts = np.array(counts)
    n_draws = data.draw(st.integers(0, int(class_counts.sum())))
    mine, theirs = np.random.RandomState(seed), np.random.RandomState(seed)
    np.testing.assert_array_equal(
        approximate_mode(class_counts, n_draws, mine), _approximate_mode(class_counts, n_draws, theirs), strict=True
    )
    assert mine.randint(2**31) == theirs.randint(2**31)  # the same number of draws made


def test_random_state_as_scikit_learn_reads_it():
    rng = np.random.RandomState(3)
    assert check_random_state(rng) is rng
    assert check_random_state(None) is np.random.mtrand._rand
    x = np.arange(20)
    mine = train_test_split(x, test_size=0.3, random_state=np.random.RandomState(5))
    theirs = sklearn_split(x, test_size=0.3, random_state=np.random.RandomState(5))
    for got, want in zip(mine, theirs, strict=True):
        np.testing.assert_array_equal(got, want, strict=True)
    for seed in (1.5, -1, 2**32):
        with pytest.raises(ValueError):
            train_test_split(x, test_size=0.3, random_state=seed)
        with pytest.raises(ValueError):
            sklearn_split(x, test_size=0.3, random_state=seed)


def test_the_errors_scikit_learn_raises():
    x, y = np.arange(10), np.array([0] * 5 + [1] * 4 + [2])
    for kwargs in (
        {"test_size": 0.3, "stratify": y},  # a class of a single sample
        {"test_size": 0.2, "stratify": np.repeat([0, 1, 2, 3, 4], 2)},  # fewer test samples than classes
        {"test_size": 0.8, "stratify": np.repeat([0, 1, 2, 3, 4], 2)},  # fewer training samples than classes
        {"test_size": 0.5, "stratify": np.repeat([0.0, 1.0, np.nan, np.inf, 2.0], 2)},  # labels not finite
        {"test_size": 0.99},  # no training sample
        {"test_size": 1.0},
        {"test_size": 0.0},
    ):
        with pytest.raises(ValueError):
            sklearn_split(x, random_state=0, **kwargs)
        with pytest.raises(ValueError):
            train_test_split(x, random_state=0, **kwargs)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_test_split(x, y[:5], test_size=0.3, random_state=0)
    with pytest.raises(ValueError, match="At least one array"):
        train_test_split(test_size=0.3, random_state=0)
    with pytest.raises(TypeError, match="float"):
        train_test_split(x, test_size=3, random_state=0)  # scikit-learn would take 3 samples


def test_split_reports_a_class_of_a_single_sample_as_a_bad_test_size():
    x, y = np.zeros((9, 2)), np.array([0, 0, 0, 0, 1, 1, 1, 1, 2])
    with pytest.raises(ValueError, match="only 1 member"):  # scikit-learn refuses it too
        sklearn_split(x, y, test_size=0.4, random_state=0, stratify=y)
    with pytest.raises(InvalidParameterError, match="'test_size' parameter of owner") as error:
        split(x, y, test_size=0.4, split_seed=0, stratify=True, owner="owner")
    assert isinstance(error.value.__cause__, ValueError)
    assert "only 1 member" in str(error.value.__cause__)


# --- the digits -----------------------------------------------------------------------------


def test_digits_read_from_the_file_equal_load_digits():
    data, target = digits_module._read_digits()
    bunch = load_digits()
    np.testing.assert_array_equal(data, bunch.data, strict=True)
    np.testing.assert_array_equal(target, bunch.target, strict=True)
    assert (data.dtype, target.dtype) == (bunch.data.dtype, bunch.target.dtype) == (np.float64, np.dtype(int))
    images, labels = digits_module.load_digit_images()
    np.testing.assert_array_equal(images, bunch.images.astype(np.float64), strict=True)
    np.testing.assert_array_equal(labels, bunch.target.astype(np.int64), strict=True)


def test_missing_digits_file_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"digits\.csv\.gz") as error:
        digits_module._read_digits()
    assert "\n" not in str(error.value)


# --- the streams: what scikit-learn made them of ------------------------------------------


def test_digit_streams_equal_the_scikit_learn_recipe():
    bunch = load_digits()
    images, labels = bunch.images.astype(np.float64), bunch.target.astype(np.int64)

    def recipe(x_images, y, test_size, seed):
        x = x_images.reshape(len(x_images), 64) / 16.0
        return sklearn_split(x, y, test_size=test_size, random_state=seed, stratify=y)

    def check(stream, expected):
        for task, (x_train, x_test, y_train, y_test) in zip(stream.tasks, expected, strict=True):
            for got, want in ((task.x_train, x_train), (task.x_test, x_test), (task.y_train, y_train)):
                np.testing.assert_array_equal(got, want, strict=True)
            np.testing.assert_array_equal(task.y_test, y_test, strict=True)

    keep = [np.isin(labels, (2 * t, 2 * t + 1)) for t in range(5)]
    check(split_digits("class"), [recipe(images[k], labels[k], 0.25, 42) for k in keep])
    check(
        split_digits("domain", 3, test_size=0.4, split_seed=7),
        [recipe(images[k], labels[k] - 2 * t, 0.4, 7) for t, k in enumerate(keep[:3])],
    )
    stream = permuted_digits(2, scenario="task", seed=1)
    perm = np.random.RandomState(1).permutation(64)
    flat = images.reshape(-1, 64)
    check(stream, [recipe(flat, labels, 0.25, 42), recipe(flat[:, perm], labels + 10, 0.25, 42)])
    check(rotated_digits((0, 30)), [recipe(rotate_images(images, a), labels, 0.25, 42) for a in (0, 30)])


def test_seasons_and_friedman_equal_the_scikit_learn_recipe():
    stream = seasons(("summer", "autumn", "winter"), normalise="none", split_seed=3, test_size=0.3)
    days = day_grid()
    for task, name in zip(stream.tasks, ("summer", "autumn", "winter"), strict=True):
        idx = SEASONS[name]
        expected = sklearn_split(days[idx][:, None], price(days)[idx], random_state=3, test_size=0.3)
        for got, want in zip((task.x_train, task.x_test, task.y_train, task.y_test), expected, strict=True):
            np.testing.assert_array_equal(got, want, strict=True)
    task = friedman_drift(n_tasks=1, n_samples=150, seed=4, split_seed=9, test_size=0.2).tasks[0]
    x, y = make_friedman1(150, 10, noise=1.0, random_state=4)
    expected = sklearn_split(x, y, test_size=0.2, random_state=9)
    for got, want in zip((task.x_train, task.x_test, task.y_train, task.y_test), expected, strict=True):
        np.testing.assert_array_equal(got, want, strict=True)


def test_building_streams_imports_no_scikit_learn():
    code = (
        "import sys; from forgetlab.tasks import split_digits, seasons; split_digits('class'); seasons(); "
        "print(any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
