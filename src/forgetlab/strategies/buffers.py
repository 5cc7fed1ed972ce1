"""Episodic memories of one run: which samples of the stream a replay strategy keeps.

A buffer stores global sample indices (and their labels), never the data. Each buffer
belongs to one run and draws from that run's RNG only.
"""

from __future__ import annotations

import numpy as np

from forgetlab.strategies.base import draw_distinct

__all__ = ["BUFFERS", "Buffer", "ClassBalancedBuffer", "ReservoirBuffer"]


class Buffer:
    """A memory of at most ``capacity`` samples (global indices) with their labels.

    Parameters
    ----------
    capacity : int
        Most samples kept, >= 1.
    rng : numpy.random.RandomState
        The run's RNG for the buffer's random choices.
    n_classes : int or None
        Classification: the number of labels (class-balanced buffers need it).

    Attributes
    ----------
    seen : int
        Stream samples offered so far.
    size : int
        Samples held: ``min(capacity, seen)`` for both buffers here.
    """

    def __init__(self, capacity: int, rng: np.random.RandomState, n_classes: int | None = None) -> None:
        self.capacity, self.rng, self.n_classes = int(capacity), rng, n_classes
        self.items = np.zeros(self.capacity, dtype=np.int64)
        self.labels = np.zeros(self.capacity, dtype=np.int64)
        self.seen = 0
        self.size = 0

    @property
    def contents(self) -> np.ndarray:
        """The global indices held, (size,)."""
        return self.items[: self.size]

    def add(self, items: np.ndarray, labels: np.ndarray) -> None:
        """Offer stream samples in order: global indices (m,) and labels (m,)."""
        raise NotImplementedError

    def sample(self, k: int) -> np.ndarray:
        """``k`` distinct held samples drawn uniformly (``k`` <= size)."""
        return self.items[draw_distinct(self.rng, self.size, k)]


class ReservoirBuffer(Buffer):
    """Reservoir sampling (Vitter's algorithm R): always a uniform sample of every sample seen.

    The ``i``-th sample (0-based) is stored while ``i < M``; afterwards it replaces slot
    ``j ~ U{0, ..., i}`` if ``j < M``, so every sample seen is held with probability
    ``M / n`` after ``n`` samples, whatever the order of the stream.

    References
    ----------
    Vitter, J. S. (1985), "Random sampling with a reservoir", ACM TOMS 11(1), 37-57.
    Chaudhry, A. et al. (2019), "On tiny episodic memories in continual learning",
    arXiv:1902.10486.

    Examples
    --------
    >>> buffer = ReservoirBuffer(3, np.random.RandomState(0))
    >>> buffer.add(np.arange(10), np.zeros(10, dtype=np.int64))
    >>> buffer.size, buffer.seen, len(set(buffer.contents.tolist()))
    (3, 10, 3)
    """

    def add(self, items: np.ndarray, labels: np.ndarray) -> None:
        fill = min(len(items), self.capacity - self.size)
        self.items[self.size : self.size + fill] = items[:fill]
        self.labels[self.size : self.size + fill] = labels[:fill]
        self.size += fill
        rest = len(items) - fill
        if rest:
            positions = self.seen + fill + np.arange(rest)
            slots = self.rng.randint(0, positions + 1)
            for k in np.flatnonzero(slots < self.capacity):
                self.items[slots[k]], self.labels[slots[k]] = items[fill + k], labels[fill + k]
        self.seen += len(items)


class ClassBalancedBuffer(Buffer):
    """Class-balancing reservoir sampling (CBRS): equal memory shares for every class seen.

    While the memory has room, every sample is stored. Afterwards, a sample of class
    ``c``:

    - if ``c`` is not *full*, replaces a random sample of a largest class (ties drawn at
      random); a class becomes full once it is (one of) the largest in memory and stays so;
    - otherwise replaces a random stored sample of ``c`` with probability
      ``m_c / n_c`` (``m_c`` stored, ``n_c`` seen of class ``c``): reservoir sampling
      within the class.

    Once enough samples of each class have been seen, every class holds
    ``capacity / n_classes_seen`` samples (up to rounding).

    References
    ----------
    Chrysakis, A. & Moens, M.-F. (2020), "Online continual learning from imbalanced data",
    ICML, Algorithm 1.

    Examples
    --------
    >>> buffer = ClassBalancedBuffer(4, np.random.RandomState(0), n_classes=2)
    >>> buffer.add(np.arange(10), np.array([0] * 8 + [1] * 2))
    >>> np.bincount(buffer.labels[: buffer.size], minlength=2).tolist()
    [2, 2]
    """

    def __init__(self, capacity: int, rng: np.random.RandomState, n_classes: int | None = None) -> None:
        super().__init__(capacity, rng, n_classes)
        self.stored = np.zeros(n_classes, dtype=np.int64)
        self.offered = np.zeros(n_classes, dtype=np.int64)
        self.full = np.zeros(n_classes, dtype=bool)

    def _replace_one_of(self, label: int, item: int, new_label: int) -> None:
        slot = self.rng.choice(np.flatnonzero(self.labels[: self.size] == label))
        self.items[slot], self.labels[slot] = item, new_label
        self.stored[label] -= 1
        self.stored[new_label] += 1

    def _mark_full(self) -> None:
        """The largest classes in memory become full (for good); needed only when the counts change."""
        self.full |= self.stored == self.stored.max()

    def add(self, items: np.ndarray, labels: np.ndarray) -> None:
        fill = min(len(items), self.capacity - self.size)  # stored while there is room
        self.items[self.size : self.size + fill] = items[:fill]
        self.labels[self.size : self.size + fill] = labels[:fill]
        self.size += fill
        self.seen += fill
        np.add.at(self.stored, labels[:fill], 1)
        np.add.at(self.offered, labels[:fill], 1)
        if self.size == self.capacity:
            self._mark_full()
        for item, label in zip(items[fill:].tolist(), labels[fill:].tolist(), strict=True):
            self.offered[label] += 1
            self.seen += 1
            if not self.full[label]:
                largest = np.flatnonzero(self.stored == self.stored.max())
                self._replace_one_of(int(self.rng.choice(largest)), item, label)
                self._mark_full()
            elif self.rng.random_sample() * self.offered[label] < self.stored[label]:
                self._replace_one_of(label, item, label)


#: Buffers by the name a :class:`~forgetlab.strategies.replay.Replay` strategy uses.
BUFFERS: dict[str, type[Buffer]] = {"reservoir": ReservoirBuffer, "class_balanced": ClassBalancedBuffer}
