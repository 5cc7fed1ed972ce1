"""Building a named dataclass (a schedule, a strategy) from its registry and plain settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from forgetlab.errors import invalid


def make_from_registry(
    registry: Mapping[str, type], name: str, settings: Mapping[str, object] | None, *, field: str, allowed: str
) -> Any:
    """``registry[name](**settings)``, with one-line errors for an unknown name or setting.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Step:
    ...     size: int = 1
    >>> make_from_registry({"step": Step}, "step", {"size": 3}, field="kind", allowed="step")
    Step(size=3)
    """
    if not isinstance(name, str) or name not in registry:
        raise invalid(field, None, allowed, name)
    cls = registry[name]
    known = [f.name for f in fields(cls)]
    for key in settings or {}:
        if key not in known:
            raise invalid(key, cls.__name__, f"one of its settings ({', '.join(known) or 'none'})", key)
    return cls(**(settings or {}))
