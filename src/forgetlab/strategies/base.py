"""The strategy contract: settings, per-batch state, and the hooks the trainer calls.

A strategy is a frozen dataclass of plain settings (validated when it is built). For a
batch of R runs, :meth:`Strategy.start` creates its mutable state from the batch's shared
:class:`Context`; every hook then receives that state. Every per-run quantity has a leading
run axis of length R, in the order of the batch's seeds, and no run's numbers may depend
on another run's: reductions are per run and each run draws from its own RNG
(:func:`run_rng`, seeded from the run's seed and a constant of the strategy).

Samples are named by their *global index*: the position of a training sample in the
concatenation of every task's training set, in stream order (:attr:`Context.x`,
:attr:`Context.y`, :attr:`Context.task`). Buffers keep indices, never copies of the data.

Order of the calls (:func:`forgetlab.engines.continual.train_continual`):

1. ``transform_plan(plan, train_sizes)`` once per run, on the schedule's plan (Joint,
   Cumulative change what each epoch trains on);
2. ``start(context)`` once per batch: the state;
3. for every epoch, for every minibatch of the epoch's shuffled samples ``index`` (R, m):

   a. ``extend_batch(state, index)`` -> the indices to train on (e.g. replayed samples
      appended);
   b. forward pass; data loss and its derivative with respect to the outputs: the
      strategy's ``data_loss(state, batch, output)`` if it gives one (DER, ER-ACE), else the
      squared error or masked cross-entropy, mean over the extended minibatch;
      ``output_term(state, batch, output)`` adds a loss on the outputs and its derivative
      (e.g. LwF's distillation); backward pass; scikit-learn's weight penalty;
   c. ``penalty(state, params)`` adds a loss and its gradient (EWC, SI);
      ``input_term(state, batch, params)`` adds a loss on inputs of the strategy's own
      (not training samples: generative replay's generated ones), forwarded through the
      model by the strategy, and its gradient;
   d. ``edit_gradient(state, batch, params, grad)`` -> the gradient the optimiser uses (A-GEM);
   e. the optimiser's step; runs with non-finite parameters are flagged and frozen;
   f. ``after_step(state, params_before, params, grad)`` (SI's path integral);
   g. ``observe(state, index)`` with the minibatch's stream samples only (not the
      replayed ones): reservoir buffers;

4. when a phase ends (the newest task trained so far changes with the next epoch, and
   after the last epoch): ``end_phase(state, params, phase)`` (EWC's Fisher and anchor,
   memory fills); then every task is scored.

Every hook has a no-op default, so a strategy overrides only what it does.

The compiled engine's continual trainer (:mod:`forgetlab.engines.compiled_continual`) has
no hooks inside its steps. It trains the strategies whose steps are fine-tuning's on other
samples (:attr:`Strategy.index_only`): it calls ``start`` with an index context, then for
each minibatch ``extend_batch``, ``observe`` and :meth:`Strategy.step_roles` (how each row
enters the loss, for a strategy with its own ``data_loss``), before the epoch trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from forgetlab.numerics.spec import MLPSpec
from forgetlab.schedules import Epoch
from forgetlab.tasks import Stream
from forgetlab.validation import Constraint, Interval, Options, Satisfies, check, validate

if TYPE_CHECKING:  # PyTorch is imported where the hooks run, so that settings and plans need none of it
    import torch

__all__ = [
    "POSITIVE",
    "SHUFFLE_RNG",
    "TRAINING_HOOKS",
    "Context",
    "Minibatch",
    "Phase",
    "Strategy",
    "check_choice",
    "check_number",
    "draw_distinct",
    "run_rng",
]

#: A number > 0 that is not subnormal: >= the smallest normal float64, as the settings
#: that divide by it (a temperature, SI's damping) have always required.
POSITIVE = Interval(float, np.finfo(float).tiny, None)


#: The ``purpose`` (:func:`run_rng`) of the continual trainers' epoch shuffles; each
#: strategy that draws has its own (replay 2, ..., generative replay 6).
SHUFFLE_RNG = 1


def run_rng(seed: int, purpose: int) -> np.random.RandomState:
    """A run's RNG for one purpose: ``RandomState([purpose, seed])``, independent of the run's batch.

    Parameters
    ----------
    seed : int
        The run's seed, in [0, 2**32).
    purpose : int
        A constant per use (shuffling, a replay buffer...), so that uses draw independent
        streams.

    Examples
    --------
    >>> run_rng(3, 1).randint(100) == run_rng(3, 1).randint(100) != run_rng(3, 2).randint(100)
    True
    """
    return np.random.RandomState([purpose, seed])


def draw_distinct(rng: np.random.RandomState, n: int, k: int) -> np.ndarray:
    """``k`` distinct integers of ``range(n)`` drawn uniformly, in random order (``k <= n``).

    The same draws as ``rng.choice(n, k, replace=False)`` (which permutes ``range(n)``
    and keeps the first ``k``), at half its cost: replay strategies call it per run and
    per step.

    Examples
    --------
    >>> draw_distinct(np.random.RandomState(0), 10, 3).tolist()
    [2, 8, 4]
    >>> np.random.RandomState(0).choice(10, 3, replace=False).tolist()
    [2, 8, 4]
    """
    return rng.permutation(n)[:k]


def check_number(
    value: object, name: str, owner: str, *, low: float, high: float | None = None, integer: bool = False
) -> None:
    """Raise InvalidParameterError unless ``value`` is a finite number (an int if ``integer``) in [low, high].

    For keyword arguments of functions (the continual trainer's); a strategy's settings
    declare :attr:`Strategy.constraints` instead.
    """
    check(value, name, owner, Interval(int if integer else float, low, high))


def check_choice(value: object, name: str, owner: str, choices: Sequence[str]) -> None:
    """Raise InvalidParameterError unless ``value`` is one of ``choices`` (as :func:`check_number`)."""
    check(value, name, owner, Options(*choices))


def check_memory(size: int, name: str, owner: str, stream: Stream) -> None:
    """Raise InvalidParameterError unless a memory of ``size`` samples fits in the stream's training data."""
    total = sum(stream.train_sizes)
    check(size, name, owner, Satisfies(lambda value: value <= total, f"at most the stream's {total} training samples"))


@dataclass(frozen=True, eq=False)
class Context:
    """What every run of a batch shares: the model, the training data and the scenario's masks.

    Build it with :meth:`build`. Read-only for strategies.

    Attributes
    ----------
    spec : MLPSpec
        The model.
    stream : Stream
        The tasks.
    seeds : tuple of int
        One per run, in batch order.
    x : Tensor of shape (N, d) or None
        Every training input of every task, in stream order (the global indices); None
        in an index context (below).
    y : Tensor of shape (N,) or None
        Targets (the model's dtype) or int64 labels; None in an index context.
    labels : ndarray of shape (N,)
        Every training sample's label (classification) or target, as a NumPy array.
    task : ndarray of shape (N,)
        The task of every sample.
    offsets : ndarray of shape (T + 1,)
        Task ``t``'s samples are ``offsets[t]:offsets[t + 1]``.
    active_units : Tensor of shape (T, C) or None
        Classification: ``stream.active_classes(t)`` of every task as a boolean mask.
    task_units : Tensor of shape (T, C) or None
        Classification: every task's own ``classes``.

    An *index context* (:meth:`build` without a dtype) has no tensors (``x``, ``y`` and
    the masks are None) and needs no PyTorch: it is what the compiled trainer gives the
    strategies whose hooks only choose samples (:attr:`Strategy.index_only`).
    """

    spec: MLPSpec
    stream: Stream
    seeds: tuple[int, ...]
    x: torch.Tensor | None
    y: torch.Tensor | None
    labels: np.ndarray
    task: np.ndarray
    offsets: np.ndarray
    active_units: torch.Tensor | None
    task_units: torch.Tensor | None

    @classmethod
    def build(cls, spec: MLPSpec, stream: Stream, seeds: Sequence[int], dtype: torch.dtype | None) -> Context:
        """The context of a batch: concatenated training sets in ``dtype`` and the masks (None: an index context)."""
        sizes = stream.train_sizes
        y = np.concatenate([t.y_train for t in stream.tasks])
        tensors = {"x": None, "y": None, "active_units": None, "task_units": None}
        if dtype is not None:
            import torch

            x = torch.from_numpy(np.concatenate([t.x_train for t in stream.tasks])).to(dtype)
            classify = stream.kind == "classification"
            tensors.update(x=x, y=torch.from_numpy(y) if classify else torch.from_numpy(y).to(dtype))
            if classify:
                active = torch.zeros(len(stream), stream.n_classes, dtype=torch.bool)
                task = torch.zeros(len(stream), stream.n_classes, dtype=torch.bool)
                for t in range(len(stream)):
                    active[t, list(stream.active_classes(t))] = True
                    task[t, list(stream.tasks[t].classes)] = True
                tensors.update(active_units=active, task_units=task)
        return cls(
            spec=spec,
            stream=stream,
            seeds=tuple(int(s) for s in seeds),
            labels=y,
            task=np.repeat(np.arange(len(sizes)), sizes),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            **tensors,
        )

    @property
    def n_runs(self) -> int:
        """Runs in the batch."""
        return len(self.seeds)

    def train_mask(self, tasks: np.ndarray, newest: int) -> torch.Tensor | None:
        """The output units a sample's loss is computed over, while the newest task trained is ``newest``.

        - task-incremental: each sample's own task's classes, shape ``(*tasks.shape, C)``;
        - class-incremental: every class seen so far, ``stream.active_classes(newest)``, (C,);
        - domain-incremental and regression: None (every unit).

        Parameters
        ----------
        tasks : ndarray of int
            The samples' tasks, any shape (e.g. (R, m) per run or (n,) shared).
        newest : int
            The newest task trained so far.
        """
        import torch

        if self.active_units is None or self.stream.scenario == "domain":
            return None
        if self.stream.scenario == "task":
            return self.active_units[torch.from_numpy(np.asarray(tasks))]
        return self.active_units[newest]

    def eval_mask(self, task: int, newest: int) -> torch.Tensor | None:
        """The output units (C,) a prediction on task ``task``'s test set chooses from, or None for all.

        :meth:`forgetlab.tasks.Stream.eval_classes` as a mask (``newest``: the newest task
        trained, -1 before training).
        """
        import torch

        classes = self.stream.eval_classes(task, newest)
        if classes is None:
            return None
        mask = torch.zeros(self.spec.n_outputs, dtype=torch.bool)
        mask[list(classes)] = True
        return mask

    def gather(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """Inputs (..., d), targets (...) and tasks (...) of the samples at global ``index`` (any shape)."""
        import torch

        at = torch.from_numpy(np.asarray(index))
        return self.x[at], self.y[at], self.task[index]


@dataclass(frozen=True, eq=False)
class Minibatch:
    """One training step's samples, per run.

    Attributes
    ----------
    index : ndarray of shape (R, m)
        Global indices; the first ``n_new`` columns are the stream's, the rest were added
        by ``extend_batch``.
    x : Tensor of shape (R, m, d)
    y : Tensor of shape (R, m)
    tasks : ndarray of shape (R, m)
    mask : Tensor or None
        The training mask (:meth:`Context.train_mask`).
    newest : int
        The newest task trained so far.
    n_new : int
        Stream samples in the minibatch.
    """

    index: np.ndarray
    x: torch.Tensor
    y: torch.Tensor
    tasks: np.ndarray
    mask: torch.Tensor | None
    newest: int
    n_new: int


@dataclass(frozen=True, eq=False)
class Phase:
    """A finished phase: the epochs whose newest task was ``newest``.

    Attributes
    ----------
    number : int
        0 for the first phase.
    newest : int
        The newest task trained in the phase.
    tasks : tuple of int
        The tasks the phase's epochs trained on.
    samples : ndarray of shape (n,)
        Global indices of the whole training sets of ``tasks``, shared by every run (for
        a sequential schedule: the training set of the phase's task).
    """

    number: int
    newest: int
    tasks: tuple[int, ...]
    samples: np.ndarray


#: The hooks a strategy may override to act on the training steps (every hook but ``transform_plan``).
TRAINING_HOOKS = (
    "start",
    "extend_batch",
    "data_loss",
    "output_term",
    "penalty",
    "input_term",
    "edit_gradient",
    "after_step",
    "observe",
    "end_phase",
)


@dataclass(frozen=True, kw_only=True)
class Strategy:
    """Base class: fine-tuning (every hook a no-op); subclasses override the hooks they need.

    The hooks and the order of their calls are described in the module docstring of
    :mod:`forgetlab.strategies.base`. Per-run arguments have a leading axis of R runs.

    ``constraints`` declares what each setting accepts (:mod:`forgetlab.validation`),
    checked when the strategy is built; :meth:`validate` checks what depends on the stream.
    """

    name: ClassVar[str]
    constraints: ClassVar[dict[str, Constraint]] = {}

    def __post_init__(self) -> None:
        validate(type(self).__name__, self.constraints, self.__dict__)

    def validate(self, stream: Stream) -> None:
        """Raise InvalidParameterError if the strategy cannot run on ``stream`` (default: it can)."""

    def to_dict(self) -> dict:
        """Plain settings with the strategy's name, e.g. for a manifest."""
        return {"name": self.name, **asdict(self)}

    def transform_plan(self, plan: list[Epoch], train_sizes: Sequence[int]) -> list[Epoch]:
        """The plan the run trains on, from the schedule's (default: unchanged)."""
        return plan

    def start(self, context: Context) -> Any:
        """The mutable state of a batch of runs (default: None)."""
        return None

    def extend_batch(self, state: Any, index: np.ndarray) -> np.ndarray:
        """The global indices (R, m') to train on, given the minibatch's (R, m) (default: unchanged)."""
        return index

    def data_loss(self, state: Any, batch: Minibatch, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The data loss on the outputs (R, m', C) in place of the trainer's: ``(loss (R,), d loss / d output)``.

        None (the default) keeps the trainer's: the squared error or the cross-entropy
        over ``batch.mask``, mean over the extended minibatch
        (:func:`~forgetlab.numerics.mlp.output_loss`). A strategy whose appended samples
        are not plain training samples (DER's stored logits) or that masks them differently
        (ER-ACE) returns its own.
        """
        return None

    def output_term(
        self, state: Any, batch: Minibatch, output: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """An extra loss on the outputs (R, m', C): ``(loss (R,), d loss / d output)``, or None."""
        return None

    def penalty(self, state: Any, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """An extra loss on the parameters (R, P): ``(loss (R,), gradient (R, P))``, or None."""
        return None

    def input_term(
        self, state: Any, batch: Minibatch, params: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A loss on inputs of the strategy's own through the model ``params`` (R, P): ``(loss (R,), gradient (R, P))``.

        For inputs that are not training samples (generative replay's generated ones):
        the strategy forwards them through the model itself
        (:func:`~forgetlab.numerics.mlp.forward`, :func:`~forgetlab.numerics.mlp.backward`).
        None (the default) adds nothing.
        """
        return None

    def edit_gradient(self, state: Any, batch: Minibatch, params: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The gradient (R, P) the optimiser uses on ``batch`` (default: ``grad``)."""
        return grad

    def after_step(self, state: Any, params_before: torch.Tensor, params: torch.Tensor, grad: torch.Tensor) -> None:
        """Called after each optimiser step with the parameters before and after it and the gradient used."""

    def observe(self, state: Any, index: np.ndarray) -> None:
        """Called with the global indices (R, m) of every stream sample a step trained on."""

    def end_phase(self, state: Any, params: torch.Tensor, phase: Phase) -> None:
        """Called at the end of each phase with the parameters (R, P), which it may edit in place."""

    @property
    def plan_only(self) -> bool:
        """Whether the strategy only changes what each epoch trains on (:meth:`transform_plan`) and no step.

        True when it overrides none of :data:`TRAINING_HOOKS` (naive, joint, cumulative):
        a trainer without hooks can train it (the compiled engine's continual trainer).

        Examples
        --------
        >>> from forgetlab.strategies import EWC, Joint
        >>> Joint().plan_only, EWC().plan_only
        (True, False)
        """
        return all(getattr(type(self), hook) is getattr(Strategy, hook) for hook in TRAINING_HOOKS)

    def step_roles(self, state: Any, n_new: int, width: int) -> tuple[np.ndarray, np.ndarray] | None:
        """How the rows of the step just extended and observed (one run) enter its loss, for a trainer without hooks.

        A strategy that overrides :meth:`data_loss` with a loss per row of the extended
        minibatch (a weighted data term, and matching outputs it stored) describes it here,
        so that the compiled trainer computes it: ``roles`` (width, 4) float64 and
        ``slots`` (width, 2) int64 as :func:`forgetlab.numerics.compiled_sgd.train_pass`
        takes them (the memory rows are those of :attr:`stored_outputs`). None (the
        default): every row's data loss, a mean over the minibatch.
        """
        return None

    @property
    def stored_outputs(self) -> int:
        """Rows of model outputs the strategy stores per run for :meth:`step_roles` (default 0)."""
        return 0

    @property
    def index_only(self) -> bool:
        """Whether the strategy's steps differ from fine-tuning's only in the samples they train on and their weights.

        True when, of :data:`TRAINING_HOOKS`, it overrides at most :meth:`start`,
        :meth:`extend_batch` and :meth:`observe` (plan-only strategies and experience
        replay), and :meth:`data_loss` if it describes that loss row by row
        (:meth:`step_roles`: DER, DER++). Its hooks then read and write global indices
        only, its state is built from an index context (:meth:`Context.build` without a
        dtype), and every step's loss is known from the indices, so a trainer without
        hooks can train it (the compiled engine's continual trainer).

        Examples
        --------
        >>> from forgetlab.strategies import DER, EWC, Joint, Replay
        >>> Joint().index_only, Replay().index_only, DER().index_only, EWC().index_only
        (True, True, True, False)
        """
        allowed = {"start", "extend_batch", "observe"}
        if type(self).step_roles is not Strategy.step_roles:
            allowed.add("data_loss")
        return all(
            getattr(type(self), hook) is getattr(Strategy, hook) for hook in TRAINING_HOOKS if hook not in allowed
        )

    @property
    def uses_params_before(self) -> bool:
        """Whether :meth:`after_step` is overridden (the trainer then keeps the parameters before a step)."""
        return type(self).after_step is not Strategy.after_step
