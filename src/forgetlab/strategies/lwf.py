"""Learning without forgetting: distil the previous model's outputs on the current inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from forgetlab.numerics.mlp import forward, log_softmax, squared_error
from forgetlab.strategies.base import POSITIVE, Context, Minibatch, Phase, Strategy
from forgetlab.validation import Constraint, Interval

__all__ = ["LwF", "LwFState", "distillation"]


def distillation(
    output: torch.Tensor,
    teacher: torch.Tensor,
    heads: torch.Tensor | None,
    temperature: float,
    student_units: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The distillation loss of every run, mean over samples, and its derivative with respect to the outputs.

    Classification (``heads`` given): for each head :math:`h` (a set of output units),
    with :math:`p = \\mathrm{softmax}_h(z^{teacher} / T)` and
    :math:`q = \\mathrm{softmax}_h(z / T)` over the head's units only (or over
    ``student_units`` when given),

    .. math:: L = \\frac{T^2}{n} \\sum_i \\sum_h \\mathrm{KL}(p_{i,h} \\,\\|\\, q_{i,h}),
              \\qquad \\frac{\\partial L}{\\partial z_{i,c}} = \\frac{T}{n} \\sum_{h \\ni c} (q_{i,h,c} - p_{i,h,c}).

    The KL divergence differs from Li & Hoiem's cross-entropy
    :math:`-\\sum_c p_c \\log q_c` by the teacher's entropy, a constant: same gradient,
    and the loss is 0 when student and teacher agree. :math:`T^2` keeps the gradient's
    scale independent of :math:`T` (Hinton et al. 2015).

    Regression (``heads`` None): the squared error to the teacher's outputs, as the data
    loss (:func:`~forgetlab.numerics.mlp.squared_error`),

    .. math:: L = \\frac{1}{2 n\\, n_{out}} \\sum_i \\lVert z_i - z_i^{teacher} \\rVert^2,
              \\qquad \\frac{\\partial L}{\\partial z_i} = \\frac{z_i - z_i^{teacher}}{n\\, n_{out}};

    ``temperature`` is then unused.

    ``student_units`` (generative replay, class-incremental): the student's units are every
    class seen so far and the teacher's those it had seen; the classes added since get
    target probability 0, so that replayed inputs of earlier tasks are not claimed by the
    new classes (van de Ven et al.'s targets padded with zeros).

    Parameters
    ----------
    output : Tensor of shape (R, n, C)
        The student's outputs (logits).
    teacher : Tensor of shape (R, n, C)
        The teacher's outputs on the same inputs.
    heads : bool Tensor of shape (H, C) or None
        Classification: the units of each head distilled; None for regression.
    temperature : float
        :math:`T > 0`.
    student_units : bool Tensor of shape (C,) or None, default None
        The units :math:`q` is taken over, for every head; None for each head's own.

    Returns
    -------
    loss : Tensor of shape (R,)
    d_output : Tensor of shape (R, n, C)

    Examples
    --------
    >>> z = torch.tensor([[[1.0, 2.0, 5.0]]], dtype=torch.float64)
    >>> loss, d = distillation(z, z.clone(), torch.tensor([[True, True, False]]), 2.0)
    >>> float(loss[0]), d.abs().max().item()
    (0.0, 0.0)

    The student gives a new class (unit 2) as much as the old ones; its target is 0:

    >>> z, old = torch.zeros(1, 1, 3, dtype=torch.float64), torch.tensor([[True, True, False]])
    >>> loss, d = distillation(z, z.clone(), old, 1.0, student_units=torch.ones(3, dtype=torch.bool))
    >>> round(float(loss[0]), 4), d[0, 0].round(decimals=4).tolist()  # log(3/2)
    (0.4055, [-0.1667, -0.1667, 0.3333])
    """
    if heads is None:
        return squared_error(output, teacher)
    n = output.shape[1]
    loss = torch.zeros(output.shape[0], dtype=output.dtype)
    d_output = torch.zeros_like(output)
    for head in heads:
        log_q = log_softmax(output / temperature, head if student_units is None else student_units)
        log_p = log_softmax(teacher / temperature, head)
        p = log_p.exp()
        kl = torch.where(head, p * (log_p - log_q), 0.0)
        loss += kl.sum(dim=(1, 2))
        d_output += log_q.exp_().sub_(p)  # both 0 outside the student's units
    return loss.mul_(temperature**2 / n), d_output.mul_(temperature / n)


@dataclass(eq=False)
class LwFState:
    """The teacher (the parameters at the end of the last finished phase, (R, P)) and its heads.

    Attributes
    ----------
    context : Context
        The batch's model and masks.
    teacher : Tensor of shape (R, P) or None
        None until the first phase ends.
    heads : bool Tensor of shape (H, C) or None
        The output units distilled (see :class:`LwF`); None for regression.
    tasks : set of int
        Every task trained in a finished phase.
    """

    context: Context
    teacher: torch.Tensor | None = None
    heads: torch.Tensor | None = None
    tasks: set[int] | None = None


@dataclass(frozen=True, kw_only=True)
class LwF(Strategy):
    """Learning without forgetting (LwF): keep the outputs of the previous model on the new data.

    At the end of each phase the model is copied as the *teacher*. Every later step adds

    .. math:: \\alpha \\, L_{distil}(z, z^{teacher})

    to the loss, computed on the step's own inputs (no stored data) and backpropagated
    through the outputs (:func:`distillation` gives :math:`L_{distil}` and its derivative):

    - classification: :math:`T^2` times the KL divergence between the teacher's and the
      student's softmax at temperature :math:`T`, over the outputs of the previous tasks,
      summed over heads and averaged over samples. The heads depend on the scenario:
      task-incremental, one head per task trained so far (its own classes), as Li & Hoiem's
      multi-head networks; class-incremental, one head of every class seen by the teacher;
      domain-incremental, one head of every unit.
    - regression (the regression analogue): half the mean squared difference between the
      student's and the teacher's outputs, the data loss with the teacher's outputs as
      targets; the temperature is unused.

    Parameters
    ----------
    temperature : float, default 2.0
        :math:`T > 0`; Li & Hoiem used 2.
    alpha : float, default 1.0
        :math:`\\alpha \\ge 0`, the weight of the distillation loss (Li & Hoiem's
        :math:`\\lambda_o`, 1 in their experiments).

    Notes
    -----
    Costs one extra forward pass of the teacher per step. Everything is per run (the
    teacher is each run's own parameters), so a run gives the same result alone or in a
    batch.

    References
    ----------
    Li, Z. & Hoiem, D. (2017), "Learning without forgetting", IEEE TPAMI 40(12),
    2935-2947, arXiv:1606.09282.
    Hinton, G., Vinyals, O. & Dean, J. (2015), "Distilling the knowledge in a neural
    network", arXiv:1503.02531.

    Examples
    --------
    >>> LwF(temperature=3.0).to_dict()
    {'name': 'lwf', 'temperature': 3.0, 'alpha': 1.0}
    """

    name: ClassVar[str] = "lwf"
    constraints: ClassVar[dict[str, Constraint]] = {"temperature": POSITIVE, "alpha": Interval(float, 0, None)}
    temperature: float = 2.0
    alpha: float = 1.0

    def start(self, context: Context) -> LwFState:
        return LwFState(context=context, tasks=set())

    def output_term(
        self, state: LwFState, batch: Minibatch, output: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:math:`\\alpha L_{distil}` on the minibatch's inputs and its derivative, None before a teacher exists."""
        if state.teacher is None or self.alpha == 0:
            return None
        teacher = forward(state.context.spec, state.teacher, batch.x).output
        loss, d_output = distillation(output, teacher, state.heads, self.temperature)
        return loss.mul_(self.alpha), d_output.mul_(self.alpha)

    def end_phase(self, state: LwFState, params: torch.Tensor, phase: Phase) -> None:
        """The parameters become the teacher; the heads cover every task trained so far."""
        context = state.context
        state.teacher = params.clone()
        state.tasks.update(phase.tasks)
        if context.active_units is None:
            state.heads = None
        elif context.stream.scenario == "task":
            state.heads = context.active_units[sorted(state.tasks)]
        else:
            state.heads = context.active_units[phase.newest].unsqueeze(0)
