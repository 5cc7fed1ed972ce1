"""Scores of a model on a task's whole test set."""

from __future__ import annotations

import numpy as np

__all__ = ["r2_score"]


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
