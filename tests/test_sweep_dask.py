"""A sweep on a real Dask LocalCluster (loopback): the same table as in process, even with a worker killed."""

import os
import signal
import threading
import time

import pandas as pd
import pytest
from sweep_cases import CONFIG, assert_same_table

from forgetlab.api import run_sweep
from forgetlab.config import parse_config
from forgetlab.store import load, part_files

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def sweep():
    return parse_config(CONFIG.replace('seeds = "0-4"', 'seeds = "0-9"'))


@pytest.fixture(scope="module")
def in_process(sweep):
    return run_sweep(sweep, jobs=1, progress=False)


def test_a_local_cluster_gives_the_in_process_table(tmp_path, sweep, in_process):
    results = run_sweep(sweep, out=tmp_path / "out", workers=2, progress=False)
    assert_same_table(results.scores, in_process.scores)
    assert_same_table(load(tmp_path / "out"), in_process.scores)
    key = ["run", "task", "x"]
    pd.testing.assert_frame_equal(
        load(tmp_path / "out", "predictions").sort_values(key, ignore_index=True),
        in_process.predictions.sort_values(key, ignore_index=True),
    )


def test_a_worker_killed_mid_sweep_does_not_change_the_table(tmp_path, sweep, in_process):
    out = tmp_path / "out"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    killed: dict[str, int] = {}
    try:
        victim = next(iter(client.run(os.getpid).values()))

        def kill_after_two_parts() -> None:
            deadline = time.monotonic() + 120
            while len(part_files(out, "results")) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            killed["parts"] = len(part_files(out, "results"))
            os.kill(victim, signal.SIGKILL)
            killed["pid"] = victim

        watcher = threading.Thread(target=kill_after_two_parts, daemon=True)
        watcher.start()
        results = run_sweep(sweep, out=out, scheduler=cluster.scheduler_address, progress=False)
        watcher.join(timeout=10)
    finally:
        client.close()
        cluster.close()
    assert killed.get("pid") == victim and killed["parts"] < sweep.n_runs, "a worker died while runs were left"
    assert_same_table(results.scores, in_process.scores)
    assert_same_table(load(out), in_process.scores)
