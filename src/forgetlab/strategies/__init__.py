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
"""

from __future__ import annotations

from collections.abc import Mapping

from forgetlab._registry import make_from_registry
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

#: Every strategy by name.
STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        Naive,
        Joint,
        Cumulative,
        Replay,
        EWC,
        OnlineEWC,
        SI,
        LwF,
        AGEM,
        DER,
        DERPP,
        ERACE,
        MAS,
        GDumb,
        GenerativeReplay,
    )
}


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
