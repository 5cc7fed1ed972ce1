"""Averaged gradient episodic memory: never step against the average gradient of a memory of old tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from forgetlab.numerics.mlp import loss_and_grad
from forgetlab.strategies.base import Context, Minibatch, Phase, Strategy, check_memory, draw_distinct, run_rng
from forgetlab.tasks import Stream
from forgetlab.validation import Constraint, Interval

__all__ = ["AGEM", "AGEMState", "equal_shares", "project_gradient"]

#: The ``purpose`` of A-GEM's RNG (:func:`~forgetlab.strategies.base.run_rng`): memory fills and draws.
AGEM_RNG = 3


def project_gradient(grad: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """A-GEM's projection of every run's gradient: remove the part that opposes the reference gradient.

    .. math:: \\tilde g = \\begin{cases} g - \\dfrac{g^\\top g_{ref}}{g_{ref}^\\top g_{ref}}\\, g_{ref}
              & \\text{if } g^\\top g_{ref} < 0, \\\\ g & \\text{otherwise,} \\end{cases}

    so that :math:`\\tilde g^\\top g_{ref} = 0 \\ge 0` (up to rounding) whenever the step
    would have increased the memory's loss to first order; :math:`\\tilde g` is then the
    vector closest to :math:`g` with that property. A run with :math:`g_{ref} = 0` (or
    whose :math:`g_{ref}^\top g_{ref}` underflows to 0) keeps its gradient. Per run: dot
    products over the parameter axis only.

    Parameters
    ----------
    grad : Tensor of shape (R, P)
        :math:`g`, per run.
    ref : Tensor of shape (R, P)
        :math:`g_{ref}`, per run.

    Returns
    -------
    Tensor of shape (R, P)
        A new tensor; rows with :math:`g^\\top g_{ref} \\ge 0` are copies of ``grad``.

    Examples
    --------
    >>> g = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    >>> project_gradient(g, torch.tensor([[0.0, 1.0], [0.0, 1.0]])).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    dot = torch.linalg.vecdot(grad, ref)
    ref_sq = torch.linalg.vecdot(ref, ref)
    conflict = (dot < 0) & (ref_sq > 0)
    scale = torch.where(conflict, dot / torch.where(conflict, ref_sq, 1.0), 0.0)
    return torch.where(conflict.unsqueeze(1), grad - scale.unsqueeze(1) * ref, grad)


def equal_shares(capacity: int, sizes: list[int]) -> list[int]:
    """Memory slots per task: ``capacity`` split equally, the remainder to the earliest tasks, capped at each size.

    Examples
    --------
    >>> equal_shares(10, [100, 100, 100])
    [4, 3, 3]
    >>> equal_shares(10, [2, 100])
    [2, 5]
    """
    base, extra = divmod(capacity, len(sizes))
    return [min(size, base + (i < extra)) for i, size in enumerate(sizes)]


@dataclass(eq=False)
class AGEMState:
    """Per run: its RNG and its memory, the global indices kept of every past task.

    Attributes
    ----------
    context : Context
        The batch's model and data.
    rngs : list of numpy.random.RandomState
        ``run_rng(seed, AGEM_RNG)`` per run: memory fills and reference draws.
    memory : list of dict
        Per run, task -> global indices (in the order drawn; a prefix is a uniform sample).
    tasks : list of int
        The tasks in memory, sorted.
    """

    context: Context
    rngs: list[np.random.RandomState]
    memory: list[dict[int, np.ndarray]]
    tasks: list[int] = field(default_factory=list)

    def contents(self, run: int) -> np.ndarray:
        """The global indices run ``run`` holds, task by task in stream order."""
        held = [self.memory[run][t] for t in self.tasks]
        return np.concatenate(held) if held else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, kw_only=True)
class AGEM(Strategy):
    """Averaged gradient episodic memory (A-GEM): project the gradient when it would raise the memory's loss.

    Each run keeps an episodic memory :math:`M` of at most ``memory_size`` training
    samples of the tasks it has finished: at the end of each phase the memory is split
    equally over every task trained so far (:func:`equal_shares`); an old task keeps a
    prefix of its uniformly drawn samples, a new task gets a uniform sample of its
    training set. At every step, with :math:`g` the minibatch's gradient (every loss and
    penalty included), a reference batch of ``sample_size`` samples is drawn uniformly
    without replacement from :math:`M`, its gradient :math:`g_{ref}` computed (the loss
    the trainer minimises: cross-entropy with each sample's own training mask, or squared
    error, and scikit-learn's weight penalty), and the optimiser steps with

    .. math:: \\tilde g = g - \\frac{\\min(0,\\ g^\\top g_{ref})}{g_{ref}^\\top g_{ref}}\\, g_{ref}

    (:func:`project_gradient`): the step does not increase the average loss on the memory
    to first order. Before the first phase ends the memory is empty and :math:`g` is used
    unchanged.

    Parameters
    ----------
    memory_size : int, default 200
        Samples the memory holds per run, >= 1.
    sample_size : int, default 128
        Memory samples per reference gradient, >= 1 (fewer while the memory is smaller).
        Chaudhry et al. draw a random batch of the memory per step.

    Notes
    -----
    Per run: memory fills and reference draws use ``run_rng(seed, 3)`` and the dot
    products are over each run's parameters, so a run gives the same result alone or in
    a batch. The class-incremental mask of the reference batch is that of the current
    step.

    References
    ----------
    Chaudhry, A., Ranzato, M., Rohrbach, M. & Elhoseiny, M. (2019), "Efficient lifelong
    learning with A-GEM", ICLR, arXiv:1812.00420.
    Lopez-Paz, D. & Ranzato, M. (2017), "Gradient episodic memory for continual
    learning", NeurIPS (GEM).

    Examples
    --------
    >>> AGEM(memory_size=100).to_dict()
    {'name': 'agem', 'memory_size': 100, 'sample_size': 128}
    """

    name: ClassVar[str] = "agem"
    constraints: ClassVar[dict[str, Constraint]] = {
        "memory_size": Interval(int, 1, None),
        "sample_size": Interval(int, 1, None),
    }
    memory_size: int = 200
    sample_size: int = 128

    def validate(self, stream: Stream) -> None:
        check_memory(self.memory_size, "memory_size", "AGEM", stream)

    def start(self, context: Context) -> AGEMState:
        return AGEMState(
            context=context,
            rngs=[run_rng(seed, AGEM_RNG) for seed in context.seeds],
            memory=[{} for _ in context.seeds],
        )

    def edit_gradient(
        self, state: AGEMState, batch: Minibatch, params: torch.Tensor, grad: torch.Tensor
    ) -> torch.Tensor:
        """The gradient projected against the memory's average gradient (unchanged while the memory is empty)."""
        if not state.tasks:
            return grad
        context = state.context
        contents = [state.contents(r) for r in range(context.n_runs)]
        size = min(len(held) for held in contents)  # every run holds as many samples
        k = min(self.sample_size, size)
        draws = zip(contents, state.rngs, strict=True)
        index = np.stack([held[draw_distinct(rng, len(held), k)] for held, rng in draws])
        x, y, tasks = context.gather(index)
        _, ref = loss_and_grad(context.spec, params, x, y, mask=context.train_mask(tasks, batch.newest))
        return project_gradient(grad, ref)

    def end_phase(self, state: AGEMState, params: torch.Tensor, phase: Phase) -> None:
        """Share the memory equally among every task trained so far; draw the new tasks' samples."""
        offsets = state.context.offsets
        state.tasks = sorted(set(state.tasks) | set(phase.tasks))
        sizes = [int(offsets[t + 1] - offsets[t]) for t in state.tasks]
        quotas = equal_shares(self.memory_size, sizes)
        for memory, rng in zip(state.memory, state.rngs, strict=True):
            for t, n, quota in zip(state.tasks, sizes, quotas, strict=True):
                if t in memory:
                    memory[t] = memory[t][:quota]
                else:
                    memory[t] = offsets[t] + draw_distinct(rng, n, quota)
