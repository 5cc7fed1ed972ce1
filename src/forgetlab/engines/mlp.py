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

The model follows ``sklearn.neural_network.MLPRegressor``:

- activations relu, tanh, logistic or identity on hidden layers, identity output;
- loss :math:`\\frac{1}{2n}\\sum_i (y_i - \\hat y_i)^2 + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert^2`
  (biases not penalised);
- Glorot-uniform initialisation, bound :math:`\\sqrt{f/(\\text{fan}_{in}+\\text{fan}_{out})}`
  with ``f = 2`` for logistic and 6 otherwise, weights then biases, layer by layer.

References
----------
Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural
networks", AISTATS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from forgetlab.errors import invalid

__all__ = ["ACTIVATIONS", "MLPSpec", "init_params", "loss_and_grad", "predict"]

ACTIVATIONS = ("relu", "tanh", "logistic", "identity")


@dataclass(frozen=True, kw_only=True)
class MLPSpec:
    """Architecture and loss of the batched MLP (shared by all runs of a batch).

    Parameters
    ----------
    layer_units : tuple of int
        Units of every layer, input and output included, e.g. ``(1, 100, 100, 1)``.
    activation : {"relu", "tanh", "logistic", "identity"}, default "relu"
        Hidden-layer activation; the output is linear.
    alpha : float, default 1e-4
        L2 penalty on the weights, scaled by ``1 / (2 n)`` as in scikit-learn.

    Examples
    --------
    >>> spec = MLPSpec(layer_units=(1, 100, 100, 1))
    >>> spec.n_params
    10401
    """

    layer_units: tuple[int, ...]
    activation: str = "relu"
    alpha: float = 1e-4

    def __post_init__(self) -> None:
        units = self.layer_units
        if len(units) < 2 or not all(isinstance(u, int) and u >= 1 for u in units):
            raise invalid("layer_units", "MLPSpec", "a tuple of at least two ints >= 1", units)
        if self.activation not in ACTIVATIONS:
            raise invalid("activation", "MLPSpec", f"one of {', '.join(ACTIVATIONS)}", self.activation)
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise invalid("alpha", "MLPSpec", "a number >= 0", self.alpha)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every layer."""
        return list(zip(self.layer_units[:-1], self.layer_units[1:], strict=True))

    @property
    def n_params(self) -> int:
        """Parameters per run: every weight and bias."""
        return sum(i * o + o for i, o in self.shapes)

    def views(self, flat: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Weights (R, fan_in, fan_out) and biases (R, fan_out) as views of ``flat`` (R, P)."""
        weights, biases, start = [], [], 0
        for fan_in, fan_out in self.shapes:
            weights.append(flat[:, start : start + fan_in * fan_out].view(-1, fan_in, fan_out))
            start += fan_in * fan_out
        for _, fan_out in self.shapes:
            biases.append(flat[:, start : start + fan_out])
            start += fan_out
        return weights, biases

    def flops_per_sample(self) -> int:
        """Floating-point operations of one forward and backward pass per sample and run.

        Forward ``2 * fan_in * fan_out`` per layer; backward the same again for the weight
        gradient and, except for the first layer, once more for the propagated error.
        """
        forward = sum(2 * i * o for i, o in self.shapes)
        propagate = sum(2 * i * o for i, o in self.shapes[1:])
        return 2 * forward + propagate


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


def _baddbmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, beta: float = 1.0) -> torch.Tensor:
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


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` per run, independent of the batch size (see :func:`_baddbmm`)."""
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


def _layers(spec: MLPSpec, params: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights (contiguous copies: every run's matrix 64-byte aligned, see _baddbmm) and bias views."""
    weights, biases = spec.views(params)
    return [w.contiguous() for w in weights], biases


def _forward(
    spec: MLPSpec, weights: list[torch.Tensor], biases: list[torch.Tensor], x: torch.Tensor
) -> list[torch.Tensor]:
    """Activations of every layer, input first; ``x`` is (R, n, d) or shared (n, d)."""
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(weights[0].shape[0], -1, -1)
    activations = [x]
    last = len(weights) - 1
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = _baddbmm(b.unsqueeze(1), activations[-1], w)
        activations.append(z if layer == last else _activate(z, spec.activation))
    return activations


def predict(spec: MLPSpec, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Outputs of every run on inputs ``x``.

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
    out = _forward(spec, *_layers(spec, params), x)[-1]
    return out.squeeze(-1) if out.shape[-1] == 1 else out


def loss_and_grad(
    spec: MLPSpec, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared-error loss with L2 penalty and its gradient, for every run at once.

    .. math:: L = \\frac{1}{2n}\\sum_i \\lVert y_i - \\hat y_i\\rVert^2 / n_{out}
              + \\frac{\\alpha}{2n}\\sum_l \\lVert W_l\\rVert_F^2

    The backward pass is written by hand with batched matrix products (no autograd), in
    scikit-learn's order of operations.

    Parameters
    ----------
    spec : MLPSpec
        Architecture and ``alpha`` (shared).
    params : Tensor of shape (R, P)
        Per run.
    x : Tensor of shape (R, n, d)
        Per-run inputs.
    y : Tensor of shape (R, n) or (R, n, n_outputs)
        Per-run targets.

    Returns
    -------
    loss : Tensor of shape (R,)
    grad : Tensor of shape (R, P)
        In ``params``' packing order.
    """
    n = x.shape[1]
    weights, biases = _layers(spec, params)
    activations = _forward(spec, weights, biases, x)
    target = y.unsqueeze(-1) if y.dim() == 2 else y
    delta = activations[-1] - target
    n_weights = sum(fan_in * fan_out for fan_in, fan_out in spec.shapes)
    flat_weights = params[:, :n_weights]
    penalty = torch.linalg.vecdot(flat_weights, flat_weights)
    loss = 0.5 * torch.linalg.vecdot(delta.flatten(1), delta.flatten(1)) / delta[0].numel()
    loss += (0.5 * spec.alpha / n) * penalty
    # d loss / d output, with the 1/n of every gradient folded in once
    delta = delta.div_(n * delta.shape[-1])
    grad = torch.empty_like(params)
    grad_weights, grad_biases = spec.views(grad)
    for layer in range(len(weights) - 1, -1, -1):
        inputs = activations[layer].transpose(1, 2)
        grad_weights[layer].copy_(_baddbmm(weights[layer], inputs, delta, beta=spec.alpha / n))
        grad_biases[layer].copy_(delta.sum(dim=1))
        if layer > 0:
            delta = _bmm(delta, weights[layer].transpose(1, 2))
            delta = _derivative(activations[layer], delta, spec.activation)
    return loss, grad
