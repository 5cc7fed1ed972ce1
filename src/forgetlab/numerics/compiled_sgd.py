"""Minibatch Adam and SGD passes of one run's MLP, compiled: the continual trainer's arithmetic without PyTorch.

One call of :func:`train_pass` is, for one run, what one epoch of
:func:`forgetlab.engines.continual.train_continual` does for a strategy that only chooses the
samples (naive fine-tuning, joint, cumulative, experience replay, DER): the epoch's
minibatches, given as one array of sample indices and the bounds of each minibatch in it
(the stream's shuffled samples cut into minibatches of ``batch_size``, each perhaps extended
with replayed samples: :func:`minibatch_bounds` without), one optimiser step per minibatch
on the minibatch's mean loss (or, row by row, a weighted data term and the matching of
outputs stored in a memory the pass reads and writes: DER's, :func:`_output_delta`)

- regression (one identity output): :math:`\\frac{1}{2m}\\sum_i (\\hat y_i - y_i)^2`;
- classification (softmax output): :math:`-\\frac{1}{m}\\sum_i \\log p_{y_i}(x_i)` with the
  softmax over each sample's *active* output units (a row of ``mask_table``: task-IL the
  sample's task's classes, class-IL every class seen, domain-IL all), masked units getting
  probability and gradient 0;

plus scikit-learn's penalty :math:`\\frac{\\alpha}{2m}\\sum_l \\lVert W_l\\rVert^2`. The
gradient is :func:`forgetlab.numerics.mlp.backward`'s: :math:`a_{l-1}^\\top\\delta_l +
\\frac{\\alpha}{m} W_l` and :math:`\\sum_i \\delta_{l,i}` with the :math:`1/m` folded into the
output's :math:`\\delta`. The optimisers are :class:`forgetlab.numerics.sgd.Adam` and
:class:`~forgetlab.numerics.sgd.SGD` (constant learning rate, momentum, Nesterov) with their
operations in the same order, the scalars in the parameters' dtype.

Everything is one run's (its parameters, moments and minibatches); the model's layers are
those of :mod:`forgetlab.numerics.compiled_mlp` (the same packing and forward pass). A step
after which a parameter is not finite ends the pass and reports the run as diverged.

Optimisers are coded as integers (:data:`OPTIMIZER_CODES`); their state is one array
(:func:`optimizer_state`).
"""

from __future__ import annotations

import math

import numpy as np

from forgetlab.numerics.compiled_mlp import _backward, _forward, _workspace
from forgetlab.numerics.jit import compiled_any, kernel

__all__ = ["OPTIMIZER_CODES", "compile_kernels", "minibatch_bounds", "optimizer_state", "plain_roles", "train_pass"]

#: The integer code of each stochastic optimiser in the kernels.
OPTIMIZER_CODES = {"adam": 0, "sgd": 1}
_ADAM = OPTIMIZER_CODES["adam"]


def optimizer_state(optimizer: str, n_params: int, dtype: type) -> np.ndarray:
    """A fresh optimiser state for one run: Adam's moments (2, P), or SGD's velocities (1, P), zeros.

    Examples
    --------
    >>> optimizer_state("adam", 5, np.float32).shape, optimizer_state("sgd", 5, np.float32).shape
    ((2, 5), (1, 5))
    """
    return np.zeros((2 if optimizer == "adam" else 1, n_params), dtype=dtype)


def plain_roles(bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``roles`` and ``slots`` of :func:`train_pass` for plain minibatches: every row's loss, a mean.

    Examples
    --------
    >>> roles, slots = plain_roles(minibatch_bounds(3, 2))
    >>> roles.tolist(), slots.tolist()
    ([[2.0, 1.0, 0.0, 0.0], [2.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]], [[-1, -1], [-1, -1], [-1, -1]])
    """
    sizes = np.diff(bounds)
    roles = np.zeros((int(bounds[-1]), 4))
    roles[:, 0], roles[:, 1] = np.repeat(sizes, sizes), 1
    return roles, np.full((int(bounds[-1]), 2), -1, dtype=np.int64)


def minibatch_bounds(n: int, batch_size: int) -> np.ndarray:
    """Where each minibatch of ``n`` samples cut every ``batch_size`` starts, then ``n``: int64 (steps + 1,).

    Examples
    --------
    >>> minibatch_bounds(10, 4).tolist()
    [0, 4, 8, 10]
    """
    return np.append(np.arange(0, n, batch_size), n).astype(np.int64)


@kernel
def _output_delta(
    out: np.ndarray, rows: np.ndarray, labels: np.ndarray, targets: np.ndarray, classify: bool,
    mask_table: np.ndarray, mask_rows: np.ndarray, roles: np.ndarray, match: np.ndarray, memory: np.ndarray,
    delta: np.ndarray,
) -> None:  # fmt: skip
    """d loss / d output of a minibatch (samples ``rows`` of the stream) into ``delta``.

    Row ``i``'s data term is ``roles[i, 1]`` times the derivative of its loss over
    ``roles[i, 0]`` samples (a mean's: ``1 / count``); 0 skips it. If ``match[i] >= 0``, it
    adds ``roles[i, 3] * (roles[i, 2] * (out_i - memory[match[i]]))``, the derivative of
    matching stored outputs (DER's logits, every unit).
    """
    n_out = out.shape[1]
    dtype = out.dtype.type
    for i in range(out.shape[0]):
        count, scale = dtype(roles[i, 0]), dtype(roles[i, 1])
        if scale == 0:
            for k in range(n_out):
                delta[i, k] = 0
        elif not classify:
            total = dtype(roles[i, 0] * n_out)
            for k in range(n_out):
                delta[i, k] = (out[i, k] - targets[rows[i], k]) / total
        else:
            active = mask_table[mask_rows[rows[i]]]
            top = -np.inf
            for k in range(n_out):
                if active[k] and out[i, k] > top:
                    top = out[i, k]
            total = 0.0
            for k in range(n_out):
                if active[k]:
                    total += math.exp(float(out[i, k] - top))
            log_total = math.log(total)
            for k in range(n_out):
                if active[k]:
                    p = dtype(math.exp(float(out[i, k] - top) - log_total))
                    if k == labels[rows[i]]:
                        p -= 1
                    delta[i, k] = p / count
                else:
                    delta[i, k] = 0
        if scale != 0 and scale != 1:
            for k in range(n_out):
                delta[i, k] *= scale
        if match[i] >= 0:
            factor, weight = dtype(roles[i, 2]), dtype(roles[i, 3])
            for k in range(n_out):
                delta[i, k] += ((out[i, k] - memory[match[i], k]) * factor) * weight


@kernel
def _update(
    params: np.ndarray, grad: np.ndarray, state: np.ndarray, optimizer: int, step: int, settings: np.ndarray
) -> bool:
    """One optimiser step in place (``step``: Adam's t, from 1); True while every parameter is finite.

    ``settings`` (float64): learning rate, then Adam's beta_1, beta_2, epsilon or SGD's
    momentum and Nesterov flag.
    """
    dtype = params.dtype.type
    finite = True
    if optimizer == _ADAM:
        b1, b2 = settings[1], settings[2]
        rate = dtype(settings[0] * math.sqrt(1 - b2 ** float(step)) / (1 - b1 ** float(step)))
        beta1, beta2, eps = dtype(b1), dtype(b2), dtype(settings[3])
        keep1, keep2 = dtype(1 - b1), dtype(1 - b2)
        ms, vs = state[0], state[1]
        for i in range(params.shape[0]):
            g = grad[i]
            ms[i] = ms[i] * beta1 + g * keep1
            vs[i] = vs[i] * beta2 + (g * g) * keep2
            params[i] += (-rate * ms[i]) / (math.sqrt(vs[i]) + eps)
            finite &= math.isfinite(params[i])
    else:
        rate, momentum, nesterov = dtype(settings[0]), dtype(settings[1]), settings[2] != 0
        velocities = state[0]
        for i in range(params.shape[0]):
            scaled = rate * grad[i]
            velocities[i] = velocities[i] * momentum - scaled
            params[i] += velocities[i] * momentum - scaled if nesterov else velocities[i]
            finite &= math.isfinite(params[i])
    return finite


@kernel
def _step(
    params: np.ndarray, x: np.ndarray, rows: np.ndarray, labels: np.ndarray, targets: np.ndarray, classify: bool,
    mask_table: np.ndarray, mask_rows: np.ndarray, roles: np.ndarray, slots: np.ndarray, memory: np.ndarray,
    units: np.ndarray, activation: int, alpha: float, acts: list, deltas: list, grad: np.ndarray, state: np.ndarray,
    optimizer: int, step: int, settings: np.ndarray,
) -> bool:  # fmt: skip
    """One minibatch (stream samples ``rows``): forward, delta, gradient, update, memory writes; True if finite."""
    batch = acts[0]
    for i in range(rows.shape[0]):
        batch[i] = x[rows[i]]
    _forward(params, units, activation, acts)
    out = acts[units.shape[0] - 1]
    _output_delta(out, rows, labels, targets, classify, mask_table, mask_rows, roles, slots[:, 0], memory, deltas[-1])
    scale = np.empty(2, params.dtype)  # the decay alpha / m; the 1 / m is in the output's delta
    scale[0], scale[1] = alpha / rows.shape[0], 1
    _backward(params, units, activation, scale, acts, deltas, grad)
    finite = _update(params, grad, state, optimizer, step, settings)
    for i in range(rows.shape[0]):  # the outputs before the step, in row order (the last write stays)
        if slots[i, 1] >= 0:
            memory[slots[i, 1]] = out[i]
    return finite


@kernel
def train_pass(
    params: np.ndarray, state: np.ndarray, steps_before: int, x: np.ndarray, labels: np.ndarray,
    targets: np.ndarray, classify: bool, mask_table: np.ndarray, mask_rows: np.ndarray, order: np.ndarray,
    bounds: np.ndarray, roles: np.ndarray, slots: np.ndarray, memory: np.ndarray, units: np.ndarray,
    activation: int, alpha: float, optimizer: int, settings: np.ndarray,
) -> tuple[int, bool]:  # fmt: skip
    """One epoch of minibatch steps of one run, in place; returns (steps taken, diverged).

    Parameters
    ----------
    params : ndarray of shape (P,)
        The run's parameters (:mod:`forgetlab.numerics.compiled_mlp`'s packing), updated.
    state : ndarray
        The optimiser's state (:func:`optimizer_state`), updated.
    steps_before : int
        Optimiser steps the run took before (Adam's bias correction counts on from it).
    x : ndarray of shape (N, d)
        Every training input of the stream, in the parameters' dtype (global indices).
    labels : int64 ndarray of shape (N,)
        Classification labels (unused for regression).
    targets : ndarray of shape (N, n_out)
        Regression targets in the parameters' dtype (unused for classification).
    classify : bool
        Softmax cross-entropy (True) or squared error.
    mask_table : bool ndarray of shape (K, C)
        Rows of active output units (classification).
    mask_rows : int64 ndarray of shape (N,)
        The row of ``mask_table`` each sample's loss uses.
    order : int64 ndarray of shape (n,)
        The epoch's minibatches one after the other (global indices).
    bounds : int64 ndarray of shape (steps + 1,)
        Minibatch ``s`` is ``order[bounds[s]:bounds[s + 1]]``; increasing, from 0 to ``n``.
    roles : float64 ndarray of shape (n, 4)
        How each row of ``order`` enters its minibatch's loss (:func:`_output_delta`): the
        count its data term is a mean over and that term's weight, then the factor and
        weight of matching stored outputs. A plain mean: ``(m, 1, 0, 0)`` for a minibatch
        of ``m`` (:func:`plain_roles`).
    slots : int64 ndarray of shape (n, 2)
        Per row, the ``memory`` row whose outputs it matches, then the ``memory`` row its
        outputs are written to after the step; -1 for none.
    memory : ndarray of shape (M, n_out)
        Stored outputs (DER's), in the parameters' dtype, read and written in place.
    units, activation, alpha
        The model (:func:`forgetlab.numerics.compiled_mlp.units_of`) and its penalty.
    optimizer : int
        :data:`OPTIMIZER_CODES`.
    settings : float64 ndarray
        The optimiser's settings (:func:`_update`).
    """
    grad = np.empty_like(params)
    width = 1
    acts, deltas = _workspace(np.empty((width, x.shape[1]), params.dtype), units)
    n_steps = bounds.shape[0] - 1
    for s in range(n_steps):
        start, stop = bounds[s], bounds[s + 1]
        if stop - start != width:  # a minibatch of another size: its own buffers
            width = stop - start
            acts, deltas = _workspace(np.empty((width, x.shape[1]), params.dtype), units)
        step = steps_before + s + 1
        finite = _step(params, x, order[start:stop], labels, targets, classify, mask_table, mask_rows,
                       roles[start:stop], slots[start:stop], memory, units, activation, alpha, acts, deltas, grad,
                       state, optimizer, step, settings)  # fmt: skip
        if not finite:
            return s + 1, True
    return n_steps, False


def compile_kernels(dtypes: tuple[str, ...] = ("float32", "float64")) -> bool:
    """Compile (or load from numba's cache) :func:`train_pass` for ``dtypes``; True if anything compiled.

    A tiny pass of each optimiser on a classification and a regression batch, with the
    argument types the engine passes.
    """
    units = np.array([2, 3, 2], dtype=np.int64)
    for dtype in dtypes:
        x = np.zeros((3, 2), dtype=dtype)
        labels = np.array([0, 1, 0], dtype=np.int64)
        targets = np.zeros((3, 2), dtype=dtype)
        table = np.ones((1, 2), dtype=np.bool_)
        mask_rows = np.zeros(3, dtype=np.int64)
        order = np.arange(3, dtype=np.int64)
        bounds = minibatch_bounds(3, 2)
        roles, slots = plain_roles(bounds)
        memory = np.zeros((1, 2), dtype=dtype)
        for optimizer, settings in (("adam", (1e-3, 0.9, 0.999, 1e-8)), ("sgd", (0.1, 0.9, 1.0))):
            for classify in (True, False):
                params = np.full(17, 0.5, dtype=dtype)
                state = optimizer_state(optimizer, 17, dtype)
                train_pass(params, state, 0, x, labels, targets, classify, table, mask_rows, order, bounds, roles,
                           slots, memory, units, 0,
                           1e-4, OPTIMIZER_CODES[optimizer], np.array(settings))  # fmt: skip
    return compiled_any(train_pass)
