"""Memory aware synapses: a quadratic penalty weighted by how sensitive the model's output is to each parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from forgetlab.numerics.mlp import absolute_sample_gradients, forward
from forgetlab.strategies.base import Context, Phase, Strategy
from forgetlab.validation import Constraint, Interval

__all__ = ["MAS", "MASState", "output_sensitivity"]


def output_sensitivity(context: Context, params: torch.Tensor, samples: np.ndarray, newest: int) -> torch.Tensor:
    """MAS's importance of every parameter of every run, over the given samples (no labels used).

    .. math:: \\Omega = \\frac{1}{n} \\sum_{i=1}^{n} \\Big| \\frac{\\partial \\lVert f_\\theta(x_i) \\rVert_2^2}
              {\\partial \\theta} \\Big|

    with :math:`f_\\theta(x)` the model's outputs (the logits of a classifier, before the
    softmax, as Aljundi et al.) on the sample's training units: the scenario's mask while
    ``newest`` is the newest task (its own task's head in task-incremental learning, the
    classes seen so far in class-incremental learning, every unit otherwise).
    :math:`\\partial \\lVert f \\rVert^2 / \\partial f = 2 f` on those units, and the
    per-sample absolute gradients are summed in one pass (:func:`absolute_sample_gradients`).

    Parameters
    ----------
    context : Context
        The batch's model and data (shared).
    params : Tensor of shape (R, P)
        Per run.
    samples : ndarray of shape (n,)
        Global indices, shared by every run.
    newest : int
        The newest task trained (for the class-incremental mask).

    Returns
    -------
    Tensor of shape (R, P)

    References
    ----------
    Aljundi, R., Babiloni, F., Elhoseiny, M., Rohrbach, M. & Tuytelaars, T. (2018), "Memory
    aware synapses: learning what (not) to forget", ECCV, arXiv:1711.09601, eq. (4).
    """
    x, _, tasks = context.gather(samples)
    fwd = forward(context.spec, params, x)
    d_output = 2.0 * fwd.output
    mask = context.train_mask(tasks, newest)
    if mask is not None:
        d_output = d_output.masked_fill(~mask.expand_as(d_output), 0.0)
    return absolute_sample_gradients(context.spec, fwd, d_output) / len(samples)


@dataclass(eq=False)
class MASState:
    """Per run, (R, P): the accumulated importance and the anchor (None before the first phase ends)."""

    context: Context
    importance: torch.Tensor | None = None
    anchor: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class MAS(Strategy):
    """Memory aware synapses (MAS): anchor the parameters the model's output is most sensitive to.

    At the end of each phase the importance of the phase's training samples
    (:func:`output_sensitivity`, unsupervised: no labels) is added to the importance of the
    earlier phases, and the parameters :math:`\\theta^*` are stored; later steps add

    .. math:: \\lambda \\sum_p \\Omega_p (\\theta_p - \\theta^*_p)^2, \\qquad
              \\Omega = \\sum_{t} \\Omega_t

    to the loss (gradient :math:`2 \\lambda\\, \\Omega \\odot (\\theta - \\theta^*)`), as
    Aljundi et al.'s eq. (3) with importance accumulated over tasks.

    Parameters
    ----------
    mas_lambda : float, default 1.0
        :math:`\\lambda \\ge 0`; Aljundi et al. used 1 (object recognition); tune it on your
        stream, as EWC's.

    Notes
    -----
    Per run: importance and anchor are each run's own, so a run gives the same result alone
    or in a batch. Like EWC, it helps where tasks share output units with a separate head
    per task (task-incremental); in class-incremental learning it cannot stop new classes'
    logits from winning (van de Ven & Tolias 2019).

    References
    ----------
    Aljundi, R., Babiloni, F., Elhoseiny, M., Rohrbach, M. & Tuytelaars, T. (2018), "Memory
    aware synapses: learning what (not) to forget", ECCV, arXiv:1711.09601.

    Examples
    --------
    >>> MAS(mas_lambda=10.0).to_dict()
    {'name': 'mas', 'mas_lambda': 10.0}
    """

    name: ClassVar[str] = "mas"
    constraints: ClassVar[dict[str, Constraint]] = {"mas_lambda": Interval(float, 0, None)}
    mas_lambda: float = 1.0

    def start(self, context: Context) -> MASState:
        return MASState(context=context)

    def penalty(self, state: MASState, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:math:`\\lambda \\sum_p \\Omega_p (\\theta_p - \\theta^*_p)^2` and its gradient (None before an anchor)."""
        if state.importance is None:
            return None
        diff = params - state.anchor
        weighted = state.importance * diff
        return torch.linalg.vecdot(weighted, diff).mul_(self.mas_lambda), weighted.mul_(2.0 * self.mas_lambda)

    def end_phase(self, state: MASState, params: torch.Tensor, phase: Phase) -> None:
        importance = output_sensitivity(state.context, params, phase.samples, phase.newest)
        state.importance = importance if state.importance is None else state.importance.add_(importance)
        state.anchor = params.clone()
