"""The compiler of the CPU arithmetic: numba's ``njit``, set up once for every compiled kernel.

Every compiled function of :mod:`forgetlab.numerics` is decorated with :data:`kernel`:
``numba.njit(nogil=True, cache=True, error_model="numpy")``:

- ``nogil``: a kernel releases the GIL, so threads could run kernels side by side;
- ``cache``: the machine code is written to disk on the first compilation and loaded by
  later processes (0.3-0.6 s instead of a compilation of several seconds);
- ``error_model="numpy"``: a float division by zero gives inf or NaN, as NumPy does, rather
  than raising (the line search relies on IEEE arithmetic, as MINPACK's Fortran does).

Where the cache lives. numba writes it beside the source files (``__pycache__`` of this
package) when that directory is writable. When it is not (a read-only installation) and the
user has not chosen ``NUMBA_CACHE_DIR``, this module points ``NUMBA_CACHE_DIR`` to
``<user cache directory>/forgetlab/numba`` (platformdirs) before numba is imported, so the
cache survives between sessions and is shared by the worker processes, which inherit the
variable.

A stale cache. numba checks each kernel against its own source file only: a kernel whose
file did not change keeps its cached machine code even when a kernel it calls (and inlined)
did. So this module keeps, in the cache directory, a digest of every kernel source file
(:data:`SOURCES`); when it differs, the cached code of all of them is dropped and compiled
again on first use.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["CACHE_DIR", "SOURCES", "compiled_any", "kernel"]

#: The modules holding compiled kernels (beside this one): one changes, all are compiled again.
SOURCES = ("compiled_lbfgs", "compiled_mlp", "compiled_sgd", "morethuente")


def _cache_dir() -> str | None:
    """Where numba should cache, if not beside the package: None when the package's cache is writable."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    here = Path(__file__).parent
    pycache = here / "__pycache__"
    if os.access(pycache if pycache.exists() else here, os.W_OK):
        return None
    import platformdirs

    path = Path(platformdirs.user_cache_dir("forgetlab")) / "numba"
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    return str(path)


#: The directory of numba's cache when it is not beside the package (None: beside it).
CACHE_DIR = _cache_dir()

import numba  # noqa: E402  (after NUMBA_CACHE_DIR is chosen)

if CACHE_DIR is not None and not numba.config.CACHE_DIR:  # numba was imported before this module
    numba.config.CACHE_DIR = CACHE_DIR


def _cache_location() -> Path:
    """The directory where numba caches this package's kernels (its own rule for the two cases)."""
    here = Path(__file__).resolve().parent
    if not numba.config.CACHE_DIR:
        return here / "__pycache__"
    subpath = os.path.abspath(here)
    return Path(numba.config.CACHE_DIR) / f"{here.name}_{hashlib.sha1(subpath.encode()).hexdigest()}"


def drop_stale_cache() -> bool:
    """Drop the cached machine code of every kernel if any kernel source changed since it was cached.

    Returns True if it dropped anything. Called once when this module is imported.
    """
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join((here / f"{name}.py").read_bytes() for name in (*SOURCES, "jit"))).hexdigest()
    location = _cache_location()
    stamp = location / "forgetlab-kernels.sha256"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    stale = [path for name in SOURCES for path in location.glob(f"{name}.*.nb[ic]")]
    for path in stale:
        path.unlink(missing_ok=True)
    try:
        location.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only location: numba will not cache there either
        pass
    return bool(stale)


drop_stale_cache()

#: The decorator of every compiled kernel (see the module docstring).
kernel = numba.njit(nogil=True, cache=True, error_model="numpy")


def compiled_any(*kernels: numba.core.dispatcher.Dispatcher) -> bool:
    """True if any of ``kernels`` compiled machine code in this process (rather than loading it from the cache)."""
    return any(sum(kernel_.stats.cache_misses.values()) for kernel_ in kernels)
