"""The report's HTML tables: stream metrics and final scores over seeds, paired comparisons, provenance.

Every cell is plain text, escaped by :func:`forgetlab.report.markup.table`; numbers are
formatted as the CLI formats them (:func:`forgetlab.stats.format_number`).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forgetlab.report.markup import caption, cell_number, cell_p_value, esc, note, table
from forgetlab.report.panels import metric_label
from forgetlab.results import ALL_TASKS, STREAM_METRICS
from forgetlab.stats import BETWEEN, at_epoch, compare, summarise
from forgetlab.store import MANIFEST

__all__ = ["comparison_tables", "final_table", "provenance", "stream_metric_table"]


def _interval(mean: float, low: float, high: float) -> str:
    return f"{cell_number(mean)} [{cell_number(low)}, {cell_number(high)}]"


def stream_metric_table(scores: pd.DataFrame, by: list[str]) -> str | None:
    """ACC, BWT, FWT, forgetting and intransigence per group of ``by``: mean [95% CI] over seeds; None if none.

    Parameters
    ----------
    scores : DataFrame
        The results table; its rows with ``task`` ``"all"`` hold the stream metrics.
    by : list of str
        The grouping columns, e.g. ``["schedule", "strategy"]``.
    """
    rows = scores[(scores["task"] == ALL_TASKS) & scores["metric"].isin(STREAM_METRICS)]
    if rows.empty:
        return None
    summary = summarise(rows, by=by)
    metrics = [m for m in STREAM_METRICS if m in set(summary["metric"])]
    header = [*by, "seeds", *(f"{metric_label(m)} (95% CI)" for m in metrics)]
    lines = []
    for key, group in summary.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cells = {row.metric: row for row in group.itertuples(index=False)}
        line = [*map(str, key), str(max(row.n_seeds for row in cells.values()))]
        for metric in metrics:
            row = cells.get(metric)
            line.append("–" if row is None else _interval(row.mean, row.low, row.high))
        lines.append(line)
    return table(header, lines, [False] * len(by) + [True] * (1 + len(metrics)), "stream-metrics")


def final_table(scores: pd.DataFrame, by: list[str], metrics: Sequence[str]) -> str:
    """Each task's score at each run's last epoch, per group of ``by``: budget, seeds, mean, CI, median, diverged."""
    header = [*by, "task", "metric", "epochs", "samples seen", "seeds", "mean", "95% CI", "median", "diverged"]
    keys = [*by, "task"]
    lines = []
    for metric in metrics:
        last = at_epoch(scores, metric=metric, epoch="last", owner="report")
        summary = summarise(last, metric=metric, by=keys)
        budget = last.groupby(keys, sort=False)[["epoch", "samples_seen"]].median()
        for row in summary.itertuples(index=False):
            record = row._asdict()
            epoch, seen = budget.loc[tuple(record[k] for k in keys)]
            lines.append(
                [str(record[k]) for k in keys]
                + [metric_label(metric), f"{epoch:g}", f"{seen:g}", str(record["n_seeds"])]
                + [cell_number(record["mean"]), f"[{cell_number(record['low'])}, {cell_number(record['high'])}]"]
                + [cell_number(record["median"]), str(record["n_diverged"])]
            )
    numeric = [False] * (len(by) + 2) + [True] * 4 + [False, True, True]
    return table(header, lines, numeric, "final-scores")


def _comparison(scores: pd.DataFrame, between: str, metric: str) -> tuple[str, str]:
    """(caption, table) of the paired comparisons between the levels of ``between`` on ``metric``."""
    result = compare(scores, between=between, metric=metric)
    strata = list(result.columns[: result.columns.get_loc("a")])
    header = [*strata, "a", "b", "pairs", "median a−b", "W", "p", "p Holm", "r", "note"]
    lines = [
        [str(row[c]) for c in [*strata, "a", "b"]]
        + [str(row["n_pairs"]), cell_number(row["median_difference"]), cell_number(row["statistic"], 1)]
        + [cell_p_value(row["p_value"]), cell_p_value(row["p_holm"]), cell_number(row["rank_biserial"], 2)]
        + [row["note"]]
        for row in result.to_dict("records")
    ]
    n_tests = int(result["p_value"].notna().sum())
    text = (
        f"Between {between}s, on the final {metric_label(metric)} of each task (each run's "
        f"last epoch): pairs of runs with the same seed, difference a − b, Wilcoxon signed-rank test (W), "
        f"p Holm-adjusted over the {n_tests} test{'s' if n_tests != 1 else ''} of this table, "
        f"r = matched-pairs rank-biserial correlation (> 0: a scores higher)."
    )
    numeric = [False] * (len(strata) + 2) + [True] * 6 + [False]
    return text, table(header, lines, numeric, f"compare-{between}-{metric}")


def comparison_tables(scores: pd.DataFrame, metrics: Sequence[str]) -> list[tuple[str, str]]:
    """(caption, table) of every comparison: between schedules, and between strategies, per per-task metric."""
    tables = []
    for metric in metrics:
        rows = scores[scores["metric"] == metric]
        tables += [_comparison(scores, between, metric) for between in BETWEEN if rows[between].nunique() >= 2]
    return tables


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _session_rows(session: dict) -> list[list[str]]:
    """One session's provenance (:func:`forgetlab.store.provenance`) as (field, value) rows."""
    versions = session.get("versions") or {}
    machine = session.get("machine") or {}
    command = session.get("command")
    return [
        ["date", str(session.get("date", "?"))],
        ["command", shlex.join(map(str, command)) if isinstance(command, list) else str(command or "?")],
        ["versions", ", ".join(f"{name} {version}" for name, version in versions.items() if version)],
        ["python", str(session.get("python", "?"))],
        [
            "machine",
            f"{machine.get('platform', '?')}, {machine.get('processor', '?')}, {machine.get('cpus', '?')} CPUs",
        ],
    ]


def provenance(manifest: dict | None, out: Path) -> str:
    """The provenance section's HTML: fingerprint and sessions as a table, the config, the whole manifest."""
    if manifest is None:
        return note(f"No {MANIFEST} in this directory: how these results were made is not recorded.")
    rows = [["fingerprint", str(manifest.get("fingerprint", "?"))], *_session_rows(manifest.get("provenance") or {})]
    for i, session in enumerate(manifest.get("resumed", []), start=1):
        rows += [[f"resumed ({i}): {field}", value] for field, value in _session_rows(session)]
    text = (
        "The fingerprint is the SHA-256 of what the results depend on (the experiment's description in the "
        "manifest, not the config's text nor the provenance); below it, the session that started the experiment "
        "and any that resumed it."
    )
    parts = [caption(text), table(["", ""], rows, [False, False], "provenance-table")]
    if manifest.get("config"):
        parts.append(f'<h3>Config</h3>\n<pre id="config">{esc(_pretty(manifest["config"]))}</pre>')
    parts.append(
        f"<details><summary>The whole manifest ({esc(out / MANIFEST)})</summary>\n"
        f'<pre id="manifest">{esc(_pretty(manifest))}</pre></details>'
    )
    return "\n".join(parts)
