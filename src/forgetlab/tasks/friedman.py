"""A drifting regression stream from Friedman's first benchmark (``sklearn.datasets.make_friedman1``).

Inputs ``x`` are uniform on [0, 1]^10; Friedman's concept reads five of them::

    y = w0 sin(pi x[r0] x[r1]) + w1 (x[r2] - 0.5)^2 + w2 x[r3] + w3 x[r4] + noise * N(0, 1)

The standard concept has roles ``r = (0, 1, 2, 3, 4)`` and weights ``w = (10, 20, 10, 5)``,
so inputs 5..9 are distractors. Later tasks keep the input distribution and change the
roles or the weights (see :func:`friedman_concepts`). Inputs are used as drawn (they are
in [0, 1] already); targets are kept raw, not standardised, as in the seasons stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forgetlab.tasks._checks import SEED, TEST_SIZE, split
from forgetlab.tasks.base import Stream, Task
from forgetlab.validation import Constraint, Interval, Options, validate

__all__ = ["DRIFTS", "FRIEDMAN_ROLES", "FRIEDMAN_WEIGHTS", "friedman_concept", "friedman_concepts", "friedman_drift"]

#: How the concept changes from task to task.
DRIFTS = ("permute", "reweight")

#: What each function accepts (:mod:`forgetlab.validation`), checked in this order.
CONSTRAINTS: dict[str, dict[str, Constraint]] = {
    "friedman_concepts": {"n_tasks": Interval(int, 1, None), "drift": Options(*DRIFTS), "seed": SEED},
    "friedman_drift": {
        "n_tasks": Interval(int, 1, None),
        "n_samples": Interval(int, 3, None),
        "noise": Interval(float, 0, None, noun="a finite number"),
        "drift": Options(*DRIFTS),
        "seed": SEED,
        "test_size": TEST_SIZE,
        "split_seed": SEED,
    },
}

#: The inputs the standard concept's terms read: the sine's two, the square's, then the two linear ones.
FRIEDMAN_ROLES = (0, 1, 2, 3, 4)

#: The standard concept's weights of its four terms: the sine, the square and the two linear terms.
FRIEDMAN_WEIGHTS = (10.0, 20.0, 10.0, 5.0)

_N_FEATURES = 10


def friedman_concept(
    x: np.ndarray, roles: Sequence[int] = FRIEDMAN_ROLES, weights: Sequence[float] = FRIEDMAN_WEIGHTS
) -> np.ndarray:
    """Friedman's noiseless target with the given roles and weights.

    Parameters
    ----------
    x : ndarray of shape (n, 10)
        Inputs in [0, 1].
    roles : sequence of 5 ints, default (0, 1, 2, 3, 4)
        The inputs read by the sine (two), the square and the two linear terms.
    weights : sequence of 4 floats, default (10, 20, 10, 5)
        The terms' weights.

    Returns
    -------
    ndarray of shape (n,)
        ``w0 sin(pi x[r0] x[r1]) + w1 (x[r2] - 0.5)^2 + w2 x[r3] + w3 x[r4]``; with the
        defaults, ``make_friedman1``'s target without noise.

    Examples
    --------
    >>> x = np.full((1, 10), 0.5)
    >>> float(friedman_concept(x).round(3)[0])  # 10 sin(pi / 4) + 0 + 5 + 2.5
    14.571
    """
    a, b, c, d, e = (x[:, r] for r in roles)
    w0, w1, w2, w3 = weights
    return w0 * np.sin(np.pi * a * b) + w1 * (c - 0.5) ** 2 + w2 * d + w3 * e


def friedman_concepts(n_tasks: int, drift: str = "permute", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The roles and weights of every task of :func:`friedman_drift`.

    Task 0 is the standard concept. For task ``t >= 1``:

    - ``"permute"``: the inputs are permuted, ``x'[:, j] = x[:, perm_t[j]]`` with
      ``perm_t`` a permutation of all 10 inputs drawn in turn from ``RandomState([seed, 1])``;
      so the terms read inputs ``perm_t[:5]``, informative inputs may become distractors and
      distractors informative. Same inputs, different targets; weights stay standard.
    - ``"reweight"``: the roles stay standard and the weights ``(10, 20, 10, 5)`` shift
      cyclically by ``t``: task 1 weighs the terms ``(5, 10, 20, 10)``, task 2
      ``(10, 5, 10, 20)``, task 3 ``(20, 10, 5, 10)``; period 4, so task 4 is task 0's concept.

    Parameters
    ----------
    n_tasks : int
        Number of tasks, >= 1.
    drift : {"permute", "reweight"}, default "permute"
        How the concept changes.
    seed : int, default 0
        Seed of the permutations (unused by ``"reweight"``).

    Returns
    -------
    roles : ndarray of shape (n_tasks, 5)
    weights : ndarray of shape (n_tasks, 4)

    Examples
    --------
    >>> roles, weights = friedman_concepts(3, "reweight")
    >>> roles[2].tolist(), weights[1].tolist()
    ([0, 1, 2, 3, 4], [5.0, 10.0, 20.0, 10.0])
    >>> roles, _ = friedman_concepts(2, "permute", seed=0)
    >>> roles[1].tolist()
    [9, 4, 0, 8, 1]
    """
    validate("friedman_concepts", CONSTRAINTS["friedman_concepts"], {"n_tasks": n_tasks, "drift": drift, "seed": seed})
    n_tasks, seed = int(n_tasks), int(seed)
    roles = np.tile(FRIEDMAN_ROLES, (n_tasks, 1))
    weights = np.tile(FRIEDMAN_WEIGHTS, (n_tasks, 1))
    if drift == "permute":
        rng = np.random.RandomState([seed, 1])
        for t in range(1, n_tasks):
            roles[t] = rng.permutation(_N_FEATURES)[: len(FRIEDMAN_ROLES)]
    else:
        for t in range(1, n_tasks):
            weights[t] = np.roll(FRIEDMAN_WEIGHTS, t)
    return roles, weights


def friedman_drift(
    n_tasks: int = 3,
    n_samples: int = 200,
    *,
    noise: float = 1.0,
    drift: str = "permute",
    seed: int = 0,
    test_size: float = 0.25,
    split_seed: int = 42,
) -> Stream:
    """A regression stream whose concept drifts: Friedman #1 with a new concept per task.

    With ``rng = RandomState(seed)``, task ``t`` in turn draws ``x = rng.uniform(size=(n_samples, 10))``
    and targets ``friedman_concept(x, roles[t], weights[t]) + noise * rng.standard_normal(n_samples)``
    with the roles and weights of :func:`friedman_concepts` (so task 0 is exactly
    ``make_friedman1(n_samples, 10, noise=noise, random_state=seed)``, and both drifts draw
    the same inputs), then splits them with the same split as scikit-learn's
    ``train_test_split(x, y, random_state=split_seed, test_size=test_size)`` (made without
    importing scikit-learn).

    Parameters
    ----------
    n_tasks : int, default 3
        Number of tasks, >= 1.
    n_samples : int, default 200
        Samples per task, before the train/test split.
    noise : float, default 1.0
        Standard deviation of the Gaussian noise on the targets, >= 0.
    drift : {"permute", "reweight"}, default "permute"
        How the concept changes: the inputs are permuted, or the terms re-weighted.
    seed : int, default 0
        Seed of the inputs, the noise and the permutations.
    test_size : float, default 0.25
        Fraction of each task held out for testing.
    split_seed : int, default 42
        ``random_state`` of each task's train/test split.

    Returns
    -------
    Stream
        A regression stream of tasks ``"friedman 0"``, ``"friedman 1"``, ... with 10 inputs
        (offset 0, scale 1); its description records every task's ``roles`` and ``weights``.

    Raises
    ------
    InvalidParameterError
        For a bad count, a negative or non-finite noise, an unknown drift, a bad seed, or a
        test size leaving fewer than 2 test or 1 training samples.

    Examples
    --------
    >>> stream = friedman_drift(n_tasks=2, n_samples=100)
    >>> stream.task_names, stream.tasks[0].x_train.shape, stream.tasks[0].n_test
    (('friedman 0', 'friedman 1'), (75, 10), 25)
    >>> stream.description["roles"]
    [[0, 1, 2, 3, 4], [9, 4, 0, 8, 1]]
    """
    owner = "friedman_drift"
    given = {"n_tasks": n_tasks, "n_samples": n_samples, "noise": noise, "drift": drift, "seed": seed}
    validate(owner, CONSTRAINTS[owner], {**given, "test_size": test_size, "split_seed": split_seed})
    n_tasks, n_samples, seed = int(n_tasks), int(n_samples), int(seed)
    test_size, split_seed = float(test_size), int(split_seed)

    roles, weights = friedman_concepts(n_tasks, drift, seed)
    rng = np.random.RandomState(seed)
    tasks = []
    for t in range(n_tasks):
        x = rng.uniform(size=(n_samples, _N_FEATURES))
        y = friedman_concept(x, roles[t], weights[t]) + noise * rng.standard_normal(size=n_samples)
        x_train, x_test, y_train, y_test = split(
            x, y, test_size=test_size, split_seed=split_seed, stratify=False, owner=owner
        )
        tasks.append(Task(name=f"friedman {t}", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test))
    description = {
        "kind": "friedman_drift",
        "n_tasks": n_tasks,
        "n_samples": n_samples,
        "noise": float(noise),
        "drift": drift,
        "seed": seed,
        "roles": roles.tolist(),
        "weights": weights.tolist(),
        "test_size": test_size,
        "split_seed": split_seed,
    }
    return Stream(
        tasks=tuple(tasks),
        name="friedman drift",
        input_offset=np.zeros(_N_FEATURES),
        input_scale=np.ones(_N_FEATURES),
        description=description,
    )
