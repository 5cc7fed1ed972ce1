r"""The report of an output directory: one self-contained HTML file, and static figures.

:func:`write_report` reads an output directory (its tables with
:func:`forgetlab.store.load`, its manifest ``experiment.json``) and writes
``OUT/report.html``: one file that works offline. plotly.js is inlined once, each figure
is its data (JSON) drawn by one small script, and the page's Content-Security-Policy
lets it load nothing from anywhere (no CDN, no fonts, no MathJax) and run only its own
two scripts. The report holds, in order:

- score curves over epochs, one panel per (variant, schedule, strategy), one line per
  task: the median over seeds with the central 95% of seeds as a band
  (:data:`forgetlab.stats.BAND`), dashed lines where a new task arrives (the phase
  changes). R² is drawn on a symmetric-log axis (:func:`symlog`) with a switch to a
  linear axis clipped to [-1, 1]; the x axis switches between epochs and samples seen;
- for regression, each panel's final predictions on every task's test set against the
  true targets (the tutorial's figure for 1-D inputs, predicted against true otherwise);
- score matrices ``R[i, j]`` (mean over seeds of the score on task ``j`` at the last
  recorded epoch of phase ``i``) for the panels whose runs have one phase per task, read
  from the results table's ``phase`` column (:mod:`forgetlab.report.phases`), and why
  the others have none;
- the stream metrics (ACC, BWT, FWT, forgetting, intransigence) and the final per-task
  scores over seeds (:func:`forgetlab.stats.summarise`), and paired comparisons between
  schedules and between strategies (:func:`forgetlab.stats.compare`);
- provenance: the fingerprint, config, package versions, machine, date and command, and
  the whole manifest.

Every name that comes from a config or the data (tasks, schedules, strategies, variants,
settings) is shown as text, never markup (:mod:`forgetlab.report.markup`): escaped in
the HTML, escaped again inside figures (Plotly reads a few HTML tags, entities and
``%{...}`` references in its text), and in the embedded JSON ``<``, ``>`` and ``&`` are
written ``\u003c``, ``\u003e``, ``\u0026``. Should anything slip through, the
Content-Security-Policy runs no script but the page's own two (allowed by their hashes).

:func:`write_figures` writes the static matplotlib figures of :mod:`forgetlab.plots`,
for papers: ``scores.<format>`` and, for 1-D regression streams,
``predictions.<format>``.

One concept per module:

==================  ====================================================================
``markup``          names as text (HTML, Plotly), numbers, JSON in a page, HTML tables
``scales``          the symmetric-log R² axis and its ticks; the y scale of a metric
``phases``          phases from the ``phase`` column: score-matrix epochs, switch marks
``panels``          panels of runs and their curves over seeds
``layout``          what every figure shares: colours, titles, legends, buttons
``curves``          score curves with seed bands and switch lines
``predictions``     final predictions against the truth
``matrices``        score matrices as heatmaps
``tables``          summary, comparison and provenance tables
``sections``        the page's sections, in order, with their captions
``directory``       the manifest, and writing files atomically
``page``            the HTML document, its CSP, :func:`write_report`
``static``          the matplotlib figures, :func:`write_figures`
==================  ====================================================================
"""

from __future__ import annotations

from forgetlab.report.page import REPORT, write_report
from forgetlab.report.scales import symlog, symlog_inverse, symlog_ticks
from forgetlab.report.static import FIGURE_FORMATS, FIGURE_NAMES, check_formats, figure_files, write_figures

__all__ = [
    "FIGURE_FORMATS",
    "FIGURE_NAMES",
    "REPORT",
    "check_formats",
    "figure_files",
    "symlog",
    "symlog_inverse",
    "symlog_ticks",
    "write_figures",
    "write_report",
]
