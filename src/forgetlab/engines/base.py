"""The engine contract: what an experiment and the planner ask of every engine.

An engine is an object with a ``name`` and four methods (:class:`Engine`); a module
holding one as ``ENGINE`` plus one line in :data:`forgetlab.engines.ENGINES` is a new
engine. The experiment asks :meth:`Engine.check` whether the engine can train it (and
``engine="auto"`` takes the first registered engine that can), the planner sizes batches
with :meth:`Engine.run_bytes` and :meth:`Engine.max_seeds_per_batch`, and a worker calls
:meth:`Engine.train` for one batch: some seeds of one schedule, every strategy.

A minimal engine, here one that predicts every task's training mean (the
"always guess the average" baseline), registered for the example only:

>>> import numpy as np
>>> from forgetlab import engines
>>> from forgetlab.results import RunResult, describe_plan
>>> class MeanEngine:
...     name = "mean"
...     def check(self, experiment):
...         pass  # any regression experiment
...     def run_bytes(self, experiment):
...         return 1024
...     def max_seeds_per_batch(self, experiment):
...         return None  # as many as the memory budget allows
...     def train(self, experiment, schedule, seeds):
...         stream = experiment.stream
...         results = []
...         for seed in seeds:
...             plan = experiment.schedules[schedule].plan(stream.train_sizes, np.random.RandomState(seed))
...             seen, trained, phase = describe_plan(stream, plan)
...             scores = np.zeros((len(plan), len(stream)))  # R² of the mean is about 0
...             results.append(RunResult(
...                 seed=seed, schedule=experiment.schedules[schedule].name, scores=scores,
...                 samples_seen=seen, trained=trained, phase=phase, n_iter=np.zeros(len(plan), int),
...                 predictions=[np.full(t.n_test, t.y_train.mean()) for t in stream.tasks], diverged=False))
...         return results
>>> engines.ENGINES["mean"] = MeanEngine()
>>> from forgetlab.api import run_experiment, tutorial_experiment
>>> results = run_experiment(tutorial_experiment(seeds=[0, 1], engine="mean"), progress=False)
>>> results.scores.groupby("engine")["run"].nunique().to_dict()
{'mean': 6}
>>> del engines.ENGINES["mean"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from forgetlab.errors import invalid
from forgetlab.numerics.spec import MLPSpec

if TYPE_CHECKING:
    from forgetlab.results import RunResult
    from forgetlab.schedules import Schedule
    from forgetlab.strategies import Strategy
    from forgetlab.tasks import Stream

__all__ = ["Engine", "Spec", "check_float32_range", "estimate_run_bytes"]


class Spec(Protocol):
    """What an engine reads of the experiment it trains (:class:`forgetlab.experiment.Experiment` is one).

    Declared here, beside the engines, so that they depend on this interface and not on
    the experiment module above them.
    """

    stream: Stream
    estimator: Any
    schedules: Sequence[Schedule]
    strategies: Sequence[Strategy]
    engine: str
    dtype: str
    #: Scores kept after every ``record_every``-th epoch (and at phase ends): an engine may score only those.
    record_every: int

    @property
    def n_threads(self) -> int:
        """Threads per run."""

    @property
    def continual_request(self) -> bool:
        """Whether the runs need a continual trainer (strategies, or classification off the sklearn engine)."""

    @property
    def continual(self) -> bool:
        """Whether the runs train under strategies."""

    @property
    def trained_strategies(self) -> tuple[Strategy, ...]:
        """The strategies a continual trainer trains, ``Naive`` alone when none is given."""


@runtime_checkable
class Engine(Protocol):
    """What every engine offers; see the module's docstring for a worked example.

    Attributes
    ----------
    name : str
        The engine's name in configs, on the command line and in the ``engine`` column.
    """

    name: str

    def check(self, experiment: Spec) -> None:
        """Raise :class:`~forgetlab.errors.InvalidParameterError` (one line: why not) unless
        this engine can train ``experiment``.

        Called once, when the experiment is built; ``train`` may then trust it.
        """

    def run_bytes(self, experiment: Spec) -> int:
        """An estimate of the memory one run (one strategy, one seed) takes while it trains, in bytes."""

    def max_seeds_per_batch(self, experiment: Spec) -> int | None:
        """The most seeds this engine trains in one call of :meth:`train`; None: as many as fit the memory budget."""

    def train(self, experiment: Spec, schedule: int, seeds: Sequence[int]) -> list[RunResult]:
        """Train every strategy of schedule ``experiment.schedules[schedule]`` for ``seeds``, in this process.

        Returns one :class:`~forgetlab.results.RunResult` per run, strategies outer and
        seeds inner (:meth:`Experiment.runs` order), with ``experiment.n_threads``
        threads. A run's numbers must not depend on the other seeds of the call.
        """


def estimate_run_bytes(experiment: Spec) -> int:
    """An estimate of the memory one run of ``experiment`` takes in a batch, in bytes.

    For an MLP (:class:`~forgetlab.numerics.spec.MLPSpec`): 32 vectors of the
    parameters' size (weights, gradient, the optimiser's state: L-BFGS keeps 2 x 10
    history vectors, Adam 2; a strategy's anchors and importances) and activations of the
    largest batch four times over (forward values and their gradients), in the
    experiment's ``dtype``. Other estimators count their coefficients. Plus the run's
    results.

    Examples
    --------
    >>> from forgetlab.api import tutorial_experiment
    >>> round(estimate_run_bytes(tutorial_experiment()) / 2**20, 2)  # MiB, float32
    1.7
    """
    stream = experiment.stream
    itemsize = 4 if experiment.dtype == "float32" else 8
    n_features = stream[0].x_train.shape[1]
    n_outputs = int(stream.n_classes) if stream.kind == "classification" else 1
    if hasattr(experiment.estimator, "hidden_layer_sizes"):
        spec = MLPSpec.from_estimator(experiment.estimator, n_features=n_features, n_outputs=n_outputs)
        rows = sum(stream.train_sizes)
        model = 32 * spec.n_params * itemsize + 4 * rows * sum(spec.layer_units) * itemsize
    else:
        model = 8 * (n_features + 1) * n_outputs
    n_epochs = max(schedule.n_epochs_for(len(stream)) for schedule in experiment.schedules)
    results = 3 * 8 * n_epochs * len(stream) + 3 * 8 * sum(len(task.y_test) for task in stream.tasks)
    return int(model + results)


def check_float32_range(stream: Stream) -> None:
    """Raise InvalidParameterError unless every input and target fits float32's range."""
    limit = float(np.finfo(np.float32).max)
    for task in stream.tasks:
        for array in (task.x_train, task.y_train, task.x_test, task.y_test):
            largest = float(np.max(np.abs(array))) if np.size(array) else 0.0
            if largest > limit:
                allowed = (
                    f"float64 for values beyond float32's range (|value| up to {largest:.3g} in task {task.name!r})"
                )
                raise invalid("dtype", None, allowed, "float32")
