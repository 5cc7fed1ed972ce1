r"""Scores of a model on a task's whole test set, and continual-learning metrics.

Two kinds of function live here:

- scores over one test set: :func:`r2_score` and :func:`accuracy`;
- metrics of a sequential stream of ``T`` tasks, computed from the score matrix ``R``
  (built by :func:`score_matrix`), where ``R[..., i, j]`` is the score on task ``j``
  after the training phase on task ``i``: :func:`average_score` (ACC),
  :func:`backward_transfer` (BWT), :func:`forward_transfer` (FWT), :func:`forgetting`
  and :func:`intransigence` (with per-task variants).

Conventions shared by the stream metrics:

- ``R`` has shape ``(T, T)`` or ``(..., T, T)``; leading axes (e.g. one per run or
  seed) are kept, so a stack of matrices gives the stack of results.
- Any score can be used: accuracy, R², ... R² is unbounded below, so differences of
  R² (forgetting, transfer) are unbounded too and can far exceed 1.
- NaN entries (a diverged run, an undefined R²) propagate: a metric that uses a NaN
  entry is NaN (per-task values are NaN only for the tasks that use it).
- BWT, FWT and forgetting average over the ``T - 1`` earlier (or later) tasks and are
  NaN when ``T = 1``: with a single task there is nothing to transfer or forget.
- Bad input raises :class:`~forgetlab.errors.InvalidParameterError` naming the
  parameter.

Examples
--------
The tutorial's sequential schedule (one epoch of summer, then nine of autumn) in R²,
with an illustrative score of the summer model on autumn:

>>> R = np.array([[0.974, -3.0],
...               [-204.986, 1.0]])
>>> round(float(forgetting(R)), 3)
205.96
>>> round(float(backward_transfer(R)), 3)
-205.96
>>> round(float(average_score(R)), 3)
-101.993
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from forgetlab.errors import invalid

__all__ = [
    "accuracy",
    "average_score",
    "backward_transfer",
    "forgetting",
    "forgetting_per_task",
    "forward_transfer",
    "intransigence",
    "intransigence_per_task",
    "r2_score",
    "score_matrix",
]


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray | float:
    """Coefficient of determination over a whole test set, for one run or many.

    .. math:: R^2 = 1 - \\frac{\\sum_i (y_i - \\hat y_i)^2}{\\sum_i (y_i - \\bar y)^2}

    Computed once over every sample of the set (never averaged over minibatches), with
    the same operations as scikit-learn's ``r2_score`` so that values agree exactly.

    Parameters
    ----------
    y_true : ndarray of shape (n_samples,)
        Targets, shared by all runs.
    y_pred : ndarray of shape (..., n_samples)
        Predictions; leading axes (e.g. one per run) are kept.

    Returns
    -------
    float or ndarray of shape (...)
        R² per leading index. Unbounded below: a model worse than predicting the mean
        scores below 0 (the tutorial's forgotten summer scores about -200).

    Notes
    -----
    R² is undefined when the targets are constant (zero total sum of squares) or when
    there are fewer than two samples; it is then NaN (scikit-learn returns 0 or 1 by
    default instead).

    Examples
    --------
    >>> y = np.array([1.0, 2.0, 3.0])
    >>> float(r2_score(y, np.array([1.0, 2.0, 3.0])))
    1.0
    >>> float(r2_score(y, np.array([3.0, 2.0, 1.0])))
    -3.0
    >>> r2_score(y, np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])).tolist()
    [1.0, 0.0]
    >>> float(r2_score(np.array([1.0, 1.0]), np.array([1.0, 1.0])))
    nan
    """
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape[-1] < 2:
        return np.full(y_pred.shape[:-1], np.nan)[()]
    numerator = np.sum((y_true - y_pred) ** 2, axis=-1)
    denominator = np.sum((y_true - np.mean(y_true)) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1 - numerator / denominator if denominator > 0 else np.full(numerator.shape, np.nan)
    return score[()] if isinstance(score, np.ndarray) else score


class _Shape(tuple):
    """A shape that reads as such in an error message: ``got an array of shape (2, 3)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"an array of shape {tuple(self)}"


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray | float:
    r"""Fraction of correctly predicted labels over a whole test set, for one run or many.

    .. math:: \mathrm{acc} = \frac{1}{n} \sum_{i=1}^{n} [\hat y_i = y_i]

    Equal to scikit-learn's ``accuracy_score`` (unweighted, normalised).

    Parameters
    ----------
    y_true : array_like of shape (n_samples,)
        True labels, shared by all runs.
    y_pred : array_like of shape (..., n_samples)
        Predicted labels; leading axes (e.g. one per run) are kept.

    Returns
    -------
    float or ndarray of shape (...)
        Accuracy in [0, 1] per leading index.

    Raises
    ------
    InvalidParameterError
        If ``y_true`` is not 1-D or the last axis of ``y_pred`` is not ``n_samples`` long.

    Notes
    -----
    NaN for an empty test set, and, when the predictions are floats, for a run with a NaN
    prediction (a diverged run), rather than counting that prediction as wrong.

    Examples
    --------
    >>> float(accuracy([0, 1, 1, 2], [0, 1, 2, 2]))
    0.75
    >>> accuracy([0, 1], [[0, 1], [1, 1], [1, 0]]).tolist()
    [1.0, 0.5, 0.0]
    >>> accuracy([0.0, 1.0], [[0.0, 1.0], [0.0, np.nan]]).tolist()
    [1.0, nan]
    >>> float(accuracy([], []))
    nan
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1:
        raise invalid("y_true", "accuracy", "a 1-D array of labels", _Shape(y_true.shape))
    n_samples = y_true.shape[0]
    if y_pred.ndim < 1 or y_pred.shape[-1] != n_samples:
        allowed = f"an array of labels of shape (..., n_samples) with n_samples = {n_samples} (as y_true)"
        raise invalid("y_pred", "accuracy", allowed, _Shape(y_pred.shape))
    if n_samples == 0:
        return np.full(y_pred.shape[:-1], np.nan)[()]
    score = np.asarray(np.count_nonzero(y_pred == y_true, axis=-1) / n_samples, dtype=float)
    if y_pred.dtype.kind in "fc":
        score = np.where(np.isnan(y_pred).any(axis=-1), np.nan, score)
    return score[()]


def score_matrix(scores: ArrayLike, phase_ends: ArrayLike) -> np.ndarray:
    r"""The score matrix ``R`` of a sequential stream, from scores recorded after every epoch.

    .. math:: R_{i,j} = s_{e_i,\,j}

    where :math:`s_{e,j}` is the score on task :math:`j` after epoch :math:`e` and
    :math:`e_i` is the last epoch of phase :math:`i` (training on task :math:`i`).

    Parameters
    ----------
    scores : array_like of shape (..., n_epochs, T)
        Score on each of the ``T`` tasks after each epoch; leading axes (e.g. one per
        run) are kept.
    phase_ends : array_like of int, shape (T,)
        For each phase, the 0-based position along the epoch axis of its last epoch;
        strictly increasing, in ``[0, n_epochs - 1]``. For ``Sequential(epochs_per_task=c)``
        it is ``np.cumsum(c) - 1``, e.g. ``[0, 9]`` for the tutorial's ``(1, 9)``.

    Returns
    -------
    ndarray of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i``; NaN scores are kept.

    Raises
    ------
    InvalidParameterError
        If ``scores`` has fewer than two axes or an empty one, or ``phase_ends`` is not
        ``T`` strictly increasing integers within the epoch range.

    Examples
    --------
    >>> scores = np.array([[0.97, -3.0],      # epoch 0: after summer
    ...                    [-150.0, 0.8],     # epoch 1: autumn
    ...                    [-205.0, 1.0]])    # epoch 2: autumn (end of the stream)
    >>> score_matrix(scores, [0, 2]).tolist()
    [[0.97, -3.0], [-205.0, 1.0]]
    >>> score_matrix(np.stack([scores, 2 * scores]), [0, 2]).shape  # two runs
    (2, 2, 2)
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim < 2 or scores.shape[-1] < 1 or scores.shape[-2] < 1:
        allowed = "an array of shape (..., n_epochs, T) with n_epochs >= 1 and T >= 1"
        raise invalid("scores", "score_matrix", allowed, _Shape(scores.shape))
    n_epochs, n_tasks = scores.shape[-2:]
    ends = np.asarray(phase_ends)
    ok = (
        ends.ndim == 1
        and ends.shape[0] == n_tasks
        and ends.dtype.kind in "iu"
        and bool(np.all(ends >= 0))
        and bool(np.all(ends < n_epochs))
        and bool(np.all(np.diff(ends) > 0))
    )
    if not ok:
        allowed = (
            f"{n_tasks} strictly increasing integer epoch indices in [0, {n_epochs - 1}]"
            " (one per task: the last epoch of each phase)"
        )
        raise invalid("phase_ends", "score_matrix", allowed, phase_ends)
    return scores[..., ends, :]


def _check_matrix(R: ArrayLike, owner: str) -> np.ndarray:
    """``R`` as a float array of shape (..., T, T) with T >= 1, or an InvalidParameterError."""
    R = np.asarray(R, dtype=float)
    if R.ndim < 2 or R.shape[-1] != R.shape[-2] or R.shape[-1] < 1:
        raise invalid("R", owner, "a square array of shape (T, T) or (..., T, T) with T >= 1", _Shape(R.shape))
    return R


def _check_per_task(values: ArrayLike, name: str, owner: str, R: np.ndarray) -> np.ndarray:
    """``values`` as a float array of shape (..., T) broadcastable with R's leading axes."""
    values = np.asarray(values, dtype=float)
    n_tasks = R.shape[-1]
    ok = values.ndim >= 1 and values.shape[-1] == n_tasks
    if ok:
        try:
            np.broadcast_shapes(values.shape[:-1], R.shape[:-2])
        except ValueError:
            ok = False
    if not ok:
        allowed = (
            f"an array of T = {n_tasks} scores (one per task), of shape ({n_tasks},) "
            f"or with leading axes that broadcast with R's {R.shape[:-2]}"
        )
        raise invalid(name, owner, allowed, _Shape(values.shape))
    return values


def _nan(R: np.ndarray) -> np.ndarray | float:
    """NaN for each leading index of ``R``."""
    return np.full(R.shape[:-2], np.nan)[()]


def average_score(R: ArrayLike) -> np.ndarray | float:
    r"""Average score on all tasks at the end of the stream (ACC).

    .. math:: \mathrm{ACC} = \frac{1}{T} \sum_{j=0}^{T-1} R_{T-1,\,j}

    Lopez-Paz & Ranzato (2017), "Gradient Episodic Memory for Continual Learning",
    NeurIPS; the same in Avalanche, Mammoth and Continuum.

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).

    Returns
    -------
    float or ndarray of shape (...)
        ACC per leading index; NaN if any final score is NaN.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes.

    Examples
    --------
    >>> float(average_score([[0.9, 0.1], [0.5, 0.8]]))
    0.65
    >>> average_score([[[1.0]], [[0.5]]]).tolist()  # two runs of one task
    [1.0, 0.5]
    """
    R = _check_matrix(R, "average_score")
    return np.mean(R[..., -1, :], axis=-1)[()]


def backward_transfer(R: ArrayLike) -> np.ndarray | float:
    r"""Backward transfer (BWT): how training on later tasks changed the earlier ones.

    .. math:: \mathrm{BWT} = \frac{1}{T-1} \sum_{j=0}^{T-2} \left( R_{T-1,\,j} - R_{j,\,j} \right)

    Lopez-Paz & Ranzato (2017), "Gradient Episodic Memory for Continual Learning",
    NeurIPS (also Mammoth's). Negative values mean forgetting. Continuum instead averages
    :math:`R_{i,j} - R_{j,j}` over all pairs :math:`i > j` (Díaz-Rodríguez et al. 2018);
    that is a different number.

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).

    Returns
    -------
    float or ndarray of shape (...)
        BWT per leading index. NaN when ``T = 1`` (undefined) or when an entry it uses
        is NaN. In R² it is unbounded below.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes.

    Examples
    --------
    >>> R = np.array([[0.9, 0.2, 0.1],
    ...               [0.7, 0.8, 0.3],
    ...               [0.6, 0.5, 0.9]])
    >>> round(float(backward_transfer(R)), 6)  # ((0.6 - 0.9) + (0.5 - 0.8)) / 2
    -0.3
    >>> float(backward_transfer([[0.9]]))
    nan
    """
    R = _check_matrix(R, "backward_transfer")
    if R.shape[-1] == 1:
        return _nan(R)
    diagonal = np.diagonal(R, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore"):
        return np.mean(R[..., -1, :-1] - diagonal[..., :-1], axis=-1)[()]


def forward_transfer(R: ArrayLike, b: ArrayLike) -> np.ndarray | float:
    r"""Forward transfer (FWT): how earlier tasks helped a task before it was trained on.

    .. math:: \mathrm{FWT} = \frac{1}{T-1} \sum_{j=1}^{T-1} \left( R_{j-1,\,j} - b_j \right)

    Lopez-Paz & Ranzato (2017), "Gradient Episodic Memory for Continual Learning",
    NeurIPS (also Mammoth's), with :math:`b_j` the score on task :math:`j` of the
    randomly initialised model.

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).
    b : array_like of shape (T,) or (..., T)
        Score of the randomly initialised model on each task (``b[0]`` is unused);
        leading axes broadcast with those of ``R`` (e.g. one initialisation per run).

    Returns
    -------
    float or ndarray of shape (...)
        FWT per leading index. NaN when ``T = 1`` (undefined) or when an entry it uses
        is NaN.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes, or ``b`` does not hold ``T`` scores.

    Examples
    --------
    >>> R = np.array([[0.9, 0.2, 0.1],
    ...               [0.7, 0.8, 0.3],
    ...               [0.6, 0.5, 0.9]])
    >>> round(float(forward_transfer(R, [0.1, 0.1, 0.2])), 6)  # ((0.2 - 0.1) + (0.3 - 0.2)) / 2
    0.1
    """
    R = _check_matrix(R, "forward_transfer")
    b = _check_per_task(b, "b", "forward_transfer", R)
    if R.shape[-1] == 1:
        return np.full(np.broadcast_shapes(R.shape[:-2], b.shape[:-1]), np.nan)[()]
    above_diagonal = np.diagonal(R, offset=1, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore"):
        return np.mean(above_diagonal - b[..., 1:], axis=-1)[()]


def forgetting_per_task(R: ArrayLike) -> np.ndarray:
    r"""Forgetting of each earlier task at the end of the stream (Chaudhry et al. 2018).

    .. math:: f_j = \max_{l \in \{0, \dots, T-2\}} R_{l,\,j} - R_{T-1,\,j}, \qquad j = 0, \dots, T-2

    That is :math:`f_j^{k}` of Chaudhry et al. (2018), "Riemannian Walk for Incremental
    Learning: Understanding Forgetting and Intransigence", ECCV, at :math:`k = T-1`: the
    best score task :math:`j` ever had before the last phase (every earlier phase counts,
    as in the paper's formula, including phases before task :math:`j` was trained on),
    minus its final score. Since the maximum includes phase :math:`j`,
    :math:`f_j \ge R_{j,j} - R_{T-1,j}`; it is negative only when the final score beats
    every earlier one.

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).

    Returns
    -------
    ndarray of shape (..., T - 1)
        ``f_j`` for ``j = 0, ..., T - 2``; empty when ``T = 1``. ``f_j`` is NaN when a
        score of task ``j`` in any phase is NaN.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes.

    See Also
    --------
    forgetting : the average over tasks.

    Examples
    --------
    >>> R = np.array([[0.9, 0.2, 0.1],
    ...               [0.7, 0.8, 0.3],
    ...               [0.6, 0.5, 0.9]])
    >>> forgetting_per_task(R).round(6).tolist()  # [0.9 - 0.6, 0.8 - 0.5]
    [0.3, 0.3]
    """
    R = _check_matrix(R, "forgetting_per_task")
    if R.shape[-1] == 1:
        return np.empty((*R.shape[:-2], 0))
    with np.errstate(invalid="ignore"):
        return np.max(R[..., :-1, :-1], axis=-2) - R[..., -1, :-1]


def forgetting(R: ArrayLike) -> np.ndarray | float:
    r"""Average forgetting at the end of the stream (Chaudhry et al. 2018).

    .. math::

        F = \frac{1}{T-1} \sum_{j=0}^{T-2} f_j, \qquad
        f_j = \max_{l \in \{0, \dots, T-2\}} R_{l,\,j} - R_{T-1,\,j}

    Chaudhry et al. (2018), "Riemannian Walk for Incremental Learning: Understanding
    Forgetting and Intransigence", ECCV (their :math:`F_k` at :math:`k = T-1`); per-task
    values are :func:`forgetting_per_task`. Other libraries differ: Avalanche uses
    :math:`R_{j,j} - R_{T-1,j}` (no maximum, i.e. :math:`-\mathrm{BWT}`), Mammoth takes
    the maximum over all rows including the last one (never negative).

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).

    Returns
    -------
    float or ndarray of shape (...)
        Average forgetting per leading index. NaN when ``T = 1`` (undefined) or when an
        entry it uses is NaN. Measured in accuracy it lies in [-1, 1]; R² is unbounded
        below, so forgetting in R² can far exceed 1: the tutorial's summer goes from
        R² 0.97 to -205, a forgetting of about 206.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes.

    Examples
    --------
    The maximum need not be on the diagonal: task 0 peaks after phase 1.

    >>> R = np.array([[0.5, 0.0, 0.0],
    ...               [0.9, 0.8, 0.0],
    ...               [0.6, 0.7, 0.9]])
    >>> round(float(forgetting(R)), 6)  # ((0.9 - 0.6) + (0.8 - 0.7)) / 2
    0.2
    >>> round(float(forgetting([[0.97, -3.0], [-205.0, 1.0]])), 2)  # R², the tutorial's summer
    205.97
    >>> float(forgetting([[0.9]]))
    nan
    """
    R = _check_matrix(R, "forgetting")
    if R.shape[-1] == 1:
        return _nan(R)
    return np.mean(forgetting_per_task(R), axis=-1)[()]


def intransigence_per_task(R: ArrayLike, joint: ArrayLike) -> np.ndarray:
    r"""Intransigence on each task: how much less it was learnt than by joint training.

    .. math:: I_k = a^*_k - R_{k,\,k}, \qquad k = 0, \dots, T-1

    Chaudhry et al. (2018), "Riemannian Walk for Incremental Learning: Understanding
    Forgetting and Intransigence", ECCV, with :math:`a^*_k` the score on task :math:`k`
    of a reference model trained jointly on tasks :math:`0, \dots, k`. The paper reports
    the last one, ``intransigence_per_task(R, joint)[..., -1]``.

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).
    joint : array_like of shape (T,) or (..., T)
        :math:`a^*_k` for each task; leading axes broadcast with those of ``R``.

    Returns
    -------
    ndarray of shape (..., T)
        :math:`I_k` for every task, defined also when ``T = 1``; NaN where ``joint[k]``
        or ``R[k, k]`` is NaN.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes, or ``joint`` does not hold ``T`` scores.

    See Also
    --------
    intransigence : the average over tasks.

    Examples
    --------
    >>> R = np.array([[0.9, 0.2],
    ...               [0.6, 0.7]])
    >>> intransigence_per_task(R, [0.95, 0.9]).round(6).tolist()
    [0.05, 0.2]
    """
    R = _check_matrix(R, "intransigence_per_task")
    joint = _check_per_task(joint, "joint", "intransigence_per_task", R)
    with np.errstate(invalid="ignore"):
        return joint - np.diagonal(R, axis1=-2, axis2=-1)


def intransigence(R: ArrayLike, joint: ArrayLike) -> np.ndarray | float:
    r"""Average intransigence over all tasks (Chaudhry et al. 2018).

    .. math:: I = \frac{1}{T} \sum_{k=0}^{T-1} \left( a^*_k - R_{k,\,k} \right)

    The mean over tasks of :func:`intransigence_per_task` (Chaudhry et al. 2018,
    "Riemannian Walk for Incremental Learning", ECCV, define :math:`I_k` per task and
    report the last; averaging over tasks follows later benchmarks, e.g. BeGin).

    Parameters
    ----------
    R : array_like of shape (..., T, T)
        ``R[..., i, j]``: score on task ``j`` after phase ``i`` (see :func:`score_matrix`).
    joint : array_like of shape (T,) or (..., T)
        Score on task ``k`` of a model trained jointly on tasks ``0..k``; leading axes
        broadcast with those of ``R``.

    Returns
    -------
    float or ndarray of shape (...)
        Average intransigence per leading index; NaN if any term is NaN. Positive when
        the stream learns its tasks less well than joint training.

    Raises
    ------
    InvalidParameterError
        If ``R`` is not square in its last two axes, or ``joint`` does not hold ``T`` scores.

    Examples
    --------
    >>> R = np.array([[0.9, 0.2],
    ...               [0.6, 0.7]])
    >>> round(float(intransigence(R, [0.95, 0.9])), 6)
    0.125
    """
    R = _check_matrix(R, "intransigence")
    joint = _check_per_task(joint, "joint", "intransigence", R)
    return np.mean(intransigence_per_task(R, joint), axis=-1)[()]
