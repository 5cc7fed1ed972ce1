"""A multi-layer perceptron batched over independent runs, with scikit-learn's semantics.

All runs share the architecture; each run ``r`` has its own parameters, stored as one
flat tensor of shape (R, P) in scikit-learn's packing order (every layer's weights, row
major, then every layer's biases), so that optimisers see a plain (R, P) problem and a
run's parameter vector is exactly the one scikit-learn's L-BFGS optimises.

Per-run and shared arguments:

- ``params`` (R, P), inputs ``x`` (R, n, d) and targets ``y`` (R, n) are per run: each
  run trains on its own batch (its own sampled indices);
- test inputs for prediction may be shared, (n, d), and are broadcast over runs;
- ``MLPSpec`` is shared; initialisation uses one ``RandomState(seed)`` per run, drawn
  exactly as scikit-learn draws it, so a run's start does not depend on its batch.

The model follows ``sklearn.neural_network.MLPRegressor`` (``output="identity"``) and
``MLPClassifier`` with several classes (``output="softmax"``):

- activations relu, tanh, logistic or identity on hidden layers;
- regression: identity output and loss
  :math:`\\frac{1}{2n}\\sum_i (y_i - \\hat y_i)^2 + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert^2`
  (biases not penalised);
- classification: one logit per class and the softmax cross-entropy
  :math:`-\\frac{1}{n}\\sum_i \\log p_{y_i}(x_i) + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert^2`, where the
  softmax may be restricted to a mask of active output units (:func:`cross_entropy`);
- Glorot-uniform initialisation, bound :math:`\\sqrt{f/(\\text{fan}_{in}+\\text{fan}_{out})}`
  with ``f = 2`` for logistic and 6 otherwise, weights then biases, layer by layer.

References
----------
Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
networks", AISTATS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from forgetlab.errors import invalid
from forgetlab.numerics.spec import ACTIVATIONS, OUTPUTS, MLPSpec

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "OUTPUTS",
    "Forward",
    "MLPSpec",
    "absolute_sample_gradients",
    "backward",
    "baddbmm_runs",
    "bmm_runs",
    "classes_of",
    "cross_entropy",
    "forward",
    "init_params",
    "log_softmax",
    "loss_and_grad",
    "non_finite_rows",
    "output_loss",
    "predict",
    "predict_classes",
    "squared_error",
    "squared_sample_gradients",
    "torch_threads",
    "weight_penalty",
]

#: The arithmetic a trainer may use, by the name an experiment gives (``dtype``).
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` PyTorch intra-op threads, restored afterwards.

    Examples
    --------
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def init_params(spec: MLPSpec, seeds: list[int], *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Initial parameters of one run per seed, exactly as scikit-learn draws them.

    For each seed, ``RandomState(seed)`` draws every layer's weights then biases from
    ``uniform(-b, b)`` with ``b = sqrt(f / (fan_in + fan_out))`` (``f = 2`` for logistic,
    6 otherwise), layer by layer: the same numbers as ``MLPRegressor(random_state=seed)``.

    Parameters
    ----------
    spec : MLPSpec
        The architecture.
    seeds : list of int
        One run per seed; run ``r``'s parameters depend on ``seeds[r]`` only.
    dtype : torch.dtype, default torch.float32
        Parameters are drawn in float64 and cast.

    Returns
    -------
    Tensor of shape (len(seeds), spec.n_params)

    Examples
    --------
    >>> params = init_params(MLPSpec(layer_units=(1, 3, 1)), [0, 1])
    >>> tuple(params.shape)
    (2, 10)
    """
    factor = 2.0 if spec.activation == "logistic" else 6.0
    rows = []
    for seed in seeds:
        rng = np.random.RandomState(seed)
        weights, biases = [], []
        for fan_in, fan_out in spec.shapes:
            bound = np.sqrt(factor / (fan_in + fan_out))
            weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).ravel())
            biases.append(rng.uniform(-bound, bound, fan_out))
        rows.append(np.concatenate(weights + biases))
    return torch.from_numpy(np.stack(rows)).to(dtype)


def baddbmm_runs(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
    """``beta * bias + a @ b`` per run, with results that do not depend on the batch size.

    Measured with PyTorch 2.13 (MKL) on the tutorial's shapes: a batch of one is computed
    with another kernel than larger batches, and strided operands (views into the flat
    parameters, transposes) or ``out=`` into a strided view change the kernel too. So the
    operands are made contiguous, a batch of one is computed as a batch of two (stride-0
    expansion, no copy) and the first result kept, and results are copied, never written
    with ``out=``. Tiny layers remain batch-dependent at rounding level (tests/test_mlp.py).
    """
    if a.shape[0] == 1:
        expanded = bias.expand(2, *bias.shape[1:]), a.expand(2, -1, -1), b.expand(2, -1, -1)
        return torch.baddbmm(*expanded, beta=beta)[:1]
    return torch.baddbmm(bias, a, b, beta=beta)


def bmm_runs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` per run, independent of the batch size (see :func:`baddbmm_runs`)."""
    if a.shape[0] == 1:
        return torch.bmm(a.expand(2, -1, -1), b.expand(2, -1, -1))[:1]
    return torch.bmm(a, b)


def _activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    """Apply the hidden activation in place and return ``z``."""
    if activation == "relu":
        return z.clamp_(min=0)
    if activation == "tanh":
        return z.tanh_()
    if activation == "logistic":
        return z.sigmoid_()
    return z


def _derivative(a: torch.Tensor, delta: torch.Tensor, activation: str) -> torch.Tensor:
    """``delta`` times the activation's derivative, given the activation ``a``.

    PyTorch's fused backward kernels: one pass, many times faster than a mask and a fill.
    """
    if activation == "relu":
        return torch.ops.aten.threshold_backward(delta, a, 0.0)
    if activation == "tanh":
        return torch.ops.aten.tanh_backward(delta, a)
    if activation == "logistic":
        return torch.ops.aten.sigmoid_backward(delta, a)
    return delta


@dataclass(frozen=True, eq=False)
class Forward:
    """The forward pass of every run, kept for a backward pass.

    Attributes
    ----------
    weights : list of Tensor of shape (R, fan_in, fan_out)
        Contiguous copies of the layers' weights (every run's matrix 64-byte aligned, see
        :func:`baddbmm_runs`).
    activations : list of Tensor of shape (R, n, units)
        Every layer's output, the input first; the last is the network's output (the
        logits for a softmax output: the softmax is part of the loss).
    """

    weights: list[torch.Tensor]
    activations: list[torch.Tensor]

    @property
    def output(self) -> torch.Tensor:
        """The output layer, (R, n, n_outputs): predictions or class logits."""
        return self.activations[-1]


def forward(spec: MLPSpec, params: torch.Tensor, x: torch.Tensor) -> Forward:
    """Every layer's activations for every run.

    Parameters
    ----------
    spec : MLPSpec
        The architecture (shared).
    params : Tensor of shape (R, P)
        Per run.
    x : Tensor of shape (R, n, d) (per run) or (n, d) (shared by every run)
        Inputs.

    Returns
    -------
    Forward
        With the output (R, n, n_outputs) as ``.output``.
    """
    weights, biases = spec.views(params)
    weights = [w.contiguous() for w in weights]
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(weights[0].shape[0], -1, -1)
    activations = [x]
    last = len(weights) - 1
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = baddbmm_runs(b.unsqueeze(1), activations[-1], w)
        activations.append(z if layer == last else _activate(z, spec.activation))
    return Forward(weights=weights, activations=activations)


def _layer_errors(spec: MLPSpec, fwd: Forward, delta: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """``(layer, d loss / d pre-activation of that layer)`` per sample, from the output layer down.

    Each layer's error (R, n, fan_out) is propagated to the layer below only after the
    caller has used it (scikit-learn's order of operations).
    """
    for layer in range(len(fwd.weights) - 1, -1, -1):
        yield layer, delta
        if layer > 0:
            delta = bmm_runs(delta, fwd.weights[layer].transpose(1, 2))
            delta = _derivative(fwd.activations[layer], delta, spec.activation)


def backward(spec: MLPSpec, fwd: Forward, d_output: torch.Tensor, *, weight_decay: float = 0.0) -> torch.Tensor:
    """The gradient of a loss with respect to every run's parameters, from d loss / d output.

    Backpropagation with batched matrix products: with the error :math:`\\delta_L` =
    ``d_output`` at the output and :math:`\\delta_{l-1} = (\\delta_l W_l^\\top) \\odot
    \\sigma'(a_{l-1})`,

    .. math:: \\nabla_{W_l} = a_{l-1}^\\top \\delta_l + \\lambda W_l, \\qquad
              \\nabla_{b_l} = \\textstyle\\sum_i \\delta_{l,i},

    summed over the samples (fold any ``1/n`` into ``d_output``), with
    :math:`\\lambda` = ``weight_decay`` (``alpha / n`` for scikit-learn's penalty). Any loss
    of the outputs can be differentiated this way, e.g. a distillation term added to the
    cross-entropy's ``d_output``.

    Parameters
    ----------
    spec : MLPSpec
        The architecture (shared).
    fwd : Forward
        The forward pass at the parameters (per run).
    d_output : Tensor of shape (R, n, n_outputs)
        Per run and sample: d loss / d output (logits for a softmax output).
    weight_decay : float, default 0.0
        The factor of the weights added to their gradient (shared).

    Returns
    -------
    Tensor of shape (R, P)
        In the parameters' packing order.

    Examples
    --------
    >>> spec = MLPSpec(layer_units=(2, 3, 1))
    >>> params = init_params(spec, [0], dtype=torch.float64)
    >>> fwd = forward(spec, params, torch.ones(1, 4, 2, dtype=torch.float64))
    >>> tuple(backward(spec, fwd, torch.ones_like(fwd.output)).shape)
    (1, 13)
    """
    grad = torch.empty(d_output.shape[0], spec.n_params, dtype=d_output.dtype)
    grad_weights, grad_biases = spec.views(grad)
    for layer, delta in _layer_errors(spec, fwd, d_output):
        inputs = fwd.activations[layer].transpose(1, 2)
        grad_weights[layer].copy_(baddbmm_runs(fwd.weights[layer], inputs, delta, beta=weight_decay))
        grad_biases[layer].copy_(delta.sum(dim=1))
    return grad


def _sample_gradient_sums(
    spec: MLPSpec, fwd: Forward, d_output: torch.Tensor, elementwise: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """:math:`\\sum_i h(g_i)` for a multiplicative ``elementwise`` h (h(a b) = h(a) h(b)): square or abs.

    Sample :math:`i`'s weight gradient is the outer product :math:`a_{l-1,i} \\delta_{l,i}^\top`, so
    the sum is :math:`h(a_{l-1})^\top h(\\delta_l)`, and the biases' is :math:`\\sum_i h(\\delta_{l,i})`.
    """
    total = torch.empty(d_output.shape[0], spec.n_params, dtype=d_output.dtype)
    total_weights, total_biases = spec.views(total)
    for layer, delta in _layer_errors(spec, fwd, d_output):
        transformed = elementwise(delta)
        total_weights[layer].copy_(bmm_runs(elementwise(fwd.activations[layer]).transpose(1, 2), transformed))
        total_biases[layer].copy_(transformed.sum(dim=1))
    return total


def squared_sample_gradients(spec: MLPSpec, fwd: Forward, d_output: torch.Tensor) -> torch.Tensor:
    """The sum over samples of every per-sample gradient squared element-wise, in one pass.

    With per-sample output errors :math:`\\delta_{L,i}` (``d_output[:, i]``, the gradient
    of sample :math:`i`'s own loss), sample :math:`i`'s gradient of :math:`W_l` is the
    outer product :math:`a_{l-1,i} \\delta_{l,i}^\\top`, so

    .. math:: \\sum_i (\\nabla_{W_l} \\ell_i)^2 = (a_{l-1} \\odot a_{l-1})^\\top (\\delta_l \\odot \\delta_l),
              \\qquad \\sum_i (\\nabla_{b_l} \\ell_i)^2 = \\textstyle\\sum_i \\delta_{l,i}^2,

    without materialising the per-sample gradients: the diagonal of an (empirical) Fisher
    information matrix, as EWC needs it (Kirkpatrick et al. 2017).

    Parameters
    ----------
    spec : MLPSpec
        The architecture (shared).
    fwd : Forward
        The forward pass (per run).
    d_output : Tensor of shape (R, n, n_outputs)
        Per run and sample: d (that sample's loss) / d output, no ``1/n``.

    Returns
    -------
    Tensor of shape (R, P)
        :math:`\\sum_i g_i \\odot g_i`, in the parameters' packing order (no weight penalty).
    """
    return _sample_gradient_sums(spec, fwd, d_output, torch.square)


def absolute_sample_gradients(spec: MLPSpec, fwd: Forward, d_output: torch.Tensor) -> torch.Tensor:
    """The sum over samples of every per-sample gradient's absolute value, in one pass.

    Sample :math:`i`'s gradient of :math:`W_l` is the outer product
    :math:`a_{l-1,i} \\delta_{l,i}^\\top`, and :math:`|a\\,\\delta| = |a|\\,|\\delta|`, so

    .. math:: \\sum_i |\\nabla_{W_l} \\ell_i| = |a_{l-1}|^\\top |\\delta_l|,
              \\qquad \\sum_i |\\nabla_{b_l} \\ell_i| = \\textstyle\\sum_i |\\delta_{l,i}|

    (the absolute-value twin of :func:`squared_sample_gradients`,
    without materialising the per-sample gradients).

    Parameters
    ----------
    spec : MLPSpec
        The architecture (shared).
    fwd : Forward
        The forward pass (per run).
    d_output : Tensor of shape (R, n, n_outputs)
        Per run and sample: d (that sample's loss) / d output, no ``1/n``.

    Returns
    -------
    Tensor of shape (R, P)
        :math:`\\sum_i |g_i|`, in the parameters' packing order.
    """
    return _sample_gradient_sums(spec, fwd, d_output, torch.abs)


def non_finite_rows(t: torch.Tensor) -> torch.Tensor:
    """Which rows of ``t`` (R, ...) hold a NaN or an infinity: a bool tensor (R,).

    Exactly ``~torch.isfinite(t).all(dim=1)``, at the cost of a row sum: a row with a NaN or
    an infinity sums to a NaN or an infinity whatever the order of the additions, so only
    the rows whose sum is not finite (those, and finite rows whose sum overflows) are
    checked element by element. ``torch.isfinite`` and ``all`` cost about 40 row sums on the
    (16, 17,610) parameters of a batch of MLPs (PyTorch 2.13, one thread): it was a tenth of
    the continual trainer's step.

    Examples
    --------
    >>> t = torch.tensor([[1.0, 2.0], [3e38, 3e38], [1.0, float("nan")], [float("inf"), -1.0]])
    >>> non_finite_rows(t).tolist()
    [False, False, True, True]
    """
    flat = t.flatten(1)
    suspect = ~torch.isfinite(flat.sum(dim=1))
    if suspect.any():
        suspect[suspect.clone()] = ~torch.isfinite(flat[suspect]).all(dim=1)
    return suspect


def weight_penalty(spec: MLPSpec, params: torch.Tensor) -> torch.Tensor:
    """:math:`\\sum_l \\lVert W_l \\rVert_F^2` of every run (biases excluded), shape (R,)."""
    flat_weights = params[:, : spec.n_weights]
    return torch.linalg.vecdot(flat_weights, flat_weights)


def squared_error(output: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the mean squared error of every run and its derivative with respect to the outputs.

    .. math:: L = \\frac{1}{2 n\\, n_{out}} \\sum_i \\lVert y_i - \\hat y_i \\rVert^2, \\qquad
              \\frac{\\partial L}{\\partial \\hat y_i} = \\frac{\\hat y_i - y_i}{n\\, n_{out}}

    Parameters
    ----------
    output : Tensor of shape (R, n, n_outputs)
        Per run.
    y : Tensor of shape (R, n) or (R, n, n_outputs)
        Per-run targets.

    Returns
    -------
    loss : Tensor of shape (R,)
    d_output : Tensor of shape (R, n, n_outputs)
    """
    n = output.shape[1]
    target = y.unsqueeze(-1) if y.dim() == 2 else y
    delta = output - target
    loss = 0.5 * torch.linalg.vecdot(delta.flatten(1), delta.flatten(1)) / delta[0].numel()
    return loss, delta.div_(n * delta.shape[-1])


def _full_mask(mask: torch.Tensor, logits: torch.Tensor, owner: str) -> torch.Tensor:
    """``mask`` of shape (C,), (R, C) or (R, n, C) broadcast to the logits' (R, n, C)."""
    if mask.dtype != torch.bool or mask.dim() not in (1, 2, 3) or mask.shape[-1] != logits.shape[-1]:
        allowed = f"a bool tensor of shape (C,), (R, C) or (R, n, C) with C = {logits.shape[-1]}"
        raise invalid("mask", owner, allowed, f"{mask.dtype} tensor of shape {tuple(mask.shape)}")
    if mask.dim() == 2:
        mask = mask.unsqueeze(1)
    return mask.expand_as(logits)


def log_softmax(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Log-probabilities of the classes, the softmax restricted to the active units.

    .. math:: \\log p_c = z_c - m - \\log \\sum_{k\\ \\text{active}} e^{z_k - m}, \\quad
              m = \\max_{k\\ \\text{active}} z_k

    (stable: no exponent is positive); masked units get :math:`\\log p_c = -\\infty`.

    Parameters
    ----------
    logits : Tensor of shape (R, n, C)
        Per run and sample.
    mask : bool Tensor of shape (C,), (R, C) or (R, n, C), optional
        True for the active units (shared, per run or per sample); default all.

    Returns
    -------
    Tensor of shape (R, n, C)

    Examples
    --------
    >>> logits = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64)
    >>> log_softmax(logits, torch.tensor([True, True, False])).exp().round(decimals=4).tolist()
    [[[0.2689, 0.7311, 0.0]]]
    """
    if mask is not None:
        logits = logits.masked_fill(~_full_mask(mask, logits, "log_softmax"), -torch.inf)
    return torch.log_softmax(logits, dim=-1)


def cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean softmax cross-entropy of every run and its derivative with respect to the logits.

    .. math:: L = -\\frac{1}{n} \\sum_i \\log p_{y_i}(x_i), \\qquad
              \\frac{\\partial L}{\\partial z_{i,c}} = \\frac{p_c(x_i) - [c = y_i]}{n}

    with :math:`p` the softmax over the active units (:func:`log_softmax`): a masked unit
    has probability 0 and gradient 0, as if the network did not have it.

    Parameters
    ----------
    logits : Tensor of shape (R, n, C)
        Per run and sample.
    y : int64 Tensor of shape (R, n)
        Per-run labels in ``[0, C)``; each must be an active unit of its sample.
    mask : bool Tensor of shape (C,), (R, C) or (R, n, C), optional
        True for the active units: shared, per run or per sample (e.g. each sample's own
        task's classes); default all units.

    Returns
    -------
    loss : Tensor of shape (R,)
    d_logits : Tensor of shape (R, n, C)

    Raises
    ------
    InvalidParameterError
        If ``mask`` has the wrong shape or dtype, or masks out a sample's label.

    Examples
    --------
    >>> logits = torch.zeros(1, 2, 4, dtype=torch.float64)
    >>> loss, d = cross_entropy(logits, torch.tensor([[0, 1]]), torch.tensor([True, True, False, False]))
    >>> round(float(loss[0]), 6), d[0, 0].tolist()  # log 2; two active units share the probability
    (0.693147, [-0.25, 0.25, 0.0, 0.0])
    """
    n = logits.shape[1]
    if mask is not None and not bool(_full_mask(mask, logits, "cross_entropy").gather(-1, y.unsqueeze(-1)).all()):
        raise invalid("y", "cross_entropy", "labels of active (unmasked) output units", "a label whose unit is masked")
    logp = log_softmax(logits, mask)
    loss = -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).sum(dim=1) / n
    d_logits = logp.exp_()
    d_logits.scatter_add_(-1, y.unsqueeze(-1), torch.full_like(d_logits[..., :1], -1.0))
    return loss, d_logits.div_(n)


def output_loss(
    spec: MLPSpec, output: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spec's data loss (no weight penalty) and its derivative with respect to the outputs.

    :func:`squared_error` for ``output="identity"``, :func:`cross_entropy` (with ``mask``)
    for ``output="softmax"``.

    Raises
    ------
    InvalidParameterError
        If a mask is given for a regression output.
    """
    if spec.output == "softmax":
        return cross_entropy(output, y, mask)
    if mask is not None:
        raise invalid("mask", "output_loss", "None for an identity (regression) output", "a mask")
    return squared_error(output, y)


def predict(spec: MLPSpec, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Outputs of every run on inputs ``x`` (class logits for a softmax output).

    Parameters
    ----------
    spec : MLPSpec
        The architecture.
    params : Tensor of shape (R, P)
        Per run.
    x : Tensor of shape (n, d) (shared) or (R, n, d) (per run)
        Inputs.

    Returns
    -------
    Tensor of shape (R, n) for one output unit, else (R, n, n_outputs)
    """
    out = forward(spec, params, x).output
    return out.squeeze(-1) if out.shape[-1] == 1 else out


def predict_classes(
    spec: MLPSpec, params: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Every run's predicted class: the active unit with the largest logit.

    Parameters
    ----------
    spec : MLPSpec
        With a softmax output.
    params : Tensor of shape (R, P)
        Per run.
    x : Tensor of shape (n, d) (shared) or (R, n, d) (per run)
        Inputs.
    mask : bool Tensor of shape (C,), (R, C) or (R, n, C), optional
        The units a prediction may choose from (e.g. a task's classes); default all.

    Returns
    -------
    int64 Tensor of shape (R, n)

    Examples
    --------
    >>> spec = MLPSpec(layer_units=(2, 3), output="softmax")
    >>> params = torch.tensor([[0.0, 0, 0, 0, 0, 0, 1, 2, 3]])
    >>> predict_classes(spec, params, torch.zeros(1, 2)).tolist(), predict_classes(
    ...     spec, params, torch.zeros(1, 2), torch.tensor([True, True, False])).tolist()
    ([[2]], [[1]])
    """
    return classes_of(forward(spec, params, x).output, mask)


def classes_of(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The active unit with the largest logit, (R, n) int64, from logits (R, n, C) (see :func:`predict_classes`)."""
    if mask is not None:
        logits = logits.masked_fill(~_full_mask(mask, logits, "classes_of"), -torch.inf)
    return logits.argmax(dim=-1)


def loss_and_grad(
    spec: MLPSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The spec's loss with L2 penalty and its gradient, for every run at once.

    Regression (``output="identity"``), as scikit-learn's ``MLPRegressor``:

    .. math:: L = \\frac{1}{2n}\\sum_i \\lVert y_i - \\hat y_i\\rVert^2 / n_{out}
              + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert_F^2

    Classification (``output="softmax"``): the softmax cross-entropy over the active units
    (:func:`cross_entropy`) plus the same penalty,

    .. math:: L = -\\frac{1}{n}\\sum_i \\log p_{y_i}(x_i) + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert_F^2.

    The backward pass is written by hand with batched matrix products (no autograd), in
    scikit-learn's order of operations (:func:`forward`, :func:`output_loss`,
    :func:`backward`).

    Parameters
    ----------
    spec : MLPSpec
        Architecture and ``alpha`` (shared).
    params : Tensor of shape (R, P)
        Per run.
    x : Tensor of shape (R, n, d)
        Per-run inputs.
    y : Tensor of shape (R, n) or (R, n, n_outputs)
        Per-run targets; int64 labels of shape (R, n) for a softmax output.
    mask : bool Tensor of shape (C,), (R, C) or (R, n, C), optional
        Softmax output only: the active output units (see :func:`cross_entropy`).

    Returns
    -------
    loss : Tensor of shape (R,)
    grad : Tensor of shape (R, P)
        In ``params``' packing order.
    """
    n = x.shape[1]
    fwd = forward(spec, params, x)
    loss, d_output = output_loss(spec, fwd.output, y, mask)
    loss += (0.5 * spec.alpha / n) * weight_penalty(spec, params)
    return loss, backward(spec, fwd, d_output, weight_decay=spec.alpha / n)
