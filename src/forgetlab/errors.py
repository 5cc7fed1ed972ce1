"""The one family of errors forgetlab raises on bad input.

Every message names the parameter, what is allowed and what was given, in one line::

    The 'k' parameter of Alternating must be an int in [1, 68]; got 100.

The command line turns any :class:`ForgetlabError` into that line and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ForgetlabError", "InvalidParameterError", "about_item", "invalid"]


class ForgetlabError(Exception):
    """Base class of every error forgetlab raises on purpose."""


class InvalidParameterError(ForgetlabError, ValueError):
    """A parameter, a config field or user data is not allowed.

    Also a :class:`ValueError`, so code that catches ``ValueError`` keeps working.

    Attributes
    ----------
    parameter : str or None
        The parameter the error is about, when known (:func:`invalid` records it).
    owner : str or None
        What the parameter belongs to, as in the message.
    item : tuple of (str, int) or None
        Which item of a list of settings was refused, e.g. ``("schedules", 1)``: set by
        the code that validates the list (:class:`~forgetlab.experiment.Experiment`), so
        that a config can name the table the item came from.
    """

    def __init__(self, message: str, *, parameter: str | None = None, owner: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.owner = owner
        self.item: tuple[str, int] | None = None


def invalid(name: str, owner: str | None, allowed: str, got: object) -> InvalidParameterError:
    """Build an :class:`InvalidParameterError` with forgetlab's one message format.

    Parameters
    ----------
    name : str
        The parameter or field, e.g. ``"k"`` or ``"seeds"``.
    owner : str or None
        What the parameter belongs to, e.g. ``"Alternating"``; None for a top-level field.
    allowed : str
        What is allowed, phrased to follow "must be", e.g. ``"an int in [1, 68]"``.
    got : object
        The value that was given; shown with ``repr``.

    Examples
    --------
    >>> print(invalid("k", "Alternating", "an int in [1, 68]", 100))
    The 'k' parameter of Alternating must be an int in [1, 68]; got 100.
    >>> error = invalid("seeds", None, "a non-empty list of ints", [])
    >>> print(error)
    The 'seeds' parameter must be a non-empty list of ints; got [].
    >>> error.parameter
    'seeds'
    """
    where = f" of {owner}" if owner else ""
    message = f"The {name!r} parameter{where} must be {allowed}; got {got!r}."
    return InvalidParameterError(message, parameter=name, owner=owner)


@contextmanager
def about_item(section: str, index: int) -> Iterator[None]:
    """Record, on an :class:`InvalidParameterError` raised inside, the item of a list it is about.

    The message is unchanged; :attr:`InvalidParameterError.item` becomes ``(section, index)``
    (unless an inner block recorded one already), so a config can name its table.

    Examples
    --------
    >>> try:
    ...     with about_item("schedules", 1):
    ...         raise invalid("k", "Interspersed", "an int >= 1", 0)
    ... except InvalidParameterError as error:
    ...     print(error.item, error)
    ('schedules', 1) The 'k' parameter of Interspersed must be an int >= 1; got 0.
    """
    try:
        yield
    except InvalidParameterError as error:
        if error.item is None:
            error.item = (section, index)
        raise
