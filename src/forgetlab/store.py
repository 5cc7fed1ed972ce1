"""Results on disk: an output directory holds one experiment (or sweep), written as it runs.

Layout of ``OUT/``::

    experiment.json                    the manifest: what the results depend on, its
                                       fingerprint, the config, and provenance (package
                                       versions, machine, date, command) of every session
    parts/results-<batch>.parquet      the tidy scores of one batch of runs
    parts/predictions-<batch>.parquet  that batch's final predictions
    *.png                              figures (when the sweep is complete)
    .lock                              held while a run writes here

Each batch's tables are written as soon as the batch finishes, each file atomically (a
temporary file in the same directory, then a rename), predictions first and results
last: a batch is done exactly when its results part exists. A run killed at any moment
leaves only whole parts (and maybe a temporary file or a predictions part without its
results, which the next session removes), so :func:`finished_runs` tells exactly what
is left to do. A directory that holds a different experiment is refused, never
overwritten; one that holds results of the same experiment is completed only when asked
(``resume``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow.parquet as pq

from forgetlab.errors import ForgetlabError, invalid

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "MANIFEST",
    "PARTS",
    "TABLES",
    "OutputError",
    "finished_runs",
    "load",
    "lock_output",
    "part_files",
    "prepare_output",
    "provenance",
    "query",
    "write_atomic",
    "write_manifest",
    "write_part",
]

MANIFEST = "experiment.json"
PARTS = "parts"
#: The tables of an output directory; each is the union of its parts.
TABLES = ("results", "predictions")
LOCK = ".lock"


class OutputError(ForgetlabError):
    """The output directory cannot be used (holds another experiment, not writable...)."""


def provenance() -> dict:
    """Package versions, Python, machine and date: recorded with every experiment."""
    versions = {}
    packages = ("forgetlab", "numpy", "scipy", "scikit-learn", "torch", "pandas", "pyarrow", "threadpoolctl", "dask")
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "versions": versions,
        "python": sys.version.split()[0],
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": sys.argv,
    }


def prepare_output(out: str | os.PathLike, fingerprint: str, *, resume: bool = False) -> Path:
    """Create ``out`` for an experiment, or refuse if it holds something else.

    An existing directory is accepted if it is empty, or holds the same experiment (same
    fingerprint) with no results yet, or with ``resume``: its finished runs are then kept
    and only the missing ones trained.

    Raises
    ------
    OutputError
        If ``out`` is a file, holds a different experiment, holds results of this one
        and ``resume`` is false, holds files that are not an experiment's, or cannot be
        created.
    """
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise OutputError(f"The 'out' directory {str(path)!r} is a file; give a directory.")
    manifest = path / MANIFEST
    if manifest.exists():
        try:
            theirs = json.loads(manifest.read_text()).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            theirs = None
        if theirs != fingerprint:
            raise OutputError(
                f"The 'out' directory {str(path)!r} holds a different experiment "
                f"(fingerprint {str(theirs)[:12]}, this one {fingerprint[:12]}); choose another directory."
            )
        if part_files(path, "results") and not resume:
            raise OutputError(
                f"The 'out' directory {str(path)!r} already holds results of this experiment; "
                "resume it (--resume) to train only the missing runs, or choose another directory."
            )
    elif path.exists() and any(p.name != LOCK and not _empty_dir(p, PARTS) for p in path.iterdir()):
        raise OutputError(
            f"The 'out' directory {str(path)!r} is not empty and holds no forgetlab experiment; "
            "choose an empty or new directory."
        )
    try:
        (path / PARTS).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"The 'out' directory {str(path)!r} cannot be created: {error.strerror}.") from None
    return path


def _empty_dir(path: Path, name: str) -> bool:
    return path.name == name and path.is_dir() and not any(path.iterdir())


@contextlib.contextmanager
def lock_output(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the block: a second writer is refused, not interleaved.

    The lock is an advisory ``flock`` on ``out/.lock``, released when the block ends or
    the process dies (the kernel drops it), so a killed run never leaves a stale lock.
    Check the directory again (:func:`prepare_output`) once the lock is held: another
    writer may have written there in between.

    Raises
    ------
    OutputError
        If another process holds the lock.
    """
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise OutputError(
                f"The 'out' directory {str(out)!r} is in use by another forgetlab run (pid {holder}); "
                "wait for it to finish or choose another directory."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_manifest(out: Path, manifest: dict) -> None:
    """Write the manifest (with this session's provenance) into ``out``, atomically.

    A manifest already there keeps its provenance and gains this session's under
    ``resumed`` (the results depend on neither; the record shows who wrote what).
    """
    path = out / MANIFEST
    record = {**manifest, "provenance": provenance()}
    if path.exists():
        earlier = json.loads(path.read_text())
        record = {**earlier, "resumed": [*earlier.get("resumed", []), provenance()]}
    text = json.dumps(record, indent=2, sort_keys=True)
    write_atomic(path, lambda tmp: tmp.write_text(text + "\n"))


def part_files(out: str | os.PathLike, table: str) -> list[Path]:
    """The finished part files of one table in ``out``, sorted by name."""
    return sorted((Path(out) / PARTS).glob(f"{table}-*.parquet"))


def _clean(out: Path) -> None:
    """Remove what a killed run can leave: temporary files and predictions without results."""
    parts = out / PARTS
    for tmp in parts.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    committed = {path.name.removeprefix("results-") for path in part_files(out, "results")}
    for path in part_files(out, "predictions"):
        if path.name.removeprefix("predictions-") not in committed:
            path.unlink()


def finished_runs(out: Path) -> set[int]:
    """The ``run`` ids whose results are in ``out`` (after removing a killed run's leftovers)."""
    _clean(out)
    done: set[int] = set()
    for path in part_files(out, "results"):
        done.update(pq.read_table(path, columns=["run"]).column("run").to_pylist())
    return done


def write_part(out: Path, batch: str, scores: pd.DataFrame, predictions: pd.DataFrame) -> None:
    """Write one batch's tables into ``out/parts``, predictions first, results last.

    Raises
    ------
    OutputError
        If the disk is full or the directory not writable (the parts already written
        stay whole; rerun with ``resume`` once the cause is fixed).
    """
    try:
        for table, frame in (("predictions", predictions), ("results", scores)):
            path = out / PARTS / f"{table}-{batch}.parquet"
            write_atomic(path, lambda tmp, frame=frame: frame.to_parquet(tmp, index=False))
    except OSError as error:
        reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror or str(error)
        raise OutputError(
            f"Cannot write results into {str(out)!r}: {reason}. The finished parts are kept; "
            "resume (--resume) once this is fixed."
        ) from None


def load(out: str | os.PathLike, table: str = "results") -> pd.DataFrame:
    """Load a table of an experiment's output directory as one pandas DataFrame.

    Parameters
    ----------
    out : path
        The experiment's output directory.
    table : {"results", "predictions"}, default "results"
        ``results``: the tidy scores (:data:`forgetlab.results.RESULT_COLUMNS`);
        ``predictions``: the final models' test-set predictions. Rows are ordered by
        ``run``; an unfinished sweep gives the runs finished so far.

    Raises
    ------
    ForgetlabError
        If the directory holds no part of the table.

    Examples
    --------
    >>> import forgetlab
    >>> scores = forgetlab.load("runs/tutorial")  # doctest: +SKIP
    >>> scores.query("metric == 'r2'").groupby(["schedule", "task"]).value.last()  # doctest: +SKIP
    """
    if table not in TABLES:
        raise invalid("table", "load", f"one of {', '.join(TABLES)}", table)
    paths = part_files(out, table)
    if not paths:
        raise ForgetlabError(f"No {table} table in {str(out)!r} (looked for {PARTS}/{table}-*.parquet).")
    frames = [pd.read_parquet(path) for path in paths]
    return pd.concat(frames, ignore_index=True).sort_values("run", kind="stable", ignore_index=True)


#: The PRAGMAs ``query`` runs (they only read, like ``PRAGMA table_info('results')``); it refuses every other.
READ_PRAGMAS = frozenset(
    {
        "collations",
        "database_list",
        "database_size",
        "functions",
        "metadata_info",
        "platform",
        "show_databases",
        "show_tables",
        "show_tables_expanded",
        "storage_info",
        "table_info",
        "user_agent",
        "version",
    }
)
READS = "SELECT, WITH ... SELECT, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, PRAGMA table_info"


def query(out: str | os.PathLike, sql: str) -> pd.DataFrame:
    """Answer SQL over an output directory's tables, with DuckDB, only reading.

    The tables are views named ``results`` and ``predictions`` over the directory's
    parts (read in place, not copied), so a query over a large sweep reads only the
    columns and row groups it needs.

    The query only reads. Each of its statements (``sql`` may hold several, separated by
    ``;``, each answered in turn; the answer is the last one's) must be a read: SELECT,
    WITH ... SELECT, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of a read, or a
    PRAGMA that reads (``table_info``, ``show_tables``, ...). Anything else (COPY, ATTACH,
    INSTALL, LOAD, CREATE, INSERT, DELETE, DROP, SET, EXPORT, CALL, ...) is refused before
    any statement runs, so a refused query changes and writes nothing. Behind that check,
    DuckDB itself is closed: the only files it may open are the parts
    (``allowed_paths``), external access is off (no other file, no network, no
    extension; ``enable_external_access = false``) and the configuration is locked
    (``lock_configuration = true``), so ``SELECT * FROM read_csv('/etc/passwd')`` fails too.

    Parameters
    ----------
    out : str or os.PathLike
        An output directory (its ``parts/`` hold the tables).
    sql : str
        The query; see above for what it may do.

    Returns
    -------
    pandas.DataFrame
        The answer of the (last) statement.

    Raises
    ------
    ForgetlabError
        If the directory holds no results, the query is empty or does more than read
        (the message names what was refused, e.g. COPY), or DuckDB refuses the query (its
        message, in one line).

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> (out / PARTS).mkdir()
    >>> part = pd.DataFrame({"run": [0, 1], "schedule": ["a", "b"], "value": [0.5, 0.9]})
    >>> part.to_parquet(out / PARTS / "results-v0-s0.parquet")
    >>> query(out, "SELECT schedule, value FROM results ORDER BY value DESC")
      schedule  value
    0        b    0.9
    1        a    0.5
    >>> query(out, "COPY results TO 'results.csv'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    forgetlab.errors.ForgetlabError: The query must only read; refused COPY: "COPY results TO 'results.csv'" (...).
    """
    import duckdb

    if not part_files(out, "results"):
        raise ForgetlabError(f"No results table in {str(out)!r} (looked for {PARTS}/results-*.parquet).")
    try:
        _check_reads_only(sql)
    except duckdb.Error as error:
        raise ForgetlabError(f"The query failed: {' '.join(str(error).split())}") from None
    tables = {table: [path.resolve() for path in part_files(out, table)] for table in TABLES}
    connection = duckdb.connect(":memory:")
    try:
        allowed = [path for paths in tables.values() for path in paths]
        connection.execute(f"SET allowed_paths = [{_sql_strings(allowed)}]")
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
        for table, paths in tables.items():
            if paths:
                connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{_sql_strings(paths)}])")
        try:
            return connection.execute(sql).df()
        except duckdb.Error as error:
            raise ForgetlabError(f"The query failed: {' '.join(str(error).split())}") from None
    finally:
        connection.close()


def _sql_strings(paths: list[Path]) -> str:
    """``paths`` as SQL string literals, comma-separated."""
    return ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths)


def _check_reads_only(sql: str) -> None:
    """Refuse ``sql`` unless it holds at least one statement and each only reads.

    Raises
    ------
    ForgetlabError
        If ``sql`` is empty or a statement does more than read.
    duckdb.Error
        If DuckDB cannot parse ``sql``.
    """
    import duckdb

    statements = duckdb.extract_statements(sql)
    if not statements:
        raise ForgetlabError(f"The query is empty; give one that reads ({READS}).")
    for statement in statements:
        refused = _refusal(statement.query, statement.type)
        if refused is not None:
            text = " ".join(statement.query.split()).rstrip(";").rstrip()
            text = text if len(text) <= 80 else text[:77] + "..."
            raise ForgetlabError(f'The query must only read; refused {refused}: "{text}" (allowed: {READS}).')


def _refusal(text: str, kind: duckdb.StatementType) -> str | None:
    """What one statement does beyond reading, named for a message (e.g. ``"COPY"``); None if it only reads."""
    import duckdb

    tokens = _tokens(text)
    words = [word.upper() for _, word, _ in tokens]
    if kind == duckdb.StatementType.SELECT:
        return None
    if kind == duckdb.StatementType.PRAGMA and words[:1] == ["PRAGMA"]:
        name = words[1].lower() if len(words) > 1 else ""
        return None if name in READ_PRAGMAS else f"PRAGMA {name}".rstrip()
    if kind == duckdb.StatementType.EXPLAIN and words[:1] == ["EXPLAIN"]:
        # EXPLAIN [ANALYZE] [(options)] STATEMENT reads when STATEMENT does (ANALYZE runs it).
        start = 2 if words[1:2] in (["ANALYZE"], ["ANALYSE"]) else 1
        if words[start : start + 1] == ["("]:
            depth = 1
            while depth and start + 1 < len(words):
                start += 1
                depth += {"(": 1, ")": -1}.get(words[start], 0)
            start += 1
        if start >= len(tokens):
            return "EXPLAIN"
        inner = text.encode()[tokens[start][0] :].decode()
        try:
            statements = duckdb.extract_statements(inner)
        except duckdb.Error:
            return "EXPLAIN"
        refusals = [_refusal(statement.query, statement.type) for statement in statements]
        refused = next((refusal for refusal in refusals if refusal is not None), None)
        if not statements:
            return "EXPLAIN"
        return None if refused is None else f"{refused} (in EXPLAIN)"
    if kind == duckdb.StatementType.MULTI and words[:1] == ["PIVOT"]:
        return "PIVOT without an IN list (it creates types first; list its columns: PIVOT ... ON col IN (...))"
    if not tokens or tokens[0][2] != duckdb.token_type.keyword or words[0] == "WITH":
        return kind.name
    return " ".join(words[:2]) if words[0] == "FORCE" else words[0]


def _tokens(text: str) -> list[tuple[int, str, duckdb.token_type]]:
    """The tokens of ``text``, comments left out, as (byte offset, text, type), by DuckDB's tokenizer."""
    import duckdb

    data = text.encode()
    found = duckdb.tokenize(text)
    ends = [start for start, _ in found[1:]] + [len(data)]
    return [
        (start, data[start:end].decode().strip(), kind)
        for (start, kind), end in zip(found, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]
