"""Adam and SGD batched over independent runs, with scikit-learn's ``partial_fit`` semantics.

R runs advance together, each with its own parameters (a row of the (R, P) tensor), its own
optimiser state (a row of every state tensor) and its own minibatch order. One call of
:func:`partial_fit` is, for every run, what one ``MLPRegressor(solver="adam" | "sgd")
.partial_fit(x, y)`` call of scikit-learn 1.9.1 does (``_fit(incremental=True)`` and
``_fit_stochastic``):

1. The shuffle RNG is ``RandomState(random_state)``, created afresh by every call. In the
   first call it first draws the initial weights (:func:`~forgetlab.numerics.mlp.init_params`:
   ``P`` doubles), so the first call's shuffle follows those draws; every later call shuffles
   with a fresh ``RandomState(seed)``, so with the same number of samples every later call
   uses the same permutation.
2. With ``shuffle=True`` the sample order is ``idx = arange(n); rng.shuffle(idx)``
   (``sklearn.utils.shuffle`` -> ``resample(replace=False)``), drawn once per call.
3. One pass over the data: minibatches ``idx[0:b], idx[b:2b], ...``, the last one partial,
   with ``b = min(200, n)`` for ``batch_size="auto"`` and ``clip(batch_size, 1, n)`` otherwise.
   Each minibatch of ``m`` samples: loss and gradient of
   :math:`\\frac{1}{2m}\\sum_i (y_i - \\hat y_i)^2 + \\frac{\\alpha}{2m}\\sum_l\\lVert W_l\\rVert^2`
   at the current parameters (:func:`~forgetlab.numerics.mlp.loss_and_grad` on the minibatch:
   the penalty is scaled by the minibatch size), then one optimiser update.
4. End of the pass: ``loss_ = sum(m * minibatch loss) / n`` (the running training loss,
   scikit-learn's ``loss_curve_`` entry), ``t_ += n`` (samples seen), then the
   no-improvement counter: ``count += 1`` if ``loss_ > best_loss_ - tol`` else ``count = 0``;
   ``best_loss_ = min(best_loss_, loss_)`` (both kept across calls, ``best_loss_`` starts at
   inf); the learning-rate schedule's end-of-iteration step (``invscaling``); and if
   ``count > n_iter_no_change`` the optimiser's ``trigger_stopping``: for SGD with
   ``learning_rate="adaptive"`` the learning rate is divided by 5 (unless it is already
   <= 1e-6) and the counter reset; for every other case scikit-learn "stops", which ends a
   pass that ends anyway: the counter is not reset and nothing else changes.

The optimiser state (Adam's moments and step count, SGD's velocities and learning rate) and
``t_``, ``best_loss_`` and the counter persist across calls, as scikit-learn keeps
``_optimizer`` and those attributes across ``partial_fit`` calls. ``early_stopping`` has no
counterpart: scikit-learn's ``partial_fit`` refuses it.

Per-run and shared: parameters, state rows, batches, seeds, learning rates (they can differ
under ``learning_rate="adaptive"``), step counts and losses are per run; the hyper-parameters,
the minibatch size and the minibatch boundaries are shared. Every update is element-wise with
the operations in scikit-learn's order (no fused multiply-adds), so a run's numbers do not
depend on the other runs of the batch beyond what the model's matrix products do
(:mod:`forgetlab.numerics.mlp`). A run whose parameters become non-finite is reported as
diverged and takes no further step; the others are not affected (scikit-learn would finish
the pass with NaNs and then raise "Solver produced non-finite parameter weights": the
parameters cannot become finite again, so the outcome is the same).

References
----------
Kingma, D. P. & Ba, J. (2015), "Adam: A method for stochastic optimization", ICLR,
arXiv:1412.6980.
Sutskever, I., Martens, J., Dahl, G. & Hinton, G. (2013), "On the importance of
initialization and momentum in deep learning", ICML.
Bengio, Y., Boulanger-Lewandowski, N. & Pascanu, R. (2013), "Advances in optimizing
recurrent networks", ICASSP, arXiv:1212.0901.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import torch

from forgetlab.errors import invalid
from forgetlab.numerics.mlp import MLPSpec, loss_and_grad, non_finite_rows
from forgetlab.numerics.spec import SOLVER_DEFAULTS, minibatch_size

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "SOLVERS",
    "Adam",
    "PassResult",
    "StochasticOptimizer",
    "minibatch_size",
    "optimizer_for",
    "partial_fit",
]

LR_SCHEDULES = ("constant", "invscaling", "adaptive")


def _per_row(values: np.ndarray, dtype: torch.dtype) -> float | torch.Tensor:
    """One factor per row: a Python float when all rows agree, else a column (R, 1)."""
    if values.size and (values == values[0]).all():
        return float(values[0])
    return torch.from_numpy(values).to(dtype).unsqueeze(1)


class StochasticOptimizer:
    """Per-run state shared by :class:`Adam` and :class:`SGD`, and scikit-learn's end-of-pass rules.

    Every state array has a leading run axis of length ``n_runs``; ``update`` and
    ``end_pass`` act on the rows ``runs`` (all rows by default).

    Parameters
    ----------
    n_runs, n_params : int
        Rows and columns of the parameters this optimiser updates.
    learning_rate_init : float
        The initial learning rate of every run.
    tol : float, default 1e-4
        Least decrease of the pass loss that counts as an improvement.
    n_iter_no_change : int, default 10
        Passes without improvement tolerated before ``trigger_stopping``.
    dtype : torch.dtype, default torch.float32
        Dtype of the state tensors (that of the parameters).

    Attributes
    ----------
    learning_rate : ndarray of shape (n_runs,)
        Each run's current learning rate (float64).
    samples_seen : ndarray of shape (n_runs,)
        scikit-learn's ``t_``: training samples of all passes so far.
    best_loss : ndarray of shape (n_runs,)
        scikit-learn's ``best_loss_``: the lowest pass loss so far (inf before the first).
    no_improvement_count : ndarray of shape (n_runs,)
        scikit-learn's ``_no_improvement_count``.
    """

    #: The scikit-learn MLP parameters this optimiser reads (:meth:`from_estimator`), besides the common ones.
    SETTINGS: ClassVar[tuple[str, ...]] = ()
    #: Parameters every stochastic optimiser reads.
    COMMON_SETTINGS: ClassVar[tuple[str, ...]] = ("learning_rate_init", "tol", "n_iter_no_change")

    def __init__(
        self,
        n_runs: int,
        n_params: int,
        *,
        learning_rate_init: float,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.n_runs, self.n_params, self.dtype = int(n_runs), int(n_params), dtype
        self.learning_rate_init = learning_rate_init
        self.learning_rate = np.full(self.n_runs, float(learning_rate_init))
        self.tol = float(tol)
        self.n_iter_no_change = int(n_iter_no_change)
        self.samples_seen = np.zeros(self.n_runs, dtype=np.int64)
        self.best_loss = np.full(self.n_runs, np.inf)
        self.no_improvement_count = np.zeros(self.n_runs, dtype=np.int64)

    @classmethod
    def from_estimator(
        cls, estimator: object, n_runs: int, n_params: int, *, dtype: torch.dtype
    ) -> StochasticOptimizer:
        """The optimiser a scikit-learn MLP with this solver creates, for ``n_runs`` runs.

        Reads the estimator's :attr:`COMMON_SETTINGS` and the class's own :attr:`SETTINGS`
        (under the names of the constructor's keywords, see :attr:`KEYWORDS`).
        """
        names = (*cls.COMMON_SETTINGS, *cls.SETTINGS)
        settings = {cls.KEYWORDS.get(name, name): getattr(estimator, name) for name in names}
        return cls(n_runs, n_params, dtype=dtype, **settings)

    #: Constructor keywords whose scikit-learn parameter has another name.
    KEYWORDS: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def _state(self) -> torch.Tensor:
        return torch.zeros(self.n_runs, self.n_params, dtype=self.dtype)

    def _rows(self, runs: np.ndarray | Sequence[int] | None) -> np.ndarray | None:
        """``runs`` as an index array, or None when it is every row in order."""
        if runs is None:
            return None
        rows = np.asarray(runs, dtype=np.int64)
        return None if np.array_equal(rows, np.arange(self.n_runs)) else rows

    def update(self, params: torch.Tensor, grads: torch.Tensor, runs: np.ndarray | Sequence[int] | None = None) -> None:
        """Take one step: edit ``params`` (len(runs), P) in place with ``grads``, using state rows ``runs``."""
        raise NotImplementedError

    def end_pass(self, loss: np.ndarray, n_samples: int, runs: np.ndarray | Sequence[int] | None = None) -> None:
        """scikit-learn's bookkeeping after a pass of ``n_samples`` samples with pass losses ``loss``.

        ``t_ += n_samples``; the no-improvement counter and ``best_loss_`` from ``loss``
        (:math:`c \\leftarrow c + 1` if :math:`L > L_{best} - tol` else 0; a NaN loss resets
        it, as in scikit-learn); the schedule's ``iteration_ends``; ``trigger_stopping`` for
        the rows whose counter exceeds ``n_iter_no_change``.

        Examples
        --------
        >>> opt = SGD(2, 3, lr_schedule="adaptive", learning_rate_init=0.1, n_iter_no_change=0)
        >>> opt.end_pass(np.array([1.0, 1.0]), 5)
        >>> opt.end_pass(np.array([0.5, 1.0]), 5)
        >>> opt.learning_rate.tolist(), opt.samples_seen.tolist()
        ([0.1, 0.02], [10, 10])
        """
        rows = np.arange(self.n_runs) if runs is None else np.asarray(runs, dtype=np.int64)
        loss = np.asarray(loss, dtype=np.float64)
        self.samples_seen[rows] += n_samples
        best = self.best_loss[rows]
        worse = loss > best - self.tol
        self.no_improvement_count[rows] = np.where(worse, self.no_improvement_count[rows] + 1, 0)
        self.best_loss[rows] = np.where(loss < best, loss, best)
        self._iteration_ends(rows)
        self._trigger_stopping(rows[self.no_improvement_count[rows] > self.n_iter_no_change])

    def _iteration_ends(self, rows: np.ndarray) -> None:
        """The learning-rate schedule's step at the end of a pass (none by default)."""

    def _trigger_stopping(self, rows: np.ndarray) -> None:
        """scikit-learn's ``trigger_stopping``: it stops, which ends a pass that ends anyway."""


class Adam(StochasticOptimizer):
    """Adam, batched over runs, as scikit-learn's ``AdamOptimizer`` writes it.

    With gradient :math:`g`, per run and element, step :math:`t = 1, 2, \\dots`:

    .. math::

        m_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g, \\qquad
        v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g^2,

        \\eta_t = \\eta \\sqrt{1 - \\beta_2^t} / (1 - \\beta_1^t), \\qquad
        \\theta \\leftarrow \\theta + (-\\eta_t m_t) / (\\sqrt{v_t} + \\epsilon),

    the rearranged form of Kingma & Ba (2015, end of section 2), whose :math:`\\epsilon` is
    their :math:`\\hat\\epsilon`. :math:`\\eta_t` is computed in Python floats per distinct
    ``t`` as scikit-learn does; the moments and ``t`` persist across passes.

    Parameters
    ----------
    n_runs, n_params : int
        Shape of the parameters.
    learning_rate_init : float, default 1e-3
    beta_1 : float, default 0.9
    beta_2 : float, default 0.999
    epsilon : float, default 1e-8
    tol, n_iter_no_change, dtype
        As :class:`StochasticOptimizer`.

    Examples
    --------
    The first step moves every parameter by about the learning rate against its gradient:

    >>> opt = Adam(1, 2, learning_rate_init=0.1, dtype=torch.float64)
    >>> params = torch.zeros(1, 2, dtype=torch.float64)
    >>> opt.update(params, torch.tensor([[3.0, -0.5]], dtype=torch.float64))
    >>> params.round(decimals=6).tolist(), opt.t.tolist()
    ([[-0.1, 0.1]], [1])
    """

    SETTINGS = ("beta_1", "beta_2", "epsilon")

    def __init__(
        self,
        n_runs: int,
        n_params: int,
        *,
        learning_rate_init: float = 1e-3,
        beta_1: float = SOLVER_DEFAULTS["adam"]["beta_1"],
        beta_2: float = SOLVER_DEFAULTS["adam"]["beta_2"],
        epsilon: float = SOLVER_DEFAULTS["adam"]["epsilon"],
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(
            n_runs,
            n_params,
            learning_rate_init=learning_rate_init,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            dtype=dtype,
        )
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = np.zeros(self.n_runs, dtype=np.int64)
        self.ms = self._state()
        self.vs = self._state()

    def _step_size(self, t: int) -> float:
        """:math:`\\eta_t`, in scikit-learn's order of operations."""
        return self.learning_rate_init * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)

    def update(self, params: torch.Tensor, grads: torch.Tensor, runs: np.ndarray | Sequence[int] | None = None) -> None:
        """Take one Adam step for the runs ``runs``; edits ``params`` in place."""
        rows = self._rows(runs)
        index = slice(None) if rows is None else rows
        self.t[index] += 1
        steps = {int(t): self._step_size(int(t)) for t in np.unique(self.t[index])}
        self.learning_rate[index] = [steps[int(t)] for t in self.t[index]]
        if rows is None:
            ms, vs = self.ms, self.vs
        else:
            at = torch.from_numpy(rows)
            ms, vs = self.ms[at], self.vs[at]
        ms.mul_(self.beta_1).add_(grads * (1 - self.beta_1))
        vs.mul_(self.beta_2).add_((grads * grads).mul_(1 - self.beta_2))
        step = -_per_row(self.learning_rate[index], self.dtype) * ms
        params.add_(step.div_(vs.sqrt().add_(self.epsilon)))
        if rows is not None:
            self.ms[at], self.vs[at] = ms, vs


class SGD(StochasticOptimizer):
    """SGD with momentum, batched over runs, as scikit-learn's ``SGDOptimizer`` writes it.

    With gradient :math:`g`, momentum :math:`\\mu` and the run's learning rate :math:`\\eta`:

    .. math::

        u \\leftarrow \\mu u - \\eta g, \\qquad
        \\theta \\leftarrow \\theta + \\mu u - \\eta g \\ \\text{(Nesterov)}
        \\quad\\text{or}\\quad \\theta \\leftarrow \\theta + u,

    Nesterov's accelerated gradient as Sutskever et al. (2013) use it for deep networks,
    rewritten so that :math:`\theta` holds the look-ahead point and the gradient is taken at
    :math:`\theta` itself (the form of Bengio, Boulanger-Lewandowski & Pascanu 2013), as
    scikit-learn implements it; the new velocity enters the Nesterov step. Learning-rate
    schedules (per run, float64):

    - ``"constant"``: :math:`\\eta = \\eta_0`;
    - ``"invscaling"``: after each pass :math:`\\eta = \\eta_0 / (t + 1)^{p}` with :math:`t`
      the samples seen so far (the first pass uses :math:`\\eta_0`);
    - ``"adaptive"``: :math:`\\eta_0`, divided by 5 when the no-improvement counter exceeds
      ``n_iter_no_change``, unless :math:`\\eta \\le 10^{-6}` already.

    Parameters
    ----------
    n_runs, n_params : int
        Shape of the parameters.
    learning_rate_init : float, default 0.1
    lr_schedule : {"constant", "invscaling", "adaptive"}, default "constant"
        scikit-learn's ``learning_rate``.
    momentum : float, default 0.9
    nesterov : bool, default True
        scikit-learn's ``nesterovs_momentum``.
    power_t : float, default 0.5
    tol, n_iter_no_change, dtype
        As :class:`StochasticOptimizer`.

    Examples
    --------
    >>> opt = SGD(1, 1, learning_rate_init=0.1, dtype=torch.float64)
    >>> params = torch.zeros(1, 1, dtype=torch.float64)
    >>> opt.update(params, torch.ones(1, 1, dtype=torch.float64))  # u = -0.1; step 0.9 u - 0.1
    >>> round(params.item(), 12), round(opt.velocities.item(), 12)
    (-0.19, -0.1)
    """

    SETTINGS = ("learning_rate", "momentum", "nesterovs_momentum", "power_t")
    KEYWORDS = MappingProxyType({"learning_rate": "lr_schedule", "nesterovs_momentum": "nesterov"})

    def __init__(
        self,
        n_runs: int,
        n_params: int,
        *,
        learning_rate_init: float = 0.1,
        lr_schedule: str = "constant",
        momentum: float = SOLVER_DEFAULTS["sgd"]["momentum"],
        nesterov: bool = SOLVER_DEFAULTS["sgd"]["nesterov"],
        power_t: float = 0.5,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if lr_schedule not in LR_SCHEDULES:
            raise invalid("lr_schedule", "SGD", f"one of {', '.join(LR_SCHEDULES)}", lr_schedule)
        super().__init__(
            n_runs,
            n_params,
            learning_rate_init=learning_rate_init,
            tol=tol,
            n_iter_no_change=n_iter_no_change,
            dtype=dtype,
        )
        self.lr_schedule, self.momentum, self.nesterov, self.power_t = lr_schedule, momentum, nesterov, power_t
        self.velocities = self._state()

    def update(self, params: torch.Tensor, grads: torch.Tensor, runs: np.ndarray | Sequence[int] | None = None) -> None:
        """Take one momentum step for the runs ``runs``; edits ``params`` in place."""
        rows = self._rows(runs)
        if rows is None:
            velocities, lr = self.velocities, _per_row(self.learning_rate, self.dtype)
        else:
            at = torch.from_numpy(rows)
            velocities, lr = self.velocities[at], _per_row(self.learning_rate[rows], self.dtype)
        scaled = lr * grads
        velocities.mul_(self.momentum).sub_(scaled)
        if self.nesterov:
            params.add_((velocities * self.momentum).sub_(scaled))
        else:
            params.add_(velocities)
        if rows is not None:
            self.velocities[at] = velocities

    def _iteration_ends(self, rows: np.ndarray) -> None:
        if self.lr_schedule == "invscaling":
            rates = {
                int(t): float(self.learning_rate_init) / (int(t) + 1) ** self.power_t
                for t in np.unique(self.samples_seen[rows])
            }
            self.learning_rate[rows] = [rates[int(t)] for t in self.samples_seen[rows]]

    def _trigger_stopping(self, rows: np.ndarray) -> None:
        if self.lr_schedule != "adaptive":
            return
        rows = rows[self.learning_rate[rows] > 1e-6]
        self.learning_rate[rows] /= 5.0
        self.no_improvement_count[rows] = 0


#: The stochastic optimisers by their scikit-learn ``solver`` name: adding one is a class and a line here.
OPTIMIZERS: dict[str, type[StochasticOptimizer]] = {"adam": Adam, "sgd": SGD}
#: The ``MLPRegressor`` solvers of this module.
SOLVERS = tuple(OPTIMIZERS)


def optimizer_for(estimator: object, n_runs: int, n_params: int, *, dtype: torch.dtype) -> StochasticOptimizer:
    """The optimiser a scikit-learn MLP with ``solver="adam"`` or ``"sgd"`` creates, for ``n_runs`` runs.

    Examples
    --------
    >>> from sklearn.neural_network import MLPRegressor
    >>> opt = optimizer_for(MLPRegressor(solver="sgd", learning_rate="invscaling"), 3, 10, dtype=torch.float64)
    >>> type(opt).__name__, opt.lr_schedule, opt.learning_rate.tolist()
    ('SGD', 'invscaling', [0.001, 0.001, 0.001])
    """
    if estimator.solver not in OPTIMIZERS:
        raise invalid("solver", "optimizer_for", f"one of {', '.join(OPTIMIZERS)}", estimator.solver)
    return OPTIMIZERS[estimator.solver].from_estimator(estimator, n_runs, n_params, dtype=dtype)


def _sample_order(spec: MLPSpec, seed: int, n_samples: int, first: bool) -> np.ndarray:
    """One run's sample order of a pass: scikit-learn's ``shuffle`` with a fresh ``RandomState(seed)``.

    In the first call the initial weights (``spec.n_params`` uniform doubles) are drawn from
    the same RandomState first.
    """
    rng = np.random.RandomState(seed)
    if first:
        rng.random_sample(spec.n_params)
    order = np.arange(n_samples)
    rng.shuffle(order)
    return order


@dataclass(frozen=True, kw_only=True)
class PassResult:
    """What one :func:`partial_fit` pass did, per run (rows as ``params``).

    Attributes
    ----------
    loss : ndarray of shape (R,)
        scikit-learn's ``loss_``: minibatch losses weighted by minibatch size, over ``n``.
        Meaningless for diverged runs.
    n_updates : ndarray of shape (R,)
        Optimiser steps taken (= loss-and-gradient evaluations).
    diverged : ndarray of shape (R,)
        True for runs whose parameters became non-finite; they stopped there.
    """

    loss: np.ndarray
    n_updates: np.ndarray
    diverged: np.ndarray


def partial_fit(
    spec: MLPSpec,
    optimizer: StochasticOptimizer,
    params: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    *,
    first: bool,
    batch_size: int | str = "auto",
    shuffle: bool = True,
    runs: np.ndarray | Sequence[int] | None = None,
) -> PassResult:
    """One scikit-learn ``partial_fit(x, y)`` call for every run: a shuffled pass of minibatch steps.

    Parameters
    ----------
    spec : MLPSpec
        The model (shared).
    optimizer : StochasticOptimizer
        Its state persists across calls; rows ``runs`` are used.
    params : Tensor of shape (R, P)
        Edited in place. A diverged run's row is left at its first non-finite value.
    x : Tensor of shape (R, n, d)
        Each run's batch.
    y : Tensor of shape (R, n)
        Each run's targets.
    seeds : sequence of int
        Each run's ``random_state``: its shuffle RNG is a fresh ``RandomState(seed)``.
    first : bool
        True for the call in which scikit-learn initialised the parameters: the shuffle then
        follows the initialisation's draws from the same RNG.
    batch_size : int or "auto", default "auto"
        As ``MLPRegressor``'s (:func:`minibatch_size`).
    shuffle : bool, default True
        Shuffle the samples of each run; otherwise minibatches are taken in order.
    runs : array of int, optional
        The optimiser's state rows of the R runs (default: all, in order).

    Returns
    -------
    PassResult

    Examples
    --------
    >>> from forgetlab.numerics.mlp import init_params
    >>> spec = MLPSpec(layer_units=(1, 4, 1))
    >>> params = init_params(spec, [0, 1], dtype=torch.float64)
    >>> opt = Adam(2, spec.n_params, dtype=torch.float64)
    >>> x, y = torch.rand(2, 10, 1, dtype=torch.float64), torch.rand(2, 10, dtype=torch.float64)
    >>> result = partial_fit(spec, opt, params, x, y, [0, 1], first=True, batch_size=4)
    >>> result.n_updates.tolist(), result.diverged.tolist(), opt.samples_seen.tolist()
    ([3, 3], [False, False], [10, 10])
    """
    n_runs, n_samples = x.shape[0], x.shape[1]
    rows = np.arange(optimizer.n_runs) if runs is None else np.asarray(runs, dtype=np.int64)
    if not (len(rows) == n_runs == params.shape[0] == y.shape[0] == len(seeds)):
        raise invalid("runs", "partial_fit", "one row per run of params, x, y and seeds", rows)
    if shuffle:
        order = torch.from_numpy(np.stack([_sample_order(spec, seed, n_samples, first) for seed in seeds]))
        x = x[torch.arange(n_runs).unsqueeze(1), order]
        y = y[torch.arange(n_runs).unsqueeze(1), order]
    size = minibatch_size(batch_size, n_samples)
    accumulated = np.zeros(n_runs)
    n_updates = np.zeros(n_runs, dtype=np.int64)
    diverged = np.zeros(n_runs, dtype=bool)
    live = np.arange(n_runs)
    for start in range(0, n_samples, size):
        if live.size == 0:
            break
        stop = min(start + size, n_samples)
        if live.size == n_runs:
            p, xb, yb = params, x[:, start:stop].contiguous(), y[:, start:stop].contiguous()
        else:
            at = torch.from_numpy(live)
            p, xb, yb = params[at], x[at, start:stop], y[at, start:stop]
        loss, grad = loss_and_grad(spec, p, xb, yb)
        optimizer.update(p, grad, rows[live])
        if live.size < n_runs:
            params[at] = p
        accumulated[live] += loss.double().numpy() * (stop - start)
        n_updates[live] += 1
        bad = non_finite_rows(p).numpy()
        diverged[live[bad]] = True
        live = live[~bad]
    loss = accumulated / n_samples
    optimizer.end_pass(loss[~diverged], n_samples, rows[~diverged])
    return PassResult(loss=loss, n_updates=n_updates, diverged=diverged)
