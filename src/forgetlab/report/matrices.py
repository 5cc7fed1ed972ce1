"""Score matrices: ``R[i, j]``, the mean over seeds of the score on task ``j`` at the end of phase ``i``, as heatmaps.

Only panels whose runs share one phase per task have one
(:func:`forgetlab.report.phases.matrix_epochs`). Below the diagonal: what is kept of
earlier tasks; above: transfer to tasks not yet trained. R² is coloured on the
symmetric-log scale (:func:`forgetlab.report.scales.symlog`), diverging around 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from forgetlab.report.layout import title
from forgetlab.report.markup import cell_number, numbers, plotly_text
from forgetlab.report.panels import Panel
from forgetlab.report.scales import symlog, symlog_ticks

__all__ = ["matrix_figure", "score_matrix"]


def score_matrix(panel: Panel, epochs: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds of ``R[i, j]`` (score on task ``j`` at ``epochs[i]``), and the number of finite values.

    The panel's runs record the same epochs in the same phases, so phase ``i`` ends at
    the same epoch in every run; NaN scores (diverged runs) are left out of the mean and
    the count.

    Parameters
    ----------
    panel : Panel
        The runs.
    epochs : sequence of int
        The last recorded epoch of each phase (:meth:`Panel.matrix_epochs`).

    Returns
    -------
    R : ndarray of shape (n_phases, n_tasks)
        Mean scores, NaN where no run has a finite one.
    counts : ndarray of int, same shape
        The seeds behind each mean.
    """
    epochs = list(epochs)
    rows = panel.rows[panel.rows["epoch"].isin(epochs)]
    stats = rows.groupby(["epoch", "task"])["value"].agg(["mean", "count"])
    index = pd.MultiIndex.from_product([epochs, list(panel.tasks)], names=["epoch", "task"])
    stats = stats.reindex(index)
    shape = (len(epochs), len(panel.tasks))
    means = stats["mean"].to_numpy(dtype=float).reshape(shape)
    return means, stats["count"].fillna(0).to_numpy(dtype=int).reshape(shape)


def _colors(metric: str, label: str, R: np.ndarray) -> dict:
    """The heatmap's z values and colour scale: symlog and diverging around 0 for R², else [0, 1]."""
    if metric != "r2":
        return {
            "z": [numbers(row) for row in R],
            "zmin": 0,
            "zmax": 1,
            "colorscale": [[0, "#f7fbff"], [1, "#2166ac"]],
            "colorbar": {"title": {"text": f"mean {label}"}},
        }
    z = symlog(R)
    finite = z[np.isfinite(z)]
    low = min(float(finite.min(initial=0.0)), -float(symlog(1.0)))
    high = max(float(finite.max(initial=0.0)), float(symlog(1.0)))
    tickvals, ticktext = symlog_ticks(low, high)
    colorbar = {"tickmode": "array", "tickvals": tickvals, "ticktext": ticktext, "title": {"text": f"mean {label}"}}
    return {
        "z": [numbers(row) for row in z],
        "zmin": low,
        "zmax": high,
        "zmid": 0,
        "colorscale": [[0, "#b2182b"], [0.5, "#f7f7f7"], [1, "#2166ac"]],
        "colorbar": colorbar,
    }


def matrix_figure(panel: Panel, R: np.ndarray, counts: np.ndarray) -> dict:
    """A panel's score matrix as a heatmap: rows the phases (named by their task), columns the tasks scored.

    Returns
    -------
    dict
        Plotly's figure JSON; each cell shows its mean, and on hover the seeds behind it.
    """
    names = [plotly_text(task) for task in panel.tasks]
    heatmap = {
        "type": "heatmap",
        "x": names,
        "y": names,
        "text": [[cell_number(v) for v in row] for row in R],
        "texttemplate": "%{text}",
        "customdata": counts.tolist(),
        "xgap": 2,
        "ygap": 2,
        "hovertemplate": f"after the phase on %{{y}}<br>{panel.label} on %{{x}}: %{{text}}<br>%{{customdata}} seeds"
        "<extra></extra>",
        **_colors(panel.metric, panel.label, R),
    }
    layout = {
        "title": title(panel.name, f"(mean of {panel.n_seeds} seeds)"),
        "height": max(320, 120 + 70 * len(names)),
        "margin": {"l": 110, "r": 16, "t": 56, "b": 90},
        "xaxis": {"title": {"text": "score on task"}, "type": "category", "tickangle": -30},
        "yaxis": {"title": {"text": "after the phase on"}, "type": "category", "autorange": "reversed"},
    }
    return {"data": [heatmap], "layout": layout}
