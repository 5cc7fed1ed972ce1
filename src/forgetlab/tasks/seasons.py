"""The tutorial's seasonal prices: ``A * days**2 + B * sin(pi * days + phi) + C``.

The year is the tutorial's grid of 365 proxy days, ``np.arange(-26, 26 + 1/7, 1/7)``.
Seasons are meteorological, by day index: winter is December to February (indices
334:365 then 0:59), spring 59:151, summer 151:243 and autumn 243:334 (the tutorial's two).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forgetlab.errors import invalid
from forgetlab.tasks._checks import TEST_SIZE
from forgetlab.tasks._split import train_test_split
from forgetlab.tasks.base import Curve, Stream, Task
from forgetlab.validation import AnyOf, Constraint, Interval, Options, SequenceOf, check, validate

__all__ = ["NORMALISATIONS", "SEASON", "SEASONS", "day_grid", "per_season", "price", "season_indices", "seasons"]

#: Day indices of each meteorological season on the 365-point grid.
SEASONS: dict[str, np.ndarray] = {
    "winter": np.r_[334:365, 0:59],
    "spring": np.arange(59, 151),
    "summer": np.arange(151, 243),
    "autumn": np.arange(243, 334),
}

#: How inputs are normalised: over every day of the stream's seasons (tutorial 2), over the
#: first season only (tutorial 1), or not at all.
NORMALISATIONS = ("stream", "first", "none")

#: One season's name.
SEASON = Options(*SEASONS)

#: What :func:`seasons` accepts (:mod:`forgetlab.validation`): the season names (the
#: top-level ``seasons`` parameter, each name checked by :func:`season_indices`), then
#: these; ``A``, ``B``, ``phi``, ``C`` take one number, or one per season
#: (:func:`per_season`).
CONSTRAINTS: dict[str, dict[str, Constraint]] = {
    "seasons": {"normalise": Options(*NORMALISATIONS), "test_size": TEST_SIZE},
}

_FINITE = Interval(float, None, None, noun="a finite number")


def per_season(n_seasons: int) -> Constraint:
    """What ``A``, ``B``, ``phi`` and ``C`` accept for ``n_seasons`` seasons.

    Examples
    --------
    >>> per_season(2).describe()
    'a finite number or a list of 2 finite numbers (one per season)'
    """
    return AnyOf(_FINITE, SequenceOf(_FINITE, length=n_seasons, note="(one per season)"))


def day_grid() -> np.ndarray:
    """The tutorial's 365 proxy days, from -26 to 26 in steps of 1/7.

    Examples
    --------
    >>> days = day_grid()
    >>> len(days), float(days[0]), round(float(days[-1]), 9)
    (365, -26.0, 26.0)
    """
    return np.arange(-26, 26 + 1 / 7, 1 / 7)


def price(days: np.ndarray, *, A: float = 0.005, B: float = 0.1, phi: float = 0.0, C: float = 1.0) -> np.ndarray:
    """The tutorial's price curve ``A * days**2 + B * sin(pi * days + phi) + C``.

    Examples
    --------
    >>> price(np.array([0.0, 10.0])).round(3).tolist()
    [1.0, 1.5]
    """
    return A * days**2 + B * np.sin(np.pi * days + phi) + C


def season_indices(name: str) -> np.ndarray:
    """Day indices of one season on :func:`day_grid`.

    Raises
    ------
    InvalidParameterError
        If ``name`` is not one of ``winter, spring, summer, autumn``.
    """
    if not SEASON.is_satisfied_by(name):  # the message names the list the CLI and configs give
        raise invalid("seasons", None, SequenceOf(SEASON).describe(), name)
    return SEASONS[name]


def _per_task(name: str, value: float | Sequence[float], n_tasks: int) -> list[float]:
    """One value per task from a scalar or a sequence (concept shift)."""
    check(value, name, "seasons", per_season(n_tasks))
    return [float(value)] * n_tasks if _FINITE.is_satisfied_by(value) else [float(v) for v in value]


def seasons(
    names: Sequence[str] = ("summer", "autumn"),
    *,
    A: float | Sequence[float] = 0.005,
    B: float | Sequence[float] = 0.1,
    phi: float | Sequence[float] = 0.0,
    C: float | Sequence[float] = 1.0,
    normalise: str = "stream",
    split_seed: int = 42,
    test_size: float = 0.25,
) -> Stream:
    """A stream of seasonal price-regression tasks, one per season, in the given order.

    Each season's days and prices are split into train and test sets exactly as the
    tutorial does: the same split as scikit-learn's ``train_test_split(days, prices,
    random_state=split_seed, test_size=test_size)`` (made without importing scikit-learn).
    Inputs are the days, normalised; targets are the prices.

    Parameters
    ----------
    names : sequence of str, default ("summer", "autumn")
        Seasons in training order; a season may repeat (a second year), its task is then
        named ``"winter_2"`` and so on.
    A, B, phi, C : float or sequence of float
        The price curve's parameters; a sequence gives one value per task (concept shift,
        e.g. ``phi=(0, -2 * np.pi / 7)`` as in the course's first tutorial).
    normalise : {"stream", "first", "none"}, default "stream"
        Normalise days with the mean and standard deviation of every day of the stream's
        seasons (the tutorial: summer and autumn together), of the first season only, or
        not at all.
    split_seed : int, default 42
        ``random_state`` of each season's train/test split.
    test_size : float, default 0.25
        Fraction of each season held out for testing, in (0, 1).

    Returns
    -------
    Stream
        Its tasks carry the noiseless price curve of their season for plots.

    Raises
    ------
    InvalidParameterError
        For an unknown season, an empty list, a parameter list of the wrong length, an
        unknown normalisation or a test size outside (0, 1).

    Examples
    --------
    >>> stream = seasons(["summer", "autumn"])
    >>> stream.task_names, stream.train_sizes
    (('summer', 'autumn'), (69, 68))
    >>> round(float(stream.input_offset[0]), 2)  # mean of summer and autumn days
    8.57
    """
    names = [names] if isinstance(names, str) else list(names)
    indices = [season_indices(name) for name in names]
    check(names, "seasons", None, SequenceOf(SEASON, non_empty=True))  # the names are known: is the list empty?
    validate("seasons", CONSTRAINTS["seasons"], {"normalise": normalise, "test_size": test_size})
    test_size = float(test_size)
    params = {key: _per_task(key, value, len(names)) for key, value in {"A": A, "B": B, "phi": phi, "C": C}.items()}

    days = day_grid()
    if normalise == "none":
        offset, scale = 0.0, 1.0
    else:
        span = days[np.unique(np.concatenate(indices if normalise == "stream" else indices[:1]))]
        offset, scale = float(np.mean(span)), float(np.std(span))

    tasks = []
    seen: dict[str, int] = {}
    for t, (name, idx) in enumerate(zip(names, indices, strict=True)):
        seen[name] = seen.get(name, 0) + 1
        curve_params = {key: values[t] for key, values in params.items()}
        season_days = np.expand_dims(days[idx], 1)
        season_prices = price(days, **curve_params)[idx]
        x_train, x_test, y_train, y_test = train_test_split(
            season_days, season_prices, random_state=split_seed, test_size=test_size
        )
        tasks.append(
            Task(
                name=name if seen[name] == 1 else f"{name}_{seen[name]}",
                x_train=(x_train - offset) / scale,
                y_train=y_train,
                x_test=(x_test - offset) / scale,
                y_test=y_test,
                curve=Curve(x=(season_days - offset) / scale, y=season_prices),
            )
        )
    description = {
        "kind": "seasons",
        "seasons": names,
        **{key: values if len(set(values)) > 1 else values[0] for key, values in params.items()},
        "normalise": normalise,
        "split_seed": split_seed,
        "test_size": test_size,
    }
    return Stream(
        tasks=tuple(tasks),
        name="seasons",
        input_offset=np.array([offset]),
        input_scale=np.array([scale]),
        description=description,
    )
