"""scikit-learn's MLP regressor for one run, compiled: initialisation, loss and gradient, and a complete L-BFGS fit.

The model and its packing are those of :mod:`forgetlab.numerics.mlp` (``MLPRegressor``'s):
the parameters of one run are one flat vector (P,), every layer's weights (fan_in x fan_out,
row major) then every layer's biases; hidden activations relu, tanh, logistic or identity,
a linear output, and the loss

.. math:: L = \\frac{1}{2 n\\,n_{out}}\\sum_{i,k} (\\hat y_{ik} - y_{ik})^2
          + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert_F^2

(biases not penalised), with scikit-learn's backward pass: delta_L = (y_hat - y) / n_out (scikit-learn
omits the 1 / n_out, so its gradient is that of its loss only for one output, the engine's case),
dL/dW_l = (A_l' delta_l + alpha W_l) / n, dL/db_l = mean of delta_l over the samples,
delta_{l-1} = (delta_l W_l') * f'(A_l).

Everything here is for one run (one parameter vector, its own batch): nothing is shared
between runs but the architecture, so a run's numbers do not depend on what else runs. The
matrix products are ``np.dot`` on contiguous 2-D arrays (BLAS ``gemm``, in the dtype of the
parameters); the loss is accumulated in float64 whatever the dtype (the residuals and the
weights are rounded to the dtype first), so that L-BFGS's relative-reduction test sees f
without the float32 rounding of a long sum. :func:`fit` runs a complete L-BFGS
(:mod:`forgetlab.numerics.compiled_lbfgs`) in one compiled loop: weights, activations and
the optimiser's history stay in cache.

Activations are coded as integers (:data:`ACTIVATION_CODES`).

References
----------
.. [1] X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
   neural networks", AISTATS, 2010 (the initialisation).
.. [2] D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large scale
   optimization", Math. Programming 45, 503-528, 1989.
"""

from __future__ import annotations

import numpy as np

from forgetlab.numerics import morethuente
from forgetlab.numerics.compiled_lbfgs import EPS, EVALUATE, GS, TRIAL, lbfgs_iterate, lbfgs_start, state_arrays
from forgetlab.numerics.jit import compiled_any, kernel
from forgetlab.numerics.spec import ACTIVATIONS, MLPSpec

__all__ = ["ACTIVATION_CODES", "fit", "init_params", "loss_and_grad", "predict", "units_of"]

#: The integer code of each hidden activation in the compiled kernels.
ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
_RELU, _TANH, _LOGISTIC = ACTIVATION_CODES["relu"], ACTIVATION_CODES["tanh"], ACTIVATION_CODES["logistic"]


def units_of(spec: MLPSpec) -> tuple[np.ndarray, int]:
    """The kernels' description of ``spec``: its layer units as int64 and its activation code.

    Examples
    --------
    >>> units, code = units_of(MLPSpec(layer_units=(1, 100, 100, 1), activation="tanh"))
    >>> units.tolist(), code
    ([1, 100, 100, 1], 1)
    """
    return np.asarray(spec.layer_units, dtype=np.int64), ACTIVATION_CODES[spec.activation]


def init_params(spec: MLPSpec, seed: int, *, dtype: type = np.float32) -> np.ndarray:
    """One run's initial parameters (P,), the very numbers ``MLPRegressor(random_state=seed)`` draws.

    ``RandomState(seed)`` draws every layer's weights then its biases from
    ``uniform(-b, b)``, b = sqrt(f / (fan_in + fan_out)) (f = 2 for logistic, 6 otherwise),
    layer by layer, in float64; they are then cast to ``dtype``.

    Examples
    --------
    >>> init_params(MLPSpec(layer_units=(1, 3, 1)), 0).shape
    (10,)
    """
    factor = 2.0 if spec.activation == "logistic" else 6.0
    rng = np.random.RandomState(seed)
    weights, biases = [], []
    for fan_in, fan_out in spec.shapes:
        bound = np.sqrt(factor / (fan_in + fan_out))
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).ravel())
        biases.append(rng.uniform(-bound, bound, fan_out))
    return np.concatenate(weights + biases).astype(dtype)


@kernel
def _weights(params: np.ndarray, units: np.ndarray, layer: int) -> np.ndarray:
    """Layer ``layer``'s weights (fan_in, fan_out), a view of ``params``."""
    start = 0
    for k in range(layer):
        start += units[k] * units[k + 1]
    return params[start : start + units[layer] * units[layer + 1]].reshape((units[layer], units[layer + 1]))


@kernel
def _bias_start(units: np.ndarray, layer: int) -> int:
    """Where layer ``layer``'s biases start in the packing."""
    start = 0
    for k in range(units.shape[0] - 1):
        start += units[k] * units[k + 1]
    for k in range(layer):
        start += units[k + 1]
    return start


@kernel
def _forward(params: np.ndarray, units: np.ndarray, activation: int, acts: list) -> None:
    """Every layer's output into ``acts`` (acts[0] is the input; the last layer is linear)."""
    n_layers = units.shape[0] - 1
    for layer in range(n_layers):
        out = acts[layer + 1]
        np.dot(acts[layer], _weights(params, units, layer), out)
        b = params[_bias_start(units, layer) : _bias_start(units, layer) + units[layer + 1]]
        hidden = layer < n_layers - 1
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                z = out[i, j] + b[j]
                if hidden:
                    if activation == _RELU:
                        z = max(z, 0.0)
                    elif activation == _TANH:
                        z = np.tanh(z)
                    elif activation == _LOGISTIC:
                        z = 1.0 / (1.0 + np.exp(-z))
                out[i, j] = z


@kernel
def _workspace(x: np.ndarray, units: np.ndarray) -> tuple[list, list]:
    """Activations (acts[0] = ``x``) and deltas of every layer for a batch ``x``, in ``x``'s dtype."""
    acts = [x]
    deltas = []
    for layer in range(1, units.shape[0]):
        acts.append(np.empty((x.shape[0], units[layer]), x.dtype))
        deltas.append(np.empty((x.shape[0], units[layer]), x.dtype))
    return acts, deltas


@kernel
def _penalty(params: np.ndarray, units: np.ndarray) -> float:
    """Sum of the squared weights (float64)."""
    total = 0.0
    for i in range(_bias_start(units, 0)):
        w = float(params[i])
        total += w * w
    return total


@kernel
def _loss_grad(
    params: np.ndarray, y: np.ndarray, units: np.ndarray, activation: int, alpha: float, acts: list, deltas: list,
    grad: np.ndarray,
) -> float:  # fmt: skip
    """The loss (float64) at ``params``; its gradient into ``grad`` (see the module docstring)."""
    _forward(params, units, activation, acts)
    n_layers = units.shape[0] - 1
    n = acts[0].shape[0]
    out, last = acts[n_layers], deltas[n_layers - 1]
    squares = 0.0
    n_out = out.shape[1]
    for i in range(n):
        for k in range(n_out):
            r = out[i, k] - y[i, k]
            last[i, k] = r if n_out == 1 else r / n_out
            squares += float(r) * float(r)
    loss = squares / (n * out.shape[1]) / 2.0 + 0.5 * alpha * _penalty(params, units) / n
    scale = np.empty(2, params.dtype)
    scale[0], scale[1] = alpha, n
    _backward(params, units, activation, scale, acts, deltas, grad)
    return loss


@kernel
def _backward(
    params: np.ndarray, units: np.ndarray, activation: int, scale: np.ndarray, acts: list, deltas: list,
    grad: np.ndarray,
) -> None:  # fmt: skip
    """The gradient into ``grad`` from the output layer's delta (``deltas[-1]``), after a forward pass into ``acts``.

    dW_l = (A_l' delta_l + scale[0] W_l) / scale[1] and db_l = (sum of delta_l over the
    samples) / scale[1], in the parameters' dtype (``scale`` is of that dtype): scikit-learn's
    ``alpha`` and ``n`` for its loss, or the decay ``alpha / m`` and 1 when the output's
    delta already holds the 1 / m of a mean (:mod:`forgetlab.numerics.compiled_sgd`).
    """
    n_layers = units.shape[0] - 1
    n = acts[0].shape[0]
    a, count = scale[0], scale[1]
    for layer in range(n_layers - 1, -1, -1):
        delta, w = deltas[layer], _weights(params, units, layer)
        gw = _weights(grad, units, layer)
        np.dot(acts[layer].T, delta, gw)
        for i in range(gw.shape[0]):
            for j in range(gw.shape[1]):
                gw[i, j] = (gw[i, j] + a * w[i, j]) / count
        start = _bias_start(units, layer)
        for j in range(delta.shape[1]):
            total = delta[0, j]
            for i in range(1, n):
                total += delta[i, j]
            grad[start + j] = total / count
        if layer > 0:
            below, h = deltas[layer - 1], acts[layer]
            np.dot(delta, w.T, below)
            _derivative(h, below, activation)


@kernel
def _derivative(h: np.ndarray, delta: np.ndarray, activation: int) -> None:
    """delta *= f'(z) in place, from the activation's output h (scikit-learn's in-place derivatives)."""
    for i in range(h.shape[0]):
        for j in range(h.shape[1]):
            if activation == _RELU:
                if h[i, j] == 0:
                    delta[i, j] = 0
            elif activation == _TANH:
                delta[i, j] *= 1 - h[i, j] * h[i, j]
            elif activation == _LOGISTIC:
                delta[i, j] *= h[i, j] * (1 - h[i, j])


@kernel
def loss_and_grad(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, units: np.ndarray, activation: int, alpha: float
) -> tuple[float, np.ndarray]:
    """The loss and its gradient for one run: params (P,), x (n, d), y (n, n_out), all of one dtype.

    Examples
    --------
    >>> spec = MLPSpec(layer_units=(1, 4, 1))
    >>> units, code = units_of(spec)
    >>> x, y = np.zeros((3, 1)), np.ones((3, 1))
    >>> loss, grad = loss_and_grad(init_params(spec, 0, dtype=np.float64), x, y, units, code, 1e-4)
    >>> grad.shape
    (13,)
    """
    acts, deltas = _workspace(x, units)
    grad = np.empty_like(params)
    return _loss_grad(params, y, units, activation, alpha, acts, deltas, grad), grad


@kernel
def predict(params: np.ndarray, x: np.ndarray, units: np.ndarray, activation: int) -> np.ndarray:
    """The outputs (n, n_out) of one run for inputs x (n, d) of the parameters' dtype."""
    acts, _ = _workspace(x, units)
    _forward(params, units, activation, acts)
    return acts[units.shape[0] - 1]


@kernel
def fit(
    params: np.ndarray, x: np.ndarray, y: np.ndarray, units: np.ndarray, activation: int, alpha: float,
    max_iter: int, max_fun: int, gtol: float, ftol: float, history: int, max_line_search: int,
) -> tuple[int, int, int]:  # fmt: skip
    """A complete L-BFGS fit of one run from ``params`` (P,), updated in place; returns (n_iter, n_fun, status).

    What one ``MLPRegressor(solver="lbfgs").partial_fit(x, y)`` does: ``scipy.optimize.minimize``
    with ``maxiter=max_iter, maxfun=max_fun, gtol=tol`` (here ``gtol``), SciPy's default
    ``ftol`` and ``maxcor``, ``maxls`` = 20, from the current weights, with the rules of
    :mod:`forgetlab.numerics.compiled_lbfgs`. ``x`` (n, d) and ``y`` (n, n_out) have the
    parameters' dtype. The status is a code of :class:`forgetlab.numerics.lbfgs.Status`
    (``DIVERGED`` = 5: the loss or gradient became non-finite; ``params`` then hold the last
    accepted point).
    """
    vectors, scalars, counters = state_arrays(params, history)
    acts, deltas = _workspace(x, units)
    tol = (ftol / EPS) * EPS
    status = lbfgs_start(vectors, scalars, counters, params)
    while status == EVALUATE:
        f = _loss_grad(vectors[TRIAL], y, units, activation, alpha, acts, deltas, vectors[GS])
        status = lbfgs_iterate(vectors, scalars, counters, f, max_iter, max_fun, gtol, tol, max_line_search)
    params[:] = vectors[-7]
    return counters[0], counters[1], status


def compile_kernels(dtypes: tuple[str, ...] = ("float32", "float64")) -> bool:
    """Compile (or load from numba's cache) every kernel for ``dtypes``; True if anything compiled.

    A tiny fit in each dtype, with the argument types the engine passes, so that later calls
    find the machine code ready, and the batched line search the torch engine's L-BFGS calls
    (:mod:`forgetlab.numerics.morethuente`). The first call also loads the BLAS that
    ``np.dot`` uses (SciPy's OpenBLAS), so that a thread limit set afterwards applies to it.
    """
    units = np.array([1, 2, 1], dtype=np.int64)
    for dtype in dtypes:
        x = np.zeros((3, 1), dtype=dtype)
        params = np.full(7, 0.5, dtype=dtype)
        fit(params, x, x + 1, units, 0, 1e-4, 2, 15000, 1e-4, 2.220446049250313e-09, 10, 20)
        predict(params, x, units, 0)
    searches = morethuente.compile_searches()
    return searches or compiled_any(fit, predict)
