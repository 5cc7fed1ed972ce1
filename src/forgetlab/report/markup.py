r"""How the report writes values: names as text in HTML and in Plotly, numbers, JSON inside a page.

Every name that comes from a config or the data (tasks, schedules, strategies, variants,
settings) is shown as text, never markup:

- in the HTML, escaped by :func:`esc` (every table cell goes through :func:`table`);
- inside figures, escaped again by :func:`plotly_text`, because Plotly reads a few HTML
  tags, entities and ``%{...}`` references in its text;
- in the JSON embedded in ``<script>`` elements, ``<``, ``>`` and ``&`` are written
  ``\u003c``, ``\u003e``, ``\u0026`` by :func:`json_for_html`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

import numpy as np

from forgetlab.stats import format_number, format_p_value

__all__ = [
    "caption",
    "cell_number",
    "cell_p_value",
    "esc",
    "grid",
    "json_for_html",
    "note",
    "numbers",
    "plotly_text",
    "table",
]


def esc(value: object) -> str:
    """A value as HTML text (quotes escaped too, so it is safe in attributes).

    Examples
    --------
    >>> esc('<script>"x"</script>')
    '&lt;script&gt;&quot;x&quot;&lt;/script&gt;'
    """
    return html.escape(str(value))


def plotly_text(name: object) -> str:
    """A name as literal text inside a Plotly figure.

    Plotly reads a few HTML tags (``<b>``, ``<br>``, ``<a href>``...) and entities in
    its text, and ``%{...}`` references in titles: ``<``, ``>`` and ``&`` become
    entities and ``%`` becomes ``&#37;``, which Plotly turns back into the characters
    only when it draws them, as text.

    Examples
    --------
    >>> plotly_text("<b>a</b> & 5%{x}")
    '&lt;b&gt;a&lt;/b&gt; &amp; 5&#37;{x}'
    """
    return html.escape(str(name), quote=False).replace("%", "&#37;")


def numbers(values: object, digits: int = 6) -> list[float | None]:
    """Floats with ``digits`` significant digits (a small file), None for NaN or infinite.

    Examples
    --------
    >>> numbers([1 / 3, float("nan"), 2])
    [0.333333, None, 2.0]
    """
    array = np.asarray(values, dtype=float).ravel()
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in array]


def json_for_html(value: object) -> str:
    """JSON safe inside an HTML ``<script>`` element: ``<``, ``>`` and ``&`` as \\u escapes.

    Examples
    --------
    >>> json_for_html({"name": "</script><b>&"})
    '{"name":"\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e\\\\u0026"}'
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def cell_number(value: float | None, digits: int = 3) -> str:
    """A number for a table cell or a heatmap (:func:`forgetlab.stats.format_number`), "–" if missing."""
    return format_number(value, digits, missing="–")


def cell_p_value(value: float) -> str:
    """A p-value for a table cell (:func:`forgetlab.stats.format_p_value`), "–" if missing."""
    return format_p_value(value, missing="–")


def caption(text: str) -> str:
    """A paragraph explaining a figure or table (plain text, escaped here)."""
    return f'<p class="caption">{esc(text)}</p>\n'


def note(text: str) -> str:
    """A paragraph saying what is not shown and why (plain text, escaped here)."""
    return f'<p class="note">{esc(text)}</p>\n'


def grid(figures: str) -> str:
    """Figures' HTML side by side, as many columns as fit."""
    return f'<div class="grid">\n{figures}\n</div>'


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool], table_id: str) -> str:
    """An HTML table; every cell is escaped here (pass plain text); ``numeric`` columns are right-aligned.

    Examples
    --------
    >>> print(table(["task", "R²"], [["<b>", "0.5"]], [False, True], "t"))
    <div class="table-wrap"><table id="t">
    <thead><tr><th>task</th><th class=num>R²</th></tr></thead>
    <tbody>
    <tr><td>&lt;b&gt;</td><td class=num>0.5</td></tr>
    </tbody></table></div>
    """

    def cells(tag: str, line: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{' class=num' if right else ''}>{esc(cell)}</{tag}>"
            for cell, right in zip(line, numeric, strict=True)
        )

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<div class="table-wrap"><table id="{table_id}">\n<thead><tr>{cells("th", header)}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )
