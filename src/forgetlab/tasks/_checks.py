"""The constraints the stream generators share, and their stratified split."""

from __future__ import annotations

import numpy as np

from forgetlab.errors import invalid
from forgetlab.tasks._split import train_test_split
from forgetlab.tasks.base import SCENARIOS
from forgetlab.validation import Interval, Options

__all__ = ["SCENARIO", "SEED", "TEST_SIZE", "split"]

#: A seed NumPy's ``RandomState`` accepts.
SEED = Interval(int, 0, 2**32 - 1)

#: A test fraction; whether it leaves enough samples on both sides is :func:`split`'s check.
TEST_SIZE = Interval(float, 0, 1, closed="neither")

#: One of the classification scenarios ``task``, ``domain``, ``class``.
SCENARIO = Options(*SCENARIOS)


def split(
    x: np.ndarray, y: np.ndarray, *, test_size: float, split_seed: int, stratify: bool, owner: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same split as scikit-learn's ``train_test_split(x, y, test_size=test_size,
    random_state=split_seed, stratify=y if stratify else None)`` (:mod:`forgetlab.tasks._split`,
    without importing scikit-learn); a split too small to keep every class (or at least 1
    training and 2 test samples) on both sides is reported as a bad ``test_size``.

    Returns
    -------
    x_train, x_test, y_train, y_test : ndarray
    """
    n_groups = len(np.unique(y)) if stratify else 1
    n_test = int(np.ceil(test_size * len(y)))
    allowed = f"a fraction leaving >= {max(2, n_groups)} test and >= {n_groups} training samples of {len(y)}"
    if n_test < max(2, n_groups) or len(y) - n_test < n_groups:
        raise invalid("test_size", owner, allowed, test_size)
    try:
        return train_test_split(x, y, test_size=test_size, random_state=split_seed, stratify=y if stratify else None)
    except ValueError as error:  # e.g. a class with a single sample cannot be stratified
        raise invalid("test_size", owner, allowed, test_size) from error
