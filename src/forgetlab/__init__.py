"""forgetlab: a laboratory for catastrophic forgetting and continual learning.

Quick start::

    import forgetlab
    results = forgetlab.tutorial(seeds=range(4), out="runs/tutorial")
    forgetlab.final_scores(results.scores)
    scores = forgetlab.load("runs/tutorial")

The names below are imported on first use, so that ``forgetlab --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "Experiment": "forgetlab.experiment",
    "Results": "forgetlab.experiment",
    "ForgetlabError": "forgetlab.errors",
    "InvalidParameterError": "forgetlab.errors",
    "compare": "forgetlab.stats",
    "final_scores": "forgetlab.stats",
    "summarise": "forgetlab.stats",
    "load": "forgetlab.store",
    "run_experiment": "forgetlab.api",
    "run_sweep": "forgetlab.api",
    "load_config": "forgetlab.config",
    "query": "forgetlab.store",
    "write_report": "forgetlab.report",
    "tutorial": "forgetlab.api",
    "tutorial_experiment": "forgetlab.api",
}

__all__ = [
    "Experiment",
    "ForgetlabError",
    "InvalidParameterError",
    "Results",
    "compare",
    "final_scores",
    "load",
    "load_config",
    "query",
    "run_experiment",
    "run_sweep",
    "summarise",
    "tutorial",
    "tutorial_experiment",
    "write_report",
]

if TYPE_CHECKING:
    from forgetlab.api import run_experiment, run_sweep, tutorial, tutorial_experiment
    from forgetlab.config import load_config
    from forgetlab.errors import ForgetlabError, InvalidParameterError
    from forgetlab.experiment import Experiment, Results
    from forgetlab.report import write_report
    from forgetlab.stats import compare, final_scores, summarise
    from forgetlab.store import load, query


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'forgetlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
