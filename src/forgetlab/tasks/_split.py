"""scikit-learn's ``train_test_split``, without importing scikit-learn.

Importing ``sklearn.model_selection`` costs a fresh process about a second, more than
building any stream. :func:`train_test_split` here is scikit-learn 1.9.1's
``sklearn.model_selection.train_test_split`` for the arguments the stream generators
pass: NumPy arrays, a float ``test_size``, ``train_size=None``, ``shuffle=True``, an int
``random_state`` (or, as scikit-learn also takes, ``None`` or a ``RandomState``), with or
without ``stratify`` (1-D labels). It makes the same random draws, call for call, from
the same ``numpy.random.RandomState`` (:func:`check_random_state`):

- without ``stratify`` (``ShuffleSplit``): one ``permutation(n_samples)``; its first
  ``n_test = ceil(test_size * n_samples)`` entries are the test set, the rest the
  training set;
- with ``stratify`` (``StratifiedShuffleSplit``): the training and then the test count of
  each class (:func:`approximate_mode`, ties broken at random), then one permutation of
  each class's samples (classes in sorted order), the first ones training and the next
  test; finally a permutation of the training and one of the test indices.

So its arrays equal scikit-learn's exactly (tests/test_split.py checks them against the
installed scikit-learn), and it raises ``ValueError`` where scikit-learn does for these
arguments.
"""

from __future__ import annotations

import numbers
from math import ceil

import numpy as np

__all__ = ["approximate_mode", "check_random_state", "train_test_split"]


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` samples to take from each class: scikit-learn's ``_approximate_mode``.

    Each class gets the floor of its share ``class_counts / class_counts.sum() * n_draws``;
    the samples still missing go to the classes of largest remainder, and among classes
    of equal remainder to ``rng.choice(..., replace=False)`` of them (the one draw made).

    Parameters
    ----------
    class_counts : ndarray of int
        Samples per class.
    n_draws : int
        Samples to take in all.
    rng : numpy.random.RandomState
        Breaks ties.

    Returns
    -------
    ndarray of int
        Samples per class, summing to ``n_draws``.

    Examples
    --------
    >>> approximate_mode(np.array([4, 2]), 3, np.random.RandomState(0)).tolist()
    [2, 1]
    >>> approximate_mode(np.array([2, 2, 2, 1]), 2, np.random.RandomState(42)).tolist()
    [1, 1, 0, 0]
    """
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def check_random_state(seed: int | np.random.RandomState | None) -> np.random.RandomState:
    """The generator of a ``random_state``: scikit-learn's ``check_random_state``.

    ``None`` is NumPy's global ``RandomState``, an int seeds a new one, a ``RandomState``
    is used as it is; anything else is a ``ValueError``.

    Examples
    --------
    >>> check_random_state(0).randint(100) == np.random.RandomState(0).randint(100)
    True
    """
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(f"{seed!r} cannot be used to seed a numpy.random.RandomState instance")


def _sizes(n_samples: int, test_size: float) -> tuple[int, int]:
    """``(n_train, n_test)``: scikit-learn's ``_validate_shuffle_split`` for a float ``test_size``."""
    if np.asarray(test_size).dtype.kind != "f":
        raise TypeError(f"test_size must be a float in (0, 1) here; got {test_size!r}")
    if test_size <= 0 or test_size >= 1:
        raise ValueError(
            f"test_size={test_size} should be either positive and smaller than the number of samples "
            f"{n_samples} or a float in the (0, 1) range"
        )
    n_test = ceil(test_size * n_samples)
    n_train = n_samples - n_test
    if n_train == 0:
        raise ValueError(
            f"With n_samples={n_samples}, test_size={test_size} and train_size=None, the resulting "
            "train set will be empty. Adjust any of the aforementioned parameters."
        )
    return n_train, n_test


def _stratified_indices(
    y: np.ndarray, n_train: int, n_test: int, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """The training and test indices of ``StratifiedShuffleSplit``'s first split."""
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = classes.shape[0]
    if np.min(class_counts) < 2:
        raise ValueError(
            "The least populated classes in y have only 1 member, which is too few. The minimum number of "
            "groups for any class cannot be less than 2. Classes with too few members are: "
            f"{classes[class_counts < 2].tolist()}"
        )
    if n_train < n_classes:
        raise ValueError(
            f"The train_size = {n_train} should be greater or equal to the number of classes = {n_classes}"
        )
    if n_test < n_classes:
        raise ValueError(f"The test_size = {n_test} should be greater or equal to the number of classes = {n_classes}")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(n_classes):
        permutation = rng.permutation(class_counts[i])
        members = class_indices[i].take(permutation, mode="clip")
        train.append(members[: n_i[i]])
        test.append(members[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def train_test_split(
    *arrays: np.ndarray,
    test_size: float,
    random_state: int | np.random.RandomState | None,
    stratify: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Split arrays into random train and test subsets: the same split as scikit-learn's ``train_test_split``.

    Equal, array for array, to scikit-learn 1.9.1's ``train_test_split(*arrays,
    test_size=test_size, random_state=random_state, stratify=stratify)`` (``train_size=None``,
    ``shuffle=True``); see the module's description of the draws.

    Parameters
    ----------
    *arrays : ndarray
        Arrays of the same length (first dimension), split along it.
    test_size : float
        Fraction of the samples held out for testing, in (0, 1): ``ceil(test_size * n)`` of them.
    random_state : int, numpy.random.RandomState or None
        Seed of the ``numpy.random.RandomState`` that draws the split (:func:`check_random_state`).
    stratify : ndarray of shape (n,), optional
        Class labels: each class is split in the proportion ``test_size`` (to within a sample).

    Returns
    -------
    list of ndarray
        ``[arrays[0][train], arrays[0][test], arrays[1][train], arrays[1][test], ...]``.

    Raises
    ------
    ValueError
        Where scikit-learn raises it: no arrays, arrays (or ``stratify``) of different
        lengths, ``test_size`` outside (0, 1) or leaving no training sample, and when
        stratifying, labels that are not finite, a class with a single sample or fewer
        training or test samples than classes. Also for a ``random_state`` that is not an
        int in [0, 2**32 - 1], a ``RandomState`` or ``None``.
    TypeError
        For a ``test_size`` that is not a float (scikit-learn would read an int as a count).

    Examples
    --------
    >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0)
    >>> y_train.tolist(), y_test.tolist(), x_test.tolist()
    ([1, 3, 4], [2, 0], [[4, 5], [0, 1]])
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> _, y_test = train_test_split(labels, test_size=0.5, random_state=1, stratify=labels)
    >>> sorted(y_test.tolist())
    [0, 0, 1, 1]
    """
    if not arrays:
        raise ValueError("At least one array required as input")
    lengths = [len(array) for array in (*arrays, *(() if stratify is None else (stratify,)))]
    if len(set(lengths)) > 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    n_train, n_test = _sizes(lengths[0], test_size)
    rng = check_random_state(random_state)
    if stratify is None:
        permutation = rng.permutation(lengths[0])
        train, test = permutation[n_test : n_test + n_train], permutation[:n_test]
    else:
        labels = np.asarray(stratify)
        if labels.ndim != 1:
            raise ValueError(f"stratify must be 1-D labels here; got shape {labels.shape}")
        if labels.dtype.kind in "fc" and not np.isfinite(labels).all():
            raise ValueError("Input y contains NaN or infinity.")
        train, test = _stratified_indices(labels, n_train, n_test, rng)
    return [part for array in arrays for part in (array[train], array[test])]
