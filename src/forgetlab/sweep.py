"""A sweep: variants of an experiment, its plan of batches, and running the batches.

A :class:`Sweep` is one or more :class:`Variant`\\ s, each a whole :class:`Experiment`
that differs from the others in some settings of the stream, the model or the
optimiser (a config file's grid over them). Its runs are numbered once and for all
(variants outer, then :meth:`Experiment.runs`' order), so a run keeps its ``run`` id
whichever batch, process or machine trains it.

:func:`plan` cuts the runs into :class:`Batch`\\ es: one schedule of one variant and some
of its seeds, every strategy of the experiment included (a strategy's intransigence
needs the ``cumulative`` run of the same seed). Batches are sized to a memory budget
and split so that every worker gets some. :func:`run_batches` trains them in this
process, in local worker processes or on a Dask cluster (:mod:`forgetlab.executors`),
and yields each batch's tables as it finishes; the caller alone writes them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forgetlab.errors import invalid
from forgetlab.experiment import Experiment, tables, train_schedule
from forgetlab.validation import Interval, check

__all__ = ["DEFAULT_MEMORY_BUDGET", "Batch", "Sweep", "Variant", "plan", "run_batches", "train"]

#: Bytes a batch of runs may take while it trains, by default (2 GiB).
DEFAULT_MEMORY_BUDGET = 2 * 1024**3


@dataclass(frozen=True, kw_only=True, eq=False)
class Variant:
    """One experiment of a sweep and the settings that make it differ from the others.

    Attributes
    ----------
    name : str
        The ``variant`` column of its results, e.g. ``"model.alpha=0.001"``; ``""`` for
        a sweep of one experiment.
    settings : mapping of str to value
        The grid's settings of this variant, by dotted key.
    experiment : Experiment
    """

    name: str
    settings: Mapping[str, object] = field(default_factory=dict)
    experiment: Experiment


@dataclass(frozen=True, kw_only=True, eq=False)
class Sweep:
    """Variants of an experiment, with every run numbered.

    Parameters
    ----------
    variants : sequence of Variant
        Non-empty, with distinct names.
    config : mapping, optional
        The config the sweep was read from (:mod:`forgetlab.config`), kept in the
        manifest for the record; the fingerprint depends on the variants alone.

    Examples
    --------
    >>> from forgetlab.api import tutorial_experiment
    >>> sweep = Sweep.of(tutorial_experiment(seeds=range(3), schedules=["sequential", "interspersed"]))
    >>> sweep.n_runs, sweep.run_ids(Batch(variant=0, schedule=1, seeds=(0, 2)))
    (6, [3, 5])
    """

    variants: Sequence[Variant]
    config: Mapping | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        names = [variant.name for variant in self.variants]
        if not names or len(set(names)) != len(names):
            raise invalid("variants", "Sweep", "a non-empty list of variants with distinct names", names)
        offsets = np.cumsum([0] + [len(variant.experiment.runs()) for variant in self.variants])
        object.__setattr__(self, "_offsets", offsets)

    @classmethod
    def of(cls, experiment: Experiment) -> Sweep:
        """The sweep of one experiment (one variant, named ``""``)."""
        return cls(variants=(Variant(name="", experiment=experiment),))

    @property
    def n_runs(self) -> int:
        """How many runs the sweep has."""
        return int(self._offsets[-1])

    def run_ids(self, batch: Batch) -> list[int]:
        """The ``run`` ids of a batch's runs: strategies outer, seeds inner."""
        experiment = self.variants[batch.variant].experiment
        seeds = experiment.seeds
        n_strategies = len(experiment.strategy_labels)
        first = int(self._offsets[batch.variant]) + batch.schedule * n_strategies * len(seeds)
        positions = [seeds.index(seed) for seed in batch.seeds]
        return [first + strategy * len(seeds) + p for strategy in range(n_strategies) for p in positions]

    def manifest(self) -> dict:
        """What the results depend on: the experiment's manifest, or every variant's."""
        if len(self.variants) == 1 and not self.variants[0].name:
            return self.variants[0].experiment.manifest()
        return {
            "variants": [
                {"name": v.name, "settings": dict(v.settings), "experiment": v.experiment.manifest()}
                for v in self.variants
            ]
        }

    def fingerprint(self) -> str:
        """SHA-256 of the manifest's canonical JSON (an experiment's own for a sweep of one)."""
        text = json.dumps(self.manifest(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class Batch:
    """Some seeds of one schedule of one variant, with every strategy: one task for a worker.

    Attributes
    ----------
    variant, schedule : int
        Indices into the sweep's variants and the variant's schedules.
    seeds : tuple of int
        In the experiment's order.
    """

    variant: int
    schedule: int
    seeds: tuple[int, ...]

    @property
    def name(self) -> str:
        """A name unique to the batch's runs (for its files), e.g. ``v0-s1-0-3a9f...``."""
        digest = hashlib.sha256(json.dumps(self.seeds).encode()).hexdigest()[:12]
        return f"v{self.variant}-s{self.schedule}-{self.seeds[0]}-{digest}"


def plan(
    sweep: Sweep,
    *,
    done: Collection[int] = (),
    parallel: int = 1,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> list[Batch]:
    """Cut the runs not yet ``done`` into batches of identical shape.

    A batch is one schedule of one variant and some of its seeds, with every strategy;
    it holds as many seeds as fit in ``memory_budget`` (the engine's
    :meth:`~forgetlab.engines.base.Engine.run_bytes` per run and strategy) and as the
    engine takes (:meth:`~forgetlab.engines.base.Engine.max_seeds_per_batch`), and each
    schedule's seeds are split into at least ``parallel`` batches (when it has that many
    seeds) so that every worker gets a share.

    Parameters
    ----------
    sweep : Sweep
        The runs to plan.
    done : collection of int
        ``run`` ids already in the results store: a (schedule, seed) whose runs are all
        done is not planned again.
    parallel : int, default 1
        How many workers will take batches.
    memory_budget : int
        Bytes one batch may take while it trains.

    Returns
    -------
    list of Batch
        Variants outer, then schedules, then seeds.

    Raises
    ------
    InvalidParameterError
        If ``memory_budget`` does not hold one run (with every strategy), or ``parallel``
        is not an int >= 1.

    Examples
    --------
    >>> from forgetlab.api import tutorial_experiment
    >>> sweep = Sweep.of(tutorial_experiment(seeds=range(5), schedules=["interspersed"]))
    >>> [b.seeds for b in plan(sweep, parallel=2)]
    [(0, 1, 2), (3, 4)]
    >>> [b.seeds for b in plan(sweep, done={0, 1, 2})]
    [(3, 4)]
    """
    check(parallel, "parallel", "plan", Interval(int, 1, None))
    done = set(done)
    batches = []
    for v, variant in enumerate(sweep.variants):
        experiment = variant.experiment
        engine = experiment.trainer
        need = engine.run_bytes(experiment) * len(experiment.strategy_labels)
        if need > memory_budget:
            allowed = f"at least one run's estimated {need / 2**20:.1f} MiB (variant {variant.name or 0!r})"
            raise invalid("memory_budget", None, allowed, memory_budget)
        per_batch = max(1, memory_budget // need)
        most = engine.max_seeds_per_batch(experiment)
        per_batch = per_batch if most is None else min(per_batch, most)
        for s in range(len(experiment.schedules)):
            missing = [
                seed
                for seed in experiment.seeds
                if not set(sweep.run_ids(Batch(variant=v, schedule=s, seeds=(seed,)))) <= done
            ]
            if not missing:
                continue
            n_batches = max(math.ceil(len(missing) / per_batch), min(parallel, len(missing)))
            for part in np.array_split(np.array(missing), n_batches):
                batches.append(Batch(variant=v, schedule=s, seeds=tuple(int(seed) for seed in part)))
    return batches


def train(sweep: Sweep, batch: Batch) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one batch and return its scores and predictions tables (the task a worker runs).

    Examples
    --------
    >>> from forgetlab.api import tutorial_experiment
    >>> sweep = Sweep.of(tutorial_experiment(seeds=[0], schedules=["sequential"], sequential_epochs=(1, 1)))
    >>> scores, predictions = train(sweep, Batch(variant=0, schedule=0, seeds=(0,)))
    >>> scores[["run", "schedule", "epoch", "task"]].drop_duplicates().shape[0]
    4
    """
    variant = sweep.variants[batch.variant]
    results = train_schedule(variant.experiment, batch.schedule, batch.seeds)
    return tables(variant.experiment, batch.schedule, results, sweep.run_ids(batch), variant=variant.name)


def run_batches(
    sweep: Sweep,
    batches: Sequence[Batch],
    *,
    jobs: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Iterator[tuple[Batch, pd.DataFrame, pd.DataFrame]]:
    """Train batches where told and yield ``(batch, scores, predictions)`` as each finishes.

    Parameters
    ----------
    sweep : Sweep
        What the batches belong to (sent once to each worker).
    batches : sequence of Batch
        From :func:`plan`.
    jobs : int, optional
        Local worker processes; default one per core (divided by the threads a run
        uses), 1 trains in this process. Ignored with ``workers`` or ``scheduler``.
    workers : int, optional
        Start a Dask ``LocalCluster`` of this many worker processes (loopback).
    scheduler : str, optional
        The address of a running Dask scheduler, e.g. ``tcp://10.0.0.1:8786``.
    """
    from forgetlab.executors import executor

    if workers is None and scheduler is None:
        threads = max(variant.experiment.n_threads for variant in sweep.variants)
        jobs = jobs if jobs is not None else max(1, (os.cpu_count() or 1) // threads)
        jobs = min(jobs, max(1, len(batches)))
    else:
        jobs = 1
    with executor(jobs=jobs, workers=workers, scheduler=scheduler) as pool:
        for index, (scores, predictions) in pool.map_unordered(train, sweep, batches):
            yield batches[index], scores, predictions
