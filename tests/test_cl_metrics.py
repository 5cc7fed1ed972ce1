"""Continual-learning metrics over a score matrix R[i, j] = score on task j after phase i."""

import re

import numpy as np
import pytest
import sklearn.metrics
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forgetlab.errors import InvalidParameterError
from forgetlab.metrics import (
    accuracy,
    average_score,
    backward_transfer,
    forgetting,
    forgetting_per_task,
    forward_transfer,
    intransigence,
    intransigence_per_task,
    score_matrix,
)

# Scores in R², so large negative values are included.
finite = st.floats(-300, 1, allow_nan=False, allow_infinity=False)
matrices = st.integers(1, 6).flatmap(lambda t: arrays(float, (t, t), elements=finite))
matrices_2plus = st.integers(2, 6).flatmap(lambda t: arrays(float, (t, t), elements=finite))

# 3 tasks; the best earlier score of task 0 is after phase 1, not on the diagonal.
R3 = np.array(
    [
        [0.5, 0.1, 0.0],
        [0.9, 0.8, 0.2],
        [0.6, 0.7, 0.95],
    ]
)
# 2 tasks in R², like the tutorial's sequential schedule (summer then autumn).
R2 = np.array(
    [
        [0.97, -3.0],
        [-205.0, 1.0],
    ]
)


def reference_forgetting_per_task(R):
    """Chaudhry's f_j^{T-1}, written as explicit loops."""
    T = len(R)
    return [max(R[phase][j] for phase in range(T - 1)) - R[T - 1][j] for j in range(T - 1)]


def reference_bwt(R):
    T = len(R)
    return sum(R[T - 1][j] - R[j][j] for j in range(T - 1)) / (T - 1)


# ---------------------------------------------------------------- hand-computed values


def test_average_score_by_hand():
    assert average_score(R3) == pytest.approx((0.6 + 0.7 + 0.95) / 3)
    assert average_score(R2) == pytest.approx((-205.0 + 1.0) / 2)
    assert average_score([[0.4]]) == 0.4


def test_backward_transfer_by_hand():
    assert backward_transfer(R3) == pytest.approx(((0.6 - 0.5) + (0.7 - 0.8)) / 2)  # = 0: gain and loss
    assert backward_transfer(R2) == pytest.approx(-205.0 - 0.97)
    # BWT ignores the peak after phase 1; a matrix differing only there has the same BWT
    other = R3.copy()
    other[1, 0] = -50.0
    assert backward_transfer(other) == pytest.approx(backward_transfer(R3))


def test_forward_transfer_by_hand():
    b = np.array([0.3, 0.05, 0.5])
    assert forward_transfer(R3, b) == pytest.approx(((0.1 - 0.05) + (0.2 - 0.5)) / 2)
    assert forward_transfer(R2, [-1.0, -7.0]) == pytest.approx(-3.0 - (-7.0))
    # only the entries just above the diagonal count
    other = R3.copy()
    other[0, 2] = 99.0
    assert forward_transfer(other, b) == pytest.approx(forward_transfer(R3, b))


def test_forgetting_uses_the_best_earlier_phase_not_the_diagonal():
    # task 0: best before the last phase is 0.9 (phase 1), not R[0, 0] = 0.5
    np.testing.assert_allclose(forgetting_per_task(R3), [0.9 - 0.6, 0.8 - 0.7])
    assert forgetting(R3) == pytest.approx(((0.9 - 0.6) + (0.8 - 0.7)) / 2)
    # Avalanche's R[j, j] - R[T-1, j] would give 0 here; Chaudhry's does not
    assert forgetting(R3) != pytest.approx(-backward_transfer(R3))


def test_forgetting_excludes_the_last_phase_so_it_can_be_negative():
    R = np.array([[0.5, 0.0], [0.8, 0.9]])  # task 0 improved while learning task 1
    assert forgetting(R) == pytest.approx(0.5 - 0.8)
    assert forgetting(R) < 0  # Mammoth's max over all rows would give 0


def test_forgetting_in_r2_exceeds_one():
    assert forgetting(R2) == pytest.approx(0.97 + 205.0)
    np.testing.assert_allclose(forgetting_per_task(R2), [205.97])


def test_forgetting_counts_phases_before_the_task_was_trained():
    # Chaudhry's max over l < T-1 includes l < j: task 1 scored 0.9 before it was trained
    R = np.array([[0.1, 0.9, 0.0], [0.1, 0.5, 0.0], [0.1, 0.4, 0.8]])
    np.testing.assert_allclose(forgetting_per_task(R), [0.0, 0.9 - 0.4])


def test_intransigence_by_hand():
    joint = np.array([0.6, 0.85, 0.99])
    np.testing.assert_allclose(intransigence_per_task(R3, joint), [0.1, 0.05, 0.04], atol=1e-12)
    assert intransigence(R3, joint) == pytest.approx((0.1 + 0.05 + 0.04) / 3)
    np.testing.assert_allclose(intransigence_per_task(R2, [0.99, 0.5]), [0.02, -0.5], atol=1e-12)
    assert intransigence(R2, [0.99, 0.5]) == pytest.approx(-0.24)


def test_score_matrix_picks_the_last_epoch_of_each_phase():
    # 5 epochs, 3 tasks; phases end after epochs 0, 2 and 4
    scores = np.arange(15.0).reshape(5, 3)
    R = score_matrix(scores, [0, 2, 4])
    assert R.shape == (3, 3)
    np.testing.assert_array_equal(R, scores[[0, 2, 4]])
    assert R[1, 2] == scores[2, 2]
    np.testing.assert_array_equal(score_matrix(scores, np.array([1, 3, 4])), scores[[1, 3, 4]])


def test_score_matrix_of_the_sequential_schedule_feeds_the_metrics():
    epochs_per_task = (1, 3)
    scores = np.array([[0.97, -3.0], [-10.0, 0.5], [-100.0, 0.9], [-205.0, 1.0]])
    R = score_matrix(scores, np.cumsum(epochs_per_task) - 1)
    np.testing.assert_array_equal(R, [[0.97, -3.0], [-205.0, 1.0]])
    assert forgetting(R) == pytest.approx(205.97)


# ---------------------------------------------------------------- leading axes


def test_a_stack_of_matrices_gives_the_stack_of_results():
    rng = np.random.default_rng(0)
    stack = rng.uniform(-5, 1, size=(2, 3, 4, 4))
    b = rng.uniform(-1, 0, size=4)
    joint = rng.uniform(0.5, 1, size=4)
    per_run = {
        average_score: lambda R: average_score(R),
        backward_transfer: lambda R: backward_transfer(R),
        forgetting: lambda R: forgetting(R),
        forgetting_per_task: lambda R: forgetting_per_task(R),
        forward_transfer: lambda R: forward_transfer(R, b),
        intransigence: lambda R: intransigence(R, joint),
        intransigence_per_task: lambda R: intransigence_per_task(R, joint),
    }
    for function, one in per_run.items():
        stacked = one(stack)
        expected = np.array([[one(stack[i, k]) for k in range(3)] for i in range(2)])
        assert stacked.shape == expected.shape, function.__name__
        np.testing.assert_allclose(stacked, expected, rtol=1e-12, err_msg=function.__name__)
    assert forgetting(stack).shape == (2, 3)
    assert forgetting_per_task(stack).shape == (2, 3, 3)
    assert intransigence_per_task(stack, joint).shape == (2, 3, 4)


def test_per_run_baselines_broadcast_over_runs():
    stack = np.stack([R3, R3 + 1.0])
    b = np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])  # one random init per run
    np.testing.assert_allclose(forward_transfer(stack, b), [forward_transfer(R3, b[0])] * 2)
    joint = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    np.testing.assert_allclose(intransigence(stack, joint), [intransigence(R3, joint[0])] * 2)


def test_score_matrix_keeps_leading_axes():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(4, 2, 6, 3))
    R = score_matrix(scores, [1, 3, 5])
    assert R.shape == (4, 2, 3, 3)
    np.testing.assert_array_equal(R[3, 1], scores[3, 1, [1, 3, 5]])


# ---------------------------------------------------------------- NaN and T = 1


def test_nan_propagates():
    R = R3.copy()
    R[1, 0] = np.nan  # task 0's score after phase 1 (a diverged epoch)
    assert np.isnan(forgetting(R))
    per_task = forgetting_per_task(R)
    assert np.isnan(per_task[0]) and per_task[1] == pytest.approx(0.1)  # task 1 does not use it
    assert backward_transfer(R) == pytest.approx(backward_transfer(R3))  # BWT does not use R[1, 0]
    R[2, 2] = np.nan
    assert np.isnan(average_score(R))
    assert np.isnan(intransigence(R, [1.0, 1.0, 1.0]))
    assert np.isnan(intransigence_per_task(R, [1.0, 1.0, 1.0])).tolist() == [False, False, True]
    assert np.isnan(forward_transfer(R3, [0.0, np.nan, 0.0]))
    assert np.isnan(backward_transfer(np.array([[np.nan, 0.0], [1.0, 1.0]])))


def test_nan_in_one_run_leaves_the_other_runs_alone():
    stack = np.stack([R3, R3])
    stack[0, 2, 1] = np.nan
    for values in (forgetting(stack), backward_transfer(stack), average_score(stack)):
        assert np.isnan(values[0]) and not np.isnan(values[1])


def test_score_matrix_keeps_nan_scores():
    scores = np.array([[np.nan, 0.0], [1.0, 2.0]])
    R = score_matrix(scores, [0, 1])
    assert np.isnan(R[0, 0]) and R[1, 1] == 2.0


def test_single_task_metrics_that_need_two_tasks_are_nan():
    R = np.array([[0.7]])
    assert np.isnan(backward_transfer(R))
    assert np.isnan(forward_transfer(R, [0.1]))
    assert np.isnan(forgetting(R))
    assert forgetting_per_task(R).shape == (0,)
    assert average_score(R) == 0.7
    assert intransigence(R, [0.9]) == pytest.approx(0.2)
    stack = np.full((3, 1, 1), 0.7)
    assert backward_transfer(stack).shape == (3,) and np.isnan(backward_transfer(stack)).all()
    assert np.isnan(forgetting(stack)).all() and forgetting(stack).shape == (3,)
    assert forward_transfer(stack, [0.1]).shape == (3,)
    assert forgetting_per_task(stack).shape == (3, 0)


def test_single_task_and_nan_raise_no_warnings():
    with np.errstate(all="raise"):
        backward_transfer([[0.5]])
        forgetting([[0.5]])
        forward_transfer([[0.5]], [0.0])
        forgetting(np.array([[np.nan, 0.0], [1.0, 1.0]]))


# ---------------------------------------------------------------- bad input


def raises_naming(name):
    return pytest.raises(InvalidParameterError, match=re.escape(f"The {name!r} parameter"))


@pytest.mark.parametrize(
    "function",
    [
        average_score,
        backward_transfer,
        forgetting,
        forgetting_per_task,
        lambda R: forward_transfer(R, [0.0, 0.0]),
        lambda R: intransigence(R, [0.0, 0.0]),
        lambda R: intransigence_per_task(R, [0.0, 0.0]),
    ],
)
@pytest.mark.parametrize("R", [np.zeros((2, 3)), np.zeros(2), np.zeros((0, 0)), np.zeros((4, 2, 3))])
def test_non_square_matrices_are_refused(function, R):
    with raises_naming("R") as error:
        function(R)
    assert "(..., T, T)" in str(error.value)
    assert f"got an array of shape {R.shape}" in str(error.value)


def test_the_error_names_the_function():
    with pytest.raises(InvalidParameterError, match="'R' parameter of backward_transfer must be a square array"):
        backward_transfer(np.zeros((2, 3)))


@pytest.mark.parametrize("b", [[0.0, 0.0], [0.0, 0.0, 0.0, 0.0], 0.0, np.zeros((2, 2))])
def test_wrong_length_baselines_are_refused(b):
    with raises_naming("b") as error:
        forward_transfer(R3, b)
    assert "T = 3" in str(error.value)
    with raises_naming("joint"):
        intransigence(R3, b)
    with raises_naming("joint"):
        intransigence_per_task(R3, b)


def test_baselines_whose_leading_axes_do_not_broadcast_are_refused():
    stack = np.stack([R3, R3])  # 2 runs
    with raises_naming("b"):
        forward_transfer(stack, np.zeros((3, 3)))  # 3 runs of baselines
    with raises_naming("joint"):
        intransigence(stack, np.zeros((3, 3)))


@pytest.mark.parametrize(
    "phase_ends",
    [
        [2, 1, 4],  # not increasing
        [0, 0, 4],  # not strictly increasing
        [0, 2, 5],  # past the last epoch (5 epochs: 0..4)
        [-1, 2, 4],  # negative
        [0, 2],  # one per task is needed
        [0, 1, 2, 3],
        [[0, 2, 4]],  # not 1-D
        [0.0, 2.0, 4.0],  # not integers
        [0, 1.5, 4],
        [False, True, True],
    ],
)
def test_bad_phase_ends_are_refused(phase_ends):
    scores = np.zeros((5, 3))
    with raises_naming("phase_ends") as error:
        score_matrix(scores, phase_ends)
    message = str(error.value)
    assert "of score_matrix" in message
    assert "3 strictly increasing integer epoch indices in [0, 4]" in message


@pytest.mark.parametrize("scores", [np.zeros(5), np.zeros((0, 3)), np.zeros((5, 0)), 1.0])
def test_bad_scores_are_refused(scores):
    with raises_naming("scores"):
        score_matrix(scores, [0])


def test_bad_accuracy_shapes_are_refused():
    with raises_naming("y_pred") as error:
        accuracy([0, 1, 1], [0, 1])
    assert "n_samples = 3" in str(error.value)
    with raises_naming("y_pred"):
        accuracy([0, 1], 0)
    with raises_naming("y_true"):
        accuracy([[0, 1]], [[0, 1]])


def test_invalid_parameter_errors_are_value_errors():
    with pytest.raises(ValueError):
        forgetting(np.zeros((2, 3)))


# ---------------------------------------------------------------- accuracy


def test_accuracy_by_hand_with_leading_axes():
    y = np.array([0, 1, 2, 1])
    assert accuracy(y, [0, 1, 2, 1]) == 1.0
    assert accuracy(y, [0, 0, 0, 0]) == 0.25
    predictions = np.array([[[0, 1, 2, 1], [1, 1, 1, 1]], [[2, 2, 2, 2], [0, 2, 1, 1]]])
    scores = accuracy(y, predictions)
    assert scores.shape == (2, 2)
    assert scores.tolist() == [[1.0, 0.5], [0.25, 0.5]]
    assert accuracy(["a", "b"], ["a", "a"]) == 0.5


def test_accuracy_of_an_empty_set_is_nan():
    assert np.isnan(accuracy([], []))
    scores = accuracy(np.array([]), np.zeros((3, 0)))
    assert scores.shape == (3,) and np.isnan(scores).all()


def test_accuracy_of_a_run_with_nan_predictions_is_nan():
    scores = accuracy([0.0, 1.0, 1.0], [[0.0, 1.0, np.nan], [0.0, 1.0, 0.0]])
    assert np.isnan(scores[0]) and scores[1] == pytest.approx(2 / 3)


labels = st.integers(1, 50).flatmap(
    lambda n: st.tuples(
        arrays(np.int64, n, elements=st.integers(0, 3)),
        arrays(np.int64, n, elements=st.integers(0, 3)),
    )
)


@given(labels)
def test_accuracy_is_in_unit_interval_and_equals_scikit_learn(pair):
    y, p = pair
    score = accuracy(y, p)
    assert 0.0 <= score <= 1.0
    assert score == sklearn.metrics.accuracy_score(y, p)


@given(labels, st.integers(1, 4))
def test_accuracy_over_runs_equals_scikit_learn_per_run(pair, n_runs):
    y, p = pair
    rng = np.random.default_rng(len(y))
    runs = np.stack([p] + [rng.permutation(p) for _ in range(n_runs - 1)])
    scores = accuracy(y, runs)
    assert scores.shape == (n_runs,)
    assert scores.tolist() == [sklearn.metrics.accuracy_score(y, run) for run in runs]


# ---------------------------------------------------------------- properties


@given(matrices_2plus)
def test_bwt_is_minus_the_mean_drop_from_the_diagonal(R):
    T = len(R)
    drops = [R[j, j] - R[T - 1, j] for j in range(T - 1)]
    assert backward_transfer(R) == pytest.approx(-np.mean(drops), rel=1e-12, abs=1e-9)
    assert backward_transfer(R) == pytest.approx(reference_bwt(R.tolist()), rel=1e-12, abs=1e-9)


@given(matrices_2plus)
def test_forgetting_matches_the_loop_definition(R):
    expected = reference_forgetting_per_task(R.tolist())
    np.testing.assert_allclose(forgetting_per_task(R), expected, rtol=1e-12, atol=1e-12)
    assert forgetting(R) == pytest.approx(np.mean(expected), rel=1e-12, abs=1e-9)


@given(matrices_2plus)
def test_forgetting_is_at_least_the_drop_from_the_diagonal(R):
    T = len(R)
    per_task = forgetting_per_task(R)
    for j in range(T - 1):
        assert per_task[j] >= R[j, j] - R[T - 1, j]
    assert forgetting(R) >= -backward_transfer(R) - 1e-9


@given(matrices_2plus)
def test_forgetting_is_nonnegative_when_no_final_score_beats_an_earlier_one(R):
    T = len(R)
    assume(all(R[T - 1, j] <= R[:-1, j].max() for j in range(T - 1)))
    assert (forgetting_per_task(R) >= 0).all()


@given(matrices, st.floats(-100, 100, allow_nan=False))
def test_forgetting_and_transfer_are_invariant_to_a_constant_shift(R, c):
    if len(R) == 1:
        assert np.isnan(forgetting(R + c))
        return
    np.testing.assert_allclose(forgetting_per_task(R + c), forgetting_per_task(R), atol=1e-9)
    assert forgetting(R + c) == pytest.approx(forgetting(R), abs=1e-9)
    assert backward_transfer(R + c) == pytest.approx(backward_transfer(R), abs=1e-9)


@given(matrices, st.floats(-100, 100, allow_nan=False))
def test_average_score_shifts_with_a_constant(R, c):
    assert average_score(R + c) == pytest.approx(average_score(R) + c, abs=1e-9)


@given(st.integers(1, 8), st.floats(-300, 1, allow_nan=False))
def test_constant_matrix(T, c):
    R = np.full((T, T), c)
    assert average_score(R) == pytest.approx(c, abs=1e-12)
    if T > 1:
        assert backward_transfer(R) == 0.0
        assert forgetting(R) == 0.0
        assert forward_transfer(R, np.full(T, c)) == 0.0
    assert intransigence(R, np.full(T, c)) == 0.0


@given(matrices)
def test_fwt_and_intransigence_match_the_loop_definitions(R):
    T = len(R)
    b = np.linspace(-1, 0, T)
    joint = np.linspace(0.5, 1, T)
    if T > 1:
        expected = sum(R[j - 1, j] - b[j] for j in range(1, T)) / (T - 1)
        assert forward_transfer(R, b) == pytest.approx(expected, rel=1e-12, abs=1e-9)
    expected_i = [joint[k] - R[k, k] for k in range(T)]
    np.testing.assert_allclose(intransigence_per_task(R, joint), expected_i, rtol=1e-12)
    assert intransigence(R, joint) == pytest.approx(np.mean(expected_i), rel=1e-12, abs=1e-9)


@given(
    st.integers(1, 5).flatmap(
        lambda t: st.tuples(
            arrays(float, (3, 2 * t, t), elements=finite),
            st.lists(st.integers(0, 2 * t - 1), min_size=t, max_size=t, unique=True).map(sorted),
        )
    )
)
def test_score_matrix_rows_are_the_phase_end_epochs(args):
    scores, ends = args
    R = score_matrix(scores, ends)
    assert R.shape == (3, len(ends), len(ends))
    for run in range(3):
        for i, e in enumerate(ends):
            np.testing.assert_array_equal(R[run, i], scores[run, e])
