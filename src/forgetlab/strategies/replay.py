"""Experience replay: a small episodic memory per run, mixed into every minibatch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from forgetlab.errors import invalid
from forgetlab.strategies.base import Context, Strategy, check_memory, run_rng
from forgetlab.strategies.buffers import BUFFERS, Buffer
from forgetlab.tasks import Stream
from forgetlab.validation import AnyOf, Constraint, Hidden, Interval, Options

__all__ = ["Replay", "ReplayState"]

#: The ``purpose`` of a replay buffer's RNG (:func:`~forgetlab.strategies.base.run_rng`).
REPLAY_RNG = 2


@dataclass(eq=False)
class ReplayState:
    """One buffer per run (each with the run's own RNG) and the labels of every training sample."""

    buffers: list[Buffer]
    labels: np.ndarray


@dataclass(frozen=True, kw_only=True)
class Replay(Strategy):
    """Experience replay (ER) with a small episodic memory per run.

    Each minibatch :math:`B` of the stream is extended with :math:`k` samples :math:`B_M`
    drawn uniformly without replacement from the run's memory :math:`M`, and one step is
    taken on the mean loss over :math:`B \\cup B_M`; then the stream samples of :math:`B`
    are offered to the memory (Chaudhry et al. 2019, Algorithm 1). Replayed samples are
    trained with their own task's output mask in the task-incremental scenario.

    Parameters
    ----------
    buffer_size : int, default 200
        Samples the memory holds per run, >= 1.
    buffer : {"reservoir", "class_balanced"}, default "reservoir"
        ``"reservoir"``: a uniform sample of every stream sample seen (Vitter 1985);
        ``"class_balanced"``: equal shares per class (CBRS, Chrysakis & Moens 2020;
        classification only). See :mod:`forgetlab.strategies.buffers`.
    replay_batch_size : int or None, default None
        Memory samples per minibatch, >= 1; None replays as many as the minibatch has
        stream samples (a 1:1 ratio, as Chaudhry et al.). Fewer while the memory is smaller.

    Notes
    -----
    Per run: the buffer's choices and the replay draws use ``run_rng(seed, 2)``, so a run
    gives the same result alone or in a batch. Every run of a batch has seen as many
    samples, so all memories have the same size and every run replays ``k`` samples.

    References
    ----------
    Chaudhry, A. et al. (2019), "On tiny episodic memories in continual learning",
    arXiv:1902.10486.
    Vitter, J. S. (1985), "Random sampling with a reservoir", ACM TOMS 11(1).
    Chrysakis, A. & Moens, M.-F. (2020), "Online continual learning from imbalanced data", ICML.

    Examples
    --------
    >>> Replay(buffer_size=50).to_dict()
    {'name': 'replay', 'buffer_size': 50, 'buffer': 'reservoir', 'replay_batch_size': None}
    """

    name: ClassVar[str] = "replay"
    constraints: ClassVar[dict[str, Constraint]] = {
        "buffer_size": Interval(int, 1, None),
        "buffer": Options(*BUFFERS),
        "replay_batch_size": AnyOf(Hidden(None), Interval(int, 1, None)),
    }
    buffer_size: int = 200
    buffer: str = "reservoir"
    replay_batch_size: int | None = None

    def validate(self, stream: Stream) -> None:
        check_memory(self.buffer_size, "buffer_size", "Replay", stream)
        if self.buffer == "class_balanced" and stream.kind != "classification":
            raise invalid("buffer", "Replay on a regression stream", "'reservoir'", self.buffer)

    def start(self, context: Context) -> ReplayState:
        kind = BUFFERS[self.buffer]
        n_classes = context.stream.n_classes
        buffers = [kind(self.buffer_size, run_rng(seed, REPLAY_RNG), n_classes) for seed in context.seeds]
        labels = context.labels if context.stream.kind == "classification" else np.zeros(len(context.task), np.int64)
        return ReplayState(buffers=buffers, labels=labels)

    def extend_batch(self, state: ReplayState, index: np.ndarray) -> np.ndarray:
        sizes = {buffer.size for buffer in state.buffers}
        if sizes == {0}:
            return index
        (size,) = sizes  # every run has seen as many samples
        k = min(size, self.replay_batch_size or index.shape[1])
        memory = np.stack([buffer.sample(k) for buffer in state.buffers])
        return np.concatenate([index, memory], axis=1)

    def observe(self, state: ReplayState, index: np.ndarray) -> None:
        for buffer, items in zip(state.buffers, index, strict=True):
            buffer.add(items, state.labels[items])
