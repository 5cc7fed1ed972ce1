"""The pieces every figure of the report shares, as Plotly's JSON (plain dicts): colours, titles, legends, buttons."""

from __future__ import annotations

from forgetlab.report.markup import plotly_text

__all__ = ["COLORS", "button", "color", "legend", "menu", "title"]

#: One colour per task, in stream order (Plotly's and matplotlib's default cycle).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def color(index: int, alpha: float | None = None) -> str:
    """The ``index``-th colour of :data:`COLORS` (cycling), opaque or with ``alpha``.

    Examples
    --------
    >>> color(0), color(1, 0.2)
    ('#1f77b4', 'rgba(255, 127, 14, 0.2)')
    """
    value = COLORS[index % len(COLORS)]
    if alpha is None:
        return value
    red, green, blue = (int(value[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def title(name: str, detail: str, **placement: object) -> dict:
    """A figure's title: the panel's ``name`` in bold (escaped for Plotly), then ``detail`` (Plotly markup)."""
    return {
        "text": f"<b>{plotly_text(name)}</b> {detail}",
        "x": 0.01,
        "xanchor": "left",
        **placement,
        "font": {"size": 14},
    }


def button(label: str, data: dict, layout: dict) -> dict:
    """A button that restyles the traces (``data``) and the layout."""
    return {"label": label, "method": "update", "args": [data, layout]}


def menu(buttons: list[dict], *, right: bool) -> dict:
    """A row of buttons above the plot, at its left or right end."""
    where = {"x": 1, "xanchor": "right"} if right else {"x": 0, "xanchor": "left"}
    style = {"type": "buttons", "direction": "right", "showactive": True, "active": 0, "font": {"size": 11}}
    return {**style, **where, "y": 1.01, "yanchor": "bottom", "pad": {"t": 0, "b": 2}, "buttons": buttons}


def legend(n_entries: int) -> tuple[dict, int]:
    """A horizontal legend at the bottom of the figure, and the bottom margin it needs."""
    rows = -(-n_entries // 2)
    placement = {"orientation": "h", "x": 0, "xref": "container", "y": 0.005, "yref": "container"}
    return {**placement, "yanchor": "bottom"}, 52 + 20 * rows
