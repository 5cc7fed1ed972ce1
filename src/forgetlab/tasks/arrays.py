"""A stream from your own arrays, checked where they enter: :func:`from_arrays`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from forgetlab.errors import InvalidParameterError, invalid
from forgetlab.tasks.base import KINDS, SCENARIOS, Stream, Task
from forgetlab.validation import AnyOf, Constraint, Interval, Options, Satisfies, check, is_int

__all__ = ["from_arrays"]

_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
_KEYS = (*_ARRAYS, "name", "classes")

#: What :func:`from_arrays`'s settings accept (:mod:`forgetlab.validation`); ``scenario``
#: and ``n_classes`` are checked for a classification stream (a regression stream takes
#: neither), the arrays by the checks below, task by task.
CONSTRAINTS: dict[str, dict[str, Constraint]] = {
    "from_arrays": {
        "kind": Options(*KINDS),
        "scenario": AnyOf(Options(*SCENARIOS), None),
        "name": Satisfies(lambda value: isinstance(value, str) and value != "", "a non-empty string"),
        "n_classes": AnyOf(Interval(int, 2, None), None),
    }
}


class _Where:
    """Builds the one-line errors about one field of one task."""

    def __init__(self, index: int, name: str | None) -> None:
        self.task = f"task {name!r}" if name is not None else f"task {index}"

    def error(self, field: str, allowed: str, got: str) -> InvalidParameterError:
        return InvalidParameterError(f"The {field!r} of {self.task} must be {allowed}; got {got}.")


def _numeric(where: _Where, field: str, value: Any, allowed: str) -> np.ndarray:
    """``value`` as a finite int or float array, or a one-line error naming the field."""
    try:
        array = np.asarray(value)
    except Exception:  # ragged nested lists, objects whose __array__ fails, ...
        raise where.error(field, allowed, f"a {type(value).__name__} that numpy cannot convert to an array") from None
    if array.dtype.kind not in "iuf":
        raise where.error(field, allowed, f"dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise where.error(field, allowed, f"{int(np.size(array) - np.isfinite(array).sum())} NaN or infinite value(s)")
    return array


def _x(where: _Where, field: str, value: Any, minimum: int, n_features: int | None) -> np.ndarray:
    allowed = f"a finite 2-D numeric array of shape (n_samples >= {minimum}, n_features >= 1)"
    x = _numeric(where, field, value, allowed)
    if x.ndim != 2 or x.shape[0] < minimum or x.shape[1] < 1:
        raise where.error(field, allowed, f"shape {x.shape}")
    if n_features is not None and x.shape[1] != n_features:
        raise where.error(
            field, f"a 2-D array with {n_features} columns (features), like the first task's", f"shape {x.shape}"
        )
    return x.astype(np.float64)


def _y(where: _Where, field: str, value: Any, n: int, n_classes: int | None) -> np.ndarray:
    """Regression targets (``n_classes`` None) or labels below ``n_classes`` (0 if unknown yet)."""
    if n_classes is None:
        allowed = "a finite 1-D numeric array"
    else:
        allowed = f"a 1-D array of int labels in [0, {n_classes})" if n_classes else "a 1-D array of int labels >= 0"
    y = _numeric(where, field, value, allowed)
    if y.ndim != 1 or len(y) != n:
        raise where.error(field, f"{allowed} of length {n} (one per row of x)", f"shape {y.shape}")
    if n_classes is None:
        return y.astype(np.float64)
    bad = (y != np.round(y)) | (y < 0) | (y >= (n_classes or 2**62))
    if bad.any():
        raise where.error(field, allowed, f"{int(bad.sum())} value(s) outside that, e.g. {y[bad][:3].tolist()}")
    return y.astype(np.int64)


def _name(index: int, value: Any, seen: set[str]) -> str:
    if value is None:
        value = f"task {index}"
    if not isinstance(value, str) or not value or value in seen:
        raise invalid("name", f"task {index}", "a non-empty string, unique in the stream", value)
    seen.add(value)
    return value


def _classes(where: _Where, value: Any, y: np.ndarray, n_classes: int) -> tuple[int, ...]:
    labels = set(y.tolist())
    if value is None:
        return tuple(sorted(labels))
    below = f" < {n_classes}" if n_classes else ""
    allowed = f"a non-empty list of distinct int labels >= 0{below} including every label of the task"
    items = list(value) if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str) else None
    ok = items is not None and all(is_int(c) for c in items)
    if not ok or not items or len(set(items)) != len(items) or min(items) < 0 or not labels <= set(items):
        raise where.error("classes", allowed, repr(value))
    if n_classes and max(items) >= n_classes:
        raise where.error("classes", allowed, repr(value))
    return tuple(int(c) for c in items)


def _fields(index: int, spec: Any) -> dict[str, Any]:
    """A task's spec as a dict with every key of :data:`_KEYS`."""
    if isinstance(spec, Mapping):
        unknown = sorted(str(key) for key in spec if key not in _KEYS)
        missing = [key for key in _ARRAYS if key not in spec]
        if unknown or missing:
            allowed = f"a dict with keys {', '.join(_ARRAYS)} and optionally name, classes"
            raise invalid(f"tasks[{index}]", "from_arrays", allowed, f"keys {sorted(map(str, spec))}")
        return {key: spec.get(key) for key in _KEYS}
    if isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 4:
        return {**dict(zip(_ARRAYS, spec, strict=True)), "name": None, "classes": None}
    allowed = "a tuple (x_train, y_train, x_test, y_test) or a dict of those keys"
    raise invalid(f"tasks[{index}]", "from_arrays", allowed, type(spec).__name__)


def _vector(name: str, value: Any, n_features: int, default: float, nonzero: bool) -> np.ndarray:
    if value is None:
        return np.full(n_features, default)
    try:
        array = np.broadcast_to(np.asarray(value, dtype=np.float64), (n_features,)).copy()
    except Exception:  # not numbers, or not broadcastable to one per feature
        array = None
    if array is None or not np.isfinite(array).all() or (nonzero and (array == 0).any()):
        allowed = f"a finite {'non-zero ' if nonzero else ''}number or {n_features} of them (one per feature)"
        raise invalid(name, "from_arrays", allowed, value)
    return array


def from_arrays(
    tasks: Sequence[Sequence[Any] | Mapping[str, Any]],
    *,
    kind: str = "regression",
    scenario: str | None = None,
    n_classes: int | None = None,
    name: str = "arrays",
    input_offset: Any = None,
    input_scale: Any = None,
) -> Stream:
    """A stream from your own numpy arrays, every array checked on entry.

    Inputs are taken as model-ready (normalise them yourself); ``input_offset`` and
    ``input_scale`` only record how, for :meth:`Stream.denormalise` and plots.

    Parameters
    ----------
    tasks : sequence of tuple or dict
        In training order. Each task is ``(x_train, y_train, x_test, y_test)`` or a dict
        with those keys and optionally ``name`` (default ``"task 0"``, ``"task 1"``, ...)
        and ``classes`` (classification: the output units the task uses, default its
        labels). ``x`` arrays are 2-D, finite, numeric, with the same number of columns in
        every task, at least 1 training row and at least 2 test rows; ``y`` arrays are 1-D,
        one value per row: finite numbers for regression, integer labels for classification
        (floats such as ``3.0`` are accepted and converted to int64).
    kind : {"regression", "classification"}, default "regression"
        What the targets are.
    scenario : {"task", "domain", "class"} or None
        Classification only (None means ``"class"``); see :meth:`Stream.active_classes`.
    n_classes : int or None
        Classification only: the output layer's size; default the largest label or class + 1
        (at least 2). Every label and class must be below it.
    name : str, default "arrays"
        The stream's name.
    input_offset, input_scale : float or array-like of shape (n_features,), optional
        How the inputs were normalised, ``x_model = (x - offset) / scale``; default 0 and 1.

    Returns
    -------
    Stream
        Copies of the arrays as float64 (labels int64).

    Raises
    ------
    InvalidParameterError
        For anything malformed, in one line naming the task and the field, e.g.
        ``The 'x_train' of task 'a' must be a finite 2-D numeric array of shape (n_samples >= 1,
        n_features >= 1); got shape (3,).`` No other exception type escapes for bad arrays.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = (rng.normal(size=(8, 2)), rng.normal(size=8), rng.normal(size=(4, 2)), rng.normal(size=4))
    >>> stream = from_arrays([a, {"x_train": a[0], "y_train": -a[1], "x_test": a[2], "y_test": -a[3], "name": "b"}])
    >>> stream.task_names, stream.train_sizes
    (('task 0', 'b'), (8, 8))
    >>> labels = from_arrays([(a[0], [0, 1] * 4, a[2], [1, 0, 1, 0])], kind="classification")
    >>> labels.scenario, labels.n_classes, labels.tasks[0].classes
    ('class', 2, (0, 1))
    >>> from_arrays([(a[0][:, 0], a[1], a[2], a[3])])
    Traceback (most recent call last):
      ...
    forgetlab.errors.InvalidParameterError: The 'x_train' of task 0 must be ... got shape (8,).
    """
    constraints = CONSTRAINTS["from_arrays"]
    check(kind, "kind", "from_arrays", constraints["kind"])
    if kind == "regression" and (scenario is not None or n_classes is not None):
        field = "scenario" if scenario is not None else "n_classes"
        raise invalid(field, "from_arrays", "None for a regression stream", scenario if scenario else n_classes)
    if kind == "classification":
        check(scenario, "scenario", "from_arrays", constraints["scenario"])
        scenario = "class" if scenario is None else scenario
    check(name, "name", "from_arrays", constraints["name"])
    if isinstance(tasks, str | Mapping) or not isinstance(tasks, Sequence) or len(tasks) == 0:
        raise invalid("tasks", "from_arrays", "a non-empty list of tasks", type(tasks).__name__)
    labels: int | None = None  # None: regression targets; 0: labels of a yet unknown range; else n_classes
    if kind == "classification":
        check(n_classes, "n_classes", "from_arrays", constraints["n_classes"])
        labels = 0 if n_classes is None else int(n_classes)

    built: list[Task] = []
    names: set[str] = set()
    n_features: int | None = None
    for index, spec in enumerate(tasks):
        fields = _fields(index, spec)
        task_name = _name(index, fields["name"], names)
        where = _Where(index, fields["name"])
        x_train = _x(where, "x_train", fields["x_train"], 1, n_features)
        n_features = x_train.shape[1]
        x_test = _x(where, "x_test", fields["x_test"], 2, n_features)
        y_train = _y(where, "y_train", fields["y_train"], len(x_train), labels)
        y_test = _y(where, "y_test", fields["y_test"], len(x_test), labels)
        classes = None
        if labels is not None:
            classes = _classes(where, fields["classes"], np.concatenate([y_train, y_test]), labels)
        elif fields["classes"] is not None:
            raise where.error("classes", "None in a regression stream", repr(fields["classes"]))
        built.append(
            Task(name=task_name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=classes)
        )

    if labels is not None:
        n_classes = labels or max(2, *(max(task.classes) + 1 for task in built))
    assert n_features is not None
    description = {"kind": "arrays", "n_tasks": len(built), "n_features": n_features}
    return Stream(
        tasks=tuple(built),
        name=name,
        input_offset=_vector("input_offset", input_offset, n_features, 0.0, nonzero=False),
        input_scale=_vector("input_scale", input_scale, n_features, 1.0, nonzero=True),
        description=description,
        kind=kind,
        n_classes=n_classes,
        scenario=scenario,
    )
