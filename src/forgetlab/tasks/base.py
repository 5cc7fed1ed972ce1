"""The Task and Stream types every stream generator returns and every engine consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Curve", "Stream", "Task"]


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
    curve : Curve or None
        The noiseless target over the task's whole input range, for plots.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    curve: Curve | None = None

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
    """

    tasks: tuple[Task, ...]
    name: str
    input_offset: np.ndarray
    input_scale: np.ndarray
    description: dict = field(default_factory=dict)

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
