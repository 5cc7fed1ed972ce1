"""The architecture of the batched MLP, read from a scikit-learn estimator: no tensors here.

:class:`MLPSpec` is shared by every run of a batch; :meth:`MLPSpec.from_estimator` is the
one place where a scikit-learn ``MLPRegressor`` or ``MLPClassifier`` is read for its
architecture (trainers, the planner's memory estimate and config validation all use it).
With :func:`minibatch_size`, scikit-learn's rule for the minibatches of its stochastic
solvers. This module imports neither PyTorch nor scikit-learn, so the planner and the
scikit-learn engine use it without loading PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from forgetlab.errors import invalid
from forgetlab.validation import Constraint, Interval, Options, Satisfies, is_int, validate

if TYPE_CHECKING:
    import torch

__all__ = ["ACTIVATIONS", "OUTPUTS", "SOLVER_DEFAULTS", "MLPSpec", "minibatch_size"]

ACTIVATIONS = ("relu", "tanh", "logistic", "identity")
#: Output layers: linear outputs for regression, class logits under a softmax for classification.
OUTPUTS = ("identity", "softmax")


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
    output : {"identity", "softmax"}, default "identity"
        ``"identity"``: linear outputs and the squared error (regression); ``"softmax"``: the
        last layer's units are class logits and the loss is the softmax cross-entropy
        (classification, at least two units).

    Examples
    --------
    >>> spec = MLPSpec(layer_units=(1, 100, 100, 1))
    >>> spec.n_params
    10401
    >>> MLPSpec(layer_units=(64, 100, 10), output="softmax").n_outputs
    10
    """

    layer_units: tuple[int, ...]
    activation: str = "relu"
    alpha: float = 1e-4
    output: str = "identity"

    constraints: ClassVar[dict[str, Constraint]] = {
        "layer_units": Satisfies(
            lambda units: isinstance(units, tuple) and len(units) >= 2 and all(is_int(u) and u >= 1 for u in units),
            "a tuple of at least two ints >= 1",
        ),
        "activation": Options(*ACTIVATIONS),
        "alpha": Interval(float, 0, None),
        "output": Options(*OUTPUTS),
    }

    def __post_init__(self) -> None:
        units = self.layer_units
        validate("MLPSpec", self.constraints, {name: getattr(self, name) for name in self.constraints})
        if self.output == "softmax" and units[-1] < 2:
            raise invalid("layer_units", "MLPSpec with a softmax output", "at least two output units", units)

    @classmethod
    def from_estimator(
        cls, estimator: object, *, n_features: int, n_outputs: int = 1, output: str = "identity"
    ) -> MLPSpec:
        """The MLP a scikit-learn ``MLPRegressor`` or ``MLPClassifier`` describes, for these inputs and outputs.

        The one reader of an estimator's architecture: ``hidden_layer_sizes`` (an int or a
        sequence), ``activation`` and ``alpha``.

        Examples
        --------
        >>> from sklearn.neural_network import MLPClassifier, MLPRegressor
        >>> MLPSpec.from_estimator(MLPRegressor(hidden_layer_sizes=50), n_features=1).layer_units
        (1, 50, 1)
        >>> spec = MLPSpec.from_estimator(MLPClassifier((100, 100)), n_features=64, n_outputs=10, output="softmax")
        >>> spec.layer_units, spec.output
        ((64, 100, 100, 10), 'softmax')
        """
        hidden = estimator.hidden_layer_sizes
        sizes = (int(hidden),) if isinstance(hidden, (int, np.integer)) else tuple(int(h) for h in hidden)
        return cls(
            layer_units=(int(n_features), *sizes, int(n_outputs)),
            activation=estimator.activation,
            alpha=float(estimator.alpha),
            output=output,
        )

    @property
    def n_outputs(self) -> int:
        """Units of the output layer."""
        return self.layer_units[-1]

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every layer."""
        return list(zip(self.layer_units[:-1], self.layer_units[1:], strict=True))

    @property
    def n_params(self) -> int:
        """Parameters per run: every weight and bias."""
        return sum(i * o + o for i, o in self.shapes)

    @property
    def n_weights(self) -> int:
        """Weights per run (the penalised parameters): the first ``n_weights`` of the packing."""
        return sum(i * o for i, o in self.shapes)

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


#: scikit-learn's defaults of its stochastic solvers' own settings, in the order the compiled
#: kernels take them: Adam's betas and epsilon, SGD's momentum and Nesterov flag (both
#: continual trainers keep them; :mod:`forgetlab.numerics.sgd` takes them as its defaults).
SOLVER_DEFAULTS = {
    "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    "sgd": {"momentum": 0.9, "nesterov": True},
}


def minibatch_size(batch_size: int | str, n_samples: int) -> int:
    """scikit-learn's minibatch size: ``min(200, n)`` for ``"auto"``, else clipped to [1, n].

    Examples
    --------
    >>> minibatch_size("auto", 69), minibatch_size("auto", 1000), minibatch_size(500, 69)
    (69, 200, 69)
    """
    if batch_size == "auto":
        return min(200, n_samples)
    return int(np.clip(batch_size, 1, n_samples))
