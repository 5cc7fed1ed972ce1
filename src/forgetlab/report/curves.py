"""Score curves over epochs: one figure per panel, one line per task, the median over seeds with a 95% band.

Dashed lines mark where a new task arrives (the phase changes,
:func:`forgetlab.report.phases.switches`). Buttons switch the x axis between epochs and
samples seen, and for R² the y axis between symmetric-log and linear clipped to [-1, 1]
(:mod:`forgetlab.report.scales`). Each trace carries its data in every unit, so the
buttons only swap arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forgetlab.report.layout import button, color, legend, menu, title
from forgetlab.report.markup import numbers, plotly_text
from forgetlab.report.panels import Panel, curve
from forgetlab.report.phases import Switch
from forgetlab.report.scales import LINEAR_R2_RANGE, YScale, symlog

__all__ = ["MAX_SWITCH_LINES", "score_figure"]

#: Panels where a new task arrives more often than this get no switch lines (they would hide the curves);
#: the title says so.
MAX_SWITCH_LINES = 20

#: Switch lines are labelled with the tasks trained next when there are at most this many.
MAX_SWITCH_LABELS = 6


@dataclass
class _Traces:
    """A figure's traces, and each trace's data in both units of x and (R²) both scales of y, for the buttons."""

    scale: YScale
    traces: list[dict] = field(default_factory=list)
    views: dict[str, list] = field(default_factory=lambda: {"epoch": [], "samples": [], "symlog": [], "linear": []})

    def add(self, trace: dict, epochs: object, samples: object, values: object) -> None:
        self.traces.append({**trace, "x": numbers(epochs), "y": self.scale.y(values)})
        self.views["epoch"].append(numbers(epochs))
        self.views["samples"].append(numbers(samples))
        self.views["symlog"].append(numbers(symlog(values)))
        self.views["linear"].append(numbers(values))


def _hover(label: str, several: bool) -> str:
    """The hover text of a median line: epoch, samples seen, the median and the band over seeds."""
    text = "epoch %{customdata[0]}, %{customdata[1]} samples seen<br>"
    if not several:
        return text + f"{label} %{{customdata[2]:.4~r}}"
    band = "95% of seeds: [%{customdata[3]:.4~r}, %{customdata[4]:.4~r}]"
    return text + f"median {label} %{{customdata[2]:.4~r}}<br>" + band


def _add_band(traces: _Traces, common: dict, index: int, task_curve: pd.DataFrame) -> None:
    """The band over seeds: a closed polygon, up along the 97.5th percentile and back along the 2.5th."""
    band = task_curve.dropna(subset=["low", "high"])
    back = band.iloc[::-1]
    fill = {"mode": "lines", "fill": "toself", "fillcolor": color(index, 0.2), "line": {"width": 0}}
    traces.add(
        {**common, **fill, "showlegend": False, "hoverinfo": "skip"},
        np.concatenate([band["epoch"], back["epoch"]]),
        np.concatenate([band["samples"], back["samples"]]),
        np.concatenate([band["high"], back["low"]]),
    )


def _add_task(traces: _Traces, panel: Panel, index: int, task: str, hover: str) -> None:
    """One task's median line over seeds, and with several seeds its band first."""
    task_curve = curve(panel.task_rows(task))
    common = {"type": "scatter", "name": plotly_text(task), "legendgroup": f"task-{index}"}
    if panel.n_seeds > 1:
        _add_band(traces, common, index, task_curve)
    columns = ["epoch", "samples", "median", "low", "high"]
    line = {
        "mode": "lines+markers" if len(task_curve) <= 30 else "lines",
        "line": {"color": color(index), "width": 2},
        "marker": {"size": 5},
        "customdata": [numbers(row) for row in task_curve[columns].to_numpy()],
        "hovertemplate": hover,
    }
    traces.add({**common, **line}, task_curve["epoch"], task_curve["samples"], task_curve["median"])


def switch_shapes(switches: Sequence[Switch], *, samples: bool) -> list[dict]:
    """Dashed vertical lines where a new task arrives, at epochs or samples seen; none if there are too many.

    Examples
    --------
    >>> [shape["x0"] for shape in switch_shapes([Switch(2, 138.0, "autumn")], samples=True)]
    [138.0]
    """
    if len(switches) > MAX_SWITCH_LINES:
        return []
    shapes = []
    for switch in switches:
        x = switch.samples_seen if samples else switch.epoch
        line = {"color": "#777", "width": 1, "dash": "dash"}
        shape = {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": line}
        if len(switches) <= MAX_SWITCH_LABELS:
            shape["label"] = {
                "text": plotly_text(f"→ {switch.trained}"),
                "textposition": "end",
                "textangle": 0,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"size": 10, "color": "#555"},
            }
        shapes.append(shape)
    return shapes


def _menus(panel: Panel, traces: _Traces, switches: Sequence[Switch], y_title: str) -> list[dict]:
    """The x buttons (epochs, samples seen; the switch lines follow) and, for R², the y buttons."""
    by_epoch = {"shapes": switch_shapes(switches, samples=False), "xaxis.title.text": "epoch"}
    by_samples = {"shapes": switch_shapes(switches, samples=True), "xaxis.title.text": "samples seen"}
    x_buttons = [
        button("epochs", {"x": traces.views["epoch"]}, {**by_epoch, "xaxis.autorange": True}),
        button("samples seen", {"x": traces.views["samples"]}, {**by_samples, "xaxis.autorange": True}),
    ]
    menus = [menu(x_buttons, right=False)]
    if panel.metric == "r2":
        symlog_axis = {f"yaxis.{key}": value for key, value in traces.scale.axis().items()}
        symlog_axis["yaxis.title.text"] = y_title
        linear_axis = {"yaxis.range": list(LINEAR_R2_RANGE), "yaxis.tickmode": "auto"}
        linear_axis["yaxis.title.text"] = y_title + ", clipped"
        y_buttons = [
            button("symlog", {"y": traces.views["symlog"]}, symlog_axis),
            button("linear [-1, 1]", {"y": traces.views["linear"]}, linear_axis),
        ]
        menus.append(menu(y_buttons, right=True))
    return menus


def _title_detail(panel: Panel, switches: Sequence[Switch]) -> str:
    several = panel.n_seeds > 1
    detail = f"({panel.n_seeds} seed{'s' if several else ''})"
    if len(switches) > MAX_SWITCH_LINES:
        detail += f"<br><span style='font-size:11px'>a new task arrives {len(switches)} times: not marked</span>"
    return detail


def score_figure(panel: Panel, scale: YScale) -> dict:
    """A panel's score curves: median over seeds and 95% band per task, switch lines, buttons to switch x and y.

    Parameters
    ----------
    panel : Panel
        The runs to draw.
    scale : YScale
        The y axis, shared by every panel of the metric.

    Returns
    -------
    dict
        Plotly's figure JSON: ``data`` (per task, the band then the median line) and ``layout``.
    """
    traces = _Traces(scale)
    hover = _hover(panel.label, panel.n_seeds > 1)
    for index, task in enumerate(panel.tasks):
        _add_task(traces, panel, index, task, hover)
    switches = panel.switches()
    y_title = f"test {panel.label}" + (" (median, 95% of seeds)" if panel.n_seeds > 1 else "")
    legend_layout, bottom = legend(len(panel.tasks))
    layout = {
        "title": title(panel.name, _title_detail(panel, switches), y=0.98, yanchor="top"),
        "height": 380 + bottom,
        "margin": {"l": 64, "r": 16, "t": 96, "b": bottom},
        "xaxis": {"title": {"text": "epoch"}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, **scale.axis(), "zeroline": True, "zerolinecolor": "#aaa"},
        "shapes": switch_shapes(switches, samples=False),
        "updatemenus": _menus(panel, traces, switches, y_title),
        "legend": legend_layout,
        "hovermode": "closest",
        "plot_bgcolor": "#fff",
    }
    return {"data": traces.traces, "layout": layout}
