"""The report's page: one self-contained HTML file, its Content-Security-Policy, and :func:`write_report`.

The page inlines plotly.js once; each figure is its data (JSON, :class:`forgetlab.report.sections.Figures`)
drawn by one small script (:data:`RENDER`). The Content-Security-Policy lets the page load nothing from
anywhere (no CDN, no fonts, no MathJax) and run only its own two scripts, allowed by their SHA-256
hashes; names are escaped as :mod:`forgetlab.report.markup` says, and should anything slip through,
no other script runs.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forgetlab.errors import ForgetlabError
from forgetlab.report.directory import read_manifest, write_file
from forgetlab.report.markup import esc, json_for_html
from forgetlab.report.panels import Panel, panels
from forgetlab.report.phases import NO_PHASE_COLUMN, has_phases
from forgetlab.report.sections import (
    Figures,
    Section,
    comparisons_section,
    matrices_section,
    predictions_section,
    scores_section,
    summary_section,
)
from forgetlab.report.tables import provenance
from forgetlab.results import TASK_METRICS
from forgetlab.store import load, part_files

__all__ = ["REPORT", "write_report"]

#: The report's file name inside an output directory.
REPORT = "report.html"

CSS = """
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

#: The page's script: draws every figure from its JSON, then marks the body ``data-figures-drawn``.
RENDER = """(function () {
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

PLOTLY_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "typesetMath": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
    "toImageButtonOptions": {"format": "svg"},
}


def csp_hash(script: str) -> str:
    """The Content-Security-Policy source that allows one inline script: ``'sha256-<base64 digest>'``.

    Examples
    --------
    >>> csp_hash("")
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
    """
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def _plotly_js() -> tuple[str, str]:
    """plotly.js's source, safe inside a script element, and its version."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    source = get_plotlyjs()
    if "</script" in source.lower():  # never in the plotly.js builds seen; would end the script element early
        source = source.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return source, get_plotlyjs_version()


def _head(out: Path, csp: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>forgetlab report: {esc(out.resolve().name)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
    )


def _header(out: Path, sections: Sequence[Section], summary: str, manifest: dict | None, notes: Sequence[str]) -> str:
    fingerprint = (manifest or {}).get("fingerprint", "")
    date = ((manifest or {}).get("provenance") or {}).get("date", "")
    nav = " ".join(f'<a href="#{key}">{esc(title)}</a>' for key, title, _ in sections)
    return (
        f"<header><h1>forgetlab report</h1>\n<p><code>{esc(out)}</code>: {esc(summary)}"
        + (f"; experiment {esc(fingerprint[:12])}" if fingerprint else "")
        + (f", started {esc(date)}" if date else "")
        + ".</p>\n"
        + "".join(f'<p class="note">{esc(text)}</p>\n' for text in notes)
        + f"<nav>{nav}</nav>\n"
        "<noscript><p>The figures need JavaScript; the tables do not.</p></noscript></header>\n<main>\n"
    )


def page(out: Path, sections: Sequence[Section], summary: str, manifest: dict | None, notes: Sequence[str] = ()) -> str:
    """The HTML document: head (with its Content-Security-Policy), header, sections, plotly.js and the renderer.

    Parameters
    ----------
    out : Path
        The output directory (named in the title and header).
    sections : sequence of (anchor, heading, HTML body)
        The sections, in page order.
    summary : str
        What the directory holds, in a few words (plain text).
    manifest : dict or None
        The manifest (fingerprint and start date in the header).
    notes : sequence of str
        Lines shown under the header (plain text), e.g. :data:`forgetlab.report.phases.NO_PHASE_COLUMN`.
    """
    plotly_js, plotly_version = _plotly_js()
    csp = (
        "default-src 'none'; "
        f"script-src {csp_hash(plotly_js)} {csp_hash(RENDER)}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'"
    )
    main = "\n".join(
        f'<section id="{key}">\n<h2>{esc(title)}</h2>\n{body}\n</section>' for key, title, body in sections
    )
    footer = (
        f"</main>\n<footer>Written by forgetlab {esc(_version())} with plotly.js {esc(plotly_version)} "
        "(inlined: this file needs nothing else).</footer>\n"
        f'<script type="application/json" id="plotly-config">{json_for_html(PLOTLY_CONFIG)}</script>\n'
    )
    scripts = f"<script>{plotly_js}</script>\n<script>{RENDER}</script>\n"
    return (
        _head(out, csp)
        + _header(out, sections, summary, manifest, notes)
        + main
        + footer
        + scripts
        + "</body>\n</html>\n"
    )


def _summary(scores: pd.DataFrame, found: Sequence[Panel]) -> str:
    n_runs, n_seeds = scores["run"].nunique(), scores["seed"].nunique()
    return (
        f"{n_runs} runs: {n_seeds} seed{'s' if n_seeds != 1 else ''}, {len(found)} panel"
        f"{'s' if len(found) != 1 else ''} (variant, schedule, strategy)"
    )


def report_html(out: Path, *, scores: pd.DataFrame | None = None, predictions: pd.DataFrame | None = None) -> str:
    """The whole report of ``out`` as one HTML string (the sections of :mod:`forgetlab.report.sections`).

    ``scores`` and ``predictions`` are ``out``'s tables when the caller holds them; each
    one not given is read from ``out`` (the predictions only if a section shows them).
    """
    scores = load(out) if scores is None else scores
    manifest = read_manifest(out)
    found = panels(scores)
    if not found:
        raise ForgetlabError(f"No per-task scores ({', '.join(TASK_METRICS)}) in {str(out)!r}: nothing to report.")
    by = ["variant", "schedule", "strategy"] if scores["variant"].nunique() > 1 else ["schedule", "strategy"]
    metrics = list(dict.fromkeys(panel.metric for panel in found))
    phases_known = has_phases(scores)
    figures = Figures()
    sections = [scores_section(found, figures, phases_known=phases_known)]
    regression = [panel for panel in found if panel.metric == "r2"]
    if regression and predictions is None and part_files(out, "predictions"):
        predictions = load(out, "predictions")
    if regression and predictions is not None and len(predictions):
        sections.append(predictions_section(regression, predictions, manifest, figures))
    if phases_known:
        sections.append(matrices_section(found, figures))
    sections += [
        summary_section(scores, by, metrics),
        comparisons_section(scores, metrics),
        ("provenance", "Provenance", provenance(manifest, out)),
    ]
    notes = [] if phases_known else [NO_PHASE_COLUMN]
    return page(out, sections, _summary(scores, found), manifest, notes)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("forgetlab")
    except PackageNotFoundError:
        return "(not installed)"


def write_report(
    out: str | os.PathLike, *, scores: pd.DataFrame | None = None, predictions: pd.DataFrame | None = None
) -> Path:
    """Write ``OUT/report.html``: the self-contained, interactive report of an output directory.

    The contents are listed in :mod:`forgetlab.report`. The file is written atomically
    (a temporary file, then a rename), so a reader never sees half a report. An
    unfinished sweep's report shows the runs finished so far.

    Parameters
    ----------
    out : path
        An experiment's (or sweep's) output directory.
    scores, predictions : DataFrame, optional
        ``out``'s results and predictions tables, when the caller holds them (the
        :class:`~forgetlab.experiment.Results` of :func:`forgetlab.run_sweep`); each one
        not given is read from ``out`` (:func:`forgetlab.store.load`).

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
    text = report_html(out, scores=scores, predictions=predictions)
    path = out / REPORT
    write_file(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path
