"""The model of an experiment, described without importing scikit-learn.

A config's ``[model]`` names a scikit-learn estimator class and its parameters. The
compiled and torch engines train ``MLPRegressor`` and ``MLPClassifier`` with their own
code and need only those parameters, while importing scikit-learn costs about a second
(it loads SciPy's statistics and pandas), more than a small run's training. So the MLPs'
parameters, their defaults and what each accepts are declared here (:data:`DESCRIBED`,
scikit-learn 1.9's; ``tests/test_models.py`` checks them against the installed
scikit-learn), and a scikit-learn estimator is built from a description only by the
engine that trains it (:meth:`Model.to_estimator`, the sklearn engine).

A :class:`Model` is what an :class:`~forgetlab.experiment.Experiment` holds: a class name
and every parameter's value. It reads like the estimator (``model.solver``,
``model.get_params()``), so the engines read either. Other scikit-learn estimators
(``SGDRegressor``, ``SGDClassifier``...) are described by scikit-learn itself: their
:class:`Model` keeps the estimator, and scikit-learn checks their parameters.

Examples
--------
>>> model = Model.from_params("MLPClassifier", hidden_layer_sizes=(50,), solver="sgd")
>>> model.class_name, model.hidden_layer_sizes, model.learning_rate_init
('MLPClassifier', (50,), 0.001)
>>> Model.from_params("MLPRegressor", alpha=-1.0)
Traceback (most recent call last):
...
forgetlab.errors.InvalidParameterError: The 'alpha' parameter of MLPRegressor must be a number >= 0; got -1.0.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from forgetlab.errors import InvalidParameterError, invalid
from forgetlab.validation import AnyOf, Boolean, Constraint, Interval, Options, Satisfies, check, is_int, validate

__all__ = ["DESCRIBED", "ESTIMATOR_MODULES", "Model", "check_hidden_layer_sizes", "parameter_names", "tutorial_model"]


def _hidden_sizes_ok(value: object) -> bool:
    """An int >= 1, or a 1-D sequence (list, tuple, array) of them."""
    if is_int(value):
        return value >= 1
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim == 1 else None
    return isinstance(value, (list, tuple)) and all(is_int(size) and size >= 1 for size in value)


#: An MLP's hidden layers: scikit-learn checks the sizes only when fitting, forgetlab on entry.
HIDDEN_LAYER_SIZES = Satisfies(_hidden_sizes_ok, "an int >= 1 or a sequence of ints >= 1 (one per hidden layer)")

_UNIT = Interval(float, 0, 1, closed="left")
_RANDOM_STATE = AnyOf(
    None,
    Interval(int, 0, 2**32 - 1),
    Satisfies(lambda value: isinstance(value, np.random.RandomState), "a numpy RandomState"),
)

#: scikit-learn's ``MLPClassifier`` parameters: ``(default, allowed)`` in its order of ``get_params``.
_MLP: dict[str, tuple[object, Constraint]] = {
    "activation": ("relu", Options("identity", "logistic", "tanh", "relu")),
    "alpha": (0.0001, Interval(float, 0, None)),
    "batch_size": ("auto", AnyOf(Options("auto"), Interval(int, 1, None))),
    "beta_1": (0.9, _UNIT),
    "beta_2": (0.999, _UNIT),
    "early_stopping": (False, Boolean()),
    "epsilon": (1e-08, Interval(float, 0, None, closed="neither")),
    "hidden_layer_sizes": ((100,), HIDDEN_LAYER_SIZES),
    "learning_rate": ("constant", Options("constant", "invscaling", "adaptive")),
    "learning_rate_init": (0.001, Interval(float, 0, None, closed="neither")),
    "max_fun": (15000, Interval(int, 1, None)),
    "max_iter": (200, Interval(int, 1, None)),
    "momentum": (0.9, Interval(float, 0, 1)),
    "n_iter_no_change": (10, AnyOf(Interval(int, 1, None), Options(float("inf")))),
    "nesterovs_momentum": (True, Boolean()),
    "power_t": (0.5, Interval(float, 0, None)),
    "random_state": (None, _RANDOM_STATE),
    "shuffle": (True, Boolean()),
    "solver": ("adam", Options("lbfgs", "sgd", "adam")),
    "tol": (0.0001, Interval(float, 0, None)),
    "validation_fraction": (0.1, _UNIT),
    "verbose": (False, AnyOf(Boolean(), Interval(int, 0, None))),
    "warm_start": (False, Boolean()),
}

#: The classes forgetlab describes itself: name -> ``{parameter: (default, allowed)}``.
DESCRIBED: dict[str, dict[str, tuple[object, Constraint]]] = {
    "MLPClassifier": _MLP,
    "MLPRegressor": dict(sorted({**_MLP, "loss": ("squared_error", Options("squared_error", "poisson"))}.items())),
}

#: Where scikit-learn keeps each estimator class a config may name.
ESTIMATOR_MODULES = {
    "MLPRegressor": "sklearn.neural_network",
    "MLPClassifier": "sklearn.neural_network",
    "SGDRegressor": "sklearn.linear_model",
    "SGDClassifier": "sklearn.linear_model",
}


def _estimator_class(class_name: str) -> type:
    """scikit-learn's class of that name (:data:`ESTIMATOR_MODULES`; imports scikit-learn)."""
    return getattr(importlib.import_module(ESTIMATOR_MODULES[class_name]), class_name)


def parameter_names(class_name: str) -> list[str]:
    """The parameters of an estimator class of :data:`ESTIMATOR_MODULES`, in ``get_params`` order.

    Examples
    --------
    >>> parameter_names("MLPClassifier")[:3]
    ['activation', 'alpha', 'batch_size']
    """
    if class_name in DESCRIBED:
        return list(DESCRIBED[class_name])
    return list(_estimator_class(class_name)().get_params())


def check_hidden_layer_sizes(value: object, owner: str) -> None:
    """Raise InvalidParameterError unless ``value`` is an int >= 1 or a sequence of them.

    Examples
    --------
    >>> check_hidden_layer_sizes((100, 0), "MLPRegressor")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    forgetlab.errors.InvalidParameterError: The 'hidden_layer_sizes' parameter of MLPRegressor must be an int ...
    """
    check(value, "hidden_layer_sizes", owner, HIDDEN_LAYER_SIZES)


@dataclass(frozen=True, eq=False)
class Model:
    """An estimator class's name and every parameter's value; reads like the estimator.

    Build one with :meth:`from_params` (what a config does) or :meth:`of` (from a
    scikit-learn estimator, or a model as it is). Parameters are attributes
    (``model.alpha``) and :meth:`get_params` returns them all, as scikit-learn's does.

    Attributes
    ----------
    class_name : str
        The scikit-learn class, e.g. ``"MLPRegressor"``.
    params : dict
        Every parameter (defaults included), by name.
    estimator : scikit-learn estimator or None
        The estimator a model of a class forgetlab does not describe was read from
        (:meth:`to_estimator` clones it); None for the classes of :data:`DESCRIBED`.
    """

    class_name: str
    params: dict[str, Any]
    estimator: Any = None

    @classmethod
    def from_params(cls, class_name: str, **params: object) -> Model:
        """The model of ``class_name`` with ``params`` set, the others at their defaults; validated.

        For a class of :data:`DESCRIBED`, no scikit-learn import: unknown names and values
        out of range raise here. For another class of :data:`ESTIMATOR_MODULES`, the
        estimator is built and scikit-learn checks it.

        Raises
        ------
        InvalidParameterError
            For an unknown class or parameter, or a value the parameter does not accept.

        Examples
        --------
        >>> Model.from_params("MLPRegressor", hidden_layer_sizes=[8]).get_params()["hidden_layer_sizes"]
        [8]
        """
        if class_name in DESCRIBED:
            table = DESCRIBED[class_name]
            unknown = sorted(set(params) - set(table))
            if unknown:
                raise invalid(unknown[0], class_name, f"one of its parameters: {', '.join(table)}", params[unknown[0]])
            values = {name: params.get(name, default) for name, (default, _) in table.items()}
            validate(class_name, {name: allowed for name, (_, allowed) in table.items()}, values)
            return cls(class_name, values)
        if class_name not in ESTIMATOR_MODULES:
            raise invalid("class", "the model", f"one of {', '.join(ESTIMATOR_MODULES)}", class_name)
        try:
            estimator = _estimator_class(class_name)(**params)
        except TypeError as error:
            raise InvalidParameterError(f"{class_name}: {error}", parameter="estimator") from None
        return cls.of(estimator)

    @classmethod
    def of(cls, estimator: object) -> Model:
        """The model of a scikit-learn estimator (its class and ``get_params()``), or ``estimator`` if it is one.

        A class of :data:`DESCRIBED` is checked against its declared constraints; another
        estimator by scikit-learn (its ``_validate_params``), which checks only values a
        fit would refuse.

        Raises
        ------
        InvalidParameterError
            If a parameter's value is not allowed, or ``estimator`` has no ``get_params``.

        Examples
        --------
        >>> from sklearn.neural_network import MLPRegressor
        >>> Model.of(MLPRegressor(hidden_layer_sizes=(100, 100), solver="lbfgs")).solver
        'lbfgs'
        """
        if isinstance(estimator, Model):
            return estimator
        get_params = getattr(estimator, "get_params", None)
        if get_params is None or isinstance(estimator, type):
            raise invalid("estimator", None, "a scikit-learn estimator or a forgetlab Model", estimator)
        name = type(estimator).__name__
        if name in DESCRIBED and type(estimator).__module__.startswith("sklearn."):
            return cls.from_params(name, **get_params(deep=False))
        _check_with_sklearn(estimator)
        return cls(name, dict(get_params()), estimator)

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params")
        if params is None or name not in params:
            raise AttributeError(f"{type(self).__name__} of {self.__dict__.get('class_name')} has no {name!r}")
        return params[name]

    def __repr__(self) -> str:
        defaults = DESCRIBED.get(self.class_name, {})
        # compared as text: a value may be an array, whose == is not a truth value
        default = {key: repr(value) for key, (value, _) in defaults.items()}
        changed = {key: value for key, value in self.params.items() if default.get(key) != repr(value)}
        return f"Model({self.class_name!r}, {', '.join(f'{key}={value!r}' for key, value in changed.items())})"

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Every parameter's value, by name (scikit-learn's ``get_params``)."""
        return dict(self.params)

    def to_estimator(self, **overrides: object) -> Any:
        """A new, unfitted scikit-learn estimator of this model, with ``overrides`` set (imports scikit-learn).

        Examples
        --------
        >>> Model.from_params("MLPRegressor", solver="lbfgs").to_estimator(random_state=3)
        MLPRegressor(random_state=3, solver='lbfgs')
        """
        from sklearn.base import clone

        if self.estimator is not None:
            return clone(self.estimator).set_params(**overrides)
        return _estimator_class(self.class_name)(**{**self.params, **overrides})


def _check_with_sklearn(estimator: object) -> None:
    """Raise InvalidParameterError if scikit-learn refuses an estimator's parameters (checked at fit otherwise)."""
    validate_params = getattr(estimator, "_validate_params", None)
    if validate_params is not None:
        try:
            validate_params()
        except ValueError as error:  # scikit-learn's InvalidParameterError is a ValueError
            reason = str(error).rstrip(".")
            message = f"The 'estimator' parameter must be a valid {type(estimator).__name__}: {reason}."
            raise InvalidParameterError(message, parameter="estimator") from None
    hidden = getattr(estimator, "hidden_layer_sizes", None)
    if hidden is not None:
        check_hidden_layer_sizes(hidden, type(estimator).__name__)


def tutorial_model() -> Model:
    """The tutorial's model: ``MLPRegressor((100, 100), solver="lbfgs", max_iter=10000)``.

    ``random_state`` is set per run from the seed.

    Examples
    --------
    >>> tutorial_model()
    Model('MLPRegressor', hidden_layer_sizes=(100, 100), max_iter=10000, solver='lbfgs')
    """
    return Model.from_params("MLPRegressor", hidden_layer_sizes=(100, 100), solver="lbfgs", max_iter=10000)
