"""Synaptic intelligence: parameter importance from each parameter's share of the loss decrease."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from forgetlab.strategies.base import POSITIVE, Context, Phase, Strategy
from forgetlab.validation import Constraint, Interval

__all__ = ["SI", "SIState"]


@dataclass(eq=False)
class SIState:
    """Per run, all (R, P): the running path integral, the importance and the anchors.

    Attributes
    ----------
    omega : Tensor
        :math:`\\omega`, the path integral over the current task's steps.
    importance : Tensor
        :math:`\\Omega`, accumulated over the finished tasks (0 before the first).
    anchor : Tensor or None
        :math:`\\theta^*`, the parameters at the end of the last finished task (None before).
    task_start : Tensor or None
        The parameters when the current task began (the initial ones for the first task,
        taken from the first step).
    penalty_grad : Tensor or None
        The penalty's gradient at the current step, subtracted from the gradient the
        optimiser used to get the task loss's gradient.
    """

    omega: torch.Tensor
    importance: torch.Tensor
    anchor: torch.Tensor | None = None
    task_start: torch.Tensor | None = None
    penalty_grad: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class SI(Strategy):
    """Synaptic intelligence (SI): a quadratic penalty weighted by each parameter's path integral.

    During a task, after every optimiser step :math:`\\theta \\to \\theta + \\Delta\\theta`
    taken with the gradient :math:`g` of the task loss (the data loss and scikit-learn's
    weight penalty, *without* SI's own penalty, at the parameters before the step),

    .. math:: \\omega_k \\leftarrow \\omega_k - g_k \\, \\Delta\\theta_k,

    a first-order estimate of how much parameter :math:`k` contributed to the decrease of
    the loss. At the end of the task, with :math:`\\Delta_k = \\theta_k^{end} -
    \\theta_k^{start}` the task's total change,

    .. math:: \\Omega_k \\leftarrow \\max\\Big(0,\\ \\Omega_k + \\frac{\\omega_k}{\\Delta_k^2 + \\xi}\\Big),
              \\qquad \\omega \\leftarrow 0, \\qquad \\theta^* \\leftarrow \\theta,

    and later steps add the surrogate loss

    .. math:: c \\sum_k \\Omega_k (\\theta_k - \\theta^*_k)^2

    (gradient :math:`2 c\\, \\Omega \\odot (\\theta - \\theta^*)`). :math:`\\Delta\\theta` is the
    optimiser's actual step (Adam's, not :math:`-\\eta g`). The clip of :math:`\\Omega` at 0
    follows the authors' code (``tf.nn.relu`` on the accumulated importance); the paper
    leaves it implicit. :math:`g` is the gradient the optimiser used minus the gradient
    :meth:`penalty` returned at the same step (equal up to rounding to the task loss's
    gradient, Zenke et al.'s "unregularised" gradient).

    Parameters
    ----------
    c : float, default 1.0
        Strength of the surrogate loss, >= 0: c = 1 as in the authors' split-MNIST
        notebook (0.1 on permuted MNIST); van de Ven & Tolias (2019) tuned c = 50 / 500 /
        0.5 (task / domain / class-IL) on split MNIST with xi = 0.1. Tune it on your stream.
    xi : float, default 1e-3
        The damping :math:`\\xi > 0` that bounds the importance of parameters that barely
        moved: 1e-3 as the authors' split-MNIST and split-CIFAR runs (0.1 on permuted MNIST,
        and in van de Ven & Tolias's code).

    Notes
    -----
    Every quantity is per run, (R, P), and every operation elementwise, so a run gives
    the same numbers alone or in a batch. The path integral starts from the parameters
    before the first step; a phase that took no step adds nothing.

    References
    ----------
    Zenke, F., Poole, B. & Ganguli, S. (2017), "Continual learning through synaptic
    intelligence", ICML, PMLR 70, 3987-3995; code at github.com/ganguli-lab/pathint.
    van de Ven, G. M. & Tolias, A. S. (2019), "Three scenarios for continual learning",
    arXiv:1904.07734.

    Examples
    --------
    >>> SI(c=0.5).to_dict()
    {'name': 'si', 'c': 0.5, 'xi': 0.001}
    """

    name: ClassVar[str] = "si"
    constraints: ClassVar[dict[str, Constraint]] = {"c": Interval(float, 0, None), "xi": POSITIVE}
    c: float = 1.0
    xi: float = 1e-3

    def start(self, context: Context) -> SIState:
        shape = (context.n_runs, context.spec.n_params)
        dtype = context.x.dtype
        return SIState(omega=torch.zeros(shape, dtype=dtype), importance=torch.zeros(shape, dtype=dtype))

    def penalty(self, state: SIState, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:math:`c \\sum_k \\Omega_k (\\theta_k - \\theta^*_k)^2` and its gradient, None before the first anchor."""
        if state.anchor is None:
            state.penalty_grad = None
            return None
        diff = params - state.anchor
        weighted = state.importance * diff
        loss = torch.linalg.vecdot(weighted, diff).mul_(self.c)
        state.penalty_grad = weighted.mul_(2.0 * self.c)
        return loss, state.penalty_grad

    def after_step(self, state: SIState, params_before: torch.Tensor, params: torch.Tensor, grad: torch.Tensor) -> None:
        """Add :math:`-g \\odot \\Delta\\theta` to the path integral, with :math:`g` the task loss's gradient."""
        if state.task_start is None:
            state.task_start = params_before.clone()
        task_grad = grad if state.penalty_grad is None else grad - state.penalty_grad
        state.omega.addcmul_(task_grad, params - params_before, value=-1.0)

    def end_phase(self, state: SIState, params: torch.Tensor, phase: Phase) -> None:
        """Consolidate the task's path integral into the importance; the parameters become the anchor."""
        start = params if state.task_start is None else state.task_start
        damping = (params - start).square_().add_(self.xi)
        state.importance.add_(state.omega / damping).clamp_(min=0)
        state.omega.zero_()
        state.anchor = params.clone()
        state.task_start = params.clone()
