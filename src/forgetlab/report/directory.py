"""The report's side of an output directory: what it reads from the manifest, and how it writes files.

The manifest (``experiment.json``, :mod:`forgetlab.store`) holds the provenance and each
variant's stream description, which says whether inputs are 1-D (:func:`one_dimensional`)
and what to call them (:func:`axis_names`). Files are written atomically
(:func:`write_file`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from forgetlab.errors import ForgetlabError
from forgetlab.store import MANIFEST, OutputError, write_atomic

__all__ = ["axis_names", "first_stream", "one_dimensional", "read_manifest", "streams", "write_file"]


def read_manifest(out: Path) -> dict | None:
    """The manifest of ``out`` as a dict, or None if there is none.

    Raises
    ------
    ForgetlabError
        If the file cannot be read or is not a JSON object.
    """
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ForgetlabError(f"The manifest {str(path)!r} cannot be read: {error}.") from None
    if not isinstance(manifest, dict):
        raise ForgetlabError(f"The manifest {str(path)!r} is not a JSON object.")
    return manifest


def streams(manifest: dict | None) -> dict[str, dict]:
    """Each variant's stream description, by variant name ("" for a single experiment).

    Examples
    --------
    >>> streams({"stream": {"kind": "seasons"}})
    {'': {'kind': 'seasons'}}
    >>> streams({"variants": [{"name": "a", "experiment": {"stream": {"kind": "arrays"}}}]})
    {'a': {'kind': 'arrays'}}
    """
    if not manifest:
        return {}
    if "variants" in manifest:
        return {str(v.get("name", "")): v.get("experiment", {}).get("stream", {}) for v in manifest["variants"]}
    return {"": manifest.get("stream", {})}


def first_stream(manifest: dict | None) -> dict:
    """The stream description of the first (or only) variant; {} without a manifest."""
    return next(iter(streams(manifest).values()), {})


def one_dimensional(stream: dict) -> bool:
    """Whether a stream description says its inputs are 1-D (the seasons' days, 1-column arrays).

    Examples
    --------
    >>> one_dimensional({"kind": "seasons"}), one_dimensional({"kind": "arrays", "n_features": 3})
    (True, False)
    """
    return stream.get("kind") == "seasons" or stream.get("n_features") == 1


def axis_names(stream: dict) -> tuple[str, str]:
    """The names of a regression stream's input and target: the tutorial's day and price, else x and y."""
    return ("day", "price") if stream.get("kind") == "seasons" else ("x", "y")


def write_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` atomically (:func:`forgetlab.store.write_atomic`), a failure as one line.

    ``write`` fills a temporary file, which is then renamed to ``path``.

    Raises
    ------
    OutputError
        If the file cannot be written (the reason, e.g. "Permission denied").
    """
    try:
        write_atomic(path, write)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(f"Cannot write {str(path)!r}: {reason}.") from None
