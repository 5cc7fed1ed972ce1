"""Continual-learning training batched over runs: an MLP, a schedule, a strategy, many seeds.

For each seed, :func:`train_continual` trains one run of the MLP on the stream as the
schedule plans it, under a continual-learning strategy (:mod:`forgetlab.strategies`), and
scores every task's whole test set after every epoch. All runs of a batch are one set of
tensors (parameters (R, P)); a run's numbers do not depend on the other runs of its batch
beyond the rounding of the model's matrix products (:mod:`forgetlab.numerics.mlp`).

One epoch, per run:

1. the epoch's samples (the plan's parts, after the strategy's ``transform_plan``) are
   shuffled with the run's own RNG and cut into minibatches of ``batch_size`` (the last
   one smaller); minibatch boundaries are shared, the samples are the run's own;
2. each minibatch is one optimiser step (Adam or SGD, :mod:`forgetlab.numerics.sgd`) on the
   mean loss over the minibatch plus the strategy's terms, in the order of
   :mod:`forgetlab.strategies.base`: regression uses the squared error, classification
   the softmax cross-entropy over the scenario's training units
   (:meth:`~forgetlab.strategies.base.Context.train_mask`: task-IL each sample's task's
   classes, domain-IL all, class-IL every class seen so far); both with scikit-learn's
   penalty :math:`\\alpha \\lVert W \\rVert^2 / (2 m)` for a minibatch of :math:`m`;
3. if the epoch ends a phase (the newest task trained so far changes with the next epoch,
   or the plan ends) the strategy's ``end_phase``;
4. if the epoch is recorded (``record_every``: :func:`forgetlab.results.recorded_epochs`,
   which always includes the last epoch of each phase and of the plan), every task's whole
   test set is scored: R² for regression, accuracy for classification with the scenario's
   evaluation units (:meth:`~forgetlab.strategies.base.Context.eval_mask`: task-IL the
   task's classes, domain-IL all, class-IL every class seen so far plus the task's own).
   The other epochs are not scored at all (their scores are NaN): scoring changes no
   state, so a recorded epoch's scores are the same whatever ``record_every`` is.

The untrained model is scored the same way before the first epoch (for forward transfer).
A run whose parameters (or, at a scored epoch, test outputs) become non-finite is flagged
``diverged`` and frozen at its first non-finite parameters; its later scores are NaN and
the other runs are untouched. Parameters are checked after every step; test outputs only
where they are computed, so a run whose outputs overflow at an unscored epoch while its
parameters stay finite is flagged at the next scored epoch if they still overflow there.

Per run and shared: seed ``s`` draws the initial parameters (``RandomState(s)``, as
scikit-learn), the schedule's plan (its own ``RandomState(s)``, as the other engines), the
epoch shuffles (``run_rng(s, 1)``) and the strategy's random choices (its own
``run_rng(s, k)``); the stream, the model, the schedule's structure and the optimiser's
settings are shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from forgetlab.engines.estimators import OPTIMIZERS, check_estimator, model_spec, train_settings
from forgetlab.errors import invalid
from forgetlab.metrics import accuracy, r2_score
from forgetlab.numerics import sgd
from forgetlab.numerics.mlp import (
    DTYPES,
    MLPSpec,
    backward,
    classes_of,
    forward,
    init_params,
    non_finite_rows,
    output_loss,
    predict,
    weight_penalty,
)
from forgetlab.results import RunResult, describe_plan, phase_ends, recorded_epochs
from forgetlab.schedules import Epoch, Schedule, newest_tasks, phases
from forgetlab.strategies.base import (
    SHUFFLE_RNG,
    Context,
    Minibatch,
    Phase,
    Strategy,
    check_choice,
    check_number,
    run_rng,
)
from forgetlab.tasks import Stream
from forgetlab.validation import is_int

if TYPE_CHECKING:
    from forgetlab.engines.base import Spec

__all__ = [
    "ContinualResult",
    "check_estimator",
    "check_experiment",
    "model_spec",
    "train_continual",
    "train_settings",
]


@dataclass(frozen=True, kw_only=True, eq=False)
class ContinualResult(RunResult):
    """What one run of :func:`train_continual` produced: a :class:`RunResult` and more.

    ``schedule`` and ``scores`` (accuracy or R², per ``metric``) as for every engine;
    ``predictions`` are the final model's predicted labels (classification) or outputs;
    ``n_iter`` and ``n_fun`` count the optimiser steps of each epoch.

    Attributes
    ----------
    strategy : str
        The strategy's name.
    params : ndarray of shape (P,)
        The final parameters in the model's packing order (:class:`MLPSpec`), in the
        training dtype; a diverged run's are its first non-finite ones.
    """

    strategy: str
    params: np.ndarray


def _check(spec: MLPSpec, stream: Stream, schedule: Schedule, strategy: Strategy, seeds: list[int]) -> None:
    """Raise InvalidParameterError unless the pieces fit together."""
    owner = "train_continual"
    n_features = stream[0].x_train.shape[1]
    wanted = ("softmax", stream.n_classes) if stream.kind == "classification" else ("identity", 1)
    if spec.layer_units[0] != n_features or (spec.output, spec.n_outputs) != wanted:
        allowed = f"an MLPSpec with {n_features} inputs, output {wanted[0]!r} and {wanted[1]} output units"
        raise invalid("spec", f"{owner} on stream {stream.name!r}", allowed, spec)
    if not isinstance(strategy, Strategy):
        raise invalid("strategy", owner, "a Strategy (see forgetlab.strategies.make_strategy)", strategy)
    ok = all(is_int(s) and 0 <= s < 2**32 for s in seeds)
    if not seeds or not ok:
        raise invalid("seeds", owner, "a non-empty list of ints in [0, 2**32)", seeds)
    schedule.validate(stream.train_sizes, stream.task_names)
    strategy.validate(stream)


def _optimizer(
    name: str, n_runs: int, n_params: int, learning_rate: float, dtype: torch.dtype
) -> sgd.StochasticOptimizer:
    """Adam or SGD (scikit-learn's defaults otherwise: betas, momentum 0.9, Nesterov)."""
    return sgd.OPTIMIZERS[name](n_runs, n_params, learning_rate_init=learning_rate, dtype=dtype)


def _phases(context: Context, plan: list[Epoch]) -> tuple[np.ndarray, list[Phase | None]]:
    """The newest task trained up to each epoch, and the phase each epoch ends (None if it ends none)."""
    newest = newest_tasks(plan)
    ended: list[Phase | None] = [None] * len(plan)
    start = 0
    for number, end in enumerate(phase_ends(phases(plan))):
        tasks = tuple(sorted({t for epoch in plan[start : end + 1] for t, _ in epoch}))
        samples = np.concatenate([np.arange(context.offsets[t], context.offsets[t + 1]) for t in tasks])
        ended[end] = Phase(number=number, newest=int(newest[end]), tasks=tasks, samples=samples)
        start = end + 1
    return newest, ended


def _evaluate(
    context: Context, params: torch.Tensor, newest: int, test_x: list[torch.Tensor]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Every run's score on every task's test set, which runs gave non-finite outputs, and the predictions.

    Returns scores (R, T), bad (R,) and, per task, predictions (R, n_test): labels for
    classification (int64), outputs for regression (float64).
    """
    spec, stream = context.spec, context.stream
    scores, bad, predictions = [], np.zeros(params.shape[0], dtype=bool), []
    for j, (task, x) in enumerate(zip(stream.tasks, test_x, strict=True)):
        output = predict(spec, params, x)
        bad |= non_finite_rows(output).numpy()
        if stream.kind == "classification":
            labels = classes_of(output, context.eval_mask(j, newest)).numpy()
            scores.append(accuracy(task.y_test, labels))
            predictions.append(labels)
        else:
            output = output.double().numpy()
            with np.errstate(over="ignore", invalid="ignore"):  # huge outputs: flagged as divergence
                scores.append(r2_score(task.y_test, output))
            predictions.append(output)
    scores = np.stack(scores, axis=1)
    bad |= np.isinf(scores).any(axis=1)
    scores[bad] = np.nan
    return scores, bad, predictions


def _step(
    context: Context,
    strategy: Strategy,
    state: object,
    optimizer: sgd.StochasticOptimizer,
    params: torch.Tensor,
    index: np.ndarray,
    newest: int,
) -> np.ndarray:
    """One optimiser step of every run on the minibatch ``index`` (R, m); returns each run's loss (R,)."""
    spec = context.spec
    extended = strategy.extend_batch(state, index)
    x, y, tasks = context.gather(extended)
    batch = Minibatch(
        index=extended,
        x=x,
        y=y,
        tasks=tasks,
        mask=context.train_mask(tasks, newest),
        newest=newest,
        n_new=index.shape[1],
    )
    m = extended.shape[1]
    fwd = forward(spec, params, x)
    own = strategy.data_loss(state, batch, fwd.output)
    loss, d_output = output_loss(spec, fwd.output, y, batch.mask) if own is None else own
    extra = strategy.output_term(state, batch, fwd.output)
    if extra is not None:
        loss, d_output = loss + extra[0], d_output + extra[1]
    loss += (0.5 * spec.alpha / m) * weight_penalty(spec, params)
    grad = backward(spec, fwd, d_output, weight_decay=spec.alpha / m)
    for term in (strategy.penalty(state, params), strategy.input_term(state, batch, params)):
        if term is not None:
            loss, grad = loss + term[0], grad + term[1]
    grad = strategy.edit_gradient(state, batch, params, grad)
    before = params.clone() if strategy.uses_params_before else params
    optimizer.update(params, grad)
    strategy.after_step(state, before, params, grad)
    strategy.observe(state, index)
    return loss.double().numpy()


def _epoch_order(context: Context, shufflers: list[np.random.RandomState], epochs: list[Epoch]) -> np.ndarray:
    """Every run's epoch samples (global indices), shuffled with the run's own RNG: (R, n)."""
    return np.stack(
        [
            rng.permutation(np.concatenate([context.offsets[t] + idx for t, idx in epoch]))
            for rng, epoch in zip(shufflers, epochs, strict=True)
        ]
    )


def _train_pass(
    context: Context,
    strategy: Strategy,
    state: object,
    opt: sgd.StochasticOptimizer,
    params: torch.Tensor,
    order: np.ndarray,
    batch_size: int | str,
    newest: int,
    diverged: np.ndarray,
    frozen: torch.Tensor,
) -> np.ndarray:
    """One pass of minibatch steps over ``order``; returns each run's number of steps (R,).

    A run whose parameters become non-finite is flagged in ``diverged`` (edited in place)
    and frozen at its first non-finite parameters (kept in ``frozen``); ``params`` is
    edited in place.
    """
    n_runs, n_samples = order.shape
    size = sgd.minibatch_size(batch_size, n_samples)
    pass_loss = np.zeros(n_runs)
    n_steps = np.zeros(n_runs, dtype=np.int64)
    for start in range(0, n_samples, size):
        stop = min(start + size, n_samples)
        n_steps[~diverged] += 1
        pass_loss += _step(context, strategy, state, opt, params, order[:, start:stop], newest) * (stop - start)
        bad = non_finite_rows(params).numpy()
        if (bad & ~diverged).any():
            frozen[bad & ~diverged] = params[bad & ~diverged]
            diverged |= bad
        if diverged.any():
            params[diverged] = frozen[diverged]
    opt.end_pass(pass_loss / n_samples, n_samples)
    return n_steps


def train_continual(
    spec: MLPSpec,
    stream: Stream,
    schedule: Schedule,
    strategy: Strategy,
    seeds: Sequence[int],
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    batch_size: int | str = 128,
    dtype: str = "float32",
    record_every: int = 1,
) -> list[ContinualResult]:
    """Train one run per seed of ``schedule`` and ``strategy`` on ``stream``, all in one batch.

    Parameters
    ----------
    spec : MLPSpec
        The model (:func:`model_spec` builds one for a stream): a softmax output with a
        unit per class for classification, one identity output for regression.
    stream : Stream
        The tasks.
    schedule : Schedule
        Which samples each epoch trains on (shared structure, per-run samples).
    strategy : Strategy
        How old tasks are protected (:mod:`forgetlab.strategies`).
    seeds : sequence of int
        One run per seed, each in [0, 2**32).
    optimizer : {"adam", "sgd"}, default "adam"
        scikit-learn's Adam (betas 0.9, 0.999) or SGD (momentum 0.9, Nesterov).
    learning_rate : float, default 1e-3
        The initial learning rate, > 0.
    batch_size : int or "auto", default 128
        Stream samples per minibatch (clipped to the epoch's size; "auto" is
        ``min(200, n)``); a replay strategy adds its memory samples to these.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of parameters and data; scores are computed in float64.
    record_every : int, default 1
        Score the test sets after every ``record_every``-th epoch, the last epoch of each
        phase and the last epoch (:func:`~forgetlab.results.recorded_epochs`, the epochs a
        results table keeps: ``Experiment.record_every``); 1 scores every epoch. Shared
        by every run.

    Returns
    -------
    list of ContinualResult
        One per seed, in the order of ``seeds``; ``scores`` is NaN at the epochs not scored.

    Raises
    ------
    InvalidParameterError
        If a setting is not allowed or the spec, schedule or strategy do not fit the stream.

    Examples
    --------
    >>> from forgetlab.schedules import Sequential
    >>> from forgetlab.strategies import Naive
    >>> from forgetlab.tasks import split_digits
    >>> stream = split_digits("task", n_tasks=2)
    >>> spec = model_spec(stream, (20,))
    >>> results = train_continual(spec, stream, Sequential(epochs_per_task=(2, 2)), Naive(), [0, 1])
    >>> results[0].scores.shape, results[0].phase_ends.tolist(), results[0].metric
    ((4, 2), [1, 3], 'accuracy')

    Scoring every third epoch of a 3 + 4 epoch plan scores epochs 2 and 5 (the third and
    sixth), the end of the first phase (epoch 2) and the last (6); the others are NaN:

    >>> (result,) = train_continual(spec, stream, Sequential(epochs_per_task=(3, 4)), Naive(), [0], record_every=3)
    >>> np.flatnonzero(~np.isnan(result.scores[:, 0])).tolist()
    [2, 5, 6]
    """
    seeds = list(seeds)
    _check(spec, stream, schedule, strategy, seeds)
    check_choice(optimizer, "optimizer", "train_continual", OPTIMIZERS)
    check_number(learning_rate, "learning_rate", "train_continual", low=np.finfo(float).tiny)
    if batch_size != "auto":
        check_number(batch_size, "batch_size", "train_continual", low=1, integer=True)
    check_choice(dtype, "dtype", "train_continual", tuple(DTYPES))
    check_number(record_every, "record_every", "train_continual", low=1, integer=True)
    torch_dtype = DTYPES[dtype]

    n_runs, n_tasks = len(seeds), len(stream)
    context = Context.build(spec, stream, seeds, torch_dtype)
    plans = [
        strategy.transform_plan(schedule.plan(stream.train_sizes, np.random.RandomState(seed)), stream.train_sizes)
        for seed in seeds
    ]
    n_epochs = len(plans[0])
    newest, ended = _phases(context, plans[0])
    samples_seen, trained, phase = describe_plan(stream, plans[0])
    scored = np.zeros(n_epochs, dtype=bool)
    scored[recorded_epochs(trained, record_every)] = True
    scored[phase_ends(phase)] = True  # already there (a phase ends where the trained tasks change): made explicit
    shufflers = [run_rng(seed, SHUFFLE_RNG) for seed in seeds]
    test_x = [torch.from_numpy(task.x_test).to(torch_dtype) for task in stream.tasks]

    params = init_params(spec, seeds, dtype=torch_dtype)
    opt = _optimizer(optimizer, n_runs, spec.n_params, learning_rate, torch_dtype)
    state = strategy.start(context)
    initial_scores, diverged, _ = _evaluate(context, params, -1, test_x)
    frozen = params.clone()
    scores = np.full((n_runs, n_epochs, n_tasks), np.nan)
    n_iter = np.zeros((n_runs, n_epochs), dtype=np.int64)
    predictions: list[np.ndarray] = []
    for e in range(n_epochs):
        order = _epoch_order(context, shufflers, [plan[e] for plan in plans])
        n_iter[:, e] = _train_pass(
            context, strategy, state, opt, params, order, batch_size, int(newest[e]), diverged, frozen
        )
        if ended[e] is not None:
            strategy.end_phase(state, params, ended[e])
        if scored[e]:
            epoch_scores, bad, predictions = _evaluate(context, params, int(newest[e]), test_x)
            diverged |= bad
            scores[~diverged, e] = epoch_scores[~diverged]

    return [
        ContinualResult(
            seed=seed,
            schedule=schedule.name,
            strategy=strategy.name,
            metric="accuracy" if stream.kind == "classification" else "r2",
            scores=scores[r],
            initial_scores=initial_scores[r],
            phase=phase,
            params=params[r].numpy().copy(),
            samples_seen=samples_seen,
            trained=trained,
            n_iter=n_iter[r],
            n_fun=n_iter[r],
            predictions=[out[r] if not diverged[r] else np.full(out.shape[1], np.nan) for out in predictions],
            diverged=bool(diverged[r]),
        )
        for r, seed in enumerate(seeds)
    ]


def check_experiment(experiment: Spec) -> None:
    """Raise InvalidParameterError unless this trainer can train ``experiment``'s model.

    The estimator must describe a model it knows (:func:`check_estimator`); the strategies
    were validated against the stream by the experiment.
    """
    check_estimator(experiment.estimator)
