"""The compiled engine's continual trainer: one run at a time, its minibatch steps in compiled loops.

:func:`train_run` trains one run of what :func:`forgetlab.engines.continual.train_continual`
trains, for the strategies that only choose the samples and weigh them (:attr:`Strategy.index_only
<forgetlab.strategies.base.Strategy.index_only>`: naive fine-tuning, joint, cumulative,
experience replay, DER and DER++, whose hooks are called here on indices alone), with the
same rules:

- seed ``s`` draws the initial parameters (``RandomState(s)``, as scikit-learn), the
  schedule's plan (its own ``RandomState(s)``) and the epoch shuffles
  (``run_rng(s, 1)``: the epoch's samples permuted, then cut into minibatches);
- each minibatch (the stream's samples, then those ``extend_batch`` appends; ``observe``
  then sees the stream's) is one Adam or SGD step on its mean loss, or on the loss its rows'
  roles say (:meth:`Strategy.step_roles <forgetlab.strategies.base.Strategy.step_roles>`:
  DER's stored outputs, kept here per run) (:mod:`forgetlab.numerics.compiled_sgd`:
  squared error, or the softmax cross-entropy over the scenario's training units: task-IL
  each sample's task's classes, class-IL every class seen so far, domain-IL all);
- the untrained model and every recorded epoch (``record_every``; always the last epoch of
  each phase) are scored on every task's whole test set: R², or accuracy over the
  scenario's evaluation units (:meth:`forgetlab.tasks.Stream.eval_classes`);
- a run whose parameters become non-finite, or whose test outputs do, is flagged
  ``diverged``: its later scores and its predictions are NaN.

The arithmetic differs from the batched torch trainer's only in rounding (the order of a
matrix product's sums, the softmax computed in float64): in float64 the two agree to many
digits (``tests/test_compiled_continual.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from forgetlab.metrics import accuracy, r2_score
from forgetlab.numerics.spec import SOLVER_DEFAULTS, MLPSpec, minibatch_size
from forgetlab.results import RunResult, describe_plan, phase_ends, recorded_epochs
from forgetlab.schedules import Schedule, newest_tasks
from forgetlab.strategies.base import SHUFFLE_RNG, Context, Strategy, run_rng
from forgetlab.tasks import Stream

__all__ = ["train_run"]

_DTYPES = {"float32": np.float32, "float64": np.float64}


def _units_mask(n_outputs: int, classes: Sequence[int] | None) -> np.ndarray:
    """A boolean mask (C,) of ``classes``, every unit for None."""
    mask = np.ones(n_outputs, dtype=bool) if classes is None else np.zeros(n_outputs, dtype=bool)
    if classes is not None:
        mask[list(classes)] = True
    return mask


def _score(
    stream: Stream, params: np.ndarray, units: np.ndarray, code: int, newest: int, test_x: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """Every task's score, the predictions (labels or float64 outputs) and whether any output was not finite."""
    from forgetlab.numerics import compiled_mlp

    scores, predictions, bad = [], [], False
    for j, (task, x) in enumerate(zip(stream.tasks, test_x, strict=True)):
        output = compiled_mlp.predict(params, x, units, code)
        bad |= not np.isfinite(output).all()
        if stream.kind == "classification":
            allowed = _units_mask(output.shape[1], stream.eval_classes(j, newest))
            labels = np.where(allowed, output, -np.inf).argmax(axis=1)
            scores.append(float(accuracy(task.y_test, labels)))
            predictions.append(labels)
        else:
            output = output[:, 0].astype(np.float64)
            with np.errstate(over="ignore", invalid="ignore"):  # huge outputs: flagged as divergence
                scores.append(float(r2_score(task.y_test, output)))
            predictions.append(output)
    scores = np.array(scores)
    return scores, predictions, bad or bool(np.isinf(scores).any())


def _minibatches(
    strategy: Strategy, state: object, order: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The epoch's minibatches of ``size`` stream samples, as the strategy extends them: indices, bounds, roles, slots.

    The hooks see one run (a leading axis of 1) in the torch trainer's order: each
    minibatch's ``extend_batch``, then its ``observe``, then :meth:`Strategy.step_roles`
    (how its rows enter the loss: a plain mean unless the strategy says otherwise). They
    read indices only, so the whole epoch is drawn before it trains
    (:func:`forgetlab.numerics.compiled_sgd.train_pass` takes the four arrays).
    """
    from forgetlab.numerics.compiled_sgd import minibatch_bounds, plain_roles

    cuts = minibatch_bounds(len(order), size)
    if state is None:  # a plan-only strategy: the minibatches as cut
        return order, cuts, *plain_roles(cuts)
    parts, roles, slots = [], [], []
    for start, stop in itertools.pairwise(cuts):
        index = order[None, start:stop]
        part = strategy.extend_batch(state, index)[0]
        strategy.observe(state, index)
        own = strategy.step_roles(state, stop - start, len(part))
        plain = plain_roles(np.array([0, len(part)])) if own is None else own
        parts.append(part)
        roles.append(plain[0])
        slots.append(plain[1])
    bounds = np.concatenate([[0], np.cumsum([len(part) for part in parts])]).astype(np.int64)
    return np.concatenate(parts).astype(np.int64), bounds, np.concatenate(roles), np.concatenate(slots)


def train_run(
    spec: MLPSpec,
    stream: Stream,
    schedule: Schedule,
    strategy: Strategy,
    seed: int,
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    batch_size: int | str = 128,
    dtype: str = "float32",
    record_every: int = 1,
) -> RunResult:
    """Train one run of ``schedule`` and an index-only ``strategy`` on ``stream``, alone, in compiled loops.

    The arguments are those of :func:`forgetlab.engines.continual.train_continual` for one
    seed (validated by the caller: the experiment); the strategy must be index-only
    (:attr:`~forgetlab.strategies.base.Strategy.index_only`).

    Returns
    -------
    RunResult
        With ``metric`` (accuracy or R²), ``initial_scores`` (the untrained model's) and
        NaN scores at the epochs not recorded.

    Examples
    --------
    >>> from forgetlab.schedules import Sequential
    >>> from forgetlab.strategies import Naive
    >>> from forgetlab.tasks import split_digits
    >>> stream = split_digits("task", n_tasks=2)
    >>> spec = MLPSpec(layer_units=(64, 20, 10), output="softmax")
    >>> result = train_run(spec, stream, Sequential(epochs_per_task=(2, 2)), Naive(), 0)
    >>> result.scores.shape, result.phase_ends.tolist(), result.metric
    ((4, 2), [1, 3], 'accuracy')
    """
    from forgetlab.numerics import compiled_mlp, compiled_sgd

    if not strategy.index_only:
        raise ValueError(f"the compiled continual trainer trains index-only strategies, not {strategy.name!r}")
    np_dtype = _DTYPES[dtype]
    classify = stream.kind == "classification"
    units, code = compiled_mlp.units_of(spec)
    n_outputs = spec.n_outputs
    x = np.ascontiguousarray(np.concatenate([t.x_train for t in stream.tasks]), dtype=np_dtype)
    y = np.concatenate([t.y_train for t in stream.tasks])
    labels = y.astype(np.int64) if classify else np.zeros(len(y), dtype=np.int64)
    targets = np.zeros((len(y), 1), dtype=np_dtype) if classify else y.astype(np_dtype).reshape(-1, 1)
    offsets = np.concatenate([[0], np.cumsum(stream.train_sizes)]).astype(np.int64)
    task_of = np.repeat(np.arange(len(stream)), stream.train_sizes).astype(np.int64)
    if classify and stream.scenario != "domain":  # a row per task: the classes active once it is trained
        table = np.stack([_units_mask(n_outputs, stream.active_classes(t)) for t in range(len(stream))])
    else:  # one row: every unit
        table = np.ones((1, n_outputs), dtype=bool)
    test_x = [np.ascontiguousarray(t.x_test, dtype=np_dtype) for t in stream.tasks]

    plan = strategy.transform_plan(schedule.plan(stream.train_sizes, np.random.RandomState(seed)), stream.train_sizes)
    newest = newest_tasks(plan)
    samples_seen, trained, phase = describe_plan(stream, plan)
    scored = np.zeros(len(plan), dtype=bool)
    scored[recorded_epochs(trained, record_every)] = True
    scored[phase_ends(phase)] = True
    shuffler = run_rng(seed, SHUFFLE_RNG)
    hooks = None if strategy.plan_only else strategy.start(Context.build(spec, stream, [seed], None))
    memory = np.zeros((strategy.stored_outputs, n_outputs), dtype=np_dtype)
    params = compiled_mlp.init_params(spec, seed, dtype=np_dtype)
    state = compiled_sgd.optimizer_state(optimizer, params.shape[0], np_dtype)
    settings = np.array([learning_rate, *SOLVER_DEFAULTS[optimizer].values()], dtype=np.float64)
    opt_code = compiled_sgd.OPTIMIZER_CODES[optimizer]

    initial_scores, predictions, diverged = _score(stream, params, units, code, -1, test_x)
    scores = np.full((len(plan), len(stream)), np.nan)
    n_iter = np.zeros(len(plan), dtype=np.int64)
    steps = 0
    for e, epoch in enumerate(plan):
        if diverged:
            break
        order = shuffler.permutation(np.concatenate([offsets[t] + idx for t, idx in epoch])).astype(np.int64)
        # each sample's row of the table: task-IL its task's, class-IL the newest task's (every class seen)
        rows = task_of if stream.scenario == "task" else np.full(len(y), newest[e] if len(table) > 1 else 0)
        order, bounds, roles, slots = _minibatches(strategy, hooks, order, minibatch_size(batch_size, len(order)))
        n_iter[e], diverged = compiled_sgd.train_pass(
            params, state, steps, x, labels, targets, classify, table, rows, order, bounds, roles, slots, memory,
            units, code, float(spec.alpha), opt_code, settings,
        )  # fmt: skip
        steps += int(n_iter[e])
        if scored[e] and not diverged:
            scores[e], predictions, diverged = _score(stream, params, units, code, int(newest[e]), test_x)
            if diverged:
                scores[e] = np.nan
    return RunResult(
        seed=seed,
        schedule=schedule.name,
        scores=scores,
        samples_seen=samples_seen,
        trained=trained,
        phase=phase,
        n_iter=n_iter,
        n_fun=n_iter.copy(),
        metric="accuracy" if classify else "r2",
        initial_scores=initial_scores,
        predictions=[np.full(len(p), np.nan) for p in predictions] if diverged else predictions,
        diverged=diverged,
    )
