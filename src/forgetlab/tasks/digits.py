"""Classification streams from scikit-learn's bundled 8×8 handwritten digits (no download).

The 1797 images of ``sklearn.datasets.load_digits`` have pixel values 0..16; every stream
here feeds them to the model as ``x = pixels / 16`` in [0, 1], shape (n, 64), with
int64 labels. They are read from the file scikit-learn ships
(``sklearn/datasets/data/digits.csv.gz``) without importing scikit-learn. Each task is
split into train and test sets with the same split as scikit-learn's
``train_test_split(..., random_state=split_seed, test_size=test_size, stratify=labels)``
(made without importing it either), so every class of a task is in both of its sets.

Three classic benchmarks (van de Ven & Tolias, "Three scenarios for continual learning"):

- :func:`split_digits`: the ten digits in five tasks of two, ``(0, 1), (2, 3), ...``;
- :func:`permuted_digits`: all ten digits, each task with its own fixed pixel permutation;
- :func:`rotated_digits`: all ten digits, each task rotated by its own angle.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from forgetlab.tasks._checks import SCENARIO, SEED, TEST_SIZE, split
from forgetlab.tasks.base import Stream, Task
from forgetlab.validation import Constraint, Interval, SequenceOf, validate

__all__ = [
    "digit_permutations",
    "load_digit_images",
    "permuted_digits",
    "rotate_images",
    "rotated_digits",
    "split_digits",
]

#: What each stream function accepts (:mod:`forgetlab.validation`), checked in this order.
CONSTRAINTS: dict[str, dict[str, Constraint]] = {
    "split_digits": {"scenario": SCENARIO, "n_tasks": Interval(int, 1, 5), "test_size": TEST_SIZE, "split_seed": SEED},
    "digit_permutations": {"n_tasks": Interval(int, 1, None), "seed": SEED},
    "permuted_digits": {
        "n_tasks": Interval(int, 1, None),
        "scenario": SCENARIO,
        "seed": SEED,
        "test_size": TEST_SIZE,
        "split_seed": SEED,
    },
    "rotated_digits": {
        "angles": SequenceOf(Interval(float, None, None, noun="a finite number"), non_empty=True, note="(degrees)"),
        "scenario": SCENARIO,
        "test_size": TEST_SIZE,
        "split_seed": SEED,
    },
}

_N_PIXELS = 64
_MAX_PIXEL = 16.0


def _digits_file() -> Path:
    """Where scikit-learn keeps the digits: its ``datasets/data/digits.csv.gz``, found without importing it.

    ``importlib.util.find_spec("sklearn")`` locates the installed package without running it.

    Raises
    ------
    FileNotFoundError
        If scikit-learn is not installed or its copy of the file is missing.

    Examples
    --------
    >>> _digits_file().name
    'digits.csv.gz'
    """
    spec = importlib.util.find_spec("sklearn")
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "The digits streams read scikit-learn's sklearn/datasets/data/digits.csv.gz, which was not found: "
        "install scikit-learn (pip install scikit-learn)."
    )


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits as ``sklearn.datasets.load_digits()`` gives them, read from :func:`_digits_file`.

    The same parse of the same file (``np.loadtxt`` of its 65 comma-separated columns), so
    the arrays equal ``load_digits().data`` and ``load_digits().target`` exactly.

    Returns
    -------
    data : ndarray of shape (1797, 64)
        float64 pixel values 0..16, one flattened 8×8 image per row.
    target : ndarray of shape (1797,)
        The digits 0..9, as ``int`` (int64 on Linux).

    Raises
    ------
    FileNotFoundError
        As :func:`_digits_file`.

    Examples
    --------
    >>> data, target = _read_digits()
    >>> data.shape, data.dtype.name, target[:5].tolist()
    ((1797, 64), 'float64', [0, 1, 2, 3, 4])
    """
    with gzip.open(_digits_file(), mode="rt", encoding="utf-8") as file:
        table = np.loadtxt(file, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int, copy=False)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    data, target = _read_digits()
    images, labels = data.reshape(-1, 8, 8).astype(np.float64), target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The digits as images of raw pixel values and their labels (a fresh copy each call).

    Returns
    -------
    images : ndarray of shape (1797, 8, 8)
        Pixel values 0..16.
    labels : ndarray of shape (1797,)
        int64 digits 0..9.

    Examples
    --------
    >>> images, labels = load_digit_images()
    >>> images.shape, float(images.max()), labels.dtype.name
    ((1797, 8, 8), 16.0, 'int64')
    """
    images, labels = _digits()
    return images.copy(), labels.copy()


def _stream(
    name: str,
    owner: str,
    parts: list[tuple[str, np.ndarray, np.ndarray, tuple[int, ...]]],
    *,
    scenario: str,
    n_classes: int,
    test_size: float,
    split_seed: int,
    description: dict,
) -> Stream:
    """Split each ``(task name, images, labels, classes)`` part and assemble the stream."""
    tasks = []
    for task_name, images, labels, classes in parts:
        x = images.reshape(len(images), _N_PIXELS) / _MAX_PIXEL
        x_train, x_test, y_train, y_test = split(
            x, labels, test_size=test_size, split_seed=split_seed, stratify=True, owner=owner
        )
        tasks.append(
            Task(name=task_name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=classes)
        )
    return Stream(
        tasks=tuple(tasks),
        name=name,
        input_offset=np.zeros(_N_PIXELS),
        input_scale=np.full(_N_PIXELS, _MAX_PIXEL),
        description={**description, "scenario": scenario, "test_size": test_size, "split_seed": split_seed},
        kind="classification",
        n_classes=n_classes,
        scenario=scenario,
    )


def _block_labels(scenario: str, labels: np.ndarray, t: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Labels and classes of task ``t`` of a ten-class-per-task stream (permuted, rotated).

    Domain-IL keeps the digits 0..9 (one shared output set); task- and class-IL give task
    ``t`` its own block of ten units ``10 t .. 10 t + 9`` (label = digit + 10 t).
    """
    offset = 0 if scenario == "domain" else 10 * t
    return labels + offset, tuple(range(offset, offset + 10))


def split_digits(scenario: str = "class", n_tasks: int = 5, *, test_size: float = 0.25, split_seed: int = 42) -> Stream:
    """Split digits: task ``t`` holds the digits ``2t`` and ``2t + 1``.

    Parameters
    ----------
    scenario : {"class", "task", "domain"}, default "class"
        ``"task"`` and ``"class"`` keep the digits as labels (``n_classes = 2 * n_tasks``,
        task ``t``'s ``classes`` are ``(2t, 2t + 1)``); ``"domain"`` relabels each task to
        0 (its even digit) and 1 (its odd digit), ``n_classes = 2`` and ``classes = (0, 1)``.
    n_tasks : int, default 5
        Number of tasks, in [1, 5]: the first ``n_tasks`` pairs.
    test_size : float, default 0.25
        Fraction of each task held out for testing (stratified by digit).
    split_seed : int, default 42
        ``random_state`` of each task's train/test split.

    Returns
    -------
    Stream
        Tasks named ``"digits 0-1"``, ``"digits 2-3"``, ...

    Raises
    ------
    InvalidParameterError
        For an unknown scenario, ``n_tasks`` outside [1, 5], a bad test size or seed.

    Examples
    --------
    >>> stream = split_digits("domain")
    >>> stream.task_names[:2], stream.n_classes, sorted(set(stream.tasks[4].y_test.tolist()))
    (('digits 0-1', 'digits 2-3'), 2, [0, 1])
    >>> split_digits("class").tasks[4].classes
    (8, 9)
    """
    owner = "split_digits"
    given = {"scenario": scenario, "n_tasks": n_tasks, "test_size": test_size, "split_seed": split_seed}
    validate(owner, CONSTRAINTS[owner], given)
    n_tasks, test_size, split_seed = int(n_tasks), float(test_size), int(split_seed)
    images, labels = _digits()
    parts = []
    for t in range(n_tasks):
        pair = (2 * t, 2 * t + 1)
        keep = np.isin(labels, pair)
        task_labels = labels[keep] - 2 * t if scenario == "domain" else labels[keep]
        classes = (0, 1) if scenario == "domain" else pair
        parts.append((f"digits {pair[0]}-{pair[1]}", images[keep], task_labels, classes))
    return _stream(
        "split digits",
        owner,
        parts,
        scenario=scenario,
        n_classes=2 if scenario == "domain" else 2 * n_tasks,
        test_size=test_size,
        split_seed=split_seed,
        description={"kind": "split_digits", "n_tasks": n_tasks, "pairs": [[2 * t, 2 * t + 1] for t in range(n_tasks)]},
    )


def digit_permutations(n_tasks: int, seed: int) -> np.ndarray:
    """The pixel permutations of :func:`permuted_digits`: row ``t`` is task ``t``'s.

    Row 0 is the identity (the first task sees the original images); rows 1, 2, ... are
    ``RandomState(seed).permutation(64)`` drawn in turn, so a longer stream extends a
    shorter one with the same seed.

    Examples
    --------
    >>> perms = digit_permutations(3, seed=0)
    >>> perms.shape, perms[0].tolist() == list(range(64)), sorted(perms[2].tolist()) == list(range(64))
    ((3, 64), True, True)
    """
    validate("digit_permutations", CONSTRAINTS["digit_permutations"], {"n_tasks": n_tasks, "seed": seed})
    rng = np.random.RandomState(int(seed))
    return np.stack([np.arange(_N_PIXELS)] + [rng.permutation(_N_PIXELS) for _ in range(n_tasks - 1)])


def permuted_digits(
    n_tasks: int = 5,
    *,
    scenario: str = "domain",
    seed: int = 0,
    test_size: float = 0.25,
    split_seed: int = 42,
) -> Stream:
    """Permuted digits: every task is all ten digits with its own fixed pixel permutation.

    Task ``t``'s inputs are ``x[:, perm[t]]``, with ``perm = digit_permutations(n_tasks, seed)``:
    task 0 is the original images (the identity permutation), the others random. Every
    task permutes the same images, and the same train/test split of them.

    Parameters
    ----------
    n_tasks : int, default 5
        Number of tasks, >= 1.
    scenario : {"domain", "task", "class"}, default "domain"
        ``"domain"``: labels are the digits, ten output units shared by every task.
        ``"task"``: a separate ten-unit head per task: ``n_classes = 10 * n_tasks``, task
        ``t``'s labels are ``digit + 10 t`` and its ``classes`` ``10 t .. 10 t + 9``.
        ``"class"``: the same labels, one head growing over all ``10 * n_tasks`` classes.
    seed : int, default 0
        Seed of the permutations.
    test_size : float, default 0.25
        Fraction of each task held out for testing (stratified by digit).
    split_seed : int, default 42
        ``random_state`` of each task's train/test split.

    Returns
    -------
    Stream
        Tasks named ``"permuted 0"`` (the identity), ``"permuted 1"``, ...

    Raises
    ------
    InvalidParameterError
        For ``n_tasks`` < 1, an unknown scenario, a bad seed or test size.

    Examples
    --------
    >>> stream = permuted_digits(3, scenario="task")
    >>> stream.task_names, stream.n_classes, stream.tasks[2].classes[:2]
    (('permuted 0', 'permuted 1', 'permuted 2'), 30, (20, 21))
    """
    owner = "permuted_digits"
    given = {"n_tasks": n_tasks, "scenario": scenario, "seed": seed, "test_size": test_size, "split_seed": split_seed}
    validate(owner, CONSTRAINTS[owner], given)
    n_tasks, seed, test_size, split_seed = int(n_tasks), int(seed), float(test_size), int(split_seed)
    images, labels = _digits()
    flat = images.reshape(len(images), _N_PIXELS)
    parts = []
    for t, perm in enumerate(digit_permutations(n_tasks, seed)):
        task_labels, classes = _block_labels(scenario, labels, t)
        parts.append((f"permuted {t}", flat[:, perm], task_labels, classes))
    return _stream(
        "permuted digits",
        owner,
        parts,
        scenario=scenario,
        n_classes=10 if scenario == "domain" else 10 * n_tasks,
        test_size=test_size,
        split_seed=split_seed,
        description={"kind": "permuted_digits", "n_tasks": n_tasks, "seed": seed},
    )


def rotate_images(images: np.ndarray, angle: float) -> np.ndarray:
    """Rotate 8×8 images counter-clockwise by ``angle`` degrees about their centre.

    ``scipy.ndimage.rotate(images, angle, axes=(1, 2), reshape=False, order=1)``: bilinear,
    same 8×8 frame, pixels rotated in from outside are 0. An angle of 0 returns the images.

    Examples
    --------
    >>> images, _ = load_digit_images()
    >>> bool(np.array_equal(rotate_images(images[:3], 90), np.rot90(images[:3], 1, axes=(1, 2))))
    True
    """
    from scipy import ndimage  # here, not at import: scipy.ndimage costs a fresh process about 0.2 s

    rotated = ndimage.rotate(images, float(angle), axes=(1, 2), reshape=False, order=1)
    return np.clip(rotated, 0.0, _MAX_PIXEL)


def rotated_digits(
    angles: Sequence[float] = (0, 45, 90, 135, 180),
    *,
    scenario: str = "domain",
    test_size: float = 0.25,
    split_seed: int = 42,
) -> Stream:
    """Rotated digits: every task is all ten digits rotated by its own angle (:func:`rotate_images`).

    Every task rotates the same images, and the same train/test split of them.

    Parameters
    ----------
    angles : sequence of float, default (0, 45, 90, 135, 180)
        One angle per task, in degrees counter-clockwise, in training order; an angle may
        repeat (a revisit), its task is then named ``"rotated 45_2"`` and so on.
    scenario : {"domain", "task", "class"}, default "domain"
        As in :func:`permuted_digits`: shared ten units, or a ten-unit block per task
        (labels ``digit + 10 t``, ``n_classes = 10 * len(angles)``).
    test_size : float, default 0.25
        Fraction of each task held out for testing (stratified by digit).
    split_seed : int, default 42
        ``random_state`` of each task's train/test split.

    Returns
    -------
    Stream
        Tasks named ``"rotated 0"``, ``"rotated 45"``, ...

    Raises
    ------
    InvalidParameterError
        For an empty or non-finite list of angles, an unknown scenario, a bad test size or seed.

    Examples
    --------
    >>> stream = rotated_digits((0, 90))
    >>> stream.task_names, stream.tasks[1].x_train.shape
    (('rotated 0', 'rotated 90'), (1347, 64))
    """
    owner = "rotated_digits"
    given = {"angles": angles, "scenario": scenario, "test_size": test_size, "split_seed": split_seed}
    validate(owner, CONSTRAINTS[owner], given)
    values, test_size, split_seed = list(angles), float(test_size), int(split_seed)
    images, labels = _digits()
    parts = []
    seen: dict[str, int] = {}
    for t, angle in enumerate(values):
        label = f"{float(angle):g}"
        seen[label] = seen.get(label, 0) + 1
        name = f"rotated {label}" if seen[label] == 1 else f"rotated {label}_{seen[label]}"
        task_labels, classes = _block_labels(scenario, labels, t)
        parts.append((name, rotate_images(images, angle), task_labels, classes))
    return _stream(
        "rotated digits",
        owner,
        parts,
        scenario=scenario,
        n_classes=10 if scenario == "domain" else 10 * len(values),
        test_size=test_size,
        split_seed=split_seed,
        description={"kind": "rotated_digits", "angles": [float(a) for a in values]},
    )
