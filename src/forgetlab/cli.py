"""The command line: parses, calls the library, prints. Heavy imports happen late."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    import pandas as pd

    from forgetlab.experiment import Results

__all__ = ["main"]

DEFAULT_SCHEDULES = "sequential,alternating,interspersed"


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_list(flag: str) -> Callable[[str], tuple[int, ...]]:
    """A parser of comma-separated ints whose errors name ``flag``."""

    def parse(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(item) for item in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be comma-separated ints, e.g. 1,9; got {text!r}") from None

    return parse


def _names(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forgetlab", description="A laboratory for catastrophic forgetting and continual learning.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add_command in (
        _add_tutorial_command,
        _add_run_command,
        _add_query_command,
        _add_compare_command,
        _add_report_command,
    ):
        add_command(commands)
    return parser


def _add_tutorial_command(commands: argparse._SubParsersAction) -> None:
    tutorial = commands.add_parser(
        "tutorial",
        help="reproduce the summer/autumn tutorial over one or many seeds",
        description="Reproduce the tutorial: naive fine-tuning (sequential), alternating and interspersed "
        "training on summer then autumn prices. Prints the final R² per schedule and task and writes "
        "the results, predictions, figures and the HTML report (report.html) into --out.",
    )
    tutorial.add_argument(
        "--engine",
        default="auto",
        help="compiled (numba, one run per core; auto picks it), torch (batched) or sklearn (the exact reference)",
    )
    tutorial.add_argument("--dtype", default="float32", help="float32 or float64 (compiled and torch engines)")
    tutorial.add_argument("--seeds", default="42", help="seeds: 42 (the tutorial), 0-15, 1,2,3 (default: 42)")
    tutorial.add_argument(
        "--schedules", type=_names, default=_names(DEFAULT_SCHEDULES), help=f"default: {DEFAULT_SCHEDULES}"
    )
    tutorial.add_argument("--seasons", type=_names, default=("summer", "autumn"), help="default: summer,autumn")
    tutorial.add_argument("--k", type=int, default=30, help="samples per task per epoch (default: 30)")
    tutorial.add_argument(
        "--sequential-epochs",
        type=_int_list("--sequential-epochs"),
        default=(1, 9),
        help="epochs per season (default: 1,9)",
    )
    tutorial.add_argument("--alternating-epochs", type=int, default=100, help="default: 100")
    tutorial.add_argument("--interspersed-epochs", type=int, default=50, help="default: 50")
    tutorial.add_argument(
        "--out", help="output directory (default: runs/tutorial-<fingerprint>, which resumes by itself)"
    )
    tutorial.add_argument(
        "--threads", type=int, help="BLAS threads per run (sklearn) or torch threads per process (default: 1)"
    )
    _add_run_options(tutorial)


def _add_run_command(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="run the sweep a TOML config describes (grids, strategies, many seeds)",
        description="Run every run of a config file: its stream, model, optimiser, schedules, strategies, "
        "seeds and grid (see examples/). Each batch of runs is written into --out as soon as it finishes; "
        "--resume completes an interrupted sweep. Prints each group's final score over seeds and writes the HTML "
        "report (report.html).",
    )
    run.add_argument("config", metavar="CONFIG", help="a TOML config file")
    run.add_argument("--out", help="output directory (default: runs/<config name>-<fingerprint>)")
    _add_run_options(run)


def _add_query_command(commands: argparse._SubParsersAction) -> None:
    query = commands.add_parser(
        "query",
        help="answer SQL over an experiment's results (DuckDB, read-only)",
        description="Run one SQL query over an output directory's tables with DuckDB and print the answer. "
        "The tables are 'results' (one row per run, epoch, task and metric) and 'predictions'. The query only "
        "reads: each statement must be a SELECT (or WITH ... SELECT, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, "
        "PRAGMA table_info); COPY, ATTACH, INSTALL, LOAD, SET and writes are refused (exit code 2, nothing "
        "written), and DuckDB may open no file but the tables' parts.",
    )
    query.add_argument("dir", metavar="DIR", help="an experiment's output directory")
    query.add_argument(
        "sql", metavar="SQL", help="e.g. \"SELECT schedule, avg(value) FROM results WHERE metric = 'r2' GROUP BY 1\""
    )
    query.add_argument("--max-rows", type=int, default=60, help="rows to print at most (default: 60)")


def _add_compare_command(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare schedules or strategies over seeds (paired Wilcoxon tests)",
        description="Load an experiment's results and compare every two schedules (or strategies) on one "
        "metric at one epoch: runs are paired by seed, each pair of levels gets a Wilcoxon signed-rank test, "
        "p-values are Holm-adjusted over all the comparisons printed, and the effect size is the "
        "matched-pairs rank-biserial correlation. Also prints each level's mean over seeds with a "
        "95%% bootstrap interval.",
    )
    compare.add_argument("dir", metavar="DIR", help="an experiment's output directory")
    compare.add_argument(
        "--between", choices=("schedule", "strategy"), default="schedule", help="what to compare (default: schedule)"
    )
    compare.add_argument("--metric", help="r2, accuracy, acc, bwt, ... (default: the per-task score, r2 or accuracy)")
    compare.add_argument("--task", help="compare on this task only (default: every task)")
    compare.add_argument(
        "--epoch", type=_epoch, default="last", help="last (each run's last epoch; default) or an epoch number"
    )
    compare.add_argument("--levels", type=_names, help="compare only these levels, e.g. sequential,alternating")


def _add_report_command(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="write the HTML report (and static figures) of an experiment's output directory",
        description="Write DIR/report.html: one self-contained file (works offline) with interactive score "
        "curves over seeds, predictions, score matrices, summary and paired-comparison tables and the "
        "provenance. With --format, also the static figures (scores.FORMAT, and predictions.FORMAT for 1-D "
        "regression streams) for papers.",
    )
    report.add_argument("dir", metavar="DIR", help="an experiment's output directory")
    _add_format_option(report)


def _add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        type=_formats,
        help="also write the static figures in these formats, e.g. png,svg,pdf (scores.svg, predictions.svg)",
    )


def _formats(text: str) -> tuple[str, ...]:
    """Figure formats for ``--format``, checked by the library (one line on error)."""
    from forgetlab.errors import ForgetlabError
    from forgetlab.report import check_formats

    try:
        return check_formats(text)
    except ForgetlabError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Where and how a sweep runs: resuming, local processes or Dask, the memory budget, progress."""
    parser.add_argument("--resume", action="store_true", help="complete the results already in --out")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, help="local worker processes (default: cores / threads)")
    where.add_argument("--workers", type=int, help="start a Dask LocalCluster with N worker processes")
    where.add_argument("--scheduler", help="run on the Dask cluster at this address, e.g. tcp://host:8786")
    parser.add_argument(
        "--memory-budget", type=_bytes, default="2GiB", help="memory one batch of runs may take (default: 2GiB)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_format_option(parser)


UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _bytes(text: str) -> int:
    """A size such as ``512MB``, ``2GiB`` or ``1000000`` (bytes), for ``--memory-budget``."""
    number = text.strip().lower().rstrip("bikmg")
    unit = text.strip().lower()[len(number) :]
    try:
        size = float(number) * UNITS[unit]
    except (ValueError, KeyError):
        size = 0
    if not size >= 1:
        raise argparse.ArgumentTypeError(f"--memory-budget must be a size like 512MB or 2GiB; got {text!r}")
    return int(size)


def _epoch(text: str) -> str | int:
    """``last`` or an int >= 1, for ``--epoch``."""
    if text == "last":
        return text
    try:
        epoch = int(text)
    except ValueError:
        epoch = 0
    if epoch < 1:
        raise argparse.ArgumentTypeError(f"--epoch must be 'last' or an int >= 1; got {text!r}")
    return epoch


def _format_table(table: pd.DataFrame, n_seeds: int) -> str:
    """The final-score table as aligned text."""
    band = n_seeds > 1
    header = ["schedule", "task", "median R²" if band else "R²"] + (["95% of seeds"] if band else [])
    lines = [header]
    for (schedule, task), row in table.iterrows():
        cells = [schedule, task, f"{row['median']:.3f}"]
        if band:
            cells.append(f"[{row['low']:.3f}, {row['high']:.3f}]")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rows = ("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines)
    return "\n".join(row.rstrip() for row in rows)


def _align(lines: list[list[str]], right: Sequence[bool]) -> str:
    """Rows of cells as text in aligned columns (numbers right-aligned), two spaces apart."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    text = (
        "  ".join(cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(line, widths, right, strict=True))
        for line in lines
    )
    return "\n".join(row.rstrip() for row in text)


def _compare(args: argparse.Namespace) -> int:
    from forgetlab.stats import at_epoch, compare, summarise
    from forgetlab.stats import format_number as _number
    from forgetlab.stats import format_p_value as _p
    from forgetlab.store import load

    scores = load(args.dir)
    table = compare(
        scores, between=args.between, metric=args.metric, task=args.task, epoch=args.epoch, levels=args.levels
    )
    rows = at_epoch(scores, metric=args.metric, task=args.task, epoch=args.epoch, owner="compare")
    levels = list(dict.fromkeys(table["a"].tolist() + table["b"].tolist()))
    rows = rows[rows[args.between].isin(levels)]
    metric = str(rows["metric"].iloc[0])
    strata = list(table.columns[: table.columns.get_loc("a")])
    summary = summarise(rows, metric=metric, by=[*strata, args.between])
    when = "each run's last epoch" if args.epoch == "last" else f"epoch {args.epoch}"

    print(f"{metric} at {when}, over seeds: mean with 95% bootstrap interval (seeds resampled)")
    lines = [[*strata, args.between, "seeds", "mean", "95% interval", "median", "diverged"]]
    for row in summary.itertuples(index=False):
        record = row._asdict()
        lines.append(
            [str(record[c]) for c in [*strata, args.between]]
            + [str(record["n_seeds"]), _number(record["mean"])]
            + [f"[{_number(record['low'])}, {_number(record['high'])}]", _number(record["median"])]
            + [str(record["n_diverged"])]
        )
    print(_align(lines, [False] * (len(strata) + 1) + [True, True, False, True, True]))

    n_tests = int(table["p_value"].notna().sum())
    print()
    print(
        f"Paired by seed, difference a - b: Wilcoxon signed-rank test, p Holm-adjusted over {n_tests} "
        f"test{'s' if n_tests != 1 else ''}; r = matched-pairs rank-biserial correlation (> 0: a higher)"
    )
    lines = [[*strata, "a", "b", "pairs", "median a-b", "W", "p", "p Holm", "r", "note"]]
    for row in table.itertuples(index=False):
        record = row._asdict()
        lines.append(
            [str(record[c]) for c in [*strata, "a", "b"]]
            + [str(record["n_pairs"]), _number(record["median_difference"]), _number(record["statistic"], 1)]
            + [_p(record["p_value"]), _p(record["p_holm"]), _number(record["rank_biserial"], 2), record["note"]]
        )
    print(_align(lines, [False] * (len(strata) + 2) + [True] * 6 + [False]))
    return 0


def _tutorial(args: argparse.Namespace) -> int:
    from forgetlab.api import run_sweep, tutorial_experiment
    from forgetlab.experiment import parse_seeds
    from forgetlab.stats import final_scores
    from forgetlab.sweep import Sweep

    experiment = tutorial_experiment(
        seeds=parse_seeds(args.seeds),
        schedules=args.schedules,
        seasons=args.seasons,
        k=args.k,
        sequential_epochs=args.sequential_epochs,
        alternating_epochs=args.alternating_epochs,
        interspersed_epochs=args.interspersed_epochs,
        engine=args.engine,
        threads=args.threads,
        dtype=args.dtype,
    )
    out = args.out or f"runs/tutorial-{experiment.fingerprint()[:8]}"
    results = run_sweep(Sweep.of(experiment), out=out, **_run_options(args, resume=args.resume or not args.out))
    n_seeds = len(experiment.seeds)
    print(f"Final test R² over {n_seeds} seed{'s' if n_seeds > 1 else ''}:")
    print(_format_table(final_scores(results.scores), n_seeds))
    _print_report(results.out, results)
    _print_where(results.out, args)
    return 0


def _run_options(args: argparse.Namespace, *, resume: bool) -> dict:
    """run_sweep's keyword arguments from the shared run options, each checked."""
    from forgetlab.validation import AnyOf, Hidden, Interval, validate

    count = AnyOf(Interval(int, 1, None), Hidden(None))
    validate(None, {"jobs": count, "workers": count}, {"jobs": args.jobs, "workers": args.workers})
    return {
        "resume": resume,
        "jobs": args.jobs,
        "workers": args.workers,
        "scheduler": args.scheduler,
        "memory_budget": args.memory_budget,
        "progress": not args.no_progress,
        "figures": _figure_formats(args),
    }


def _figure_formats(args: argparse.Namespace) -> tuple[str, ...]:
    """The formats of the static figures ``tutorial`` and ``run`` write (once, in run_sweep): PNG, and --format."""
    return tuple(dict.fromkeys(("png", *(args.format or ()))))


def _print_where(out: Path, args: argparse.Namespace) -> None:
    """Where the results are, and the static figures run_sweep wrote."""
    from forgetlab.report import figure_files

    print(f'results: {out} (load with forgetlab.load({str(out)!r}), or forgetlab query {out} "SQL")')
    _print_figures(figure_files(out, _figure_formats(args)), asked=args.format is not None)


def _print_figures(figures: list[Path], *, asked: bool) -> None:
    """The figures line; when none were written though ``--format`` ``asked`` for some, why."""
    if figures:
        print("figures: " + ", ".join(map(str, figures)))
    elif asked:
        print("figures: none for a sweep of several variants (the report shows every variant)")


def _run(args: argparse.Namespace) -> int:
    import pandas as pd

    from forgetlab.api import run_sweep
    from forgetlab.config import load_config
    from forgetlab.stats import at_epoch, summarise
    from forgetlab.stats import format_number as _number

    sweep = load_config(args.config)
    out = args.out or f"runs/{Path(args.config).stem}-{sweep.fingerprint()[:8]}"
    results = run_sweep(sweep, out=out, **_run_options(args, resume=args.resume))
    scores = results.scores
    columns = (
        ["variant", "schedule", "strategy", "task"] if len(sweep.variants) > 1 else ["schedule", "strategy", "task"]
    )
    last = pd.concat(
        [
            at_epoch(scores, metric=metric, owner="run")
            for metric in ("r2", "accuracy", "acc")
            if (scores["metric"] == metric).any()
        ]
    )
    summary = summarise(last, by=columns)
    print(f"Final scores over seeds (mean with a 95% bootstrap interval) of {sweep.n_runs} runs:")
    lines = [["metric", *columns, "seeds", "mean", "95% interval", "diverged"]]
    for row in summary.itertuples(index=False):
        record = row._asdict()
        lines.append(
            [str(record[c]) for c in ["metric", *columns]]
            + [
                str(record["n_seeds"]),
                _number(record["mean"]),
                f"[{_number(record['low'])}, {_number(record['high'])}]",
            ]
            + [str(record["n_diverged"])]
        )
    print(_align(lines, [False] * (len(columns) + 1) + [True, True, False, True]))
    _print_report(results.out, results)
    _print_where(results.out, args)
    return 0


def _print_report(out: Path, results: Results | None = None) -> None:
    """Write the HTML report and print its path; from the tables of ``results`` if given, else read from ``out``."""
    from forgetlab.report import write_report

    tables = {"scores": results.scores, "predictions": results.predictions} if results is not None else {}
    print(f"report: {write_report(out, **tables)}")


def _report(args: argparse.Namespace) -> int:
    """``forgetlab report``: the static figures in the --format formats (if any), then the HTML report."""
    from forgetlab.report import write_figures

    figures = write_figures(args.dir, args.format) if args.format else []
    _print_report(Path(args.dir))
    _print_figures(figures, asked=args.format is not None)
    return 0


def _query(args: argparse.Namespace) -> int:
    from forgetlab.store import query

    answer = query(args.dir, args.sql)
    print(answer.to_string(index=False, max_rows=args.max_rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``forgetlab`` command; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"forgetlab {version('forgetlab')}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    from forgetlab.errors import ForgetlabError

    try:
        commands = {"tutorial": _tutorial, "run": _run, "compare": _compare, "query": _query, "report": _report}
        return commands[args.command](args)
    except ForgetlabError as error:
        print(f"forgetlab: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("forgetlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
