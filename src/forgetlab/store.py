"""Results on disk: an output directory holds one experiment.

Layout of ``OUT/``::

    experiment.json      the manifest: what the results depend on, its fingerprint,
                         and provenance (package versions, machine, date)
    results.parquet      the tidy scores table (see forgetlab.experiment.RESULT_COLUMNS)
    predictions.parquet  final predictions on every task's test set
    *.png                figures

Every file is written atomically (a temporary file in the same directory, then a rename),
so a crash never leaves a half-written file behind. A directory that holds a different
experiment is refused, never overwritten.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

from forgetlab.errors import ForgetlabError, invalid

__all__ = ["MANIFEST", "TABLES", "load", "prepare_output", "provenance", "write_atomic", "write_results"]

MANIFEST = "experiment.json"
TABLES = {"results": "results.parquet", "predictions": "predictions.parquet"}


class OutputError(ForgetlabError):
    """The output directory cannot be used (holds another experiment, not writable...)."""


def provenance() -> dict:
    """Package versions, Python, machine and date: recorded with every experiment."""
    versions = {}
    for package in ("forgetlab", "numpy", "scipy", "scikit-learn", "pandas", "pyarrow", "threadpoolctl"):
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


def prepare_output(out: str | os.PathLike, fingerprint: str) -> Path:
    """Create ``out`` for an experiment, or refuse if it holds something else.

    An existing directory is accepted if it is empty or holds the same experiment (same
    fingerprint: the results will be the same, so they are rewritten).

    Raises
    ------
    OutputError
        If ``out`` is a file, holds a different experiment, holds files that are not an
        experiment's, or cannot be created.
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
    elif path.exists() and any(path.iterdir()):
        raise OutputError(
            f"The 'out' directory {str(path)!r} is not empty and holds no forgetlab experiment; "
            "choose an empty or new directory."
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"The 'out' directory {str(path)!r} cannot be created: {error.strerror}.") from None
    return path


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


def write_results(out: Path, manifest: dict, tables: dict[str, pd.DataFrame]) -> None:
    """Write the manifest (with provenance) and the tables into ``out``, each atomically.

    Parameters
    ----------
    out : Path
        Prepared with :func:`prepare_output`.
    manifest : dict
        The experiment's manifest, including its ``fingerprint``.
    tables : dict of str to DataFrame
        Keys from :data:`TABLES`.
    """
    text = json.dumps({**manifest, "provenance": provenance()}, indent=2, sort_keys=True)
    write_atomic(out / MANIFEST, lambda tmp: tmp.write_text(text + "\n"))
    for name, table in tables.items():
        write_atomic(out / TABLES[name], lambda tmp, table=table: table.to_parquet(tmp, index=False))


def load(out: str | os.PathLike, table: str = "results") -> pd.DataFrame:
    """Load a table of an experiment's output directory as a pandas DataFrame.

    Parameters
    ----------
    out : path
        The experiment's output directory.
    table : {"results", "predictions"}, default "results"
        ``results``: the tidy scores (``run, seed, schedule, strategy, engine, epoch,
        samples_seen, trained, task, metric, value``); ``predictions``: the final models'
        test-set predictions.

    Raises
    ------
    ForgetlabError
        If the directory or the table does not exist.

    Examples
    --------
    >>> import forgetlab
    >>> scores = forgetlab.load("runs/tutorial")  # doctest: +SKIP
    >>> scores.query("metric == 'r2'").groupby(["schedule", "task"]).value.last()  # doctest: +SKIP
    """
    if table not in TABLES:
        raise invalid("table", "load", f"one of {', '.join(TABLES)}", table)
    path = Path(out) / TABLES[table]
    if not path.exists():
        raise ForgetlabError(f"No {table} table in {str(out)!r} (looked for {path.name}).")
    return pd.read_parquet(path)
