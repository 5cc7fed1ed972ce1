"""Parameter checks and the stratified split the stream generators share."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from forgetlab.errors import invalid
from forgetlab.tasks.base import SCENARIOS

__all__ = ["check_int", "check_scenario", "check_seed", "check_test_size", "split"]


def check_int(name: str, owner: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (no upper bound if ``high`` is None); bools are refused."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        allowed = f"an int in [{low}, {high}]" if high is not None else f"an int >= {low}"
        raise invalid(name, owner, allowed, value)
    return int(value)


def check_seed(name: str, owner: str, value: object) -> int:
    """A seed NumPy's ``RandomState`` accepts: an int in ``[0, 2**32 - 1]``."""
    return check_int(name, owner, value, 0, 2**32 - 1)


def check_test_size(owner: str, value: object) -> float:
    """A test fraction in the open interval (0, 1)."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    if not (ok and 0 < value < 1):
        raise invalid("test_size", owner, "a number in (0, 1)", value)
    return float(value)


def check_scenario(owner: str, value: object) -> str:
    """One of the classification scenarios ``task``, ``domain``, ``class``."""
    if not isinstance(value, str) or value not in SCENARIOS:
        raise invalid("scenario", owner, f"one of {', '.join(SCENARIOS)}", value)
    return value


def split(
    x: np.ndarray, y: np.ndarray, *, test_size: float, split_seed: int, stratify: bool, owner: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``train_test_split`` with ``random_state=split_seed``; a split too small to keep every class
    (or at least 1 training and 2 test samples) on both sides is reported as a bad ``test_size``.

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
