"""The final models' predictions of a regression panel on every task's test set, against the truth.

For 1-D inputs, the tutorial's figure: the true targets sorted by x as a line and the
predictions as points; otherwise the predictions against the true targets, with the
diagonal. Large points are the median prediction over seeds per test sample, small
points each seed's (up to :data:`MAX_SEEDS_DRAWN` seeds).
"""

from __future__ import annotations

import pandas as pd

from forgetlab.report.layout import color, legend, title
from forgetlab.report.markup import numbers, plotly_text
from forgetlab.report.panels import Panel

__all__ = ["MAX_SEEDS_DRAWN", "predictions_figure"]

#: Individual seeds' predictions are drawn (beside their median) up to this many seeds.
MAX_SEEDS_DRAWN = 16


def _medians(rows: pd.DataFrame, sample: pd.Series) -> pd.DataFrame:
    """Per test sample (``sample`` numbers them within a run and task): x, the truth and the median prediction."""
    by_sample = rows.groupby(sample[rows.index])
    return pd.DataFrame(
        {"x": by_sample["x"].first(), "y_true": by_sample["y_true"].first(), "y_pred": by_sample["y_pred"].median()}
    )


def _truth_trace(truth: pd.DataFrame, *, first: bool) -> dict:
    """The true test targets of one task, sorted by x, as a black line (in the legend once)."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": "true (test targets)",
        "legendgroup": "true",
        "showlegend": first,
        "x": numbers(truth["x"]),
        "y": numbers(truth["y_true"]),
        "line": {"color": "#222", "width": 1.5},
        "hovertemplate": "x %{x:.4~r}<br>true %{y:.4~r}",
    }


def _seeds_trace(task: str, index: int, x: pd.Series, y_pred: pd.Series) -> dict:
    """Every seed's predictions of one task, as small faint points."""
    return {
        "type": "scatter",
        "mode": "markers",
        "name": plotly_text(f"{task}: each seed"),
        "legendgroup": f"task-{index}",
        "x": numbers(x),
        "y": numbers(y_pred),
        "opacity": 0.35,
        "marker": {"color": color(index), "size": 4},
        "hoverinfo": "skip",
    }


def _median_trace(task: str, index: int, x: pd.Series, medians: pd.DataFrame, n_seeds: int, x_name: str) -> dict:
    """The median prediction over seeds per test sample of one task, as large points with the truth on hover."""
    what = f"median of {n_seeds} seeds" if n_seeds > 1 else "predictions"
    return {
        "type": "scatter",
        "mode": "markers",
        "name": plotly_text(f"{task}: {what}"),
        "legendgroup": f"task-{index}",
        "x": numbers(x),
        "y": numbers(medians["y_pred"]),
        "customdata": numbers(medians["y_true"]),
        "marker": {"color": color(index), "size": 7, "line": {"color": "#fff", "width": 0.5}},
        "hovertemplate": f"{x_name} %{{x:.4~r}}<br>predicted %{{y:.4~r}}<br>true %{{customdata:.4~r}}",
    }


def _diagonal(low: float, high: float) -> dict:
    """The line predicted = true, for predictions drawn against the truth."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": "predicted = true",
        "x": [low, high],
        "y": [low, high],
        "line": {"color": "#222", "width": 1, "dash": "dot"},
        "hoverinfo": "skip",
    }


def _task_traces(
    rows: pd.DataFrame, sample: pd.Series, index: int, task: str, *, one_dimensional: bool, n_seeds: int, x_name: str
) -> list[dict]:
    """One task's traces: the truth (1-D, from the first run), each seed's points (a few seeds) and the medians."""
    medians = _medians(rows, sample)
    traces = []
    if one_dimensional:
        truth = rows[rows["run"] == rows["run"].iloc[0]].sort_values("x", kind="stable")
        traces.append(_truth_trace(truth, first=index == 0))
        x_seed, x_median = rows["x"], medians["x"]
    else:
        x_seed, x_median = rows["y_true"], medians["y_true"]
    if 1 < n_seeds <= MAX_SEEDS_DRAWN:
        traces.append(_seeds_trace(task, index, x_seed, rows["y_pred"]))
    traces.append(_median_trace(task, index, x_median, medians, n_seeds, x_name))
    return traces


def _layout(panel: Panel, traces: list[dict], n_seeds: int, axis_titles: tuple[str, str]) -> dict:
    what = f"{n_seeds} seeds" if n_seeds > 1 else "1 seed"
    legend_layout, bottom = legend(sum(trace.get("showlegend", True) for trace in traces))
    return {
        "title": title(panel.name, f"(final models, {what})"),
        "height": 330 + bottom,
        "margin": {"l": 64, "r": 16, "t": 56, "b": bottom},
        "xaxis": {"title": {"text": axis_titles[0]}},
        "yaxis": {"title": {"text": axis_titles[1]}},
        "legend": legend_layout,
        "hovermode": "closest",
        "plot_bgcolor": "#fff",
    }


def predictions_figure(
    panel: Panel, predictions: pd.DataFrame, *, one_dimensional: bool, axes: tuple[str, str]
) -> dict:
    """A regression panel's final predictions per task: against x with the true curve (1-D), else against the truth.

    Parameters
    ----------
    panel : Panel
        The panel (its tasks, in stream order, and its name).
    predictions : DataFrame
        The panel's rows of the predictions table (:data:`forgetlab.results.PREDICTION_COLUMNS`).
    one_dimensional : bool
        Whether the stream's inputs are 1-D (x is the input itself).
    axes : (str, str)
        The names of x and y (the tutorial's ``("day", "price")``).

    Returns
    -------
    dict
        Plotly's figure JSON.
    """
    sample = predictions.groupby(["run", "task"], sort=False).cumcount()
    n_seeds = int(predictions["seed"].nunique())
    traces: list[dict] = []
    for index, task in enumerate(panel.tasks):
        rows = predictions[predictions["task"] == task]
        if not rows.empty:
            traces += _task_traces(
                rows, sample, index, task, one_dimensional=one_dimensional, n_seeds=n_seeds, x_name=axes[0]
            )
    if not one_dimensional and not predictions.empty:
        low = float(predictions[["y_true", "y_pred"]].min().min())
        high = float(predictions[["y_true", "y_pred"]].max().max())
        traces.insert(0, _diagonal(low, high))
    axis_titles = axes if one_dimensional else (f"true {axes[1]}", f"predicted {axes[1]}")
    return {"data": traces, "layout": _layout(panel, traces, n_seeds, axis_titles)}
