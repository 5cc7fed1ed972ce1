"""GDumb: a greedy class-balanced memory, and a model trained from scratch on it alone at the end of each phase."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from forgetlab.errors import invalid
from forgetlab.numerics import sgd
from forgetlab.numerics.mlp import init_params, loss_and_grad, non_finite_rows
from forgetlab.strategies.base import Context, Minibatch, Phase, Strategy, check_memory, run_rng
from forgetlab.tasks import Stream
from forgetlab.validation import Constraint, Interval

__all__ = ["GDumb", "GDumbState", "GreedyMemory", "class_keys", "train_on_memory"]

#: The ``purpose`` of GDumb's RNG (:func:`~forgetlab.strategies.base.run_rng`): evictions, initialisations, shuffles.
GDUMB_RNG = 5


class GreedyMemory:
    """GDumb's greedy class-balanced sampler for one run: global indices and labels, each sample at most once.

    A sample offered (in stream order) that is not already held is stored while the
    memory has room; once it is full, it is stored only if its class holds fewer than
    ``capacity / |Y|`` samples (:math:`|Y|` the classes offered so far), in place of a
    random sample of a largest class (ties drawn at random); otherwise it is dropped.
    Unlike reservoir sampling, nothing already stored is replaced by a sample of its own
    class: the memory keeps the first samples of each class it makes room for.

    Parameters
    ----------
    capacity : int
        Most samples held, >= 1.
    rng : numpy.random.RandomState
        The run's RNG (evictions).
    n_classes : int
        Labels (the classes balanced, e.g. :func:`class_keys`) are in ``[0, n_classes)``.
    n_samples : int
        Global indices are in ``[0, n_samples)``.

    References
    ----------
    Prabhu, A., Torr, P. H. S. & Dokania, P. K. (2020), "GDumb: a simple approach that
    questions our progress in continual learning", ECCV, section 3.

    Examples
    --------
    >>> memory = GreedyMemory(4, np.random.RandomState(0), n_classes=2, n_samples=20)
    >>> memory.add(np.arange(6), np.zeros(6, dtype=np.int64))
    >>> memory.add(np.arange(6, 10), np.ones(4, dtype=np.int64))
    >>> memory.size, np.bincount(memory.labels[: memory.size]).tolist()
    (4, [2, 2])
    """

    def __init__(self, capacity: int, rng: np.random.RandomState, *, n_classes: int, n_samples: int) -> None:
        self.capacity, self.rng = int(capacity), rng
        self.items = np.zeros(self.capacity, dtype=np.int64)
        self.labels = np.zeros(self.capacity, dtype=np.int64)
        self.size = 0
        self.counts = [0] * n_classes
        self.offered_classes: set[int] = set()
        self.held = np.zeros(n_samples, dtype=bool)

    @property
    def contents(self) -> np.ndarray:
        """The global indices held, (size,)."""
        return self.items[: self.size]

    def _store(self, slot: int, item: int, label: int) -> None:
        self.items[slot], self.labels[slot] = item, label
        self.held[item] = True
        self.counts[label] += 1

    def add(self, items: np.ndarray, labels: np.ndarray) -> None:
        """Offer samples in order: global indices (m,) and labels (m,)."""
        fresh = ~self.held[items]
        for item, label in zip(items[fresh].tolist(), labels[fresh].tolist(), strict=True):
            self.offered_classes.add(label)
            if self.held[item]:  # offered twice in this call
                continue
            if self.size < self.capacity:
                self._store(self.size, item, label)
                self.size += 1
            elif self.counts[label] < self.capacity / len(self.offered_classes):
                largest = max(self.counts)
                victim_class = self.rng.choice([c for c, n in enumerate(self.counts) if n == largest])
                slot = int(self.rng.choice(np.flatnonzero(self.labels[: self.size] == victim_class)))
                self.held[self.items[slot]] = False
                self.counts[victim_class] -= 1
                self._store(slot, item, label)


def class_keys(context: Context) -> np.ndarray:
    """The class GDumb balances every training sample under: its (task, label) pair, ``task * C + label``.

    In class-incremental streams every task brings its own labels, so these are the labels
    themselves (renamed); in task- and domain-incremental streams, whose tasks reuse the
    same labels (rotated digits, the two units of domain-IL split digits), a task's classes
    are balanced apart from the earlier tasks', so that each new task gets its share of the
    memory instead of none.

    Examples
    --------
    >>> from forgetlab.engines.continual import model_spec
    >>> from forgetlab.tasks import split_digits
    >>> stream = split_digits("domain", n_tasks=2)
    >>> context = Context.build(model_spec(stream, (4,)), stream, [0], torch.float32)
    >>> sorted(set(class_keys(context).tolist()))
    [0, 1, 2, 3]
    """
    return context.task * context.stream.n_classes + context.labels


def train_on_memory(
    context: Context,
    params: torch.Tensor,
    memory: np.ndarray,
    rngs: list[np.random.RandomState],
    newest: int,
    *,
    n_epochs: int,
    batch_size: int,
    learning_rate: float,
) -> None:
    """Train every run from ``params`` on its own memory alone, with its own Adam; edits ``params`` in place.

    Each epoch shuffles each run's memory with the run's RNG and takes one Adam step
    (:class:`~forgetlab.numerics.sgd.Adam`, scikit-learn's) per minibatch on the
    cross-entropy over the scenario's training units while ``newest`` is the newest task,
    with scikit-learn's weight penalty (:func:`~forgetlab.numerics.mlp.loss_and_grad`). A
    run whose parameters become non-finite keeps its first non-finite parameters.

    Parameters
    ----------
    context : Context
        The batch's model and data (shared).
    params : Tensor of shape (G, P)
        Per run: the starting parameters.
    memory : ndarray of shape (G, n)
        Per run: the global indices to train on (the same number for every run).
    rngs : list of numpy.random.RandomState
        One per run: its shuffles.
    newest : int
        The newest task trained (the class-incremental mask).
    n_epochs, batch_size, learning_rate
        As :class:`GDumb`.
    """
    n_runs, size = memory.shape
    optimizer = sgd.Adam(n_runs, params.shape[1], learning_rate_init=learning_rate, dtype=params.dtype)
    step = sgd.minibatch_size(batch_size, size)
    dead = torch.zeros(n_runs, dtype=torch.bool)
    frozen = params.clone()
    for _ in range(n_epochs):
        order = np.stack([held[rng.permutation(size)] for held, rng in zip(memory, rngs, strict=True)])
        for start in range(0, size, step):
            x, y, tasks = context.gather(order[:, start : start + step])
            _, grad = loss_and_grad(context.spec, params, x, y, mask=context.train_mask(tasks, newest))
            optimizer.update(params, grad)
            bad = non_finite_rows(params)
            frozen[bad & ~dead] = params[bad & ~dead]
            dead |= bad
            if dead.any():
                params[dead] = frozen[dead]


@dataclass(eq=False)
class GDumbState:
    """Per run: its memory and its RNG (evictions, initialisations, shuffles)."""

    context: Context
    memories: list[GreedyMemory]
    rngs: list[np.random.RandomState]


@dataclass(frozen=True, kw_only=True)
class GDumb(Strategy):
    """GDumb: greedily keep a class-balanced memory; at each phase end, train a fresh model on it alone.

    The stream is only sampled: each run's stream samples are offered to its greedy
    class-balanced memory (:class:`GreedyMemory`; a class is a (task, label) pair,
    :func:`class_keys`) and the trainer's steps do not move the
    parameters (their gradient is replaced by zero). When a phase ends the model is
    re-initialised (Glorot-uniform as scikit-learn, from a seed drawn with the run's RNG)
    and trained from scratch on the memory alone (:func:`train_on_memory`), and those
    parameters replace the run's: the model scored after the phase and kept until the next
    phase ends is the memory's.

    Parameters
    ----------
    memory_size : int, default 200
        Samples the memory holds per run, >= 1.
    n_epochs : int, default 10
        Passes over the memory at each phase end, >= 1.
    batch_size : int, default 16
        Memory samples per step, >= 1 (Prabhu et al.: 16).
    learning_rate : float, default 1e-3
        Adam's learning rate, > 0 (Prabhu et al. use SGD with warm restarts; here the
        trainer's optimiser, Adam, with scikit-learn's defaults).

    Notes
    -----
    Classification only (the memory balances labels). Per run: evictions, initial
    parameters and shuffles use ``run_rng(seed, 5)``, so a run gives the same result alone
    or in a batch; runs whose memories differ in size are trained in separate groups. A run
    whose parameters are non-finite when a phase ends (a diverged run, frozen by the
    trainer) is left as it is. Cost: the trainer's passes (forward and backward, no update)
    plus ``n_epochs`` passes over the memory per phase.

    References
    ----------
    Prabhu, A., Torr, P. H. S. & Dokania, P. K. (2020), "GDumb: a simple approach that
    questions our progress in continual learning", ECCV.

    Examples
    --------
    >>> GDumb(memory_size=100).to_dict()
    {'name': 'gdumb', 'memory_size': 100, 'n_epochs': 10, 'batch_size': 16, 'learning_rate': 0.001}
    """

    name: ClassVar[str] = "gdumb"
    constraints: ClassVar[dict[str, Constraint]] = {
        "memory_size": Interval(int, 1, None),
        "n_epochs": Interval(int, 1, None),
        "batch_size": Interval(int, 1, None),
        "learning_rate": Interval(float, np.finfo(float).tiny, None),
    }
    memory_size: int = 200
    n_epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 1e-3

    def validate(self, stream: Stream) -> None:
        if stream.kind != "classification":
            raise invalid("strategy", "a regression stream", "one that needs no class labels (not GDumb)", self.name)
        check_memory(self.memory_size, "memory_size", "GDumb", stream)

    def start(self, context: Context) -> GDumbState:
        rngs = [run_rng(seed, GDUMB_RNG) for seed in context.seeds]
        sizes = {"n_classes": len(context.stream) * context.stream.n_classes, "n_samples": len(context.task)}
        return GDumbState(
            context=context, memories=[GreedyMemory(self.memory_size, rng, **sizes) for rng in rngs], rngs=rngs
        )

    def edit_gradient(
        self, state: GDumbState, batch: Minibatch, params: torch.Tensor, grad: torch.Tensor
    ) -> torch.Tensor:
        """Zero: the stream is not learnt from (Adam and SGD then leave the parameters unchanged)."""
        return torch.zeros_like(grad)

    def observe(self, state: GDumbState, index: np.ndarray) -> None:
        """Offer the step's stream samples to every run's memory, each under its class (:func:`class_keys`)."""
        keys = class_keys(state.context)
        for memory, items in zip(state.memories, index, strict=True):
            memory.add(items, keys[items])

    def end_phase(self, state: GDumbState, params: torch.Tensor, phase: Phase) -> None:
        """Train a fresh model per run on its memory alone; it replaces the run's parameters."""
        finite = (~non_finite_rows(params)).tolist()
        groups: dict[int, list[int]] = {}
        for r, memory in enumerate(state.memories):
            if finite[r] and memory.size:
                groups.setdefault(memory.size, []).append(r)
        for runs in groups.values():
            rngs = [state.rngs[r] for r in runs]
            seeds = [int(rng.randint(2**32, dtype=np.uint64)) for rng in rngs]
            fresh = init_params(state.context.spec, seeds, dtype=params.dtype)
            memory = np.stack([state.memories[r].contents for r in runs])
            train_on_memory(
                state.context,
                fresh,
                memory,
                rngs,
                phase.newest,
                n_epochs=self.n_epochs,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
            )
            params[torch.tensor(runs)] = fresh
