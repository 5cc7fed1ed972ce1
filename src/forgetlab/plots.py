"""Figures with matplotlib: score curves over epochs and predictions against the truth.

Functions build :class:`matplotlib.figure.Figure` objects without pyplot, so they work
headless, in scripts and in notebooks (a returned figure displays inline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forgetlab.stats import BAND
from forgetlab.tasks import Stream

__all__ = ["plot_predictions", "plot_scores"]


def _panels(n: int, *, width: float = 4.5, height: float = 3.5) -> tuple[Figure, list]:
    figure = Figure(figsize=(width * n, height), layout="constrained")
    axes = figure.subplots(1, n, squeeze=False, sharey=True)[0]
    return figure, list(axes)


def plot_scores(scores: pd.DataFrame, *, metric: str = "r2") -> Figure:
    """Every task's score after every epoch, one panel per schedule.

    With one seed, the curves themselves; with several, the median over seeds and a band
    from the 2.5th to the 97.5th percentile. R² is unbounded below (a forgotten task can
    score -200 while a learned one scores 0.99), so its y axis is symmetric-logarithmic:
    linear in [-1, 1], logarithmic beyond; other metrics (accuracy) are drawn linearly.
    Several strategies get a panel per schedule and strategy.

    Parameters
    ----------
    scores : DataFrame
        The tidy results table.
    metric : str, default "r2"
        Which metric's rows to draw.

    Returns
    -------
    Figure
    """
    rows = scores[scores["metric"] == metric]
    # one panel per schedule, or per schedule and strategy when strategies are compared
    panel = rows["schedule"] if rows["strategy"].nunique() < 2 else rows["schedule"] + " / " + rows["strategy"]
    panels = list(dict.fromkeys(panel))
    figure, axes = _panels(len(panels))
    for ax, name in zip(axes, panels, strict=True):
        part = rows[panel == name]
        n_seeds = part["seed"].nunique()
        for task in dict.fromkeys(part["task"]):
            curve = part[part["task"] == task].groupby("epoch")["value"]
            median = curve.median()
            (line,) = ax.plot(median.index, median.to_numpy(), label=task)
            if n_seeds > 1:
                low, high = curve.quantile(BAND[0] / 100), curve.quantile(BAND[1] / 100)
                ax.fill_between(median.index, low.to_numpy(), high.to_numpy(), color=line.get_color(), alpha=0.25)
        ax.axhline(0, color="grey", linewidth=0.8, linestyle=":")
        if metric == "r2":
            ax.set_yscale("symlog", linthresh=1)
        ax.set_title(f"{name} ({n_seeds} seed{'s' if n_seeds > 1 else ''})")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    label = {"r2": "R²"}.get(metric, metric)
    axes[0].set_ylabel(f"test {label}" + (" (median, 95% of seeds)" if rows["seed"].nunique() > 1 else ""))
    axes[0].legend()
    return figure


def plot_predictions(
    predictions: pd.DataFrame,
    stream: Stream | None = None,
    *,
    seed: int | None = None,
    labels: tuple[str, str] = ("day", "price"),
) -> Figure:
    """The final model's test-set predictions against the true curve, one panel per schedule.

    The tutorial's figure: the true price over every task of the stream as a line, and
    each task's test-set predictions as points. Several strategies get a panel per
    schedule and strategy.

    Parameters
    ----------
    predictions : DataFrame
        The predictions table (``forgetlab.load(OUT, "predictions")``).
    stream : Stream, optional
        The stream the predictions were made on: its tasks carry the true curves. Without
        it (e.g. from an output directory alone), the true curve of each task is its test
        targets ``y_true`` sorted by ``x``.
    seed : int, optional
        Which seed's runs to show; default the first.
    labels : (str, str), default ("day", "price")
        The x and y axes' labels (the tutorial's by default).

    Returns
    -------
    Figure
    """
    seed = int(predictions["seed"].iloc[0]) if seed is None else seed
    rows = predictions[predictions["seed"] == seed]
    panel = rows["schedule"] if rows["strategy"].nunique() < 2 else rows["schedule"] + " / " + rows["strategy"]
    panels = list(dict.fromkeys(panel))
    figure, axes = _panels(len(panels))
    for ax, name in zip(axes, panels, strict=True):
        part = rows[panel == name]
        if stream is not None:
            for i, task in enumerate(stream.tasks):
                if task.curve is not None:
                    x = stream.denormalise(task.curve.x)[:, 0]
                    order = np.argsort(x)
                    label = "true" if i == 0 else None
                    ax.plot(x[order], task.curve.y[order], color="black", linewidth=1, label=label)
        else:
            first = part[part["run"] == part["run"].iloc[0]]
            for i, task in enumerate(dict.fromkeys(first["task"])):
                truth = first[first["task"] == task].sort_values("x", kind="stable")
                label = "true (test targets)" if i == 0 else None
                ax.plot(truth["x"], truth["y_true"], color="black", linewidth=1, label=label)
        for task in dict.fromkeys(part["task"]):
            points = part[part["task"] == task]
            ax.scatter(points["x"], points["y_pred"], s=14, zorder=2, label=f"{task} predictions")
        ax.set_title(f"{name} (seed {seed})")
        ax.set_xlabel(labels[0])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(labels[1])
    axes[0].legend()
    return figure
