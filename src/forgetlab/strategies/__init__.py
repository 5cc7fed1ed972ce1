"""How a learner protects old knowledge: continual-learning strategies with explicit hooks.

- :class:`Naive`: fine-tuning (the lower bound);
- :class:`Joint`, :class:`Cumulative`: offline and cumulative training (upper bounds);
- :class:`Replay`: experience replay from a reservoir or class-balanced memory;
- :class:`EWC`, :class:`OnlineEWC`: elastic weight consolidation;
- :class:`SI`: synaptic intelligence;
- :class:`LwF`: learning without forgetting (distillation from the previous model);
- :class:`AGEM`: averaged gradient episodic memory (gradient projection);
- :class:`DER`, :class:`DERPP`: dark experience replay (stored logits, plus labels for DER++);
- :class:`ERACE`: experience replay with the asymmetric cross-entropy;
- :class:`MAS`: memory aware synapses (importance from the output's sensitivity);
- :class:`GDumb`: a greedy class-balanced memory, the model retrained on it alone at each phase end;
- :class:`GenerativeReplay`: a VAE per run replays generated inputs, labelled by the previous model.

The contract (settings, state, hooks and the order the trainer calls them) is in
:mod:`forgetlab.strategies.base`; the trainer is
:func:`forgetlab.engines.continual.train_continual`.

Each name is imported from its module on first use (PEP 562): naming, validating and
planning with a strategy (a config, an experiment, the compiled engine's naive runs) loads
only that strategy's module, and PyTorch only once a strategy's hooks run.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from forgetlab._registry import make_from_registry

if TYPE_CHECKING:
    from forgetlab.strategies.agem import AGEM, project_gradient
    from forgetlab.strategies.base import Context, Minibatch, Phase, Strategy, run_rng
    from forgetlab.strategies.basic import Cumulative, Joint, Naive
    from forgetlab.strategies.buffers import BUFFERS, ClassBalancedBuffer, ReservoirBuffer
    from forgetlab.strategies.der import DER, DERPP
    from forgetlab.strategies.er_ace import ERACE
    from forgetlab.strategies.ewc import EWC, OnlineEWC, fisher_diagonal
    from forgetlab.strategies.gdumb import GDumb
    from forgetlab.strategies.generative import GenerativeReplay
    from forgetlab.strategies.lwf import LwF, distillation
    from forgetlab.strategies.mas import MAS
    from forgetlab.strategies.replay import Replay
    from forgetlab.strategies.si import SI

#: The module of every public name but the registry's functions.
_MODULES = {
    "AGEM": "agem",
    "project_gradient": "agem",
    "Context": "base",
    "Minibatch": "base",
    "Phase": "base",
    "Strategy": "base",
    "run_rng": "base",
    "Cumulative": "basic",
    "Joint": "basic",
    "Naive": "basic",
    "BUFFERS": "buffers",
    "ClassBalancedBuffer": "buffers",
    "ReservoirBuffer": "buffers",
    "DER": "der",
    "DERPP": "der",
    "ERACE": "er_ace",
    "EWC": "ewc",
    "OnlineEWC": "ewc",
    "fisher_diagonal": "ewc",
    "GDumb": "gdumb",
    "GenerativeReplay": "generative",
    "LwF": "lwf",
    "distillation": "lwf",
    "MAS": "mas",
    "Replay": "replay",
    "SI": "si",
}

__all__ = [
    "AGEM",
    "BUFFERS",
    "DER",
    "DERPP",
    "ERACE",
    "EWC",
    "MAS",
    "SI",
    "STRATEGIES",
    "ClassBalancedBuffer",
    "Context",
    "Cumulative",
    "GDumb",
    "GenerativeReplay",
    "Joint",
    "LwF",
    "Minibatch",
    "Naive",
    "OnlineEWC",
    "Phase",
    "Replay",
    "ReservoirBuffer",
    "Strategy",
    "distillation",
    "fisher_diagonal",
    "make_strategy",
    "project_gradient",
    "run_rng",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


class _Registry(Mapping[str, type]):
    """Strategy classes by name, each imported when it is first looked up."""

    def __init__(self, classes: dict[str, str]) -> None:
        self._classes = classes

    def __getitem__(self, name: str) -> type:
        return __getattr__(self._classes[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)


#: Every strategy class by its ``name`` (configs' ``name = "..."``).
STRATEGIES: Mapping[str, type[Strategy]] = _Registry(
    {
        "naive": "Naive",
        "joint": "Joint",
        "cumulative": "Cumulative",
        "replay": "Replay",
        "ewc": "EWC",
        "online_ewc": "OnlineEWC",
        "si": "SI",
        "lwf": "LwF",
        "agem": "AGEM",
        "der": "DER",
        "derpp": "DERPP",
        "er_ace": "ERACE",
        "mas": "MAS",
        "gdumb": "GDumb",
        "generative_replay": "GenerativeReplay",
    }
)


def make_strategy(name: str, settings: Mapping[str, object] | None = None) -> Strategy:
    """A strategy from its name and a mapping of its settings.

    Examples
    --------
    >>> make_strategy("replay", {"buffer_size": 100, "buffer": "class_balanced"})
    Replay(buffer_size=100, buffer='class_balanced', replay_batch_size=None)

    Raises
    ------
    InvalidParameterError
        If ``name`` is not a known strategy, a setting is not one of its fields, or a
        value is not allowed.
    """
    return make_from_registry(STRATEGIES, name, settings, field="strategy", allowed=f"one of {', '.join(STRATEGIES)}")
