"""The Task and Stream types every stream generator returns and every engine consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from forgetlab.errors import invalid
from forgetlab.validation import Interval, Options, SequenceOf, check

__all__ = ["KINDS", "SCENARIOS", "Curve", "Stream", "Task"]

#: What a stream's targets are: real numbers, or integer class labels in ``[0, n_classes)``.
KINDS = ("regression", "classification")

#: The three continual-learning scenarios of a classification stream (van de Ven & Tolias):
#: task-, domain- and class-incremental. See :meth:`Stream.active_classes`.
SCENARIOS = ("task", "domain", "class")


@dataclass(frozen=True, kw_only=True, eq=False)
class Curve:
    """A task's noiseless target on a grid, in model-input space, for plots.

    Parameters
    ----------
    x : ndarray of shape (n_points, n_features)
        Inputs, normalised like the task's training inputs.
    y : ndarray of shape (n_points,)
        The target function at ``x``.
    """

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True, kw_only=True, eq=False)
class Task:
    """One task of a stream: a training set and a test set.

    Inputs are model-ready (already normalised); the stream that built the task knows how
    to map them back (:meth:`Stream.denormalise`).

    Parameters
    ----------
    name : str
        Unique within its stream, e.g. ``"summer"``.
    x_train, x_test : ndarray of shape (n, n_features)
    y_train, y_test : ndarray of shape (n,)
        Floats for regression; int64 labels in ``[0, n_classes)`` for classification.
    curve : Curve or None
        The noiseless target over the task's whole input range, for plots.
    classes : tuple of int or None
        Classification only: the output units (labels) this task uses, e.g. ``(2, 3)``; in a
        task-incremental stream they are the task's own head. None for regression.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    curve: Curve | None = None
    classes: tuple[int, ...] | None = None

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return len(self.y_test)


@dataclass(frozen=True, kw_only=True, eq=False)
class Stream:
    """An ordered sequence of tasks that share one input space.

    Parameters
    ----------
    tasks : tuple of Task
        In training order; names are unique.
    name : str
        What the stream is, e.g. ``"seasons"``.
    input_offset, input_scale : ndarray of shape (n_features,)
        The normalisation applied to every task's inputs: ``x_model = (x - offset) / scale``.
    description : dict
        The plain parameters that built the stream (recorded with the results).
    kind : {"regression", "classification"}, default "regression"
        What the targets are.
    n_classes : int or None
        Classification only: the size of the output layer; every label is in ``[0, n_classes)``.
    scenario : {"task", "domain", "class"} or None
        Classification only: task-, domain- or class-incremental (see :meth:`active_classes`).
        None for regression.

    Raises
    ------
    InvalidParameterError
        If ``kind``, ``n_classes``, ``scenario`` or a task's ``classes`` do not fit together:
        a regression stream has none of them; a classification stream has all of them, and
        each task's classes are distinct ints in ``[0, n_classes)``.

    Examples
    --------
    >>> from forgetlab.tasks import split_digits
    >>> stream = split_digits("class", n_tasks=3)
    >>> stream.kind, stream.scenario, stream.n_classes, stream.tasks[1].classes
    ('classification', 'class', 6, (2, 3))
    """

    tasks: tuple[Task, ...]
    name: str
    input_offset: np.ndarray
    input_scale: np.ndarray
    description: dict = field(default_factory=dict)
    kind: str = "regression"
    n_classes: int | None = None
    scenario: str | None = None

    def __post_init__(self) -> None:
        owner = f"Stream {self.name!r}"
        check(self.kind, "kind", owner, Options(*KINDS))
        if self.kind == "regression":
            if self.scenario is not None:
                raise invalid("scenario", owner, "None for a regression stream", self.scenario)
            if self.n_classes is not None:
                raise invalid("n_classes", owner, "None for a regression stream", self.n_classes)
            for task in self.tasks:
                if task.classes is not None:
                    raise invalid("classes", f"task {task.name!r}", "None in a regression stream", task.classes)
            return
        check(self.scenario, "scenario", owner, Options(*SCENARIOS, note="for a classification stream"))
        check(self.n_classes, "n_classes", owner, Interval(int, 2, None, note="for a classification stream"))
        units = Interval(int, 0, self.n_classes, closed="left")
        classes = SequenceOf(units, kind="tuple", non_empty=True, distinct=True)
        for task in self.tasks:
            check(task.classes, "classes", f"task {task.name!r}", classes)

    @property
    def task_names(self) -> tuple[str, ...]:
        """The tasks' names in stream order."""
        return tuple(task.name for task in self.tasks)

    @property
    def train_sizes(self) -> tuple[int, ...]:
        """Training-set size of each task, in stream order (what schedules plan with)."""
        return tuple(task.n_train for task in self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: int) -> Task:
        return self.tasks[index]

    def active_classes(self, task_index: int) -> tuple[int, ...] | None:
        """The output units trained and scored while the stream is at task ``task_index``.

        What a learner may predict depends on the scenario:

        - ``"task"`` (task-incremental): the task's own ``classes`` (its head); the learner
          is told which task an input comes from, so other units are masked out.
        - ``"domain"`` (domain-incremental): all ``n_classes`` units, one output set shared
          by every task (e.g. "first or second digit of the pair").
        - ``"class"`` (class-incremental): every class seen so far, the union of the
          ``classes`` of tasks ``0 .. task_index``; one growing head, no task identity.

        Parameters
        ----------
        task_index : int
            Position of the task in the stream, in ``[0, len(stream))``.

        Returns
        -------
        tuple of int or None
            Sorted unit indices; None for a regression stream.

        Raises
        ------
        InvalidParameterError
            If ``task_index`` is not a position in the stream.

        Examples
        --------
        >>> from forgetlab.tasks import split_digits
        >>> split_digits("task").active_classes(2)
        (4, 5)
        >>> split_digits("class").active_classes(2)
        (0, 1, 2, 3, 4, 5)
        >>> split_digits("domain").active_classes(2)
        (0, 1)
        """
        check(task_index, "task_index", "Stream.active_classes", Interval(int, 0, len(self.tasks) - 1))
        if self.kind == "regression":
            return None
        if self.scenario == "task":
            return tuple(sorted(int(c) for c in self.tasks[task_index].classes))
        if self.scenario == "domain":
            return tuple(range(self.n_classes))
        seen = set().union(*(task.classes for task in self.tasks[: task_index + 1]))
        return tuple(sorted(int(c) for c in seen))

    def eval_classes(self, task_index: int, newest: int) -> tuple[int, ...] | None:
        """The output units a prediction on a task's test set chooses from, for every engine.

        - task-incremental: the task's own classes (its head);
        - domain-incremental: all units (returned as None, like regression);
        - class-incremental: every class seen so far (``newest``: the newest task trained,
          -1 before any training) together with the evaluated task's own classes, so that
          a task not trained yet is scored on a head that can express its labels.

        Examples
        --------
        >>> from forgetlab.tasks import split_digits
        >>> split_digits("class").eval_classes(3, newest=1)
        (0, 1, 2, 3, 6, 7)
        >>> split_digits("task").eval_classes(3, newest=1), split_digits("domain").eval_classes(3, newest=1)
        ((6, 7), None)
        """
        if self.kind == "regression" or self.scenario == "domain":
            return None
        own = self.active_classes(task_index) if self.scenario == "task" else tuple(self.tasks[task_index].classes)
        if self.scenario == "task" or newest < 0:
            return tuple(sorted(int(c) for c in own))
        return tuple(sorted(set(own) | set(self.active_classes(newest))))

    def denormalise(self, x: np.ndarray) -> np.ndarray:
        """Map model inputs back to the original input units (e.g. days), for plots."""
        return np.asarray(x) * self.input_scale + self.input_offset

    def training_batch(self, parts: Sequence[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenate training samples of several tasks into one batch, in the given order.

        Parameters
        ----------
        parts : sequence of (task_index, sample_indices)
            As produced by a schedule for one epoch.

        Returns
        -------
        x : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
        """
        xs = [self.tasks[t].x_train[idx] for t, idx in parts]
        ys = [self.tasks[t].y_train[idx] for t, idx in parts]
        return np.concatenate(xs), np.concatenate(ys)
