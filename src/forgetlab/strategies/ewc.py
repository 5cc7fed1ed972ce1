"""Elastic weight consolidation: a quadratic penalty that anchors the parameters important to old tasks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from forgetlab.numerics.mlp import forward, log_softmax, squared_sample_gradients
from forgetlab.strategies.base import Context, Phase, Strategy
from forgetlab.validation import Constraint, Interval, Options

__all__ = ["EWC", "FISHERS", "EWCState", "OnlineEWC", "fisher_diagonal"]

#: How the Fisher information of a classifier is estimated (see :func:`fisher_diagonal`).
FISHERS = ("expected", "empirical")


def fisher_diagonal(
    context: Context, params: torch.Tensor, samples: np.ndarray, newest: int, *, fisher: str = "expected"
) -> torch.Tensor:
    """The diagonal of the Fisher information of every run, over the given training samples.

    .. math:: F = \\frac{1}{n} \\sum_{i=1}^{n} \\mathbb{E}_{c}
              \\big[(\\nabla_\\theta \\log p_\\theta(c \\mid x_i))^2\\big]

    - classification, ``fisher="expected"`` (the true Fisher): the expectation over the
      model's own predictive distribution :math:`c \\sim p_\\theta(\\cdot \\mid x_i)`,
      computed exactly as :math:`\\sum_c p_c\\, g_c^2` (no sampling);
    - classification, ``fisher="empirical"``: the observed label, :math:`c = y_i`;
    - regression: the gradient of the sample's squared error
      :math:`\\tfrac{1}{2}(\\hat y_i - y_i)^2` (the empirical Fisher of a unit-variance
      Gaussian likelihood); ``fisher`` is ignored.

    Probabilities are the softmax over the training mask of each sample (the scenario's
    active units while ``newest`` is the newest task). The expected Fisher is the
    quantity EWC's derivation asks for; the empirical one is cheaper but can be a poor
    approximation (Kunstner et al. 2019). Per-sample squared gradients are summed in one
    backward pass per class (:func:`~forgetlab.numerics.mlp.squared_sample_gradients`).

    Parameters
    ----------
    context : Context
        The batch's model and data (shared).
    params : Tensor of shape (R, P)
        Per run.
    samples : ndarray of shape (n,)
        Global indices of the samples, shared by every run.
    newest : int
        The newest task trained (for the class-incremental mask).
    fisher : {"expected", "empirical"}, default "expected"
        Classification only: which Fisher (above).

    Returns
    -------
    Tensor of shape (R, P)

    References
    ----------
    Kirkpatrick, J. et al. (2017), "Overcoming catastrophic forgetting in neural networks",
    PNAS 114(13), 3521-3526.
    Kunstner, F., Hennig, P. & Balles, L. (2019), "Limitations of the empirical Fisher
    approximation for natural gradient descent", NeurIPS.
    """
    spec = context.spec
    x, y, tasks = context.gather(samples)
    n_runs, n = params.shape[0], len(samples)
    fwd = forward(spec, params, x)
    if spec.output == "identity":
        return squared_sample_gradients(spec, fwd, fwd.output - y.reshape(1, n, -1)) / n
    mask = context.train_mask(tasks, newest)
    if mask is not None and mask.dim() == 2:  # per sample, shared by the runs
        mask = mask.unsqueeze(0).expand(n_runs, -1, -1)
    probs = log_softmax(fwd.output, mask).exp_()
    if fisher == "empirical":
        d_output = probs.clone()
        d_output[:, torch.arange(n), y] -= 1.0
        return squared_sample_gradients(spec, fwd, d_output) / n
    total = torch.zeros_like(params)
    for c in range(spec.n_outputs):
        if not bool(probs[..., c].any()):  # a masked class everywhere: adds exact zeros
            continue
        d_output = probs.clone()
        d_output[..., c] -= 1.0
        total += squared_sample_gradients(spec, fwd, d_output.mul_(probs[..., c : c + 1].sqrt()))
    return total / n


@dataclass(eq=False)
class EWCState:
    """Per run: one Fisher diagonal (R, P) and one anchor (R, P) per consolidation."""

    context: Context
    fishers: list[torch.Tensor]
    anchors: list[torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class _Consolidation(Strategy):
    """The quadratic penalty shared by EWC and online EWC, around each stored anchor."""

    constraints: ClassVar[dict[str, Constraint]] = {
        "ewc_lambda": Interval(float, 0, None),
        "fisher": Options(*FISHERS),
    }
    ewc_lambda: float = 1e3
    fisher: str = "expected"

    def start(self, context: Context) -> EWCState:
        return EWCState(context=context, fishers=[], anchors=[])

    def penalty(self, state: EWCState, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:math:`\\frac{\\lambda}{2} \\sum_t \\sum_p F_{t,p} (\\theta_p - \\theta^*_{t,p})^2` and its gradient."""
        if not state.fishers:
            return None
        loss = torch.zeros(params.shape[0], dtype=params.dtype)
        grad = torch.zeros_like(params)
        for fisher, anchor in zip(state.fishers, state.anchors, strict=True):
            diff = params - anchor
            weighted = fisher * diff
            grad += weighted
            loss += torch.linalg.vecdot(weighted, diff)
        return loss.mul_(0.5 * self.ewc_lambda), grad.mul_(self.ewc_lambda)

    def _fisher(self, state: EWCState, params: torch.Tensor, phase: Phase) -> torch.Tensor:
        return fisher_diagonal(state.context, params, phase.samples, phase.newest, fisher=self.fisher)


@dataclass(frozen=True, kw_only=True)
class EWC(_Consolidation):
    """Elastic weight consolidation: one Fisher and one anchor per finished task.

    At the end of task (phase) :math:`t` the parameters :math:`\\theta^*_t` and the
    diagonal Fisher information :math:`F_t` on the task's training set are stored
    (:func:`fisher_diagonal`); later steps add

    .. math:: \\frac{\\lambda}{2} \\sum_{t} \\sum_p F_{t,p} (\\theta_p - \\theta^*_{t,p})^2

    to the loss (gradient :math:`\\lambda \\sum_t F_t \\odot (\\theta - \\theta^*_t)`).

    Parameters
    ----------
    ewc_lambda : float, default 1e3
        :math:`\\lambda \\ge 0`. The useful range is wide and depends on the scenario and
        on the Fisher's scale: van de Ven & Tolias (2019) tuned 1e7 / 1e6 / 1e8 (task /
        domain / class-IL) on split MNIST; tune it on your stream.
    fisher : {"expected", "empirical"}, default "expected"
        Classification only: the true Fisher (expectation over the model's predictions)
        or the empirical one (observed labels); see :func:`fisher_diagonal`.

    References
    ----------
    Kirkpatrick, J. et al. (2017), "Overcoming catastrophic forgetting in neural networks",
    PNAS 114(13), 3521-3526.

    Examples
    --------
    >>> EWC(ewc_lambda=100.0).to_dict()
    {'name': 'ewc', 'ewc_lambda': 100.0, 'fisher': 'expected'}
    """

    name: ClassVar[str] = "ewc"

    def end_phase(self, state: EWCState, params: torch.Tensor, phase: Phase) -> None:
        state.fishers.append(self._fisher(state, params, phase))
        state.anchors.append(params.clone())


@dataclass(frozen=True, kw_only=True)
class OnlineEWC(_Consolidation):
    """Online EWC: one running Fisher and one anchor, the latest parameters.

    At the end of each task (phase), with the new task's Fisher :math:`F_{new}`
    (:func:`fisher_diagonal`) and the parameters :math:`\\theta^*` then,

    .. math:: F \\leftarrow \\gamma F + F_{new}, \\qquad
              \\text{penalty} = \\frac{\\lambda}{2} \\sum_p F_p (\\theta_p - \\theta^*_p)^2

    (:math:`F = 0` before the first task), so memory and cost do not grow with the
    number of tasks, and :math:`\\gamma < 1` lets old tasks' importance fade.

    Parameters
    ----------
    ewc_lambda : float, default 1e3
        :math:`\\lambda \\ge 0`; van de Ven & Tolias (2019) tuned 1e8 / 1e8 / 1e9 (task /
        domain / class-IL) on split MNIST.
    gamma : float, default 0.9
        :math:`\\gamma \\in [0, 1]`; van de Ven & Tolias tuned 0.8 / 0.7 / 0.8.
    fisher : {"expected", "empirical"}, default "expected"
        As :class:`EWC`.

    References
    ----------
    Schwarz, J. et al. (2018), "Progress & compress: A scalable framework for continual
    learning", ICML, arXiv:1805.06370.

    Examples
    --------
    >>> OnlineEWC(gamma=0.8).to_dict()
    {'name': 'online_ewc', 'ewc_lambda': 1000.0, 'fisher': 'expected', 'gamma': 0.8}
    """

    name: ClassVar[str] = "online_ewc"
    constraints: ClassVar[dict[str, Constraint]] = {**_Consolidation.constraints, "gamma": Interval(float, 0, 1)}
    gamma: float = 0.9

    def end_phase(self, state: EWCState, params: torch.Tensor, phase: Phase) -> None:
        fisher = self._fisher(state, params, phase)
        state.fishers = [fisher if not state.fishers else state.fishers[0].mul_(self.gamma).add_(fisher)]
        state.anchors = [params.clone()]
