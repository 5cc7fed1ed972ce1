"""Where the tasks of a sweep execute: in this process, in local worker processes, or on a Dask cluster.

A sweep is a list of independent tasks (one task = one batch of runs). Every executor
offers one method, ``map_unordered(function, shared, items)``, which yields
``(index, function(shared, items[index]))`` as tasks finish, in completion order; the
driver (the process iterating) alone writes the results. ``shared`` is what every task
needs (e.g. the stream's arrays), ``items`` what differs per task (e.g. a batch's seeds);
which executor ran a task changes nothing in its result, only the time.

:func:`executor` chooses one and cleans up after it:

========================  ======================================================================
``executor()``            every task in this process, in order (no pool, no pickling)
``executor(jobs=N)``      N local worker processes (joblib, loky backend)
``executor(workers=N)``   a local Dask cluster of N single-threaded worker processes (loopback)
``executor(scheduler=A)`` an existing Dask cluster whose scheduler listens at address ``A``
========================  ======================================================================
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar
from uuid import uuid4

import cloudpickle
from joblib import Parallel, delayed

from forgetlab.errors import ForgetlabError, invalid
from forgetlab.validation import AnyOf, Constraint, Interval, Satisfies, validate

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "JoblibExecutor",
    "SchedulerUnreachableError",
    "executor",
]

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")


class SchedulerUnreachableError(ForgetlabError, ConnectionError):
    """No Dask scheduler answered at the given ``scheduler`` address within the timeout."""


class Executor(Protocol):
    """Runs the tasks of a sweep somewhere and yields their results as they finish."""

    def map_unordered(self, function: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index into items, function(shared, items[index]))`` as tasks finish, in completion order.

        A task that raises stops the sweep: the exception is re-raised here and the tasks
        not yet finished are abandoned.
        """
        ...


@dataclass(frozen=True)
class InProcessExecutor:
    """Every task in this process, one after the other, in the order of ``items``.

    Nothing is pickled or copied: ``function`` receives ``shared`` itself. This is what
    tests and notebooks use (a breakpoint or a print in the task just works).

    Examples
    --------
    >>> from operator import add
    >>> list(InProcessExecutor().map_unordered(add, 10, [1, 2, 3]))
    [(0, 11), (1, 12), (2, 13)]
    """

    def map_unordered(self, function: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, function(shared, items[index]))`` for each item, in order."""
        for index, item in enumerate(items):
            yield index, function(shared, item)


def _indexed(function: Callable[[S, T], R], shared: S, index: int, item: T) -> tuple[int, R]:
    return index, function(shared, item)


@dataclass(frozen=True)
class JoblibExecutor:
    """Tasks spread over ``jobs`` local worker processes (joblib's loky backend).

    ``function``, ``shared`` and each item are pickled (cloudpickle) to the workers with
    every task; NumPy arrays of more than 1 MB inside ``shared`` arrive read-only,
    memory-mapped from a temporary file (joblib's ``max_nbytes="1M"``), not copied. The
    pool is loky's reusable one: it outlives a sweep and is shared with other joblib
    calls of this process. Unless the variables are already set here, loky starts its
    workers with ``OMP_NUM_THREADS`` (and the MKL, OpenBLAS, ... equivalents) set to
    ``cpu_count() // jobs``; the task function sets its own thread counts on top of that.
    A worker process that dies makes the sweep fail (joblib's ``TerminatedWorkerError``);
    only the Dask executor recovers from that.

    Parameters
    ----------
    jobs : int
        Worker processes, >= 1.

    Examples
    --------
    >>> from operator import add
    >>> sorted(JoblibExecutor(jobs=2).map_unordered(add, 10, [1, 2, 3]))
    [(0, 11), (1, 12), (2, 13)]
    """

    jobs: int

    def map_unordered(self, function: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, function(shared, items[index]))`` as the worker processes finish them."""
        parallel = Parallel(n_jobs=self.jobs, return_as="generator_unordered")
        finished = parallel(delayed(_indexed)(function, shared, index, item) for index, item in enumerate(items))
        try:
            yield from finished
        finally:
            finished.close()  # stop dispatching (on an error, or when the caller stops early)


def _identity(value: S) -> S:
    return value


def _pickled(value: object) -> bytes:
    return cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _run_pickled(shared: bytes, task: bytes) -> bytes:
    """``function(shared, item)`` with everything unpickled here from bytes, and the result pickled to bytes."""
    function, item = pickle.loads(task)
    return _pickled(function(pickle.loads(shared), item))


@dataclass(frozen=True)
class DaskExecutor:
    """Tasks on a Dask cluster, one Dask task per item, through a connected ``distributed.Client``.

    ``shared`` is sent to the cluster once per sweep, as the result of a task of its own
    on which every item's task depends; a worker that needs it fetches it from a worker
    that has it. Unlike scattered data (which Dask cannot recompute, and whose extra
    replicas its active memory manager drops), a computed task survives the death of
    every worker that held it: the scheduler keeps its definition and recomputes it. The
    scheduler's memory therefore holds one copy of ``shared`` while the sweep runs, and
    Dask warns about "a large graph" above its
    ``distributed.admin.large-graph-warning-threshold`` (10 MB by default).

    ``shared``, each ``(function, item)`` and each result travel as bytes pickled by
    cloudpickle (like joblib's) and are unpickled, into fresh arrays, by the process that
    uses them. Left to itself, Dask hands NumPy arrays inside Python objects over as
    views into its network buffers, often not aligned to their item size (seen with
    distributed 2026.8); NumPy then runs other loops, whose last bit can differ (a 250 000
    element ``sum`` did). Through bytes, a task's results do not depend on the transport.

    Each result is fetched as soon as its task finishes (``distributed.as_completed``)
    and then released from the cluster's memory. A task that raises: the same exception
    is re-raised from :meth:`map_unordered`, and the tasks not yet finished are
    cancelled (so are they when the caller stops iterating early or on
    KeyboardInterrupt).

    A worker process that dies mid-task (killed, segfault, out of memory) does not fail
    the sweep. This relies on Dask's defaults, which forgetlab does not change: the
    scheduler gives a dead worker's tasks to other workers, the worker's nanny (on by
    default, with ``dask worker`` and with ``LocalCluster(processes=True)``) starts a
    fresh worker process, and a task fails with ``distributed.KilledWorker`` only when
    it was running on more than ``distributed.scheduler.allowed-failures`` workers that
    died (default 3, i.e. the fourth death), which stops the sweep like any other error.
    Tasks wait while the cluster has no workers (``distributed.scheduler.no-workers-timeout``
    is None by default).

    Parameters
    ----------
    client : distributed.Client
        A connected client; closing it is the caller's business (:func:`executor` does it).

    Examples
    --------
    >>> from operator import add
    >>> with executor(workers=2) as on_cluster:  # doctest: +SKIP
    ...     sorted(on_cluster.map_unordered(add, 10, [1, 2, 3]))
    [(0, 11), (1, 12), (2, 13)]
    """

    client: Client

    def map_unordered(self, function: Callable[[S, T], R], shared: S, items: Sequence[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(index, function(shared, items[index]))`` as the cluster finishes them."""
        from dask.utils import funcname
        from distributed import as_completed

        if not items:
            return
        name, token = funcname(function), uuid4().hex
        shared_future = self.client.submit(_identity, _pickled(shared), key=f"{name}-shared-{token}")
        keys = [f"{name}-{token}-{index}" for index in range(len(items))]
        tasks = [_pickled((function, item)) for item in items]
        futures = self.client.map(_run_pickled, [shared_future] * len(items), tasks, key=keys)
        index_of = {key: index for index, key in enumerate(keys)}
        pending = {future.key: future for future in futures}
        finished = as_completed(futures, loop=self.client.loop, with_results=True, raise_errors=True)
        del futures, tasks
        try:
            for future, result in finished:
                if future.status == "cancelled":  # e.g. the client lost its scheduler
                    raise result
                del pending[future.key]
                yield index_of[future.key], pickle.loads(result)
        finally:
            finished.clear()
            if self.client.status == "running":  # stop what is left, even if a traceback keeps this frame alive
                self.client.cancel([shared_future, *pending.values()])


def _check_scheduler(address: str, timeout: float) -> None:
    """Raise SchedulerUnreachableError unless a Dask scheduler answers at ``address`` within ``timeout`` s.

    ``distributed.Client(address, timeout=...)`` waits without limit when something
    other than a Dask scheduler listens there (a web server, or a port that accepts
    connections and never answers): the timeout covers Dask's connection attempts, not
    its handshake. This bounds both.
    """
    from distributed.comm import connect

    async def handshake() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout), timeout)
        await comm.close()

    try:  # in a thread of its own: works even where an event loop is running (Jupyter)
        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, handshake()).result()
    except Exception as error:
        where = f"at the 'scheduler' address {address!r} within {timeout:g} s"
        raise SchedulerUnreachableError(f"No Dask scheduler answered {where} ({_one_line(error)}).") from error


def _one_line(error: Exception) -> str:
    if isinstance(error, TimeoutError) and not str(error):
        return "no answer"
    return " ".join(f"{type(error).__name__}: {error}".split())


@contextmanager
def _environment_restored() -> Iterator[None]:
    """Put ``os.environ`` back as it was, on exit."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)


def _is_address(value: object) -> bool:
    """True for a string Dask can connect to: ``host:port`` or ``scheme://host:port`` with a scheme it knows."""
    from distributed.comm.addressing import parse_address
    from distributed.comm.registry import get_backend

    if not isinstance(value, str) or not value.strip():
        return False
    try:
        get_backend(parse_address(value)[0])
    except ValueError:
        return False
    return True


#: What :func:`executor`'s settings accept (:mod:`forgetlab.validation`); the rules between
#: them (one cluster at a time, ``jobs`` 1 with a cluster) are checked after.
CONSTRAINTS: dict[str, Constraint] = {
    "jobs": Interval(int, 1, None),
    "workers": AnyOf(None, Interval(int, 1, None)),
    "scheduler": AnyOf(None, Satisfies(_is_address, "a Dask scheduler address like 'tcp://host:8786'")),
    "connect_timeout": Interval(float, 0, None, closed="neither", finite=False, noun="a number of seconds"),
}


@contextmanager
def executor(
    *, jobs: int = 1, workers: int | None = None, scheduler: str | None = None, connect_timeout: float = 10.0
) -> Iterator[Executor]:
    """Choose where the tasks of a sweep execute; release what was started on exit.

    Parameters
    ----------
    jobs : int, default 1
        Local worker processes (joblib, loky backend). 1: every task in this process,
        in order, without pickling (:class:`InProcessExecutor`).
    workers : int or None, default None
        Start a Dask ``LocalCluster`` of this many worker processes, one thread each,
        listening on 127.0.0.1 only and without a dashboard, and close it on exit (also
        on an exception or KeyboardInterrupt).
    scheduler : str or None, default None
        Address of the scheduler of an existing Dask cluster, e.g.
        ``"tcp://10.0.0.5:8786"``. On exit only the client is closed, never the cluster.
    connect_timeout : float, default 10.0
        Seconds to wait for the ``scheduler`` to answer.

    Yields
    ------
    Executor
        :class:`InProcessExecutor`, :class:`JoblibExecutor` or :class:`DaskExecutor`.

    Raises
    ------
    InvalidParameterError
        If ``jobs`` or ``workers`` is not an int >= 1, ``scheduler`` is not an address
        with a scheme Dask knows (``tcp://``, ``tls://``, ...; none means ``tcp://``),
        ``connect_timeout`` is not > 0, ``workers`` and ``scheduler`` are both given, or
        ``jobs`` > 1 with either.
    SchedulerUnreachableError
        If no Dask scheduler answers at ``scheduler`` within ``connect_timeout`` seconds.

    Notes
    -----
    Threads: a Dask ``LocalCluster`` (like ``dask worker``) starts each worker process
    through a nanny that sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
    ``OPENBLAS_NUM_THREADS`` to 1 before spawning it (Dask's default
    ``distributed.nanny.pre-spawn-environ``), unless the variable is already set in this
    process, whose value then wins. The nanny does that by setting them in its own
    process, which for a ``LocalCluster`` is this one (with ``MALLOC_TRIM_THRESHOLD_``,
    ``PYTHONHASHSEED`` and ``__DASK_PARENT_PID``); this process's environment is put
    back as it was when the cluster closes. PyTorch's own thread count is the task
    function's business. For joblib's limits, see :class:`JoblibExecutor`.

    Examples
    --------
    >>> from operator import add
    >>> with executor() as here:
    ...     list(here.map_unordered(add, 10, [1, 2, 3]))
    [(0, 11), (1, 12), (2, 13)]
    >>> with executor(workers=0) as nowhere:
    ...     pass
    Traceback (most recent call last):
    ...
    forgetlab.errors.InvalidParameterError: The 'workers' parameter must be None or an int >= 1; got 0.
    """
    settings = {"jobs": jobs, "workers": workers, "scheduler": scheduler, "connect_timeout": connect_timeout}
    validate(None, CONSTRAINTS, settings)
    if workers is not None and scheduler is not None:
        raise invalid("scheduler", None, "None when 'workers' is given (one cluster at a time)", scheduler)
    if jobs > 1 and (workers is not None or scheduler is not None):
        raise invalid("jobs", None, "1 when 'workers' or 'scheduler' is given", jobs)

    if workers is None and scheduler is None:
        yield InProcessExecutor() if jobs == 1 else JoblibExecutor(jobs=jobs)
        return

    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if workers is not None:
            stack.enter_context(_environment_restored())  # the nannies write to this process's environment
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            _check_scheduler(scheduler, connect_timeout)
            try:
                client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
            except Exception as error:
                raise SchedulerUnreachableError(
                    f"Cannot connect to the 'scheduler' at {scheduler!r} ({_one_line(error)})."
                ) from error
            stack.enter_context(client)
        yield DaskExecutor(client=client)
