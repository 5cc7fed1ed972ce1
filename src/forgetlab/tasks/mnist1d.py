"""MNIST-1D (Greydanus & Kobak): ten classes of 40-step 1-D signals, and its continual streams.

Each class is a template of 12 values, a 1-D glyph of a digit. A sample is its class's
template passed through random transformations, in this order (:func:`make_mnist1d`):

1. padded with ``p`` zeros at the end, ``p`` uniform in [36, 60], then linearly
   resampled to 72 steps (so the glyph is dilated by a random amount);
2. scaled by ``1 + 0.4 (u - 1/2)``, ``u`` uniform on [0, 1);
3. rotated right by ``k`` steps, ``k`` uniform in [0, 47] (a circular translation);
4. the steps still exactly 0 (the padding) replaced by correlated noise: ``0.25 N(0, 1)``
   per step smoothed by a Gaussian filter of width 2 steps; then iid noise ``0.02 N(0, 1)``
   added to every step;
5. sheared: ``0.75 (u - 1/2) s`` subtracted, ``s`` 72 steps from -1/2 to 1/2;
6. linearly resampled to 40 steps.

``n_samples // 10`` samples are made per class (class 0 first), shuffled, standardised
by the mean and standard deviation of the whole set (one number each, over every sample
and step), and split into the first 80% for training and the rest for testing: with the
defaults, 4000 training and 1000 test signals, each class 400 ± 20 and 100 ± 20 of them.

The random numbers come from ``numpy.random.RandomState(seed)`` (never the global RNG),
drawn in the order of the ``mnist1d`` package's ``make_dataset``, which draws them from
the global RNG after ``np.random.seed(seed)``; so the defaults give the dataset of the
paper: its published ``mnist1d_data.pkl`` to within 1e-15 (linear resampling by
``np.interp``, as SciPy's ``interp1d`` does today), the same labels exactly. Building the
set takes a fraction of a second; it is cached in this process (:func:`make_mnist1d`).

Two classic continual benchmarks over it (van de Ven & Tolias, "Three scenarios for
continual learning"), on the dataset's own train/test split:

- :func:`split_mnist1d`: the ten classes in five tasks of two, ``(0, 1), (2, 3), ...``;
- :func:`permuted_mnist1d`: all ten classes, each task with its own fixed permutation
  of the 40 time steps.

References
----------
Greydanus, S. & Kobak, D. (2020), "Scaling down deep learning with MNIST-1D",
arXiv:2011.14439; https://github.com/greydanus/mnist1d (Apache-2.0), where the templates
and the transformations' settings below come from.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from forgetlab.errors import invalid
from forgetlab.tasks._checks import SCENARIO, SEED
from forgetlab.tasks.base import Stream, Task
from forgetlab.validation import Constraint, Interval, validate

__all__ = [
    "MNIST1D_TEMPLATES",
    "make_mnist1d",
    "mnist1d_permutations",
    "mnist1d_templates",
    "permuted_mnist1d",
    "split_mnist1d",
]

#: The ten glyphs as the paper draws them, one row of 12 values per class (before
#: :func:`mnist1d_templates` normalises them).
MNIST1D_TEMPLATES = np.array(
    [
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ]
)
MNIST1D_TEMPLATES.flags.writeable = False

# The generator's settings: the paper's defaults (the mnist1d package's get_dataset_args).
_N_CLASSES = 10
_N_STEPS = 40
_PADDING = (36, 60)
_DILATED = MNIST1D_TEMPLATES.shape[1] + _PADDING[1]  # 72 steps after padding and resampling
_SCALE_COEFF = 0.4
_MAX_TRANSLATION = 48
_CORR_NOISE_SCALE = 0.25
_CORR_NOISE_SIGMA = 2.0
_IID_NOISE_SCALE = 2e-2
_SHEAR_SCALE = 0.75
_TRAIN_FRACTION = 0.8
_EPS = 1e-8  # added to the template so that only the padding is exactly 0

#: The number of samples :func:`make_mnist1d` accepts: at least one per class, at most a million.
N_SAMPLES = Interval(int, _N_CLASSES, 1_000_000)

#: What each function accepts (:mod:`forgetlab.validation`), checked in this order.
CONSTRAINTS: dict[str, dict[str, Constraint]] = {
    "make_mnist1d": {"n_samples": N_SAMPLES, "seed": SEED},
    "mnist1d_permutations": {"n_tasks": Interval(int, 1, None), "seed": SEED},
    "split_mnist1d": {"scenario": SCENARIO, "n_tasks": Interval(int, 1, 5), "n_samples": N_SAMPLES, "data_seed": SEED},
    "permuted_mnist1d": {
        "n_tasks": Interval(int, 1, None),
        "scenario": SCENARIO,
        "seed": SEED,
        "n_samples": N_SAMPLES,
        "data_seed": SEED,
    },
}


def mnist1d_templates() -> np.ndarray:
    """The ten templates as the generator uses them: standardised, starting at 0, divided by 6.

    Each row of :data:`MNIST1D_TEMPLATES` minus its mean, divided by its standard deviation,
    minus its (new) first value, divided by 6.

    Returns
    -------
    ndarray of shape (10, 12)
        Row ``c`` is class ``c``'s glyph (a fresh array).

    Examples
    --------
    >>> templates = mnist1d_templates()
    >>> templates.shape, bool((templates[:, 0] == 0).all())
    ((10, 12), True)
    """
    x = MNIST1D_TEMPLATES - MNIST1D_TEMPLATES.mean(axis=1, keepdims=True)
    x /= x.std(axis=1, keepdims=True)
    x -= x[:, :1]
    return x / 6.0


def _resample(x: np.ndarray, n_steps: int) -> np.ndarray:
    """Linear interpolation of ``x``, taken as evenly spaced on [0, 1], at ``n_steps`` even points."""
    return np.interp(np.linspace(0, 1, n_steps), np.linspace(0, 1, len(x)), x)


def _transform(template: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One signal of 40 steps from a template (the module's steps 1-6), drawing from ``rng``."""
    from scipy import ndimage  # here, not at import: scipy.ndimage costs a fresh process about 0.2 s

    low, high = _PADDING
    padding = low + int(rng.rand() * (high - low + 1))
    x = _resample(np.concatenate([template + _EPS, np.zeros(padding)]), _DILATED)
    x = x * (1 + _SCALE_COEFF * (rng.rand() - 0.5))
    x = np.roll(x, rng.choice(_MAX_TRANSLATION))
    correlated = ndimage.gaussian_filter1d(_CORR_NOISE_SCALE * rng.randn(_DILATED), _CORR_NOISE_SIGMA)
    x = np.where(x != 0, x, correlated)
    x = x + _IID_NOISE_SCALE * rng.randn(_DILATED)
    x = x - _SHEAR_SCALE * (rng.rand() - 0.5) * np.linspace(-0.5, 0.5, _DILATED)
    return _resample(x, _N_STEPS)


@lru_cache(maxsize=4)
def _mnist1d(n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dataset, built once per ``(n_samples, seed)`` in this process; read-only arrays."""
    rng = np.random.RandomState(seed)
    templates = mnist1d_templates()
    per_class = n_samples // _N_CLASSES
    labels = np.repeat(np.arange(_N_CLASSES, dtype=np.int64), per_class)
    signals = np.stack([_transform(templates[label], rng) for label in labels])
    order = rng.permutation(len(labels))
    signals, labels = signals[order], labels[order]
    signals = (signals - signals.mean()) / signals.std()
    n_train = int(len(labels) * _TRAIN_FRACTION)
    arrays = (signals[:n_train], labels[:n_train], signals[n_train:], labels[n_train:])
    for array in arrays:
        array.flags.writeable = False
    return arrays


def make_mnist1d(n_samples: int = 5000, *, seed: int = 42) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MNIST-1D dataset, generated offline from a seed (the module's recipe).

    Parameters
    ----------
    n_samples : int, default 5000
        Signals in all, in [10, 1_000_000]; ``n_samples // 10`` are made per class, the
        first 80% of the shuffled set train, the rest test.
    seed : int, default 42
        Seed of the generator (``numpy.random.RandomState``); 42 is the paper's dataset.

    Returns
    -------
    x_train : ndarray of shape (n_train, 40)
    y_train : ndarray of shape (n_train,)
        int64 classes 0..9.
    x_test : ndarray of shape (n_test, 40)
    y_test : ndarray of shape (n_test,)
        A fresh copy each call of the arrays cached for ``(n_samples, seed)``.

    Raises
    ------
    InvalidParameterError
        For ``n_samples`` outside [10, 1_000_000] or a seed ``RandomState`` refuses.

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = make_mnist1d()
    >>> x_train.shape, x_test.shape, y_train.dtype.name
    ((4000, 40), (1000, 40), 'int64')
    >>> np.bincount(y_test).tolist()
    [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]
    """
    validate("make_mnist1d", CONSTRAINTS["make_mnist1d"], {"n_samples": n_samples, "seed": seed})
    return tuple(array.copy() for array in _mnist1d(int(n_samples), int(seed)))


def mnist1d_permutations(n_tasks: int, seed: int) -> np.ndarray:
    """The time-step permutations of :func:`permuted_mnist1d`: row ``t`` is task ``t``'s.

    Row 0 is the identity (the first task sees the original signals); rows 1, 2, ... are
    ``RandomState(seed).permutation(40)`` drawn in turn, so a longer stream extends a
    shorter one with the same seed.

    Examples
    --------
    >>> perms = mnist1d_permutations(3, seed=0)
    >>> perms.shape, perms[0].tolist() == list(range(40)), sorted(perms[2].tolist()) == list(range(40))
    ((3, 40), True, True)
    """
    validate("mnist1d_permutations", CONSTRAINTS["mnist1d_permutations"], {"n_tasks": n_tasks, "seed": seed})
    rng = np.random.RandomState(int(seed))
    return np.stack([np.arange(_N_STEPS)] + [rng.permutation(_N_STEPS) for _ in range(int(n_tasks) - 1)])


def _dataset(owner: str, n_samples: int, data_seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cached dataset; a size leaving a class out of the training or the test set is refused."""
    arrays = _mnist1d(n_samples, data_seed)
    _, y_train, _, y_test = arrays
    if min(np.bincount(y_train, minlength=_N_CLASSES).min(), np.bincount(y_test, minlength=_N_CLASSES).min()) == 0:
        allowed = f"large enough for every class in both the training and the test set with data_seed={data_seed}"
        raise invalid("n_samples", owner, allowed, n_samples)
    return arrays


def _stream(name: str, tasks: list[Task], *, scenario: str, n_classes: int, description: dict) -> Stream:
    return Stream(
        tasks=tuple(tasks),
        name=name,
        input_offset=np.zeros(_N_STEPS),
        input_scale=np.ones(_N_STEPS),
        description={**description, "scenario": scenario},
        kind="classification",
        n_classes=n_classes,
        scenario=scenario,
    )


def split_mnist1d(scenario: str = "class", n_tasks: int = 5, *, n_samples: int = 5000, data_seed: int = 42) -> Stream:
    """Split MNIST-1D: task ``t`` holds the classes ``2t`` and ``2t + 1``.

    Each task's training and test sets are the dataset's own (:func:`make_mnist1d`),
    restricted to its two classes: with the defaults, about 800 training and 200 test
    signals per task. The signals are model-ready (standardised by the generator).

    Parameters
    ----------
    scenario : {"class", "task", "domain"}, default "class"
        ``"task"`` and ``"class"`` keep the classes as labels (``n_classes = 2 * n_tasks``,
        task ``t``'s ``classes`` are ``(2t, 2t + 1)``); ``"domain"`` relabels each task to
        0 (its even class) and 1 (its odd class), ``n_classes = 2`` and ``classes = (0, 1)``.
    n_tasks : int, default 5
        Number of tasks, in [1, 5]: the first ``n_tasks`` pairs.
    n_samples : int, default 5000
        Size of the whole dataset (:func:`make_mnist1d`), 80% of it for training.
    data_seed : int, default 42
        Seed of the generator; 42 is the paper's dataset.

    Returns
    -------
    Stream
        Tasks named ``"mnist1d 0-1"``, ``"mnist1d 2-3"``, ...

    Raises
    ------
    InvalidParameterError
        For an unknown scenario, ``n_tasks`` outside [1, 5], a bad size or seed, or a
        size so small that a class is missing from the training or the test set.

    Examples
    --------
    >>> stream = split_mnist1d("class")
    >>> stream.task_names[:2], stream.n_classes, stream.tasks[4].classes
    (('mnist1d 0-1', 'mnist1d 2-3'), 10, (8, 9))
    >>> [task.n_test for task in stream.tasks]
    [206, 195, 204, 195, 200]
    >>> sorted(set(split_mnist1d("domain").tasks[4].y_test.tolist()))
    [0, 1]
    """
    owner = "split_mnist1d"
    given = {"scenario": scenario, "n_tasks": n_tasks, "n_samples": n_samples, "data_seed": data_seed}
    validate(owner, CONSTRAINTS[owner], given)
    n_tasks, n_samples, data_seed = int(n_tasks), int(n_samples), int(data_seed)
    x_train, y_train, x_test, y_test = _dataset(owner, n_samples, data_seed)
    tasks = []
    for t in range(n_tasks):
        pair = (2 * t, 2 * t + 1)
        offset = 2 * t if scenario == "domain" else 0
        train, test = np.isin(y_train, pair), np.isin(y_test, pair)
        tasks.append(
            Task(
                name=f"mnist1d {pair[0]}-{pair[1]}",
                x_train=x_train[train],
                y_train=y_train[train] - offset,
                x_test=x_test[test],
                y_test=y_test[test] - offset,
                classes=(0, 1) if scenario == "domain" else pair,
            )
        )
    return _stream(
        "split mnist1d",
        tasks,
        scenario=scenario,
        n_classes=2 if scenario == "domain" else 2 * n_tasks,
        description={
            "kind": "split_mnist1d",
            "n_tasks": n_tasks,
            "pairs": [[2 * t, 2 * t + 1] for t in range(n_tasks)],
            "n_samples": n_samples,
            "data_seed": data_seed,
        },
    )


def permuted_mnist1d(
    n_tasks: int = 5, *, scenario: str = "domain", seed: int = 0, n_samples: int = 5000, data_seed: int = 42
) -> Stream:
    """Permuted MNIST-1D: every task is all ten classes with its own fixed permutation of the 40 steps.

    Task ``t``'s inputs are ``x[:, perm[t]]``, with ``perm = mnist1d_permutations(n_tasks, seed)``:
    task 0 is the original signals (the identity permutation), the others random. Every
    task permutes the same signals, with the dataset's own train/test split
    (:func:`make_mnist1d`).

    Parameters
    ----------
    n_tasks : int, default 5
        Number of tasks, >= 1.
    scenario : {"domain", "task", "class"}, default "domain"
        ``"domain"``: labels are the classes 0..9, ten output units shared by every task.
        ``"task"``: a separate ten-unit head per task: ``n_classes = 10 * n_tasks``, task
        ``t``'s labels are ``class + 10 t`` and its ``classes`` ``10 t .. 10 t + 9``.
        ``"class"``: the same labels, one head growing over all ``10 * n_tasks`` classes.
    seed : int, default 0
        Seed of the permutations.
    n_samples : int, default 5000
        Size of the whole dataset, 80% of it for training.
    data_seed : int, default 42
        Seed of the generator; 42 is the paper's dataset.

    Returns
    -------
    Stream
        Tasks named ``"permuted mnist1d 0"`` (the identity), ``"permuted mnist1d 1"``, ...

    Raises
    ------
    InvalidParameterError
        For ``n_tasks`` < 1, an unknown scenario, a bad seed or size, or a size so small
        that a class is missing from the training or the test set.

    Examples
    --------
    >>> stream = permuted_mnist1d(3, scenario="task")
    >>> stream.task_names[2], stream.n_classes, stream.tasks[2].classes[:2], stream.tasks[2].x_train.shape
    ('permuted mnist1d 2', 30, (20, 21), (4000, 40))
    """
    owner = "permuted_mnist1d"
    given = {"n_tasks": n_tasks, "scenario": scenario, "seed": seed, "n_samples": n_samples, "data_seed": data_seed}
    validate(owner, CONSTRAINTS[owner], given)
    n_tasks, seed, n_samples, data_seed = int(n_tasks), int(seed), int(n_samples), int(data_seed)
    x_train, y_train, x_test, y_test = _dataset(owner, n_samples, data_seed)
    tasks = []
    for t, perm in enumerate(mnist1d_permutations(n_tasks, seed)):
        offset = 0 if scenario == "domain" else 10 * t
        tasks.append(
            Task(
                name=f"permuted mnist1d {t}",
                x_train=x_train[:, perm],
                y_train=y_train + offset,
                x_test=x_test[:, perm],
                y_test=y_test + offset,
                classes=tuple(range(offset, offset + _N_CLASSES)),
            )
        )
    return _stream(
        "permuted mnist1d",
        tasks,
        scenario=scenario,
        n_classes=_N_CLASSES if scenario == "domain" else _N_CLASSES * n_tasks,
        description={
            "kind": "permuted_mnist1d",
            "n_tasks": n_tasks,
            "seed": seed,
            "n_samples": n_samples,
            "data_seed": data_seed,
        },
    )
