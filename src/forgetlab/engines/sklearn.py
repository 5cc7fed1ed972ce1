"""The scikit-learn engine: one estimator per run, one ``partial_fit`` per epoch.

It is the reference for the tutorial's semantics. Two facts shape it:

- With ``solver="lbfgs"``, ``MLPRegressor.partial_fit`` (scikit-learn >= 1.2) is not one
  step: it runs a complete ``scipy.optimize.minimize(method="L-BFGS-B")`` from the current
  weights on the given batch, until the largest gradient entry is <= ``tol``, or
  ``max_iter`` iterations, or ``max_fun`` evaluations, or no relative progress. Curvature
  history is not kept between calls. That is why one "epoch" of autumn wipes out summer.
- The tutorial's tiny matrices make BLAS threads pure overhead: one L-BFGS iteration of the
  tutorial MLP costs ~22 ms with two BLAS threads and ~1.7 ms with one on a 2-core machine,
  and the numbers themselves change with the thread count. The engine therefore pins
  ``threads`` BLAS threads (default 1) in every run (threadpoolctl) and spreads runs over
  processes (joblib) instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits

from forgetlab.engines.base import estimate_run_bytes
from forgetlab.errors import invalid
from forgetlab.metrics import accuracy, r2_score
from forgetlab.models import Model
from forgetlab.models import tutorial_model as tutorial_description
from forgetlab.results import RunResult, describe_plan
from forgetlab.schedules import Schedule, newest_tasks
from forgetlab.tasks import Stream

if TYPE_CHECKING:
    from forgetlab.engines.base import Spec

__all__ = ["ENGINE", "SklearnEngine", "check_estimator", "train_run", "tutorial_model"]


def tutorial_model() -> MLPRegressor:
    """The tutorial's model as a scikit-learn estimator (:func:`forgetlab.models.tutorial_model`).

    ``random_state`` is set per run from the seed.

    Examples
    --------
    >>> tutorial_model().hidden_layer_sizes
    (100, 100)
    """
    return tutorial_description().to_estimator()


def check_estimator(estimator: object) -> None:
    """Raise InvalidParameterError unless ``estimator`` can be trained by this engine.

    It must be a scikit-learn estimator whose ``partial_fit`` is available (for
    ``MLPRegressor``: any solver; ``MLPClassifier`` refuses lbfgs). Classifiers train on
    classification streams with every class declared in the first call (one output per
    class of the stream, no training masks); the scenario's masks apply when scoring.
    """
    built = estimator.to_estimator() if isinstance(estimator, Model) else estimator
    if not isinstance(built, BaseEstimator) or not hasattr(built, "partial_fit"):
        raise invalid("estimator", "the sklearn engine", "a scikit-learn estimator with partial_fit", estimator)


def train_run(
    estimator: Model | BaseEstimator,
    stream: Stream,
    schedule: Schedule,
    seed: int,
    *,
    threads: int | None = 1,
) -> RunResult:
    """Train one run: a fresh clone of ``estimator`` under ``schedule`` on ``stream``.

    Seed ``s`` means: the estimator's ``random_state=s`` (its initialisation) and the
    schedule's sampling from ``np.random.RandomState(s)``, started afresh for this run
    (as the tutorial's ``set_seed`` does before each exercise). The stream's train/test
    split is the stream's own.

    Parameters
    ----------
    estimator : Model or scikit-learn estimator with ``partial_fit``
        A template; a new estimator is built from it (:meth:`Model.to_estimator`), it is never modified.
    stream : Stream
        The tasks to train on and score.
    schedule : Schedule
        Validated against the stream by the caller.
    seed : int
        Sets the initialisation and the sampling RNG, as above.
    threads : int or None, default 1
        BLAS threads while training; None leaves the library default.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> from forgetlab.tasks import seasons
    >>> from forgetlab.schedules import Interspersed
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50)
    >>> result = train_run(model, seasons(), Interspersed(k=5, n_epochs=3), seed=0)
    >>> result.scores.shape, result.samples_seen.tolist()
    ((3, 2), [10, 20, 30])
    """
    plan = schedule.plan(stream.train_sizes, np.random.RandomState(seed))
    model = Model.of(estimator).to_estimator(random_state=seed)
    classify = stream.kind == "classification"
    fit_options = {"classes": np.arange(stream.n_classes)} if classify else {}
    n_tasks = len(stream)
    scores = np.full((len(plan), n_tasks), np.nan)
    n_iter = np.zeros(len(plan), dtype=np.int64)
    samples_seen, trained, phase = describe_plan(stream, plan)
    newest = newest_tasks(plan)
    diverged = False
    outputs: list[np.ndarray] = []
    with threadpool_limits(limits=threads), warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for e, epoch in enumerate(plan):
            x, y = stream.training_batch(epoch)
            try:
                model.partial_fit(x, y, **fit_options)
            except ValueError as error:  # "Solver produced non-finite parameter weights"
                if "non-finite" not in str(error):
                    raise
                diverged = True
                break
            n_iter[e] = getattr(model, "n_iter_", 0)
            outputs = [_predict(model, stream, j, int(newest[e])) for j in range(n_tasks)]
            score = accuracy if classify else r2_score
            epoch_scores = [score(task.y_test, output) for task, output in zip(stream.tasks, outputs, strict=True)]
            # non-finite predictions, or finite ones so large that the squared error overflows
            # (a NaN score alone means constant targets: undefined, not diverged)
            if not all(np.isfinite(output).all() for output in outputs) or np.isinf(epoch_scores).any():
                diverged = True
                break
            scores[e] = epoch_scores
        predictions = outputs if not diverged else [np.full(task.n_test, np.nan) for task in stream.tasks]
    return RunResult(
        seed=seed,
        schedule=schedule.name,
        scores=scores,
        samples_seen=samples_seen,
        trained=trained,
        phase=phase,
        n_iter=n_iter,
        predictions=predictions,
        diverged=diverged,
        metric="accuracy" if classify else "r2",
    )


def _predict(model: BaseEstimator, stream: Stream, task: int, newest: int) -> np.ndarray:
    """The fitted model's outputs on a task's test set; for classification the label it
    prefers among the scenario's evaluation classes (:meth:`Stream.eval_classes`), as floats.
    """
    x = stream[task].x_test
    if stream.kind != "classification":
        return model.predict(x)
    scores = model.predict_proba(x) if hasattr(model, "predict_proba") else model.decision_function(x)
    if scores.ndim == 1:  # a binary decision function: the score of class 1
        scores = np.stack([-scores, scores], axis=1)
    classes = stream.eval_classes(task, newest)
    if classes is not None:
        allowed = np.zeros(scores.shape[1], dtype=bool)
        allowed[list(classes)] = True
        scores = np.where(allowed, scores, -np.inf)
    return model.classes_[np.argmax(scores, axis=1)].astype(float)


class SklearnEngine:
    """The scikit-learn engine (:class:`~forgetlab.engines.base.Engine`): one estimator per run.

    It trains schedules only (no strategies), any scikit-learn estimator with
    ``partial_fit`` (a classifier for a classification stream), one run per batch, with
    ``experiment.n_threads`` BLAS threads.
    """

    name = "sklearn"

    def check(self, experiment: Spec) -> None:
        """Raise InvalidParameterError unless this engine can train ``experiment``."""
        if experiment.strategies:
            allowed = "torch or auto (strategies and classification need the torch engine)"
            raise invalid("engine", None, allowed, self.name)
        built = experiment.estimator.to_estimator()
        check_estimator(built)
        if experiment.stream.kind == "classification" and not is_classifier(built):
            raise invalid("estimator", None, "a classifier for a classification stream", experiment.estimator)

    def run_bytes(self, experiment: Spec) -> int:
        """:func:`~forgetlab.engines.base.estimate_run_bytes`."""
        return estimate_run_bytes(experiment)

    def max_seeds_per_batch(self, experiment: Spec) -> int:
        """1: scikit-learn trains one run at a time."""
        return 1

    def train(self, experiment: Spec, schedule: int, seeds: Sequence[int]) -> list[RunResult]:
        """One :func:`train_run` per seed, one after the other."""
        plan = experiment.schedules[schedule]
        return [
            train_run(experiment.estimator, experiment.stream, plan, seed, threads=experiment.n_threads)
            for seed in seeds
        ]


ENGINE = SklearnEngine()
