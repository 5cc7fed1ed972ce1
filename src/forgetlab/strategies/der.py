"""Dark experience replay: a reservoir memory of samples with the outputs the model gave them, replayed as targets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from forgetlab.strategies.base import Context, Minibatch, Strategy, check_memory, draw_distinct, run_rng
from forgetlab.tasks import Stream
from forgetlab.validation import AnyOf, Constraint, Hidden, Interval, Options

if TYPE_CHECKING:  # PyTorch is imported where the torch trainer's hooks run: the compiled trainer needs none
    import torch

__all__ = ["DER", "DERPP", "DERState", "columns", "logit_matching", "reservoir_slots"]

#: The ``purpose`` of DER's RNG (:func:`~forgetlab.strategies.base.run_rng`): reservoir choices and draws.
DER_RNG = 4


def reservoir_slots(seen: int, capacity: int, n: int, rngs: Sequence[np.random.RandomState]) -> np.ndarray:
    """Where reservoir sampling (Vitter's algorithm R) puts each of ``n`` samples offered in order, per run.

    The ``i``-th sample offered (0-based, ``i = seen, ..., seen + n - 1``) goes to slot
    ``i`` while ``i < capacity``; afterwards to slot ``j ~ U{0, ..., i}`` if
    ``j < capacity``, else nowhere (-1). Each run draws from its own RNG, as
    :class:`~forgetlab.strategies.buffers.ReservoirBuffer` (one ``randint`` call).

    Parameters
    ----------
    seen : int
        Samples offered before (the same for every run).
    capacity : int
        Slots of each memory.
    n : int
        Samples offered now.
    rngs : sequence of numpy.random.RandomState
        One per run.

    Returns
    -------
    ndarray of shape (R, n)
        A slot in ``[0, capacity)`` or -1 per run and sample; when two samples draw the
        same slot the later one stays there.

    Examples
    --------
    >>> reservoir_slots(0, 3, 2, [np.random.RandomState(0)]).tolist()
    [[0, 1]]
    >>> slots = reservoir_slots(3, 3, 1000, [np.random.RandomState(0), np.random.RandomState(1)])
    >>> bool(((slots >= -1) & (slots < 3)).all()), int((slots[0] >= 0).sum()) < 30
    (True, True)
    """
    fill = max(0, min(n, capacity - seen))
    slots = np.full((len(rngs), n), -1, dtype=np.int64)
    slots[:, :fill] = seen + np.arange(fill)
    if n > fill:
        high = seen + fill + np.arange(n - fill) + 1
        drawn = np.stack([rng.randint(0, high) for rng in rngs])
        slots[:, fill:] = np.where(drawn < capacity, drawn, -1)
    return slots


def columns(mask: torch.Tensor | None, part: slice) -> torch.Tensor | None:
    """The part of a training mask for the minibatch columns ``part``: per-sample masks (R, m, C) are sliced."""
    return mask[:, part] if mask is not None and mask.dim() == 3 else mask


def logit_matching(output: torch.Tensor, stored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DER's mean squared error between current and stored outputs, and its derivative.

    .. math:: L = \\frac{1}{k\\,C} \\sum_{i=1}^{k} \\lVert z_i - \\tilde z_i \\rVert^2, \\qquad
              \\frac{\\partial L}{\\partial z_i} = \\frac{2 (z_i - \\tilde z_i)}{k\\,C}

    (``torch.nn.functional.mse_loss``, the mean over samples and output units, as
    Buzzega et al.'s code).

    Parameters
    ----------
    output : Tensor of shape (R, k, C)
        Per run: the outputs of the replayed samples now.
    stored : Tensor of shape (R, k, C)
        Per run: the outputs stored with them.

    Returns
    -------
    loss : Tensor of shape (R,)
    d_output : Tensor of shape (R, k, C)

    Examples
    --------
    >>> import torch
    >>> loss, d = logit_matching(torch.tensor([[[1.0, 3.0]]]), torch.tensor([[[1.0, 1.0]]]))
    >>> loss.tolist(), d.tolist()
    ([2.0], [[[0.0, 2.0]]])
    """
    import torch

    delta = output - stored
    size = delta[0].numel()
    loss = torch.linalg.vecdot(delta.flatten(1), delta.flatten(1)) / size
    return loss, delta.mul_(2.0 / size)


@dataclass(eq=False)
class DERState:
    """Per run: the memory (global indices and stored outputs) and its RNG; the current step's draws.

    Attributes
    ----------
    context : Context
        The batch's model and data.
    rngs : list of numpy.random.RandomState
        ``run_rng(seed, DER_RNG)`` per run: reservoir choices, then the step's draws.
    items : ndarray of shape (R, M)
        Global indices held (the first ``size`` slots).
    logits : Tensor of shape (R, M, C) or None
        The outputs each held sample had when it was stored; None in an index context
        (the compiled trainer keeps them: :meth:`DER.step_roles`).
    seen : int
        Stream samples offered so far (the same for every run).
    draws : tuple of (ndarray (R, k), ndarray (R, k) or None) or None
        The slots drawn for the current step: for the logit term, then (DER++) for the
        label term; None while the memory is empty. Set by ``extend_batch``.
    incoming : Tensor of shape (R, n, C) or None
        The current step's outputs of its stream samples, kept by ``data_loss`` for
        ``observe`` to store (the outputs before the step, as Buzzega et al.).
    slots : ndarray of shape (R, n) or None
        Where ``observe`` put the current step's stream samples (:func:`reservoir_slots`).
    """

    context: Context
    rngs: list[np.random.RandomState]
    items: np.ndarray
    logits: torch.Tensor | None
    seen: int = 0
    draws: tuple[np.ndarray, np.ndarray | None] | None = None
    incoming: torch.Tensor | None = None
    slots: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Samples held by every run's memory."""
        return min(self.seen, self.items.shape[1])


@dataclass(frozen=True, kw_only=True)
class DER(Strategy):
    """Dark experience replay (DER): replay the outputs (logits) the model gave to remembered samples.

    Each run keeps a reservoir memory :math:`M` of stream samples (a uniform sample of every
    sample seen) together with the outputs :math:`\\tilde z` the model gave them in the
    step they were offered. Every step adds :math:`k` samples drawn uniformly without
    replacement from :math:`M` to the minibatch :math:`B` and minimises

    .. math:: \\frac{1}{|B|} \\sum_{(x, y) \\in B} \\ell(f_\\theta(x), y)
              + \\alpha \\frac{1}{k\\,C} \\sum_{(x, \\tilde z) \\in B_M} \\lVert f_\\theta(x) - \\tilde z \\rVert^2

    (:func:`logit_matching`; :math:`\\ell` is the trainer's loss with the scenario's mask,
    the outputs are matched on every unit). The stream samples of :math:`B` are then
    offered to the memory (:func:`reservoir_slots`) with the outputs of that step's
    forward pass. Regression works the same way (the outputs are the predictions).

    Parameters
    ----------
    buffer_size : int, default 200
        Samples the memory holds per run, >= 1.
    alpha : float, default 0.2
        :math:`\\alpha \\ge 0`, the weight of the logit matching; Buzzega et al. chose 0.2
        on sequential MNIST with 200 samples.
    replay_batch_size : int or None, default None
        :math:`k`, memory samples per step, >= 1; None draws as many as the minibatch has
        stream samples (fewer while the memory is smaller).

    Notes
    -----
    Per run: the reservoir's choices and the draws use ``run_rng(seed, 4)``, so a run gives
    the same result alone or in a batch. A sample offered in several epochs may be held
    more than once, each time with the outputs of its own step. Costs the forward and
    backward pass of :math:`k` more samples per step. The compiled engine trains it too
    (``engine="auto"`` picks it), from its draws and :meth:`step_roles`, with the same
    numbers as the torch trainer up to rounding.

    References
    ----------
    Buzzega, P., Boschini, M., Porrello, A., Abati, D. & Calderara, S. (2020), "Dark
    experience for general continual learning: a strong, simple baseline", NeurIPS,
    arXiv:2004.07211.

    Examples
    --------
    >>> DER(buffer_size=50).to_dict()
    {'name': 'der', 'buffer_size': 50, 'alpha': 0.2, 'replay_batch_size': None}
    """

    name: ClassVar[str] = "der"
    constraints: ClassVar[dict[str, Constraint]] = {
        "buffer_size": Interval(int, 1, None),
        "alpha": Interval(float, 0, None),
        "replay_batch_size": AnyOf(Hidden(None), Interval(int, 1, None)),
    }
    buffer_size: int = 200
    alpha: float = 0.2
    replay_batch_size: int | None = None

    @property
    def label_weight(self) -> float:
        """:math:`\\beta`, the weight of the replayed labels' loss (0: DER)."""
        return 0.0

    @property
    def label_draw(self) -> bool:
        """Whether the replayed labels' loss has a draw of its own (DER++ with ``draws="separate"``)."""
        return False

    def validate(self, stream: Stream) -> None:
        check_memory(self.buffer_size, "buffer_size", type(self).__name__, stream)

    def start(self, context: Context) -> DERState:
        n_runs, n_outputs = context.n_runs, context.spec.n_outputs
        logits = None
        if context.x is not None:  # not an index context
            import torch

            logits = torch.zeros(n_runs, self.buffer_size, n_outputs, dtype=context.x.dtype)
        return DERState(
            context=context,
            rngs=[run_rng(seed, DER_RNG) for seed in context.seeds],
            items=np.zeros((n_runs, self.buffer_size), dtype=np.int64),
            logits=logits,
        )

    def extend_batch(self, state: DERState, index: np.ndarray) -> np.ndarray:
        """The minibatch, :math:`k` memory samples for the logits, then (DER++, separate draws) :math:`k` more."""
        size = state.size
        if size == 0:
            state.draws = None
            return index
        k = min(size, self.replay_batch_size or index.shape[1])
        second = self.label_weight > 0 and self.label_draw
        drawn = [(draw_distinct(rng, size, k), draw_distinct(rng, size, k) if second else None) for rng in state.rngs]
        logit_slots = np.stack([d[0] for d in drawn])
        label_slots = np.stack([d[1] for d in drawn]) if second else None
        if self.label_weight > 0 and not second:
            label_slots = logit_slots
        state.draws = (logit_slots, label_slots)
        rows = np.arange(index.shape[0])[:, None]
        parts = [index, state.items[rows, logit_slots]]
        if second:
            parts.append(state.items[rows, label_slots])
        return np.concatenate(parts, axis=1)

    def data_loss(self, state: DERState, batch: Minibatch, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The stream samples' loss + :math:`\\alpha` logit matching (+ :math:`\\beta` replayed labels' loss)."""
        import torch

        from forgetlab.numerics.mlp import output_loss

        spec, n = state.context.spec, batch.n_new
        new = slice(0, n)
        loss, d_new = output_loss(spec, output[:, new], batch.y[:, new], columns(batch.mask, new))
        state.incoming = output[:, new].detach().clone()
        if state.draws is None:
            return loss, d_new
        logit_slots, label_slots = state.draws
        k = logit_slots.shape[1]
        rows = torch.arange(output.shape[0]).unsqueeze(1)
        stored = state.logits[rows, torch.from_numpy(logit_slots)]
        matching, d_matching = logit_matching(output[:, n : n + k], stored)
        loss = loss + self.alpha * matching
        parts = [d_new, d_matching.mul_(self.alpha)]
        if label_slots is not None:
            replayed = slice(n + k, None) if self.label_draw else slice(n, n + k)
            mask = columns(batch.mask, replayed)
            replay_loss, d_replay = output_loss(spec, output[:, replayed], batch.y[:, replayed], mask)
            loss = loss + self.label_weight * replay_loss
            if self.label_draw:
                parts.append(d_replay.mul_(self.label_weight))
            else:  # the same samples carry both terms
                parts[1].add_(d_replay, alpha=self.label_weight)
        return loss, torch.cat(parts, dim=1)

    def observe(self, state: DERState, index: np.ndarray) -> None:
        """Offer the step's stream samples, with their outputs, to every run's reservoir."""
        capacity, n = self.buffer_size, index.shape[1]
        slots = state.slots = reservoir_slots(state.seen, capacity, n, state.rngs)
        state.seen += n
        runs, source = np.nonzero(slots >= 0)
        # the last sample drawn for a slot stays there: keep the last of each (run, slot)
        _, last = np.unique((runs * capacity + slots[runs, source])[::-1], return_index=True)
        keep = len(runs) - 1 - last
        runs, source = runs[keep], source[keep]
        taken = slots[runs, source]
        state.items[runs, taken] = index[runs, source]
        if state.logits is not None:
            import torch

            runs, source, taken = (torch.from_numpy(a) for a in (runs, source, taken))
            state.logits[runs, taken] = state.incoming[runs, source]

    @property
    def stored_outputs(self) -> int:
        """The memory's slots: one stored output row each."""
        return self.buffer_size

    def step_roles(self, state: DERState, n_new: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`data_loss` row by row, for the compiled trainer (one run, after ``extend_batch`` and ``observe``).

        The stream rows: their mean data loss, and their outputs written to the slots
        ``observe`` chose; the logit rows: :math:`\\alpha` times the matching of their
        slot's stored outputs (with shared draws, plus :math:`\\beta` times their mean data
        loss); DER++'s separate label rows: :math:`\\beta` times their mean data loss.
        """
        roles = np.zeros((width, 4))
        slots = np.full((width, 2), -1, dtype=np.int64)
        roles[:n_new, :2] = n_new, 1
        slots[:n_new, 1] = state.slots[0]
        if state.draws is not None:
            logit_slots, label_slots = state.draws
            k = logit_slots.shape[1]
            logit = slice(n_new, n_new + k)
            roles[logit] = 1, 0, 2.0 / (k * state.context.spec.n_outputs), self.alpha
            slots[logit, 0] = logit_slots[0]
            if label_slots is not None:
                labelled = slice(n_new + k, n_new + 2 * k) if self.label_draw else logit
                roles[labelled, :2] = k, self.label_weight
        return roles, slots


@dataclass(frozen=True, kw_only=True)
class DERPP(DER):
    """DER++: DER plus the loss of the labels of a second draw from the memory.

    As :class:`DER`, and a second, independent draw :math:`B'_M` of :math:`k` memory
    samples adds :math:`\\beta` times their data loss with their stored labels:

    .. math:: \\frac{1}{|B|} \\sum_{B} \\ell(f_\\theta(x), y)
              + \\alpha \\frac{1}{k\\,C} \\sum_{B_M} \\lVert f_\\theta(x) - \\tilde z \\rVert^2
              + \\beta \\frac{1}{k} \\sum_{(x, y) \\in B'_M} \\ell(f_\\theta(x), y)

    (replayed samples use the scenario's training mask, e.g. their own task's classes in
    task-incremental learning). With ``draws="shared"`` the labels' term takes the samples
    of the logits' term (:math:`B'_M = B_M`), as Avalanche's ``DER`` does: a step then
    forwards and backpropagates twice the minibatch's samples instead of three times.
    Measured (``benchmarks/strategies.py --only derpp``, 16 seeds, torch trainer, 2-core
    AMD EPYC): the same scores within a standard deviation on the six streams there
    (class-incremental split digits 0.879 ± 0.015 shared, 0.873 ± 0.015 separate), at
    1.5-1.8x fine-tuning's time on the classification streams (2.2x on the seasons, whose
    steps are mostly fixed costs) against 2.1-2.9x.

    Parameters
    ----------
    buffer_size, alpha, replay_batch_size
        As :class:`DER` (Buzzega et al.: :math:`\\alpha` = 0.2 on sequential MNIST, 200 samples).
    beta : float, default 1.0
        :math:`\\beta \\ge 0`; Buzzega et al. chose 1.0 there.
    draws : {"separate", "shared"}, default "separate"
        ``"separate"``: :math:`B'_M` is a second draw, as Buzzega et al. (a step then
        forwards and backpropagates three times the minibatch's samples); ``"shared"``:
        :math:`B'_M = B_M`, one draw carries both terms, as Avalanche's ``DER`` (twice the
        minibatch's samples).

    References
    ----------
    Buzzega, P., Boschini, M., Porrello, A., Abati, D. & Calderara, S. (2020), "Dark
    experience for general continual learning: a strong, simple baseline", NeurIPS,
    arXiv:2004.07211.

    Examples
    --------
    >>> DERPP(beta=0.5).to_dict()
    {'name': 'derpp', 'buffer_size': 200, 'alpha': 0.2, 'replay_batch_size': None, 'beta': 0.5, 'draws': 'separate'}
    """

    name: ClassVar[str] = "derpp"
    constraints: ClassVar[dict[str, Constraint]] = {
        **DER.constraints,
        "beta": Interval(float, 0, None),
        "draws": Options("separate", "shared"),
    }
    beta: float = 1.0
    draws: str = "separate"

    @property
    def label_weight(self) -> float:
        return self.beta

    @property
    def label_draw(self) -> bool:
        return self.draws == "separate"
