"""Static figures of an output directory, for papers: the one place that writes ``scores.*`` and ``predictions.*``.

:func:`write_figures` draws the matplotlib figures of :mod:`forgetlab.plots` and writes
each in the formats asked for: ``OUT/scores.<format>`` and, for a 1-D regression stream,
``OUT/predictions.<format>``. :func:`forgetlab.run_sweep` calls it once when every run
is in (PNG by default, plus the CLI's ``--format``), ``forgetlab report --format`` once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from forgetlab.errors import ForgetlabError, invalid
from forgetlab.report.directory import axis_names, first_stream, one_dimensional, read_manifest, write_file
from forgetlab.results import TASK_METRICS
from forgetlab.store import load, part_files

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from forgetlab.tasks import Stream

__all__ = ["DPI", "FIGURE_FORMATS", "FIGURE_NAMES", "check_formats", "figure_files", "write_figures"]

#: The formats :func:`write_figures` writes.
FIGURE_FORMATS = ("png", "svg", "pdf")

#: The static figures, by file name without the format: score curves, and (1-D regression) predictions.
FIGURE_NAMES = ("scores", "predictions")

#: The resolution of raster figures (PNG), in dots per inch.
DPI = 150


def check_formats(formats: str | Sequence[str]) -> tuple[str, ...]:
    """Figure formats from ``"png,svg"`` or a list, each one of :data:`FIGURE_FORMATS`, without repeats.

    Raises
    ------
    InvalidParameterError
        If the list is empty or holds another format.

    Examples
    --------
    >>> check_formats("svg,pdf")
    ('svg', 'pdf')
    >>> check_formats(["png", "svg", "png"])
    ('png', 'svg')
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


def _draw(
    out: Path, stream: Stream | None, scores: pd.DataFrame | None, predictions: pd.DataFrame | None
) -> dict[str, Figure]:
    """The figures of ``out`` by name (:data:`FIGURE_NAMES`); none for a sweep of several variants.

    The tables not given are read from ``out``; matplotlib is imported only when there is
    something to draw.
    """
    scores = load(out) if scores is None else scores
    if scores["variant"].nunique() > 1:
        return {}
    metric = next((m for m in TASK_METRICS if (scores["metric"] == m).any()), None)
    if metric is None:
        raise ForgetlabError(f"No per-task scores ({', '.join(TASK_METRICS)}) in {str(out)!r}: nothing to draw.")
    from forgetlab.plots import plot_predictions, plot_scores

    figures = {"scores": plot_scores(scores, metric=metric)}
    description = first_stream(read_manifest(out))
    if metric == "r2" and one_dimensional(description):
        if predictions is None and part_files(out, "predictions"):
            predictions = load(out, "predictions")
        if predictions is not None and len(predictions):
            figures["predictions"] = plot_predictions(predictions, stream, labels=axis_names(description))
    return figures


def write_figures(
    out: str | os.PathLike,
    formats: str | Sequence[str] = ("png",),
    *,
    stream: Stream | None = None,
    scores: pd.DataFrame | None = None,
    predictions: pd.DataFrame | None = None,
) -> list[Path]:
    """Write the static matplotlib figures of an output directory in each format.

    ``OUT/scores.<format>`` (:func:`forgetlab.plots.plot_scores`) and, for a 1-D
    regression stream (as its manifest describes it), ``OUT/predictions.<format>``
    (:func:`forgetlab.plots.plot_predictions`), each written atomically; raster formats
    at :data:`DPI`. A sweep of several variants gets none (its panels would mix
    variants; the HTML report has them all).

    Parameters
    ----------
    out : path
        An experiment's output directory.
    formats : str or sequence of str, default ("png",)
        Some of :data:`FIGURE_FORMATS`, e.g. ``"png,svg"``.
    stream : Stream, optional
        The stream the runs trained on, when the caller has it: its tasks' true curves
        are drawn under the predictions (the tutorial's smooth price curve). Without it,
        the true curve is each task's test targets sorted by x.
    scores, predictions : DataFrame, optional
        ``out``'s results and predictions tables, when the caller holds them (as
        :func:`forgetlab.run_sweep` does once every run is in); each one not given is read
        from ``out`` (:func:`forgetlab.store.load`).

    Returns
    -------
    list of Path
        The files written, format by format (``scores.png``, ``predictions.png``,
        ``scores.svg``...).

    Raises
    ------
    InvalidParameterError
        For a format not in :data:`FIGURE_FORMATS`.
    ForgetlabError
        If the directory holds no results; an :class:`~forgetlab.store.OutputError` if
        a file cannot be written.

    Examples
    --------
    >>> write_figures("runs/tutorial", "png,svg")  # doctest: +SKIP
    [PosixPath('runs/tutorial/scores.png'), PosixPath('runs/tutorial/predictions.png'), ...]
    """
    formats = check_formats(formats)
    out = Path(out)
    figures = _draw(out, stream, scores, predictions)
    written = []
    for fmt in formats:
        for name, figure in figures.items():
            path = out / f"{name}.{fmt}"
            write_file(path, lambda tmp, figure=figure, fmt=fmt: figure.savefig(tmp, format=fmt, dpi=DPI))
            written.append(path)
    return written


def figure_files(out: str | os.PathLike, formats: str | Sequence[str]) -> list[Path]:
    """The static figures of ``out`` in these formats that exist, in the order :func:`write_figures` writes them.

    Examples
    --------
    >>> figure_files("runs/tutorial", "png")  # doctest: +SKIP
    [PosixPath('runs/tutorial/scores.png'), PosixPath('runs/tutorial/predictions.png')]
    """
    out = Path(out)
    paths = [out / f"{name}.{fmt}" for fmt in check_formats(formats) for name in FIGURE_NAMES]
    return [path for path in paths if path.exists()]
