"""Declared parameter constraints, and the one checker that reads them.

A class or a function declares what each of its parameters accepts in one table, beside
its fields, and calls :func:`validate` once, where the input enters::

    constraints = {"k": Interval(int, 1, None), "buffer": Options("reservoir", "class_balanced")}

Every constraint answers two questions: :meth:`Constraint.is_satisfied_by` (is this value
allowed?) and :meth:`Constraint.describe` (what is allowed, phrased to follow "must be").
A refused value ends in :func:`forgetlab.errors.invalid`'s one-line message. Bounds that
depend on the data (K at most a task's training set) are checked where the data is known,
with the same constraint objects and bounds computed then.

The idea is scikit-learn's ``_parameter_constraints`` (``sklearn/utils/_param_validation.py``,
private API there); this is forgetlab's own, small version.

Examples
--------
>>> constraints = {"k": Interval(int, 1, None), "buffer": Options("reservoir", "class_balanced")}
>>> validate("Replay", constraints, {"k": 3, "buffer": "reservoir"})
>>> validate("Replay", constraints, {"k": 0, "buffer": "fifo"})
Traceback (most recent call last):
...
forgetlab.errors.InvalidParameterError: The 'k' parameter of Replay must be an int >= 1; got 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np

from forgetlab.errors import invalid

__all__ = [
    "AnyOf",
    "Boolean",
    "Constraint",
    "Hidden",
    "Interval",
    "Options",
    "Satisfies",
    "SequenceOf",
    "check",
    "is_int",
    "is_real",
    "validate",
]

Closed = Literal["both", "left", "right", "neither"]


def is_int(value: object) -> bool:
    """Whether ``value`` is a Python or NumPy integer; a bool is not (Python counts it as an int).

    Examples
    --------
    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """Whether ``value`` is a Python or NumPy int or float (NaN and infinities included); a bool is not.

    Examples
    --------
    >>> is_real(0.5), is_real(np.float32(2)), is_real(7), is_real(False), is_real("1")
    (True, True, True, False, False)
    """
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class Constraint:
    """What one parameter accepts: a test and the words for it.

    Subclasses implement :meth:`is_satisfied_by` and ``_describe``; ``note`` (every
    constraint takes one) is appended to the description after a space, e.g.
    ``"(one per task)"`` or ``"for a classification stream"``.
    """

    note: str = ""

    def is_satisfied_by(self, value: object) -> bool:
        """Whether ``value`` is allowed."""
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        """What is allowed, phrased to follow "must be", e.g. ``"an int in [1, 68]"``."""
        text = self._describe()
        return f"{text} {self.note}" if self.note else text

    def describe_many(self) -> str:
        """The plural, for the items of a :class:`SequenceOf`, e.g. ``"ints >= 1"``."""
        raise TypeError(f"{type(self).__name__} cannot describe the items of a sequence")


def _plural(noun: str) -> str:
    """``"an int"`` -> ``"ints"``, ``"a finite number"`` -> ``"finite numbers"``."""
    for article in ("a ", "an "):
        if noun.startswith(article):
            noun = noun[len(article) :]
            break
    return f"{noun}s"


class Interval(Constraint):
    """An int, or a real number, between optional bounds.

    Parameters
    ----------
    kind : {int, float}
        ``int``: a Python or NumPy integer (:func:`is_int`). ``float``: any Python or
        NumPy int or float (:func:`is_real`), never NaN.
    low, high : int or float or None
        The bounds; None for none. Bounds computed from data may leave the interval
        empty (K at most a training set of 0 samples): it then accepts nothing.
    closed : {"both", "left", "right", "neither"}, default "both"
        Which bounds belong to the interval: ``"left"`` is ``[low, high)``, ``"neither"``
        ``(low, high)``.
    finite : bool, default True
        ``float`` only: refuse infinities (NaN is always refused).
    noun : str, optional
        The words for the kind, default ``"an int"`` or ``"a number"``, e.g.
        ``"a finite number"``; its plural adds an "s" (``"finite numbers"``).
    example : object, optional
        Shown after the description, ``", e.g. 0.95"``.
    note : str, default ""
        Appended after a space.

    Examples
    --------
    >>> k = Interval(int, 1, 68)
    >>> k.describe(), k.is_satisfied_by(68), k.is_satisfied_by(69), k.is_satisfied_by(2.0)
    ('an int in [1, 68]', True, False, False)
    >>> Interval(int, 1, None).describe(), Interval(float, 0, 1, closed="neither").describe()
    ('an int >= 1', 'a number in (0, 1)')
    >>> rate = Interval(float, 0, None, closed="neither")
    >>> rate.describe(), rate.is_satisfied_by(1e-3), rate.is_satisfied_by(0.0), rate.is_satisfied_by(float("inf"))
    ('a number > 0', True, False, False)
    """

    def __init__(
        self,
        kind: type[int] | type[float],
        low: float | None,
        high: float | None,
        *,
        closed: Closed = "both",
        finite: bool = True,
        noun: str | None = None,
        example: object = None,
        note: str = "",
    ) -> None:
        if kind not in (int, float):
            raise TypeError(f"kind must be int or float; got {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be both, left, right or neither; got {closed!r}")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed
        self.finite, self.noun, self.example, self.note = finite, noun, example, note

    def __repr__(self) -> str:
        return f"Interval({self.kind.__name__}, {self.low!r}, {self.high!r}, closed={self.closed!r})"

    def is_satisfied_by(self, value: object) -> bool:
        if not (is_int(value) if self.kind is int else self._is_number(value)):
            return False
        if self.low is not None and not (value >= self.low if self._closed_low else value > self.low):
            return False
        return self.high is None or bool(value <= self.high if self._closed_high else value < self.high)

    def _is_number(self, value: object) -> bool:
        if is_int(value):
            return True
        return is_real(value) and not math.isnan(value) and not (self.finite and math.isinf(value))

    @property
    def _closed_low(self) -> bool:
        return self.closed in ("both", "left")

    @property
    def _closed_high(self) -> bool:
        return self.closed in ("both", "right")

    def _bounds(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            return f" in {'[' if self._closed_low else '('}{low}, {high}{']' if self._closed_high else ')'}"
        if low is not None:
            return f" {'>=' if self._closed_low else '>'} {low}"
        if high is not None:
            return f" {'<=' if self._closed_high else '<'} {high}"
        return ""

    def _noun(self) -> str:
        return self.noun or ("an int" if self.kind is int else "a number")

    def _describe(self) -> str:
        example = f", e.g. {self.example}" if self.example is not None else ""
        return f"{self._noun()}{self._bounds()}{example}"

    def describe_many(self) -> str:
        return f"{_plural(self._noun())}{self._bounds()}"


def _same(value: object, option: object) -> bool:
    """Whether ``value`` is ``option``: equal and of its type (``True`` is not ``1``, a NumPy int is an int)."""
    if option is None:
        return value is None
    if is_int(option):
        return is_int(value) and value == option
    if not isinstance(value, type(option)) or (isinstance(value, bool) and not isinstance(option, bool)):
        return False
    try:
        return bool(value == option)
    except (TypeError, ValueError):  # an object whose == is not a truth value
        return False


class Options(Constraint):
    """One of a few values, compared with their type (a string option takes only strings).

    Examples
    --------
    >>> dtype = Options("float32", "float64")
    >>> dtype.describe(), dtype.is_satisfied_by("float64"), dtype.is_satisfied_by(["float64"])
    ('one of float32, float64', True, False)
    """

    def __init__(self, *options: object, note: str = "") -> None:
        if not options:
            raise ValueError("Options needs at least one option")
        self.options, self.note = options, note

    def __repr__(self) -> str:
        return f"Options({', '.join(map(repr, self.options))})"

    def is_satisfied_by(self, value: object) -> bool:
        return any(_same(value, option) for option in self.options)

    def _describe(self) -> str:
        return f"one of {self.describe_many()}"

    def describe_many(self) -> str:
        return ", ".join(map(str, self.options))


class Boolean(Constraint):
    """True or False (a Python or NumPy bool; 0 and 1 are not).

    Examples
    --------
    >>> Boolean().describe(), Boolean().is_satisfied_by(np.bool_(False)), Boolean().is_satisfied_by(1)
    ('a bool', True, False)
    """

    def __init__(self, *, note: str = "") -> None:
        self.note = note

    def __repr__(self) -> str:
        return "Boolean()"

    def is_satisfied_by(self, value: object) -> bool:
        return isinstance(value, (bool, np.bool_))

    def _describe(self) -> str:
        return "a bool"

    def describe_many(self) -> str:
        return "bools"


class Satisfies(Constraint):
    """Whatever a predicate accepts, described in the caller's words.

    For rules no other constraint expresses (a Dask address, a non-empty string).

    Examples
    --------
    >>> name = Satisfies(lambda v: isinstance(v, str) and v != "", "a non-empty string")
    >>> name.describe(), name.is_satisfied_by("a"), name.is_satisfied_by("")
    ('a non-empty string', True, False)
    """

    def __init__(self, predicate: Callable[[object], bool], text: str, *, plural: str | None = None) -> None:
        self.predicate, self.text, self.plural = predicate, text, plural

    def __repr__(self) -> str:
        return f"Satisfies({self.text!r})"

    def is_satisfied_by(self, value: object) -> bool:
        return bool(self.predicate(value))

    def _describe(self) -> str:
        return self.text

    def describe_many(self) -> str:
        if self.plural is None:
            return super().describe_many()
        return self.plural


class _NoneConstraint(Constraint):
    def __repr__(self) -> str:
        return "None"

    def is_satisfied_by(self, value: object) -> bool:
        return value is None

    def _describe(self) -> str:
        return "None"


class Hidden(Constraint):
    """A constraint that is allowed but left out of :class:`AnyOf`'s description.

    For a default the message need not mention: ``AnyOf(Hidden(None), Interval(int, 1, None))``
    accepts None but reads "an int >= 1".
    """

    def __init__(self, constraint: Constraint | None) -> None:
        self.constraint = _NoneConstraint() if constraint is None else constraint

    def __repr__(self) -> str:
        return f"Hidden({self.constraint!r})"

    def is_satisfied_by(self, value: object) -> bool:
        return self.constraint.is_satisfied_by(value)

    def _describe(self) -> str:
        return self.constraint.describe()


class AnyOf(Constraint):
    """Any value one of the constraints accepts; None stands for the value None.

    Examples
    --------
    >>> workers = AnyOf(None, Interval(int, 1, None))
    >>> workers.describe(), workers.is_satisfied_by(None), workers.is_satisfied_by(0)
    ('None or an int >= 1', True, False)
    >>> AnyOf(Hidden(None), Interval(int, 1, None)).describe()
    'an int >= 1'
    """

    def __init__(self, *constraints: Constraint | None, note: str = "") -> None:
        self.constraints = tuple(_NoneConstraint() if c is None else c for c in constraints)
        self.note = note

    def __repr__(self) -> str:
        return f"AnyOf({', '.join(map(repr, self.constraints))})"

    def is_satisfied_by(self, value: object) -> bool:
        return any(c.is_satisfied_by(value) for c in self.constraints)

    def _describe(self) -> str:
        return " or ".join(c.describe() for c in self.constraints if not isinstance(c, Hidden))


def _distinct(items: list) -> bool:
    try:
        return len(set(items)) == len(items)
    except TypeError:  # unhashable items
        return all(not _same(a, b) for i, a in enumerate(items) for b in items[:i])


class SequenceOf(Constraint):
    """A list (any sequence but a string) or a tuple whose every item satisfies ``item``.

    Parameters
    ----------
    item : Constraint
        What every item must be; it must describe its plural (:meth:`Constraint.describe_many`).
    kind : {"list", "tuple", None}, default "list"
        ``"list"`` accepts any sequence but a string (list, tuple, range...); ``"tuple"`` a
        tuple only; None accepts any sequence and leaves the container out of the words
        (``"ints >= 1"``).
    length : int, optional
        The exact number of items.
    non_empty : bool, default False
        At least one item.
    distinct : bool, default False
        No item twice.
    note : str, default ""
        Appended after a space, e.g. ``"(one per task)"``.

    Examples
    --------
    >>> counts = SequenceOf(Interval(int, 1, None), kind="tuple", length=2, note="(one per task)")
    >>> counts.describe()
    'a tuple of 2 ints >= 1 (one per task)'
    >>> counts.is_satisfied_by((1, 9)), counts.is_satisfied_by([1, 9]), counts.is_satisfied_by((1, 0))
    (True, False, False)
    >>> SequenceOf(Interval(int, 0, 9), non_empty=True, distinct=True).describe()
    'a non-empty list of distinct ints in [0, 9]'
    """

    def __init__(
        self,
        item: Constraint,
        *,
        kind: Literal["list", "tuple"] | None = "list",
        length: int | None = None,
        non_empty: bool = False,
        distinct: bool = False,
        note: str = "",
    ) -> None:
        if kind not in ("list", "tuple", None):
            raise ValueError(f"kind must be 'list', 'tuple' or None; got {kind!r}")
        self.item, self.kind, self.length = item, kind, length
        self.non_empty, self.distinct, self.note = non_empty, distinct, note

    def __repr__(self) -> str:
        return f"SequenceOf({self.item!r}, kind={self.kind!r}, length={self.length!r})"

    def is_satisfied_by(self, value: object) -> bool:
        container = tuple if self.kind == "tuple" else Sequence
        if not isinstance(value, container) or isinstance(value, (str, bytes)):
            return False
        items = list(value)
        if (self.length is not None and len(items) != self.length) or (self.non_empty and not items):
            return False
        # items first: distinctness is only asked of valid (e.g. hashable) items
        return all(self.item.is_satisfied_by(v) for v in items) and (not self.distinct or _distinct(items))

    def _describe(self) -> str:
        count = f"{self.length} " if self.length is not None else ""
        items = f"{count}{'distinct ' if self.distinct else ''}{self.item.describe_many()}"
        if self.kind is None:
            return items
        return f"a{' non-empty' if self.non_empty else ''} {self.kind} of {items}"


def check(value: object, name: str, owner: str | None, constraint: Constraint) -> object:
    """``value`` if ``constraint`` allows it, else the one-line :class:`~forgetlab.errors.InvalidParameterError`.

    Parameters
    ----------
    value : object
        The value given.
    name : str
        The parameter's name, e.g. ``"k"``.
    owner : str or None
        What it belongs to, e.g. ``"Alternating"``; None for a top-level field.
    constraint : Constraint
        What is allowed.

    Examples
    --------
    >>> check(30, "k", "Alternating", Interval(int, 1, 68))
    30
    >>> check(80, "k", "Alternating", Interval(int, 1, 68))
    Traceback (most recent call last):
    ...
    forgetlab.errors.InvalidParameterError: The 'k' parameter of Alternating must be an int in [1, 68]; got 80.
    """
    if not constraint.is_satisfied_by(value):
        raise invalid(name, owner, constraint.describe(), value)
    return value


def validate(owner: str | None, constraints: Mapping[str, Constraint], values: Mapping[str, object]) -> None:
    """Check every value against its constraint, in the table's order; raise on the first refused.

    Parameters
    ----------
    owner : str or None
        What the parameters belong to, e.g. ``"Replay"``; None for top-level fields.
    constraints : mapping of str to Constraint
        The declared table; every name in it must be in ``values``.
    values : mapping of str to object
        The values given, by parameter name.

    Raises
    ------
    InvalidParameterError
        For the first value its constraint refuses, naming the parameter, what is
        allowed and what was given.

    Examples
    --------
    >>> counts = {"k": Interval(int, 1, None), "n_epochs": Interval(int, 1, None)}
    >>> validate("Sampling", counts, {"k": 2, "n_epochs": 0})
    Traceback (most recent call last):
    ...
    forgetlab.errors.InvalidParameterError: The 'n_epochs' parameter of Sampling must be an int >= 1; got 0.
    """
    for name, constraint in constraints.items():
        check(values[name], name, owner, constraint)
