"""What it costs to run a sweep's batches elsewhere: in process, in local processes, on a Dask LocalCluster.

    .venv/bin/python benchmarks/sweep_overhead.py           # 200 runs (the one to quote)
    .venv/bin/python benchmarks/sweep_overhead.py --runs 40

The sweep: the tutorial's seasons, a tiny MLPRegressor (8 hidden units, L-BFGS of at most
60 iterations per epoch), naive fine-tuning for 2 + 2 epochs, one seed per run, on the
scikit-learn engine (one run per batch, so every run is one task: the worst case for
overhead). Each way of running trains the same runs into a fresh output directory, and
the tables are checked equal. Printed per way: wall seconds (including starting and
closing the worker pool or cluster), runs per second, and the extra seconds per run
relative to the same work spread perfectly over the workers (in-process time / workers).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from forgetlab.api import run_sweep
from forgetlab.config import parse_config

CONFIG = """
seeds = "0-{last}"
engine = "sklearn"
[stream]
kind = "seasons"
[model]
class = "MLPRegressor"
hidden_layer_sizes = [8]
[optimizer]
name = "lbfgs"
max_iter = 60
[[schedules]]
name = "sequential"
epochs_per_task = [2, 2]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="runs in the sweep (default: 200)")
    args = parser.parse_args()
    sweep = parse_config(CONFIG.format(last=args.runs - 1))
    cores = os.cpu_count() or 1
    ways = {
        "in process": ({"jobs": 1}, 1),
        f"joblib, {cores} processes": ({"jobs": cores}, cores),
        f"Dask LocalCluster({cores})": ({"workers": cores}, cores),
    }
    print(f"{sweep.n_runs} runs (one per batch), {cores} cores")
    print(f"{'where':<26} {'seconds':>8} {'runs/s':>8} {'overhead/run':>13}")
    reference, single = None, None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, (options, workers)) in enumerate(ways.items()):
            start = time.perf_counter()
            results = run_sweep(sweep, out=Path(tmp) / str(i), progress=False, **options)
            seconds = time.perf_counter() - start
            if reference is None:
                reference, single = results.scores, seconds
            else:
                pd.testing.assert_frame_equal(results.scores, reference, check_exact=True)
            overhead = (seconds - single / workers) / sweep.n_runs
            print(f"{name:<26} {seconds:>8.2f} {sweep.n_runs / seconds:>8.1f} {overhead * 1000:>10.1f} ms")
    print("tables equal: yes")


if __name__ == "__main__":
    main()
