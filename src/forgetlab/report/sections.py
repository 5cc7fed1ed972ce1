"""The report's sections, in page order: each a heading and its body of captions, figures and tables.

A section is ``(anchor, heading, HTML body)``. Figures are collected by :class:`Figures`,
which numbers them in page order and embeds each as its JSON, drawn by the page's script.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from forgetlab.report.curves import score_figure
from forgetlab.report.directory import axis_names, one_dimensional, streams
from forgetlab.report.markup import caption, esc, grid, json_for_html, note
from forgetlab.report.matrices import matrix_figure, score_matrix
from forgetlab.report.panels import Panel, curve
from forgetlab.report.predictions import MAX_SEEDS_DRAWN, predictions_figure
from forgetlab.report.scales import YScale
from forgetlab.report.tables import comparison_tables, final_table, stream_metric_table
from forgetlab.stats import BAND

__all__ = [
    "Figures",
    "Section",
    "comparisons_section",
    "matrices_section",
    "predictions_section",
    "scores_section",
    "summary_section",
]

Section = tuple[str, str, str]  # (anchor, heading, HTML body)


class Figures:
    """Collects figures as a div and its JSON each, numbered in page order (``figure-0``, ``figure-1``...)."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, figure: dict) -> str:
        """The HTML of one figure: an empty div, and a JSON script element the page's script draws into it."""
        name = f"figure-{self.count}"
        self.count += 1
        data = json_for_html({"data": figure["data"], "layout": figure["layout"]})
        return (
            f'<div class="figure" id="{name}"></div>\n'
            f'<script type="application/json" class="figure-data" data-figure="{name}">{data}</script>'
        )


def _scores_caption(metrics: Sequence[str], *, phases_known: bool) -> str:
    text = (
        "Each task's test score after every epoch: the median over seeds as a line, the central 95% of seeds "
        f"({BAND[0]:g}th to {BAND[1]:g}th percentile) as a band"
    )
    if phases_known:
        text += (
            "; dashed lines mark where a new task arrives (the phase changes: after that epoch, training takes in "
            "a task it has not trained before)"
        )
    text += (
        ". The buttons switch the x axis between epochs and samples seen. Schedules differ in the samples an epoch "
        "trains on (the tutorial's alternating schedule trains one task's K samples per epoch, the interspersed one "
        "K of each task, so alternating needs twice the epochs for the same samples): compare schedules at equal "
        "sample budgets, on the samples axis."
    )
    if "r2" in metrics:
        text += (
            " R² is unbounded below (a forgotten task scores -1000 while a learned one scores 0.99), so its axis is "
            "symmetric-logarithmic, y' = sign(y)·log10(1 + |y|), labelled in R²; the other button shows a linear "
            "axis clipped to [-1, 1]. Hover for exact values."
        )
    return text


def scores_section(panels: Sequence[Panel], figures: Figures, *, phases_known: bool) -> Section:
    """Score curves over epochs, one figure per panel; panels of one metric share their y scale."""
    metrics = list(dict.fromkeys(panel.metric for panel in panels))
    curves = {m: [curve(p.task_rows(t)) for p in panels if p.metric == m for t in p.tasks] for m in metrics}
    scales = {metric: YScale.of(metric, curves[metric]) for metric in metrics}
    drawn = "\n".join(figures.add(score_figure(panel, scales[panel.metric])) for panel in panels)
    return "scores", "Scores over epochs", caption(_scores_caption(metrics, phases_known=phases_known)) + grid(drawn)


def predictions_section(
    panels: Sequence[Panel], predictions: pd.DataFrame, manifest: dict | None, figures: Figures
) -> Section:
    """The final predictions of every regression panel that has rows in the predictions table."""
    variant_streams = streams(manifest)
    drawn = []
    for panel in panels:
        rows = predictions[
            (predictions["variant"] == panel.variant)
            & (predictions["schedule"] == panel.schedule)
            & (predictions["strategy"] == panel.strategy)
        ]
        if rows.empty:
            continue
        stream = variant_streams.get(panel.variant, {})
        figure = predictions_figure(panel, rows, one_dimensional=one_dimensional(stream), axes=axis_names(stream))
        drawn.append(figures.add(figure))
    text = (
        "The final model of every run on every task's test set. For 1-D inputs, the true targets sorted by x "
        "as a line and the predictions as points (the tutorial's figure); otherwise the predictions against "
        "the true targets, with the diagonal. Large points: the median prediction over seeds per test sample; "
        f"small points: each seed's (with at most {MAX_SEEDS_DRAWN} seeds)."
    )
    return "predictions", "Predictions", caption(text) + grid("\n".join(drawn))


MATRICES_CAPTION = (
    "R[i, j]: the mean over seeds of the score on task j (columns) at the last recorded epoch of phase i (rows). "
    "A phase is the span of epochs whose newest task (the highest task index trained so far) is the same, so a "
    "new phase starts where a new task arrives (the results table's phase column). Panels whose runs all have one "
    "phase per task have a matrix, as they have stream metrics: sequential training (alone, with replay or the "
    "cumulative strategy), and alternating training too, whose phases are the first epoch of each task but the "
    "last, then everything after the last task arrives (its last row is its last epoch); interspersed training "
    "trains every task from the first epoch: one phase, no matrix. Row i is named by task i, the task that "
    "arrives in phase i. Below the diagonal: what is kept of earlier tasks; above: transfer to tasks not yet "
    "trained."
)


def matrices_section(panels: Sequence[Panel], figures: Figures) -> Section:
    """Score matrices of the panels with one phase per task, and a list of the others with the reason."""
    drawn, without = [], []
    for panel in panels:
        epochs = panel.matrix_epochs()
        if epochs is None:
            without.append(f"<li><strong>{esc(panel.name)}</strong>: {esc(panel.no_matrix_reason())}.</li>")
        else:
            drawn.append(figures.add(matrix_figure(panel, *score_matrix(panel, epochs))))
    body = caption(MATRICES_CAPTION) + grid("\n".join(drawn))
    if without:
        body += '\n<p class="note">No score matrix for:</p>\n<ul id="no-score-matrix">' + "\n".join(without) + "</ul>"
    return "matrices", "Score matrices", body


def summary_section(scores: pd.DataFrame, by: list[str], metrics: Sequence[str]) -> Section:
    """The stream metrics (if any run has them) and the final per-task scores, over seeds."""
    body = []
    stream_table = stream_metric_table(scores, by)
    if stream_table is not None:
        text = (
            "Stream metrics of every run with one phase per task (rows with task 'all'): ACC, BWT and FWT "
            "(Lopez-Paz & Ranzato 2017; FWT against the untrained model), forgetting (Chaudhry et al. 2018) and "
            "intransigence (against the cumulative strategy's run of the same seed). Mean over seeds with a 95% "
            "percentile bootstrap interval of the mean (seeds resampled)."
        )
        body.append("<h3>Stream metrics</h3>\n" + caption(text) + stream_table)
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
    body.append("<h3>Final scores</h3>\n" + caption(text) + final_table(scores, by, metrics))
    return "summary", "Summary over seeds", "\n".join(body)


def comparisons_section(scores: pd.DataFrame, metrics: Sequence[str]) -> Section:
    """Paired comparisons between schedules and between strategies, or a note that there is nothing to compare."""
    comparisons = comparison_tables(scores, metrics)
    if comparisons:
        body = "\n".join(caption(text) + table for text, table in comparisons)
    else:
        body = note("One schedule and one strategy: nothing to compare.")
    return "comparisons", "Paired comparisons", body
