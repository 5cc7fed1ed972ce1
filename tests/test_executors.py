"""Where the tasks of a sweep run: the same results in this process, in joblib workers and on
Dask clusters (local, or reached by address), task errors reach the driver, a killed Dask
worker does not fail the sweep, and bad settings or addresses fail fast in one line."""

import contextlib
import logging
import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from distributed import LocalCluster

from forgetlab.errors import ForgetlabError, InvalidParameterError
from forgetlab.executors import (
    DaskExecutor,
    InProcessExecutor,
    JoblibExecutor,
    SchedulerUnreachableError,
    executor,
)

ITEMS = list(range(6))


class TaskFailedError(Exception):
    """What the toy task raises for ``shared["fail"]``."""


def toy_task(shared: dict, item: int) -> tuple[float, int]:
    """``offset + item + sum(weights)`` and the pid of the process that computed it.

    For ``item == shared["fail"]`` it raises TaskFailedError; for ``item == shared["kill"]``, on
    the first attempt only (no marker file yet), it writes its pid to the marker file and
    kills its own process.
    """
    if item == shared.get("fail"):
        raise TaskFailedError(f"item {item}")
    if item == shared.get("kill"):
        marker = Path(shared["marker"])
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(shared.get("sleep", 0.0))
    return float(shared["offset"] + item + shared["weights"].sum()), os.getpid()


def thread_settings(shared: None, item: int) -> str | None:
    return os.environ.get("OMP_NUM_THREADS")


def array_flags(shared: dict, item: int) -> tuple[bool, bool, np.ndarray]:
    weights = shared["weights"]
    return weights.flags.aligned, weights.flags.writeable, weights * item


def shared_data(**extra) -> dict:
    # ~2 MB of array, like a stream's training data
    return {"offset": 100, "weights": np.linspace(0.0, 1.0, 250_000), **extra}


def expected_values() -> list[float]:
    return [value for _, (value, _) in InProcessExecutor().map_unordered(toy_task, shared_data(), ITEMS)]


def values_by_index(finished) -> dict[int, float]:
    pairs = list(finished)
    assert sorted(index for index, _ in pairs) == list(range(len(ITEMS))), "each index exactly once"
    return {index: value for index, (value, _) in pairs}


@pytest.fixture(scope="module")
def existing_cluster():
    """A Dask cluster started elsewhere (here: two loopback workers), reached by its address."""
    environment = dict(os.environ)  # its nannies set OMP_NUM_THREADS & co. in this process
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster
    os.environ.clear()
    os.environ.update(environment)


def test_default_runs_every_task_in_this_process_in_order():
    with executor() as here:
        assert isinstance(here, InProcessExecutor)
        finished = list(here.map_unordered(toy_task, shared_data(), ITEMS))
    assert [index for index, _ in finished] == ITEMS
    assert {pid for _, (_, pid) in finished} == {os.getpid()}
    assert [value for _, (value, _) in finished] == pytest.approx([100 + item + 125_000.0 for item in ITEMS])


def test_two_joblib_jobs_give_the_same_results_from_worker_processes():
    with executor(jobs=2) as local:
        assert local == JoblibExecutor(jobs=2)
        pairs = list(local.map_unordered(toy_task, shared_data(sleep=0.05), ITEMS))
    assert {index: value for index, (value, _) in pairs} == dict(enumerate(expected_values()))
    assert sorted(index for index, _ in pairs) == ITEMS
    assert os.getpid() not in {pid for _, (_, pid) in pairs}


def test_joblib_task_error_reaches_the_driver_as_the_same_type():
    with executor(jobs=2) as local, pytest.raises(TaskFailedError, match="item 3"):
        list(local.map_unordered(toy_task, shared_data(fail=3), ITEMS))


@pytest.mark.parametrize(
    ("workers", "interrupted"),
    [(2, False), (1, True)],  # with one worker, the only copy of ``shared`` dies with it
    ids=["2 workers", "1 worker, then KeyboardInterrupt"],
)
def test_local_dask_cluster_survives_a_worker_killed_mid_task_and_closes_on_exit(tmp_path, workers, interrupted):
    marker = tmp_path / "killed"
    omp_expected = os.environ.get("OMP_NUM_THREADS", "1")
    environment = dict(os.environ)
    with contextlib.suppress(KeyboardInterrupt), executor(workers=workers) as cluster:
        assert isinstance(cluster, DaskExecutor)
        client = cluster.client
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(address.startswith("tcp://127.0.0.1:") for address in client.scheduler_info()["workers"])
        pairs = list(cluster.map_unordered(toy_task, shared_data(kill=2, marker=str(marker), sleep=0.2), ITEMS))
        # the nanny's default: workers start with one OpenMP thread unless this process says otherwise
        assert {setting for _, setting in cluster.map_unordered(thread_settings, None, [0, 1])} == {omp_expected}
        if interrupted:
            raise KeyboardInterrupt
    assert marker.exists(), "the worker was killed once"
    killed_pid = int(marker.read_text())
    assert {index: value for index, (value, _) in pairs} == dict(enumerate(expected_values()))
    assert sorted(index for index, _ in pairs) == ITEMS
    assert dict(pairs)[2][1] != killed_pid, "the killed item ran again in another process"
    assert client.status == "closed"
    assert client.cluster.status.name == "closed"
    assert dict(os.environ) == environment, "the nannies' variables are put back"


def test_existing_cluster_gives_the_in_process_results_and_is_left_running(existing_cluster):
    address = existing_cluster.scheduler_address
    with executor(scheduler=address) as remote:
        assert isinstance(remote, DaskExecutor)
        found = values_by_index(remote.map_unordered(toy_task, shared_data(), ITEMS))
        client = remote.client
    assert found == dict(enumerate(expected_values()))
    assert client.status == "closed"
    assert existing_cluster.status.name == "running"
    assert len(existing_cluster.scheduler_info["workers"]) == 2


def test_dask_tasks_and_the_driver_get_aligned_writeable_arrays(existing_cluster):
    # Dask alone hands arrays over as views of its network buffers, often misaligned
    with executor(scheduler=existing_cluster.scheduler_address) as remote:
        pairs = list(remote.map_unordered(array_flags, shared_data(), [2, 3]))
    for index, (aligned, writeable, scaled) in pairs:
        assert aligned and writeable
        assert scaled.flags.aligned and scaled.flags.writeable
        np.testing.assert_array_equal(scaled, shared_data()["weights"] * [2, 3][index])


def test_dask_task_error_reaches_the_driver_and_cancels_the_rest(existing_cluster):
    with executor(scheduler=existing_cluster.scheduler_address) as remote:
        with pytest.raises(TaskFailedError, match="item 1"):
            list(remote.map_unordered(toy_task, shared_data(fail=1, sleep=0.3), ITEMS * 4))
        wait_until_no_tasks_are_left(remote.client)
        # the cluster is still usable after a failed sweep
        assert values_by_index(remote.map_unordered(toy_task, shared_data(), ITEMS)) == dict(
            enumerate(expected_values())
        )


def scheduler_task_count(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def wait_until_no_tasks_are_left(client, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while scheduler_task_count(client):
        assert time.monotonic() < deadline, "the remaining tasks were not cancelled"
        time.sleep(0.05)


def test_stopping_early_cancels_the_rest(existing_cluster):
    with executor(scheduler=existing_cluster.scheduler_address) as remote:
        finished = remote.map_unordered(toy_task, shared_data(sleep=0.3), ITEMS * 4)
        next(finished)
        finished.close()
        wait_until_no_tasks_are_left(remote.client)


def test_an_empty_sweep_submits_nothing(existing_cluster):
    with executor(scheduler=existing_cluster.scheduler_address) as remote:
        assert list(remote.map_unordered(toy_task, shared_data(), [])) == []


def assert_one_line_about(error: pytest.ExceptionInfo, address: str) -> None:
    message = str(error.value)
    assert isinstance(error.value, ForgetlabError)
    assert "\n" not in message
    assert "'scheduler'" in message and address in message


def test_unreachable_scheduler_fails_fast_in_one_line():
    address = "tcp://127.0.0.1:1"  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(SchedulerUnreachableError) as error, executor(scheduler=address, connect_timeout=0.5):
        pass
    assert time.monotonic() - started < 5
    assert_one_line_about(error, address)


def test_something_that_is_not_a_scheduler_fails_within_the_timeout():
    # accepts connections (in the kernel's backlog) and never answers, like a wrong port
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(SchedulerUnreachableError) as error, executor(scheduler=address, connect_timeout=0.5):
            pass
    assert time.monotonic() - started < 5
    assert_one_line_about(error, address)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"jobs": 0}, "jobs"),
        ({"jobs": 1.5}, "jobs"),
        ({"jobs": True}, "jobs"),
        ({"workers": 0}, "workers"),
        ({"workers": -2}, "workers"),
        ({"scheduler": ""}, "scheduler"),
        ({"scheduler": 8786}, "scheduler"),
        ({"scheduler": "http://127.0.0.1:8787"}, "scheduler"),
        ({"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "scheduler"),
        ({"jobs": 2, "workers": 2}, "jobs"),
        ({"jobs": 2, "scheduler": "tcp://127.0.0.1:8786"}, "jobs"),
        ({"scheduler": "tcp://127.0.0.1:8786", "connect_timeout": 0}, "connect_timeout"),
    ],
)
def test_invalid_settings_name_the_field(settings, field):
    with pytest.raises(InvalidParameterError, match=f"^The '{field}' parameter must be "), executor(**settings):
        pass
