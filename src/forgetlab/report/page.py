r"""The report of an output directory: one self-contained HTML file, and static figures.

:func:`write_report` reads an output directory (its tables with
:func:`forgetlab.store.load`, its manifest ``experiment.json``) and writes
``OUT/report.html``: one file that works offline. plotly.js is inlined once, each figure
is its data (JSON) drawn by one small script, and the page's Content-Security-Policy
lets it load nothing from anywhere (no CDN, no fonts, no MathJax) and run only its own
two scripts. The report holds, in order:

- score curves over epochs, one panel per (variant, schedule, strategy), one line per
  task: the median over seeds with the central 95% of seeds as a band
  (:data:`forgetlab.stats.BAND`), task switches as dashed lines. R² is drawn on a
  symmetric-log axis (:func:`symlog`) with a switch to a linear axis clipped to
  [-1, 1]; the x axis switches between epochs and samples seen;
- for regression, each panel's final predictions on every task's test set against the
  true targets (the tutorial's figure for 1-D inputs, predicted against true otherwise);
- score matrices ``R[i, j]`` (mean over seeds of the score on task ``j`` at the end of
  phase ``i``) for the panels that train one block of epochs per task in stream order
  (:func:`phase_ends`), and why the others have none;
- the stream metrics (ACC, BWT, FWT, forgetting, intransigence) and the final per-task
  scores over seeds (:func:`forgetlab.stats.summarise`), and paired comparisons between
  schedules and between strategies (:func:`forgetlab.stats.compare`);
- provenance: the fingerprint, config, package versions, machine, date and command, and
  the whole manifest.

Every name that comes from a config or the data (tasks, schedules, strategies, variants,
settings) is shown as text, never markup: escaped in the HTML (:func:`html.escape`),
escaped again inside figures (Plotly reads a few HTML tags, entities and ``%{...}``
references in its text), and in the embedded JSON ``<``, ``>`` and ``&`` are written
``\u003c``, ``\u003e``, ``\u0026``. Should anything slip through, the
Content-Security-Policy runs no script but the page's own two (allowed by their hashes).

:func:`write_figures` writes the static matplotlib figures of :mod:`forgetlab.plots`,
for papers: ``scores.<format>`` and, for 1-D regression streams,
``predictions.<format>``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import groupby
from pathlib import Path

import numpy as np
import pandas as pd

from forgetlab.errors import ForgetlabError, invalid
from forgetlab.results import STREAM_METRICS, TASK_METRICS
from forgetlab.stats import BAND, BETWEEN, at_epoch, compare, format_number, format_p_value, summarise
from forgetlab.store import MANIFEST, OutputError, load, part_files, write_atomic

__all__ = [
    "FIGURE_FORMATS",
    "REPORT",
    "check_formats",
    "phase_ends",
    "symlog",
    "symlog_inverse",
    "symlog_ticks",
    "write_figures",
    "write_report",
]

#: The report's file name inside an output directory.
REPORT = "report.html"

#: The formats :func:`write_figures` writes.
FIGURE_FORMATS = ("png", "svg", "pdf")

#: Panels with more task switches than this get no switch lines (alternating training
#: switches every epoch: the lines would hide the curves); the title says so.
MAX_SWITCH_LINES = 20

#: Individual seeds' predictions are drawn (beside their median) up to this many seeds.
MAX_SEEDS_DRAWN = 16

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
_METRIC_LABELS = {"r2": "R²", "accuracy": "accuracy", "acc": "ACC", "bwt": "BWT", "fwt": "FWT"}
_LINEAR_R2_RANGE = (-1.05, 1.05)


# --------------------------------------------------------------------------------------
# The symmetric-log scale of R²


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


# --------------------------------------------------------------------------------------
# Phases: which runs train one block of epochs per task, in stream order


def _trained_tasks(label: str, names: Sequence[str]) -> tuple[int, ...] | None:
    """The task indices a ``trained`` label names (task names joined with ``+``), or None.

    Names may themselves contain ``+``: the label is split wherever the pieces are
    exactly the stream's task names.
    """
    index = {name: i for i, name in enumerate(names)}

    @cache
    def parse(start: int) -> tuple[int, ...] | None:
        for name, i in index.items():
            end = start + len(name)
            if not label.startswith(name, start):
                continue
            if end == len(label):
                return (i,)
            if label[end] == "+" and end + 1 < len(label):
                rest = parse(end + 1)
                if rest is not None:
                    return (i, *rest)
        return None

    return parse(0) if label else None


def _blocks(trained: Sequence[str]) -> list[tuple[str, int]]:
    """Consecutive epochs that train the same tasks: ``(label, position of its last epoch)``."""
    blocks, position = [], -1
    for label, run in groupby(trained):
        position += len(list(run))
        blocks.append((label, position))
    return blocks


def phase_ends(trained: Sequence[str], task_names: Sequence[str]) -> list[int] | None:
    """Where each phase ends, if a run trains one block of epochs per task in stream order.

    A block is a run of consecutive epochs whose ``trained`` label (the tasks of the
    epoch's batch, joined with ``+``) is the same. The run has phases when there are as
    many blocks as tasks and block ``i``'s newest task is task ``i``: sequential
    training, and with replay or the cumulative strategy (``"a"``, then ``"a+b"``) too.
    Alternating or interspersed training has no phases.

    Parameters
    ----------
    trained : sequence of str
        A run's ``trained`` column, one label per recorded epoch, in epoch order.
    task_names : sequence of str
        The stream's tasks, in stream order.

    Returns
    -------
    list of int or None
        For each phase, the position (into ``trained``) of its last epoch; None if the
        run has no phases.

    Examples
    --------
    >>> phase_ends(["summer", "summer", "autumn", "autumn"], ["summer", "autumn"])
    [1, 3]
    >>> phase_ends(["a", "a+b", "a+b"], ["a", "b"])
    [0, 2]
    >>> phase_ends(["autumn+summer"] * 3, ["summer", "autumn"]) is None
    True
    >>> phase_ends(["summer", "autumn", "summer", "autumn"], ["summer", "autumn"]) is None
    True
    """
    blocks = _blocks(trained)
    if len(blocks) != len(task_names):
        return None
    for i, (label, _) in enumerate(blocks):
        tasks = _trained_tasks(label, task_names)
        if tasks is None or max(tasks) != i:
            return None
    return [end for _, end in blocks]


def _no_phases_reason(trained: Sequence[str], task_names: Sequence[str]) -> str:
    blocks = [label for label, _ in _blocks(trained)]
    shown = ", ".join(blocks[:3]) + (", ..." if len(blocks) > 3 else "")
    if len(blocks) == 1:
        return f"every epoch trains on {shown}: one block of epochs for {len(task_names)} tasks"
    if len(blocks) != len(task_names):
        return f"its epochs form {len(blocks)} blocks on the same tasks ({shown}), not one per task"
    return f"its blocks of epochs ({shown}) do not train the tasks in stream order"


# --------------------------------------------------------------------------------------
# What the report shows: panels of runs


@dataclass(frozen=True, eq=False)
class _Panel:
    """The runs of one (variant, schedule, strategy): their per-task score rows."""

    variant: str
    schedule: str
    strategy: str
    metric: str
    tasks: tuple[str, ...]
    rows: pd.DataFrame

    @property
    def name(self) -> str:
        return " / ".join([*([self.variant] if self.variant else []), self.schedule, self.strategy])

    @property
    def n_seeds(self) -> int:
        return int(self.rows["seed"].nunique())

    @cached_property
    def epochs(self) -> pd.DataFrame:
        """The first run's recorded epochs: ``epoch``, ``samples_seen``, ``trained``."""
        rows = self.rows[self.rows["run"] == self.rows["run"].iloc[0]]
        return rows.drop_duplicates("epoch")[["epoch", "samples_seen", "trained"]].reset_index(drop=True)

    @cached_property
    def same_plan(self) -> bool:
        """Whether every run of the panel records the same epochs, training the same tasks."""
        per_run = self.rows.drop_duplicates(["run", "epoch"]).pivot(index="run", columns="epoch", values="trained")
        return bool((per_run == per_run.iloc[0]).to_numpy().all())

    def phase_ends(self) -> list[int] | None:
        """Where the runs' phases end (:func:`phase_ends`), positions into :attr:`epochs`; None without phases."""
        return phase_ends(self.epochs["trained"].tolist(), self.tasks) if self.same_plan else None

    def no_phases_reason(self) -> str:
        if not self.same_plan:
            return "its runs train different sequences of tasks"
        return _no_phases_reason(self.epochs["trained"].tolist(), self.tasks)


def _panels(scores: pd.DataFrame) -> list[_Panel]:
    rows = scores[scores["metric"].isin(TASK_METRICS)]
    panels = []
    for (variant, schedule, strategy), part in rows.groupby(["variant", "schedule", "strategy"], sort=False):
        metric = str(part["metric"].iloc[0])
        part = part[part["metric"] == metric]
        tasks = tuple(str(task) for task in dict.fromkeys(part["task"]))
        panels.append(_Panel(str(variant), str(schedule), str(strategy), metric, tasks, part))
    return panels


def _curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Per epoch, over seeds: samples seen, median, the 95% band and the number of finite values."""
    by_epoch = rows.groupby("epoch")
    return pd.DataFrame(
        {
            "samples": by_epoch["samples_seen"].median(),
            "median": by_epoch["value"].median(),
            "low": by_epoch["value"].quantile(BAND[0] / 100),
            "high": by_epoch["value"].quantile(BAND[1] / 100),
            "n": by_epoch["value"].count(),
        }
    ).reset_index()


# --------------------------------------------------------------------------------------
# Figures, as Plotly's JSON (plain dicts)


def _text(name: object) -> str:
    """A name as literal text inside a Plotly figure.

    Plotly reads a few HTML tags (``<b>``, ``<br>``, ``<a href>``...) and entities in
    its text, and ``%{...}`` references in titles: ``<``, ``>`` and ``&`` become
    entities and ``%`` becomes ``&#37;``, which Plotly turns back into the characters
    only when it draws them, as text.

    Examples
    --------
    >>> _text("<b>a</b> & 5%{x}")
    '&lt;b&gt;a&lt;/b&gt; &amp; 5&#37;{x}'
    """
    return html.escape(str(name), quote=False).replace("%", "&#37;")


def _numbers(values: object, digits: int = 6) -> list[float | None]:
    """Floats with ``digits`` significant digits (a small file), None for NaN or infinite."""
    array = np.asarray(values, dtype=float).ravel()
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in array]


def _color(index: int, alpha: float | None = None) -> str:
    color = _COLORS[index % len(_COLORS)]
    if alpha is None:
        return color
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


@dataclass(frozen=True)
class _Scale:
    """The y axis shared by every panel of a metric: range and ticks (symlog for R²)."""

    metric: str
    range: tuple[float, float]
    tickvals: tuple[float, ...] = ()
    ticktext: tuple[str, ...] = ()

    @classmethod
    def of(cls, metric: str, curves: Sequence[pd.DataFrame]) -> _Scale:
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
        return _numbers(symlog(values) if self.metric == "r2" else values)

    def axis(self) -> dict:
        if self.metric != "r2":
            return {"range": list(self.range), "tickmode": "auto"}
        return {
            "range": list(self.range),
            "tickmode": "array",
            "tickvals": list(self.tickvals),
            "ticktext": list(self.ticktext),
        }


def _switches(panel: _Panel) -> list[tuple[int, float, str]]:
    """Where the first run's trained tasks change: (last epoch before, its samples seen, the new label)."""
    epochs = panel.epochs
    trained = epochs["trained"].tolist()
    return [
        (int(epochs["epoch"][i]), float(epochs["samples_seen"][i]), trained[i + 1])
        for i in range(len(trained) - 1)
        if trained[i] != trained[i + 1]
    ]


def _switch_shapes(switches: Sequence[tuple[int, float, str]], *, samples: bool) -> list[dict]:
    if len(switches) > MAX_SWITCH_LINES:
        return []
    shapes = []
    for epoch, seen, label in switches:
        x = seen if samples else epoch
        shape = {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": x,
            "x1": x,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#777", "width": 1, "dash": "dash"},
        }
        if len(switches) <= 6:
            shape["label"] = {
                "text": _text(f"→ {label}"),
                "textposition": "end",
                "textangle": 0,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"size": 10, "color": "#555"},
            }
        shapes.append(shape)
    return shapes


def _button(label: str, data: dict, layout: dict) -> dict:
    return {"label": label, "method": "update", "args": [data, layout]}


def _menu(buttons: list[dict], *, right: bool) -> dict:
    """A row of buttons above the plot, at its left or right end."""
    where = {"x": 1, "xanchor": "right"} if right else {"x": 0, "xanchor": "left"}
    style = {"type": "buttons", "direction": "right", "showactive": True, "active": 0, "font": {"size": 11}}
    return {**style, **where, "y": 1.01, "yanchor": "bottom", "pad": {"t": 0, "b": 2}, "buttons": buttons}


def _legend(n_entries: int) -> tuple[dict, int]:
    """A horizontal legend at the bottom of the figure, and the bottom margin it needs."""
    rows = -(-n_entries // 2)
    return {"orientation": "h", "x": 0, "xref": "container", "y": 0.005, "yref": "container", "yanchor": "bottom"}, (
        52 + 20 * rows
    )


def _score_figure(panel: _Panel, scale: _Scale) -> dict:
    """A panel's score curves: median over seeds and 95% band per task; buttons to switch x and y."""
    label = _METRIC_LABELS.get(panel.metric, panel.metric)
    several = panel.n_seeds > 1
    traces: list[dict] = []
    # each trace's data in both units of x and (R²) both scales of y, for the buttons
    views: dict[str, list] = {"epoch": [], "samples": [], "symlog": [], "linear": []}

    def add(trace: dict, epochs: object, samples: object, values: object) -> None:
        traces.append({**trace, "x": _numbers(epochs), "y": scale.y(values)})
        views["epoch"].append(_numbers(epochs))
        views["samples"].append(_numbers(samples))
        views["symlog"].append(_numbers(symlog(values)))
        views["linear"].append(_numbers(values))

    hover = "epoch %{customdata[0]}, %{customdata[1]} samples seen<br>"
    if several:
        hover += f"median {label} %{{customdata[2]:.4~r}}<br>95% of seeds: [%{{customdata[3]:.4~r}}, "
        hover += "%{customdata[4]:.4~r}]"
    else:
        hover += f"{label} %{{customdata[2]:.4~r}}"
    for i, task in enumerate(panel.tasks):
        curve = _curve(panel.rows[panel.rows["task"] == task])
        common = {"type": "scatter", "name": _text(task), "legendgroup": f"task-{i}"}
        if several:  # the band: a closed polygon, up along the 97.5th percentile and back along the 2.5th
            band = curve.dropna(subset=["low", "high"])
            back = band.iloc[::-1]
            fill = {"mode": "lines", "fill": "toself", "fillcolor": _color(i, 0.2), "line": {"width": 0}}
            add(
                {**common, **fill, "showlegend": False, "hoverinfo": "skip"},
                np.concatenate([band["epoch"], back["epoch"]]),
                np.concatenate([band["samples"], back["samples"]]),
                np.concatenate([band["high"], back["low"]]),
            )
        custom = np.column_stack([curve["epoch"], curve["samples"], curve["median"], curve["low"], curve["high"]])
        line = {"mode": "lines+markers" if len(curve) <= 30 else "lines", "line": {"color": _color(i), "width": 2}}
        line |= {"marker": {"size": 5}, "customdata": [_numbers(row) for row in custom], "hovertemplate": hover}
        add({**common, **line}, curve["epoch"], curve["samples"], curve["median"])

    switches = _switches(panel)
    title = f"<b>{_text(panel.name)}</b> ({panel.n_seeds} seed{'s' if several else ''})"
    if len(switches) > MAX_SWITCH_LINES:
        title += f"<br><span style='font-size:11px'>the trained tasks change {len(switches)} times: not marked</span>"
    y_title = f"test {label}" + (" (median, 95% of seeds)" if several else "")
    by_epoch = {"shapes": _switch_shapes(switches, samples=False), "xaxis.title.text": "epoch"}
    by_samples = {"shapes": _switch_shapes(switches, samples=True), "xaxis.title.text": "samples seen"}
    x_buttons = [
        _button("epochs", {"x": views["epoch"]}, {**by_epoch, "xaxis.autorange": True}),
        _button("samples seen", {"x": views["samples"]}, {**by_samples, "xaxis.autorange": True}),
    ]
    menus = [_menu(x_buttons, right=False)]
    if panel.metric == "r2":
        symlog_axis = {f"yaxis.{key}": value for key, value in scale.axis().items()} | {"yaxis.title.text": y_title}
        linear_axis = {"yaxis.range": list(_LINEAR_R2_RANGE), "yaxis.tickmode": "auto"}
        linear_axis["yaxis.title.text"] = y_title + ", clipped"
        y_buttons = [
            _button("symlog", {"y": views["symlog"]}, symlog_axis),
            _button("linear [-1, 1]", {"y": views["linear"]}, linear_axis),
        ]
        menus.append(_menu(y_buttons, right=True))
    legend, bottom = _legend(len(panel.tasks))
    layout = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top", "font": {"size": 14}},
        "height": 380 + bottom,
        "margin": {"l": 64, "r": 16, "t": 96, "b": bottom},
        "xaxis": {"title": {"text": "epoch"}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, **scale.axis(), "zeroline": True, "zerolinecolor": "#aaa"},
        "shapes": _switch_shapes(switches, samples=False),
        "updatemenus": menus,
        "legend": legend,
        "hovermode": "closest",
        "plot_bgcolor": "#fff",
    }
    return {"data": traces, "layout": layout}


def _predictions_figure(panel: _Panel, predictions: pd.DataFrame, *, one_dimensional: bool, axes: tuple) -> dict:
    """A regression panel's final predictions per task: against x with the true curve (1-D), else against the truth."""
    traces = []
    sample = predictions.groupby(["run", "task"], sort=False).cumcount()
    first_run = predictions["run"].iloc[0]
    n_seeds = int(predictions["seed"].nunique())
    lows, highs = [], []
    for i, task in enumerate(panel.tasks):
        rows = predictions[predictions["task"] == task]
        if rows.empty:
            continue
        truth = rows[rows["run"] == first_run].sort_values("x", kind="stable")
        by_sample = rows.groupby(sample[rows.index])
        median = pd.DataFrame(
            {"x": by_sample["x"].first(), "y_true": by_sample["y_true"].first(), "y_pred": by_sample["y_pred"].median()}
        )
        lows.append(min(rows["y_true"].min(), rows["y_pred"].min()))
        highs.append(max(rows["y_true"].max(), rows["y_pred"].max()))
        group = f"task-{i}"
        if one_dimensional:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "true (test targets)",
                    "legendgroup": "true",
                    "showlegend": i == 0,
                    "x": _numbers(truth["x"]),
                    "y": _numbers(truth["y_true"]),
                    "line": {"color": "#222", "width": 1.5},
                    "hovertemplate": "x %{x:.4~r}<br>true %{y:.4~r}",
                }
            )
            x_seed, x_median = rows["x"], median["x"]
        else:
            x_seed, x_median = rows["y_true"], median["y_true"]
        if 1 < n_seeds <= MAX_SEEDS_DRAWN:
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": _text(f"{task}: each seed"),
                    "legendgroup": group,
                    "x": _numbers(x_seed),
                    "y": _numbers(rows["y_pred"]),
                    "opacity": 0.35,
                    "marker": {"color": _color(i), "size": 4},
                    "hoverinfo": "skip",
                }
            )
        what = f"median of {n_seeds} seeds" if n_seeds > 1 else "predictions"
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _text(f"{task}: {what}"),
                "legendgroup": group,
                "x": _numbers(x_median),
                "y": _numbers(median["y_pred"]),
                "customdata": _numbers(median["y_true"]),
                "marker": {"color": _color(i), "size": 7, "line": {"color": "#fff", "width": 0.5}},
                "hovertemplate": f"{axes[0]} %{{x:.4~r}}<br>predicted %{{y:.4~r}}<br>true %{{customdata:.4~r}}",
            }
        )
    if not one_dimensional and lows:
        low, high = float(min(lows)), float(max(highs))
        traces.insert(
            0,
            {
                "type": "scatter",
                "mode": "lines",
                "name": "predicted = true",
                "x": [low, high],
                "y": [low, high],
                "line": {"color": "#222", "width": 1, "dash": "dot"},
                "hoverinfo": "skip",
            },
        )
    x_title, y_title = axes if one_dimensional else (f"true {axes[1]}", f"predicted {axes[1]}")
    what = f"{n_seeds} seeds" if n_seeds > 1 else "1 seed"
    legend, bottom = _legend(sum(trace.get("showlegend", True) for trace in traces))
    layout = {
        "title": {
            "text": f"<b>{_text(panel.name)}</b> (final models, {what})",
            "x": 0.01,
            "xanchor": "left",
            "font": {"size": 14},
        },
        "height": 330 + bottom,
        "margin": {"l": 64, "r": 16, "t": 56, "b": bottom},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "legend": legend,
        "hovermode": "closest",
        "plot_bgcolor": "#fff",
    }
    return {"data": traces, "layout": layout}


def _score_matrix(panel: _Panel, ends: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds of R[i, j] (score on task j at the end of phase i), and the number of finite values.

    The panel's runs record the same epochs (:attr:`_Panel.same_plan`), so phase ``i`` ends at the same
    epoch in every run; NaN scores (diverged runs) are left out of the mean and the count.
    """
    last = panel.epochs["epoch"].to_numpy()[list(ends)]
    rows = panel.rows[panel.rows["epoch"].isin(last)]
    stats = rows.groupby(["epoch", "task"])["value"].agg(["mean", "count"])
    index = pd.MultiIndex.from_product([last, list(panel.tasks)], names=["epoch", "task"])
    stats = stats.reindex(index)
    shape = (len(last), len(panel.tasks))
    return stats["mean"].to_numpy(dtype=float).reshape(shape), stats["count"].fillna(0).to_numpy(dtype=int).reshape(
        shape
    )


def _matrix_figure(panel: _Panel, R: np.ndarray, counts: np.ndarray) -> dict:
    label = _METRIC_LABELS.get(panel.metric, panel.metric)
    names = [_text(task) for task in panel.tasks]
    text = [[_number(v) for v in row] for row in R]
    heatmap = {
        "type": "heatmap",
        "x": names,
        "y": names,
        "text": text,
        "texttemplate": "%{text}",
        "customdata": counts.tolist(),
        "xgap": 2,
        "ygap": 2,
        "hovertemplate": "after the phase on %{y}<br>"
        + label
        + " on %{x}: %{text}<br>%{customdata} seeds<extra></extra>",
    }
    if panel.metric == "r2":
        z = symlog(R)
        finite = z[np.isfinite(z)]
        low = min(float(finite.min(initial=0.0)), -float(symlog(1.0)))
        high = max(float(finite.max(initial=0.0)), float(symlog(1.0)))
        tickvals, ticktext = symlog_ticks(low, high)
        heatmap |= {
            "z": [_numbers(row) for row in z],
            "zmin": low,
            "zmax": high,
            "zmid": 0,
            "colorscale": [[0, "#b2182b"], [0.5, "#f7f7f7"], [1, "#2166ac"]],
            "colorbar": {
                "tickmode": "array",
                "tickvals": tickvals,
                "ticktext": ticktext,
                "title": {"text": f"mean {label}"},
            },
        }
    else:
        heatmap |= {
            "z": [_numbers(row) for row in R],
            "zmin": 0,
            "zmax": 1,
            "colorscale": [[0, "#f7fbff"], [1, "#2166ac"]],
            "colorbar": {"title": {"text": f"mean {label}"}},
        }
    size = 120 + 70 * len(names)
    layout = {
        "title": {
            "text": f"<b>{_text(panel.name)}</b> (mean of {panel.n_seeds} seeds)",
            "x": 0.01,
            "xanchor": "left",
            "font": {"size": 14},
        },
        "height": max(320, size),
        "margin": {"l": 110, "r": 16, "t": 56, "b": 90},
        "xaxis": {"title": {"text": "score on task"}, "type": "category", "tickangle": -30},
        "yaxis": {"title": {"text": "after the phase on"}, "type": "category", "autorange": "reversed"},
    }
    return {"data": [heatmap], "layout": layout}


# --------------------------------------------------------------------------------------
# Tables


def _number(value: float | None, digits: int = 3) -> str:
    return format_number(value, digits, missing="–")


def _p(value: float) -> str:
    return format_p_value(value, missing="–")


def _esc(value: object) -> str:
    return html.escape(str(value))


def _caption(text: str) -> str:
    return f'<p class="caption">{_esc(text)}</p>\n'


def _note(text: str) -> str:
    return f'<p class="note">{_esc(text)}</p>\n'


def _grid(figures: str) -> str:
    return f'<div class="grid">\n{figures}\n</div>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool], table_id: str) -> str:
    """An HTML table; every cell is escaped here (pass plain text)."""

    def cells(tag: str, line: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{' class=num' if right else ''}>{_esc(cell)}</{tag}>"
            for cell, right in zip(line, numeric, strict=True)
        )

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<div class="table-wrap"><table id="{table_id}">\n<thead><tr>{cells("th", header)}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _stream_metric_table(scores: pd.DataFrame, by: list[str]) -> str | None:
    rows = scores[(scores["task"] == "all") & scores["metric"].isin(STREAM_METRICS)]
    if rows.empty:
        return None
    summary = summarise(rows, by=by)
    metrics = [m for m in STREAM_METRICS if m in set(summary["metric"])]
    header = [*by, "seeds", *(f"{_METRIC_LABELS.get(m, m)} (95% CI)" for m in metrics)]
    lines = []
    for key, group in summary.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cells = {row.metric: row for row in group.itertuples(index=False)}
        line = [*map(str, key), str(max(row.n_seeds for row in cells.values()))]
        for metric in metrics:
            row = cells.get(metric)
            line.append("–" if row is None else f"{_number(row.mean)} [{_number(row.low)}, {_number(row.high)}]")
        lines.append(line)
    return _table(header, lines, [False] * len(by) + [True] * (1 + len(metrics)), "stream-metrics")


def _final_table(scores: pd.DataFrame, by: list[str], metrics: Sequence[str]) -> str:
    header = [*by, "task", "metric", "epochs", "samples seen", "seeds", "mean", "95% CI", "median", "diverged"]
    lines = []
    for metric in metrics:
        last = at_epoch(scores, metric=metric, epoch="last", owner="report")
        keys = [*by, "task"]
        summary = summarise(last, metric=metric, by=keys)
        budget = last.groupby(keys, sort=False)[["epoch", "samples_seen"]].median()
        for row in summary.itertuples(index=False):
            record = row._asdict()
            epoch, seen = budget.loc[tuple(record[k] for k in keys)]
            lines.append(
                [str(record[k]) for k in keys]
                + [_METRIC_LABELS.get(metric, metric), f"{epoch:g}", f"{seen:g}", str(record["n_seeds"])]
                + [_number(record["mean"]), f"[{_number(record['low'])}, {_number(record['high'])}]"]
                + [_number(record["median"]), str(record["n_diverged"])]
            )
    numeric = [False] * (len(by) + 2) + [True] * 4 + [False, True, True]
    return _table(header, lines, numeric, "final-scores")


def _comparison_tables(scores: pd.DataFrame, metrics: Sequence[str]) -> list[tuple[str, str]]:
    """(caption, table) of every comparison: between schedules, and between strategies, per per-task metric."""
    tables = []
    for metric in metrics:
        rows = scores[scores["metric"] == metric]
        for between in BETWEEN:
            if rows[between].nunique() < 2:
                continue
            table = compare(scores, between=between, metric=metric)
            strata = list(table.columns[: table.columns.get_loc("a")])
            header = [*strata, "a", "b", "pairs", "median a−b", "W", "p", "p Holm", "r", "note"]
            lines = [
                [str(row[c]) for c in [*strata, "a", "b"]]
                + [str(row["n_pairs"]), _number(row["median_difference"]), _number(row["statistic"], 1)]
                + [_p(row["p_value"]), _p(row["p_holm"]), _number(row["rank_biserial"], 2), row["note"]]
                for row in table.to_dict("records")
            ]
            n_tests = int(table["p_value"].notna().sum())
            caption = (
                f"Between {between}s, on the final {_METRIC_LABELS.get(metric, metric)} of each task (each run's "
                f"last epoch): pairs of runs with the same seed, difference a − b, Wilcoxon signed-rank test (W), "
                f"p Holm-adjusted over the {n_tests} test{'s' if n_tests != 1 else ''} of this table, "
                f"r = matched-pairs rank-biserial correlation (> 0: a scores higher)."
            )
            numeric = [False] * (len(strata) + 2) + [True] * 6 + [False]
            tables.append((caption, _table(header, lines, numeric, f"compare-{between}-{metric}")))
    return tables


# --------------------------------------------------------------------------------------
# Provenance


def _read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ForgetlabError(f"The manifest {str(path)!r} cannot be read: {error}.") from None
    if not isinstance(manifest, dict):
        raise ForgetlabError(f"The manifest {str(path)!r} is not a JSON object.")
    return manifest


def _streams(manifest: dict | None) -> dict[str, dict]:
    """Each variant's stream description, by variant name ("" for a single experiment)."""
    if not manifest:
        return {}
    if "variants" in manifest:
        return {str(v.get("name", "")): v.get("experiment", {}).get("stream", {}) for v in manifest["variants"]}
    return {"": manifest.get("stream", {})}


def _one_dimensional(stream: dict) -> bool:
    """Whether a stream description says its inputs are 1-D (the seasons' days, 1-column arrays)."""
    return stream.get("kind") == "seasons" or stream.get("n_features") == 1


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _session_rows(session: dict) -> list[list[str]]:
    """One session's provenance (:func:`forgetlab.store.provenance`) as (field, value) rows."""
    versions = session.get("versions") or {}
    machine = session.get("machine") or {}
    command = session.get("command")
    return [
        ["date", str(session.get("date", "?"))],
        ["command", shlex.join(map(str, command)) if isinstance(command, list) else str(command or "?")],
        ["versions", ", ".join(f"{name} {version}" for name, version in versions.items() if version)],
        ["python", str(session.get("python", "?"))],
        [
            "machine",
            f"{machine.get('platform', '?')}, {machine.get('processor', '?')}, {machine.get('cpus', '?')} CPUs",
        ],
    ]


def _provenance(manifest: dict | None, out: Path) -> str:
    if manifest is None:
        return _note(f"No {MANIFEST} in this directory: how these results were made is not recorded.")
    rows = [["fingerprint", str(manifest.get("fingerprint", "?"))], *_session_rows(manifest.get("provenance") or {})]
    for i, session in enumerate(manifest.get("resumed", []), start=1):
        rows += [[f"resumed ({i}): {field}", value] for field, value in _session_rows(session)]
    text = (
        "The fingerprint is the SHA-256 of what the results depend on (the experiment's description in the "
        "manifest, not the config's text nor the provenance); below it, the session that started the experiment "
        "and any that resumed it."
    )
    parts = [_caption(text), _table(["", ""], rows, [False, False], "provenance-table")]
    if manifest.get("config"):
        parts.append(f'<h3>Config</h3>\n<pre id="config">{_esc(_pretty(manifest["config"]))}</pre>')
    parts.append(
        f"<details><summary>The whole manifest ({_esc(out / MANIFEST)})</summary>\n"
        f'<pre id="manifest">{_esc(_pretty(manifest))}</pre></details>'
    )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------
# The page


def _json_for_html(value: object) -> str:
    """JSON safe inside an HTML ``<script>`` element: ``<``, ``>`` and ``&`` as \\u escapes.

    Examples
    --------
    >>> _json_for_html({"name": "</script><b>&"})
    '{"name":"\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0;
       color: #1d1d1f; background: #fafafa; line-height: 1.45; }
header, main { max-width: 1400px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 1.6em; margin: 0.2em 0; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; }
nav a { margin-right: 1em; }
.caption, .note { color: #444; max-width: 75em; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
.figure { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; min-height: 320px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; background: #fff; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #f0f0f0; }
#provenance-table td { white-space: normal; }
#provenance-table thead { display: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #fff; border: 1px solid #e3e3e3; padding: 10px; overflow-x: auto; font-size: 0.85em; }
code { font-size: 0.95em; }
footer { color: #777; font-size: 0.85em; max-width: 1400px; margin: 3em auto 2em; padding: 0 24px; }
"""

_RENDER = """(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("plotly-config").textContent);
  var drawn = [];
  document.querySelectorAll("script.figure-data").forEach(function (node) {
    var figure = JSON.parse(node.textContent);
    var target = document.getElementById(node.getAttribute("data-figure"));
    drawn.push(Plotly.newPlot(target, figure.data, figure.layout, config));
  });
  Promise.all(drawn).then(function () {
    document.body.setAttribute("data-figures-drawn", String(drawn.length));
  });
})();"""

_PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "typesetMath": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    "toImageButtonOptions": {"format": "svg"},
}


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


class _Figures:
    """Collects figures as a div and its JSON each, numbered in page order."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, figure: dict) -> str:
        name = f"figure-{self.count}"
        self.count += 1
        figure = {"data": figure["data"], "layout": figure["layout"]}
        data = _json_for_html(figure)
        return (
            f'<div class="figure" id="{name}"></div>\n'
            f'<script type="application/json" class="figure-data" data-figure="{name}">{data}</script>'
        )


_Section = tuple[str, str, str]  # (anchor, heading, HTML body)


def _scores_section(panels: Sequence[_Panel], figures: _Figures) -> _Section:
    metrics = list(dict.fromkeys(panel.metric for panel in panels))
    curves = {
        m: [_curve(p.rows[p.rows["task"] == t]) for p in panels if p.metric == m for t in p.tasks] for m in metrics
    }
    scales = {metric: _Scale.of(metric, curves[metric]) for metric in metrics}
    caption = (
        "Each task's test score after every epoch: the median over seeds as a line, the central 95% of seeds "
        f"({BAND[0]:g}th to {BAND[1]:g}th percentile) as a band; dashed lines mark where the trained tasks change "
        "(after that epoch, training moves on). The buttons switch the x axis between epochs and samples seen. "
        "Schedules differ in the samples an epoch trains on (the tutorial's alternating schedule trains one task's "
        "K samples per epoch, the interspersed one K of each task, so alternating needs twice the epochs for the "
        "same samples): compare schedules at equal sample budgets, on the samples axis."
    )
    if "r2" in metrics:
        caption += (
            " R² is unbounded below (a forgotten task scores -1000 while a learned one scores 0.99), so its axis is "
            "symmetric-logarithmic, y' = sign(y)·log10(1 + |y|), labelled in R²; the other button shows a linear "
            "axis clipped to [-1, 1]. Hover for exact values."
        )
    grid = "\n".join(figures.add(_score_figure(panel, scales[panel.metric])) for panel in panels)
    return "scores", "Scores over epochs", _caption(caption) + _grid(grid)


def _predictions_section(
    panels: Sequence[_Panel], predictions: pd.DataFrame, manifest: dict | None, figures: _Figures
) -> _Section:
    streams = _streams(manifest)
    blocks = []
    for panel in panels:
        rows = predictions[
            (predictions["variant"] == panel.variant)
            & (predictions["schedule"] == panel.schedule)
            & (predictions["strategy"] == panel.strategy)
        ]
        if rows.empty:
            continue
        stream = streams.get(panel.variant, {})
        axes = ("day", "price") if stream.get("kind") == "seasons" else ("x", "y")
        figure = _predictions_figure(panel, rows, one_dimensional=_one_dimensional(stream), axes=axes)
        blocks.append(figures.add(figure))
    text = (
        "The final model of every run on every task's test set. For 1-D inputs, the true targets sorted by x "
        "as a line and the predictions as points (the tutorial's figure); otherwise the predictions against "
        "the true targets, with the diagonal. Large points: the median prediction over seeds per test sample; "
        f"small points: each seed's (with at most {MAX_SEEDS_DRAWN} seeds)."
    )
    return "predictions", "Predictions", _caption(text) + _grid("\n".join(blocks))


def _matrices_section(panels: Sequence[_Panel], figures: _Figures) -> _Section:
    drawn, without = [], []
    for panel in panels:
        ends = panel.phase_ends()
        if ends is None:
            without.append(f"<li><strong>{_esc(panel.name)}</strong>: {_esc(panel.no_phases_reason())}.</li>")
        else:
            drawn.append(figures.add(_matrix_figure(panel, *_score_matrix(panel, ends))))
    text = (
        "R[i, j]: the mean over seeds of the score on task j (columns) at the last epoch of phase i (rows: the "
        "block of epochs that trains task i, alone or with earlier tasks). Below the diagonal: what is kept of "
        "earlier tasks; above: transfer to tasks not yet trained. Only panels that train one block of epochs per "
        "task in stream order have phases."
    )
    body = _caption(text) + _grid("\n".join(drawn))
    if without:
        body += '\n<p class="note">No score matrix for:</p>\n<ul id="no-score-matrix">' + "\n".join(without) + "</ul>"
    return "matrices", "Score matrices", body


def _summary_section(scores: pd.DataFrame, by: list[str], metrics: Sequence[str]) -> _Section:
    body = []
    stream_table = _stream_metric_table(scores, by)
    if stream_table is not None:
        text = (
            "Stream metrics of every run with one phase per task (rows with task 'all'): ACC, BWT and FWT "
            "(Lopez-Paz & Ranzato 2017; FWT against the untrained model), forgetting (Chaudhry et al. 2018) and "
            "intransigence (against the cumulative strategy's run of the same seed). Mean over seeds with a 95% "
            "percentile bootstrap interval of the mean (seeds resampled)."
        )
        body.append("<h3>Stream metrics</h3>\n" + _caption(text) + stream_table)
    text = (
        "Each task's score at each run's last epoch: mean over seeds with a 95% percentile bootstrap interval of "
        "the mean (seeds resampled), the median, and the runs that diverged (left out). Epochs and samples seen "
        "are each group's training budget: schedules that differ in it are not compared at equal cost."
    )
    if stream_table is None:
        text = (
            "No stream metrics: only continual runs (with strategies, or on a classification stream) that train "
            "one phase per task have them. " + text
        )
    body.append("<h3>Final scores</h3>\n" + _caption(text) + _final_table(scores, by, metrics))
    return "summary", "Summary over seeds", "\n".join(body)


def _comparisons_section(scores: pd.DataFrame, metrics: Sequence[str]) -> _Section:
    comparisons = _comparison_tables(scores, metrics)
    if comparisons:
        body = "\n".join(_caption(caption) + table for caption, table in comparisons)
    else:
        body = _note("One schedule and one strategy: nothing to compare.")
    return "comparisons", "Paired comparisons", body


def _page(out: Path, sections: Sequence[_Section], summary: str, manifest: dict | None) -> str:
    """The HTML document: head (with its Content-Security-Policy), sections, plotly.js and the renderer."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    plotly_js = get_plotlyjs()
    if "</script" in plotly_js.lower():  # never in the plotly.js builds seen; would end the script element early
        plotly_js = plotly_js.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(plotly_js)} {_csp_hash(_RENDER)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'"
    )
    fingerprint = (manifest or {}).get("fingerprint", "")
    date = ((manifest or {}).get("provenance") or {}).get("date", "")
    nav = " ".join(f'<a href="#{key}">{_esc(title)}</a>' for key, title, _ in sections)
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>forgetlab report: {_esc(out.resolve().name)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
    )
    header = (
        f"<header><h1>forgetlab report</h1>\n<p><code>{_esc(out)}</code>: {_esc(summary)}"
        + (f"; experiment {_esc(fingerprint[:12])}" if fingerprint else "")
        + (f", started {_esc(date)}" if date else "")
        + f".</p>\n<nav>{nav}</nav>\n"
        "<noscript><p>The figures need JavaScript; the tables do not.</p></noscript></header>\n<main>\n"
    )
    main = "\n".join(
        f'<section id="{key}">\n<h2>{_esc(title)}</h2>\n{body}\n</section>' for key, title, body in sections
    )
    footer = (
        f"</main>\n<footer>Written by forgetlab {_esc(_version())} with plotly.js {_esc(get_plotlyjs_version())} "
        "(inlined: this file needs nothing else).</footer>\n"
        f'<script type="application/json" id="plotly-config">{_json_for_html(_PLOTLY_CONFIG)}</script>\n'
    )
    scripts = f"<script>{plotly_js}</script>\n<script>{_RENDER}</script>\n"
    return head + header + main + footer + scripts + "</body>\n</html>\n"


def _report_html(out: Path) -> str:
    """The whole report of ``out`` as one HTML string."""
    scores = load(out)
    manifest = _read_manifest(out)
    panels = _panels(scores)
    if not panels:
        raise ForgetlabError(f"No per-task scores ({', '.join(TASK_METRICS)}) in {str(out)!r}: nothing to report.")
    by = ["variant", "schedule", "strategy"] if scores["variant"].nunique() > 1 else ["schedule", "strategy"]
    metrics = list(dict.fromkeys(panel.metric for panel in panels))
    figures = _Figures()
    sections = [_scores_section(panels, figures)]
    regression = [panel for panel in panels if panel.metric == "r2"]
    if regression and part_files(out, "predictions"):
        sections.append(_predictions_section(regression, load(out, "predictions"), manifest, figures))
    sections += [
        _matrices_section(panels, figures),
        _summary_section(scores, by, metrics),
        _comparisons_section(scores, metrics),
        ("provenance", "Provenance", _provenance(manifest, out)),
    ]
    n_runs, n_seeds = scores["run"].nunique(), scores["seed"].nunique()
    summary = (
        f"{n_runs} runs: {n_seeds} seed{'s' if n_seeds != 1 else ''}, {len(panels)} panel"
        f"{'s' if len(panels) != 1 else ''} (variant, schedule, strategy)"
    )
    return _page(out, sections, summary, manifest)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("forgetlab")
    except PackageNotFoundError:
        return "(not installed)"


def write_report(out: str | os.PathLike) -> Path:
    """Write ``OUT/report.html``: the self-contained, interactive report of an output directory.

    The contents are listed in :mod:`forgetlab.report`. The file is written atomically
    (a temporary file, then a rename), so a reader never sees half a report. An
    unfinished sweep's report shows the runs finished so far.

    Parameters
    ----------
    out : path
        An experiment's (or sweep's) output directory.

    Returns
    -------
    Path
        ``OUT/report.html``.

    Raises
    ------
    ForgetlabError
        If the directory holds no results, or its manifest cannot be read; an
        :class:`~forgetlab.store.OutputError` if the report cannot be written.

    Examples
    --------
    >>> path = write_report("runs/tutorial")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'report.html'
    """
    out = Path(out)
    text = _report_html(out)
    path = out / REPORT
    _write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def _write(path: Path, write: Callable[[Path], None]) -> None:
    """:func:`forgetlab.store.write_atomic`, with a failure as one line."""
    try:
        write_atomic(path, write)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(f"Cannot write {str(path)!r}: {reason}.") from None


# --------------------------------------------------------------------------------------
# Static figures, for papers


def check_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """Figure formats from ``"png,svg"`` or a list, each one of :data:`FIGURE_FORMATS`.

    Raises
    ------
    InvalidParameterError
        If the list is empty or holds another format.

    Examples
    --------
    >>> check_formats("svg,pdf")
    ('svg', 'pdf')
    >>> check_formats("jpg")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    forgetlab.errors.InvalidParameterError: The 'format' parameter must be ... png, svg, pdf (e.g. png,svg); got 'jpg'.
    """
    items = [item.strip() for item in formats.split(",")] if isinstance(formats, str) else list(formats)
    if not items or not all(isinstance(item, str) and item in FIGURE_FORMATS for item in items):
        allowed = f"a comma-separated list of {', '.join(FIGURE_FORMATS)} (e.g. png,svg)"
        raise invalid("format", None, allowed, formats)
    return tuple(dict.fromkeys(items))


def write_figures(out: str | os.PathLike, formats: str | Sequence[str]) -> list[Path]:
    """Write the static matplotlib figures of an output directory in each format, for papers.

    ``OUT/scores.<format>`` (:func:`forgetlab.plots.plot_scores`) and, for a 1-D
    regression stream, ``OUT/predictions.<format>`` (:func:`forgetlab.plots.plot_predictions`
    from the predictions table), each written atomically. A sweep of several variants
    gets none (its panels would mix variants; the HTML report has them all).

    Parameters
    ----------
    out : path
        An experiment's output directory.
    formats : str or sequence of str
        Some of :data:`FIGURE_FORMATS`, e.g. ``"png,svg"``.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InvalidParameterError
        For a format not in :data:`FIGURE_FORMATS`.
    ForgetlabError
        If the directory holds no results.
    """
    from forgetlab.plots import plot_predictions, plot_scores

    formats = check_formats(formats)
    out = Path(out)
    scores = load(out)
    if scores["variant"].nunique() > 1:
        return []
    metric = next((m for m in TASK_METRICS if (scores["metric"] == m).any()), None)
    if metric is None:
        raise ForgetlabError(f"No per-task scores ({', '.join(TASK_METRICS)}) in {str(out)!r}: nothing to draw.")
    figures = {"scores": plot_scores(scores, metric=metric)}
    stream = next(iter(_streams(_read_manifest(out)).values()), {})
    if metric == "r2" and _one_dimensional(stream) and part_files(out, "predictions"):
        labels = ("day", "price") if stream.get("kind") == "seasons" else ("x", "y")
        figures["predictions"] = plot_predictions(load(out, "predictions"), labels=labels)
    written = []
    for name, figure in figures.items():
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            _write(path, lambda tmp, figure=figure, fmt=fmt: figure.savefig(tmp, format=fmt, dpi=150))
            written.append(path)
    return written
