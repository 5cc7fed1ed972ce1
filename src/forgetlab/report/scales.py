r"""The y scales of the report: a symmetric-log axis for R², labelled in R², and a clipped linear one.

R² is unbounded below (a forgotten task scores -1000 while a learned one scores 0.99), so
the report draws it on the axis :math:`y' = \mathrm{sign}(y)\,\log_{10}(1 + |y|)`
(:func:`symlog`), with ticks in original units (:func:`symlog_ticks`); a button switches
to a linear axis clipped to :data:`LINEAR_R2_RANGE`. Bounded metrics (accuracy) keep a
linear axis over [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forgetlab.report.markup import numbers

__all__ = ["LINEAR_R2_RANGE", "YScale", "symlog", "symlog_inverse", "symlog_ticks"]

#: The linear R² axis: [-1, 1] with a margin; values below are clipped by the view.
LINEAR_R2_RANGE = (-1.05, 1.05)


def symlog(y: np.ndarray | Sequence[float] | float) -> np.ndarray:
    r"""The symmetric-log transform of the report's R² axis: :math:`y' = \mathrm{sign}(y)\,\log_{10}(1 + |y|)`.

    Monotone, odd, about linear near 0 (slope :math:`1/\ln 10`) and logarithmic for
    large :math:`|y|`, so -1000 and 0.99 are both readable on one axis. NaN stays NaN.

    Examples
    --------
    >>> symlog([-999.0, -1.0, 0.0, 0.99, 9.0]).round(3).tolist()
    [-3.0, -0.301, 0.0, 0.299, 1.0]
    """
    y = np.asarray(y, dtype=float)
    return np.sign(y) * np.log10(1.0 + np.abs(y))


def symlog_inverse(t: np.ndarray | Sequence[float] | float) -> np.ndarray:
    r"""The inverse of :func:`symlog`: :math:`y = \mathrm{sign}(y')\,(10^{|y'|} - 1)`.

    Examples
    --------
    >>> symlog_inverse(symlog([-1000.0, 0.5])).round(9).tolist()
    [-1000.0, 0.5]
    """
    t = np.asarray(t, dtype=float)
    return np.sign(t) * (10.0 ** np.abs(t) - 1.0)


def symlog_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks of a :func:`symlog` axis over ``[low, high]`` (transformed units), labelled in original units.

    0, ±1 and every power of ten in range (every k-th one when there are more than 8),
    and ±0.5 when the axis spans less than 2.5 transformed units; labels above
    1000 in magnitude are powers of ten in Plotly's markup (``10<sup>4</sup>``).

    Returns
    -------
    tickvals : list of float
        Positions, in transformed units, increasing.
    ticktext : list of str
        Their labels, in original units.

    Examples
    --------
    >>> values, labels = symlog_ticks(float(symlog(-20000.0)), float(symlog(1.0)))
    >>> labels
    ['-10<sup>4</sup>', '-1000', '-100', '-10', '-1', '0', '1']
    >>> symlog_ticks(float(symlog(-1.0)), float(symlog(1.0)))[1]
    ['-1', '-0.5', '0', '0.5', '1']
    """
    reach = min(max(abs(low), abs(high)), 300.0)  # in decades; beyond float range nothing is drawn anyway
    decades = list(range(int(np.floor(reach + 1e-9)) + 1))
    step = -(-len(decades) // 8)  # at most 8 powers of ten on each side
    magnitudes = [10.0**k for k in decades[::step]]
    if high - low < 2.5:
        magnitudes.append(0.5)
    candidates = sorted({0.0, *magnitudes, *(-m for m in magnitudes)})
    values = [float(symlog(c)) for c in candidates]
    keep = [(v, c) for v, c in zip(values, candidates, strict=True) if low - 1e-9 <= v <= high + 1e-9]
    return [v for v, _ in keep], [_tick_label(c) for _, c in keep]


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if magnitude > 1000:
        return f"{sign}10<sup>{round(np.log10(magnitude))}</sup>"
    return f"{sign}{magnitude:g}"


@dataclass(frozen=True)
class YScale:
    """The y axis shared by every panel of a metric: its range and ticks (symlog for R², else linear).

    Attributes
    ----------
    metric : str
        ``"r2"`` (symmetric-log) or another per-task metric (linear over [0, 1]).
    range : (float, float)
        The axis range, in drawn units (transformed for R²).
    tickvals, ticktext : tuple
        The R² axis's ticks (:func:`symlog_ticks`); empty for a linear axis.
    """

    metric: str
    range: tuple[float, float]
    tickvals: tuple[float, ...] = ()
    ticktext: tuple[str, ...] = ()

    @classmethod
    def of(cls, metric: str, curves: Sequence[pd.DataFrame]) -> YScale:
        """The scale that holds every ``median``, ``low`` and ``high`` of ``curves`` (and [0, 1] at least)."""
        if metric != "r2":
            return cls(metric, (-0.02, 1.02))
        values = np.concatenate([c[["median", "low", "high"]].to_numpy().ravel() for c in curves] or [np.zeros(1)])
        values = symlog(values[np.isfinite(values)])
        low, high = min(float(values.min(initial=0.0)), 0.0), max(float(values.max(initial=0.0)), float(symlog(1.0)))
        pad = 0.04 * (high - low)
        low, high = low - pad, high + pad
        tickvals, ticktext = symlog_ticks(low, high)
        return cls(metric, (low, high), tuple(tickvals), tuple(ticktext))

    def y(self, values: object) -> list[float | None]:
        """Values in drawn units (transformed for R²), as figure JSON."""
        return numbers(symlog(values) if self.metric == "r2" else values)

    def axis(self) -> dict:
        """Plotly's y-axis settings of this scale."""
        if self.metric != "r2":
            return {"range": list(self.range), "tickmode": "auto"}
        return {
            "range": list(self.range),
            "tickmode": "array",
            "tickvals": list(self.tickvals),
            "ticktext": list(self.ticktext),
        }
