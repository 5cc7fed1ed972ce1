"""What a continual experiment's scikit-learn MLP says to the continual trainers: the model and the optimiser.

Both continual trainers (the batched one of :mod:`forgetlab.engines.continual` and the
compiled engine's, :mod:`forgetlab.engines.compiled_continual`) read an ``MLPClassifier`` or
``MLPRegressor`` the same way: its hidden layers, activation and ``alpha`` describe the
model (:class:`~forgetlab.numerics.spec.MLPSpec`, a softmax output with a unit per class for
classification), its ``solver`` (adam or sgd), ``learning_rate_init`` and ``batch_size`` the
optimiser. No PyTorch here.
"""

from __future__ import annotations

from collections.abc import Sequence

from forgetlab.errors import invalid
from forgetlab.models import Model
from forgetlab.numerics.spec import MLPSpec
from forgetlab.tasks import Stream
from forgetlab.validation import Options, check

__all__ = ["OPTIMIZERS", "check_estimator", "model_spec", "spec_for", "train_settings"]

#: The optimisers of continual runs, by scikit-learn's ``solver`` name
#: (:data:`forgetlab.numerics.sgd.OPTIMIZERS` implements them batched, :mod:`forgetlab.numerics.compiled_sgd` per run).
OPTIMIZERS = ("adam", "sgd")


def model_spec(
    stream: Stream, hidden_layer_sizes: Sequence[int] = (100,), *, activation: str = "relu", alpha: float = 1e-4
) -> MLPSpec:
    """The MLP for a stream: its inputs, the hidden layers, and one output (regression) or a logit per class.

    Examples
    --------
    >>> from forgetlab.tasks import split_digits
    >>> spec = model_spec(split_digits("class"), (100,))
    >>> spec.layer_units, spec.output
    ((64, 100, 10), 'softmax')
    """
    classify = stream.kind == "classification"
    return MLPSpec(
        layer_units=(stream[0].x_train.shape[1], *(int(h) for h in hidden_layer_sizes), stream.n_classes or 1),
        activation=activation,
        alpha=alpha,
        output="softmax" if classify else "identity",
    )


def spec_for(estimator: Model, stream: Stream) -> MLPSpec:
    """The MLP a scikit-learn estimator describes for a stream (:meth:`MLPSpec.from_estimator`)."""
    classify = stream.kind == "classification"
    return MLPSpec.from_estimator(
        estimator,
        n_features=stream[0].x_train.shape[1],
        n_outputs=stream.n_classes if classify else 1,
        output="softmax" if classify else "identity",
    )


def check_estimator(estimator: object) -> None:
    """Raise InvalidParameterError unless ``estimator`` describes a model the continual trainers can train.

    It must be a scikit-learn ``MLPRegressor`` or ``MLPClassifier`` with ``solver`` adam
    or sgd: its hidden layers, activation, ``alpha``, ``learning_rate_init`` and
    ``batch_size`` describe the model and the optimiser (:func:`train_settings`).
    """
    if Model.of(estimator).class_name not in ("MLPRegressor", "MLPClassifier"):
        raise invalid("estimator", "a continual experiment", "an MLPRegressor or MLPClassifier", estimator)
    check(estimator.solver, "solver", "a continual experiment", Options(*OPTIMIZERS))


def train_settings(estimator: Model, stream: Stream) -> dict:
    """The continual trainers' model and optimiser settings, read from an MLP (a :class:`Model` or scikit-learn's).

    Examples
    --------
    >>> from forgetlab.tasks import split_digits
    >>> model = Model.from_params("MLPClassifier", hidden_layer_sizes=(50,), solver="adam")
    >>> settings = train_settings(model, split_digits())
    >>> settings["spec"].layer_units, settings["optimizer"], settings["learning_rate"], settings["batch_size"]
    ((64, 50, 10), 'adam', 0.001, 'auto')
    """
    check_estimator(estimator)
    return {
        "spec": spec_for(estimator, stream),
        "optimizer": estimator.solver,
        "learning_rate": float(estimator.learning_rate_init),
        "batch_size": estimator.batch_size,
    }
