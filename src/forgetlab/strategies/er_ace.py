"""ER-ACE: experience replay with an asymmetric cross-entropy that keeps new classes from pushing old ones away."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from forgetlab.errors import invalid
from forgetlab.numerics.mlp import cross_entropy
from forgetlab.strategies.base import Context, Minibatch
from forgetlab.strategies.der import columns
from forgetlab.strategies.replay import Replay, ReplayState
from forgetlab.tasks import Stream

__all__ = ["ERACE", "ERACEState", "incoming_mask"]


def incoming_mask(task_units: torch.Tensor, tasks: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The units an incoming sample's softmax covers: its own task's classes, within the training mask.

    Parameters
    ----------
    task_units : bool Tensor of shape (T, C)
        Every task's own classes (:attr:`~forgetlab.strategies.base.Context.task_units`), shared.
    tasks : int64 Tensor of shape (R, n)
        The incoming samples' tasks, per run.
    mask : bool Tensor of shape (C,) or (R, n, C), or None
        The scenario's training mask of those samples (None: every unit).

    Returns
    -------
    bool Tensor of shape (R, n, C)

    Examples
    --------
    >>> units = torch.tensor([[True, True, False, False], [False, False, True, True]])
    >>> incoming_mask(units, torch.tensor([[1]]), torch.tensor([True, True, True, False])).tolist()
    [[[False, False, True, False]]]
    """
    own = task_units[tasks]
    return own if mask is None else own & mask


@dataclass(eq=False)
class ERACEState(ReplayState):
    """The replay state (one buffer per run, every sample's label) and every task's own classes (T, C)."""

    task_units: torch.Tensor | None = None


@dataclass(frozen=True, kw_only=True)
class ERACE(Replay):
    """ER-ACE: experience replay with the asymmetric cross-entropy of Caccia et al.

    As :class:`~forgetlab.strategies.replay.Replay` (same memory, same draws: a run's memory
    and replayed samples are those ER would use), but each step minimises

    .. math:: \\mathcal L = \\frac{1}{|B|} \\sum_{(x, y) \\in B} -\\log \\mathrm{softmax}_{C_{new}(x)}(f_\\theta(x))_y
              + \\frac{1}{|B_M|} \\sum_{(x, y) \\in B_M} -\\log \\mathrm{softmax}_{C_{seen}}(f_\\theta(x))_y

    where the incoming minibatch :math:`B`'s softmax covers only :math:`C_{new}(x)`, the
    classes of the sample's own task (the current task's, in a sequential stream), and the
    memory samples :math:`B_M` use every class seen so far. The incoming data then cannot
    push the logits of old classes down (the representation drift Caccia et al. observe
    at each task switch); old and new classes are contrasted only through the memory.

    Parameters
    ----------
    buffer_size : int, default 200
        Samples the memory holds per run, >= 1.
    buffer : {"reservoir", "class_balanced"}, default "reservoir"
        As :class:`~forgetlab.strategies.replay.Replay`; Caccia et al. use a reservoir.
    replay_batch_size : int or None, default None
        Memory samples per step, >= 1; None replays as many as the minibatch has stream
        samples (Caccia et al.: the same size, 10).

    Notes
    -----
    Scenarios: class-incremental is ER-ACE's setting. In task- and domain-incremental
    learning every sample's training mask is already its own task's classes (or every
    unit, shared by all tasks), so both terms are ER's cross-entropy and ER-ACE differs from
    ER only in weighting the two means equally. A regression stream is refused. Per run,
    as Replay: the buffer's choices and draws use ``run_rng(seed, 2)``.

    References
    ----------
    Caccia, L., Aljundi, R., Asadi, N., Tuytelaars, T., Pineau, J. & Belilovsky, E. (2022),
    "New insights on reducing abrupt representation change in online continual
    learning", ICLR, arXiv:2104.05025.

    Examples
    --------
    >>> ERACE(buffer_size=50).to_dict()
    {'name': 'er_ace', 'buffer_size': 50, 'buffer': 'reservoir', 'replay_batch_size': None}
    """

    name: ClassVar[str] = "er_ace"

    def validate(self, stream: Stream) -> None:
        if stream.kind != "classification":
            raise invalid("strategy", "a regression stream", "one that needs no class labels (not ER-ACE)", self.name)
        super().validate(stream)

    def start(self, context: Context) -> ERACEState:
        replay = super().start(context)
        return ERACEState(buffers=replay.buffers, labels=replay.labels, task_units=context.task_units)

    def data_loss(self, state: ERACEState, batch: Minibatch, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The incoming samples' cross-entropy over their own task's classes plus the memory's over every class seen."""
        n = batch.n_new
        new, memory = slice(0, n), slice(n, None)
        tasks = torch.from_numpy(batch.tasks[:, new])
        mask = incoming_mask(state.task_units, tasks, columns(batch.mask, new))
        loss, d_new = cross_entropy(output[:, new], batch.y[:, new], mask)
        if output.shape[1] == n:
            return loss, d_new
        replay_loss, d_replay = cross_entropy(output[:, memory], batch.y[:, memory], columns(batch.mask, memory))
        return loss + replay_loss, torch.cat([d_new, d_replay], dim=1)
