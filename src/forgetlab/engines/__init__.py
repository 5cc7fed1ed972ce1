"""Who trains runs: engines behind one contract (:class:`~forgetlab.engines.base.Engine`), found by name.

- ``"compiled"`` (:mod:`forgetlab.engines.compiled`): ``MLPRegressor(solver="lbfgs")`` on
  regression streams without strategies, each run's L-BFGS in one compiled loop (numba),
  and continual runs of adam or sgd MLPs under strategies that only choose the samples
  (naive, joint, cumulative, replay, DER, DER++: :mod:`forgetlab.engines.compiled_continual`), one run at a
  time per process; the fastest on a CPU, so ``"auto"`` asks it first.
- ``"torch"`` (:mod:`forgetlab.engines.torch`): scikit-learn MLPs batched over runs in
  PyTorch: ``MLPRegressor`` with lbfgs, adam or sgd, and with strategies or on
  classification streams the continual trainer (:mod:`forgetlab.engines.continual`).
- ``"sklearn"`` (:mod:`forgetlab.engines.sklearn`): any scikit-learn estimator with
  ``partial_fit``, one run at a time; the reference for the tutorial's exact semantics.

A new engine is one module holding an ``ENGINE`` object that follows the contract, plus
one line in :data:`ENGINES`. ``engine="auto"`` takes the first engine of :data:`ENGINES`
whose ``check`` accepts the experiment; when none does, it reports why the most general one
(:data:`GENERAL`) refuses. Engine modules are imported only when used, so
that the command line starts fast and configs that do not need PyTorch never load it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from forgetlab.errors import InvalidParameterError, invalid

if TYPE_CHECKING:
    from forgetlab.engines.base import Engine, Spec

__all__ = ["AUTO", "ENGINES", "GENERAL", "engine_choices", "get_engine", "resolve_engine"]

#: The registry: engine name -> the module holding its ``ENGINE`` (or an engine object).
#: ``"auto"`` tries them in this order.
ENGINES: dict[str, str | Engine] = {
    "compiled": "forgetlab.engines.compiled",
    "torch": "forgetlab.engines.torch",
    "sklearn": "forgetlab.engines.sklearn",
}

#: The engine whose refusal ``"auto"`` reports when no engine accepts: the one that trains the most.
GENERAL = "torch"

#: The engine name that asks the registry.
AUTO = "auto"


def engine_choices() -> tuple[str, ...]:
    """The names an experiment's ``engine`` may take: ``"auto"`` and every registered engine, sorted.

    Examples
    --------
    >>> engine_choices()
    ('auto', 'compiled', 'sklearn', 'torch')
    """
    return (AUTO, *sorted(ENGINES))


def get_engine(name: str) -> Engine:
    """The engine registered as ``name`` (its module imported on first use).

    Raises
    ------
    InvalidParameterError
        If no engine has that name.

    Examples
    --------
    >>> get_engine("sklearn").name
    'sklearn'
    """
    if name not in ENGINES:
        raise invalid("engine", None, f"one of {', '.join(engine_choices())}", name)
    entry = ENGINES[name]
    return importlib.import_module(entry).ENGINE if isinstance(entry, str) else entry


def resolve_engine(experiment: Spec) -> Engine:
    """The engine that trains ``experiment``: the one it names, or for ``"auto"`` the first that can.

    Raises
    ------
    InvalidParameterError
        If the named engine cannot train the experiment (its reason, in one line), or no
        engine can (the reason of :data:`GENERAL`, or of the first engine when it is not registered).
    """
    if experiment.engine != AUTO:
        engine = get_engine(experiment.engine)
        engine.check(experiment)
        return engine
    refusals: dict[str, InvalidParameterError] = {}
    for name in ENGINES:
        engine = get_engine(name)
        try:
            engine.check(experiment)
        except InvalidParameterError as error:
            refusals[name] = error
            continue
        return engine
    raise refusals.get(GENERAL, next(iter(refusals.values())))
