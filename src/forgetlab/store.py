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

import pandas as pd
import pyarrow.parquet as pq

from forgetlab.errors import ForgetlabError, invalid

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
        ``results``: the tidy scores (:data:`forgetlab.experiment.RESULT_COLUMNS`);
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


def query(out: str | os.PathLike, sql: str) -> pd.DataFrame:
    """Answer one SQL query over an output directory's tables, with DuckDB.

    The tables are views named ``results`` and ``predictions`` over the directory's
    parts (read in place, not copied), so a query over a large sweep reads only the
    columns and row groups it needs.

    Raises
    ------
    ForgetlabError
        If the directory holds no results, or DuckDB refuses the query (its message, in
        one line).

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
    """
    import duckdb

    if not part_files(out, "results"):
        raise ForgetlabError(f"No results table in {str(out)!r} (looked for {PARTS}/results-*.parquet).")
    connection = duckdb.connect(":memory:")
    try:
        for table in TABLES:
            paths = part_files(out, table)
            if paths:
                files = ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths)
                connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{files}])")
        try:
            return connection.execute(sql).df()
        except duckdb.Error as error:
            message = " ".join(str(error).split())
            raise ForgetlabError(f"The query failed: {message}") from None
    finally:
        connection.close()
