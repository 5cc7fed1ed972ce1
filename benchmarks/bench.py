"""Engines side by side on the tutorial, in one process: time, throughput, GFLOP/s, memory.

    .venv/bin/python benchmarks/bench.py            # full mode (the one to quote; long)
    .venv/bin/python benchmarks/bench.py --quick    # a short look (fewer epochs and seeds)

Measures, in this order and in this one process:

1. the machine's float32 matrix-product peak (a large ``torch.mm``, all cores);
2. one seed of the tutorial (exercises 1, 2a, 2b): the scikit-learn engine with one BLAS
   thread, with the library's default threads (full mode only: minutes), and the torch
   engine with every core as threads of one process;
3. many seeds (64 in full mode) with every core: the scikit-learn engine at its best (one
   BLAS thread per process, one process per core) and the torch engine (one process per
   core, each training a batch of its share of every schedule's seeds);
4. the compiled engine in float32 and float64: one seed in this process, and many seeds in
   one process per core (its kernels compiled or loaded from numba's cache first, timed
   apart), with its ratios to scikit-learn and the milliseconds per L-BFGS iteration of each
   engine's one-seed run;
5. the rate the same BLAS reaches on the evaluation's own shapes: a (69 x 100) @ (100 x 100)
   product (summer's 69 training days through the hidden layer), float32 and float64, one
   thread, called through numba's ``np.dot`` as the compiled engine calls it;
6. the notebook explorer's call (``run_experiment`` of 8 seeds of one schedule, in this
   process, ``engine="auto"``) for each schedule, at the explorer's default 3 epochs and at
   the tutorial's epochs;
7. cold start: compiling the compiled engine's kernels in a fresh process with an empty
   numba cache, then loading them from that cache in another fresh process;
8. peak resident memory of a fresh process training 1,000 seeds (100 with ``--quick``), for
   the torch engine (one batch) and the compiled engine (one after the other);

every engine through the path a sweep takes (:func:`forgetlab.sweep.plan`, the local
executor, each engine's ``train``), keeping the engines' own iteration and evaluation
counts, which the results tables do not hold,

and prints per-seed time, runs per second, the ratios to scikit-learn, each engine's achieved
GFLOP/s (forward and backward passes counted from its evaluations) and its fraction of the
large-product peak and of the small-product rate (times the processes used), and the
process's peak resident memory.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numba
import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from forgetlab.api import run_experiment, tutorial_experiment
from forgetlab.executors import executor
from forgetlab.experiment import Experiment, train_schedule
from forgetlab.numerics import compiled_mlp
from forgetlab.numerics.spec import MLPSpec
from forgetlab.results import RunResult
from forgetlab.sweep import Batch, Sweep, plan


def matmul_peak(size: int, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of a size³ matrix product over ``repeats`` tries, all cores."""
    torch.set_num_threads(os.cpu_count() or 1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


@numba.njit(cache=False)
def _products(a: np.ndarray, b: np.ndarray, out: np.ndarray, repeats: int) -> None:
    for _ in range(repeats):
        np.dot(a, b, out)


def small_product_rate(dtype: str, rows: int = 69, width: int = 100, seconds: float = 1.0) -> float:
    """GFLOP/s of a (rows x width) @ (width x width) product in one BLAS thread, as the compiled engine calls it."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((rows, width)).astype(dtype), rng.standard_normal((width, width)).astype(dtype)
    out = np.empty((rows, width), dtype=dtype)
    _products(a, b, out, 1)  # compiles and loads SciPy's BLAS, so that the limit below reaches it
    flop = 2 * rows * width * width
    with threadpool_limits(limits=1, user_api="blas"):
        repeats, best = 100, float("inf")
        while repeats * flop / 20e9 < seconds / 5:  # about a fifth of ``seconds`` per try
            repeats *= 2
        for _ in range(5):
            start = time.perf_counter()
            _products(a, b, out, repeats)
            best = min(best, time.perf_counter() - start)
    return repeats * flop / best / 1e9


@dataclass
class Timing:
    label: str
    seeds: int
    runs: int
    seconds: float
    iterations: int
    gflop: float | None
    jobs: int = 1

    def row(self, peak: float, small: float) -> str:
        """One line of the table; ``small`` is the one-thread small-product rate of the engine's dtype."""
        rate = ""
        if self.gflop:
            achieved = self.gflop / self.seconds
            rate = f"{achieved:8.1f}  {100 * achieved / peak:5.1f}%  {100 * achieved / (small * self.jobs):6.1f}%"
        return (
            f"{self.label:<34} {self.seeds:>5} {self.seconds:>9.1f} {self.seconds / self.seeds:>8.2f} "
            f"{self.runs / self.seconds:>7.2f} {self.iterations:>10} {rate}"
        )


def gflop(experiment: Experiment, results: list[tuple[int, RunResult]]) -> float | None:
    """FLOPs of every loss-and-gradient evaluation, from the engine's evaluation counts.

    ``results`` pairs each run's result with the index of its schedule.
    """
    if any(r.n_fun is None for _, r in results):
        return None
    spec = MLPSpec.from_estimator(experiment.estimator, n_features=1)
    total = 0
    for schedule, result in results:
        plan_ = experiment.schedules[schedule].plan(experiment.stream.train_sizes, np.random.RandomState(result.seed))
        batch_sizes = [sum(len(i) for _, i in epoch) for epoch in plan_]
        total += sum(int(n) * size for n, size in zip(result.n_fun, batch_sizes, strict=True))
    return total * spec.flops_per_sample() / 1e9


def _train(experiment: Experiment, batch: Batch) -> list[RunResult]:
    return train_schedule(experiment, batch.schedule, batch.seeds)


def time_engine(label: str, experiment: Experiment, *, jobs: int) -> Timing:
    """Train every run of ``experiment`` as a sweep would, in ``jobs`` local processes (1: this one)."""
    batches = plan(Sweep.of(experiment), parallel=jobs)
    start = time.perf_counter()
    with executor(jobs=jobs) as pool:
        results = [
            (batches[index].schedule, result)
            for index, batch_results in pool.map_unordered(_train, experiment, batches)
            for result in batch_results
        ]
    seconds = time.perf_counter() - start
    iterations = int(sum(r.n_iter.sum() for _, r in results))
    flop = gflop(experiment, results)
    return Timing(label, len(experiment.seeds), len(results), seconds, iterations, flop, jobs)


def explorer(schedule: str, epochs: int, seeds: int = 8) -> float:
    """Seconds of the notebook explorer's call: ``seeds`` seeds of one schedule, in this process."""
    experiment = tutorial_experiment(
        seeds=range(seeds),
        schedules=[schedule],
        sequential_epochs=(1, epochs),
        alternating_epochs=epochs,
        interspersed_epochs=epochs,
    )
    start = time.perf_counter()
    run_experiment(experiment, n_jobs=1, progress=False)
    return time.perf_counter() - start


def cold_start() -> tuple[float, float]:
    """Seconds to compile the compiled engine's kernels in a fresh process (empty cache), then to load them."""
    code = (
        "import time; start = time.perf_counter();"
        "from forgetlab.numerics.compiled_mlp import compile_kernels; compile_kernels();"
        "print(time.perf_counter() - start)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        run = functools.partial(subprocess.run, [sys.executable, "-c", code], env=env, capture_output=True, text=True)
        seconds = [float(run(check=True).stdout) for _ in range(2)]
    return seconds[0], seconds[1]


def batch_rss(seeds: int, engine: str) -> float:
    """Peak resident memory (MB) of a new process training ``seeds`` runs of the tutorial MLP with ``engine``.

    One interspersed epoch (K=30) with at most 30 L-BFGS iterations: enough to fill the
    optimiser's history of 10 pairs, the largest part of its state (the torch engine holds it
    for ``LBFGS_GROUP`` runs at a time; the compiled engine for one run at a time). All seeds
    go to the engine in one call.
    """
    code = (
        "from forgetlab.engines import get_engine;"
        "from forgetlab.api import tutorial_experiment;"
        f"e = tutorial_experiment(seeds=range({seeds}), schedules=['interspersed'], interspersed_epochs=1,"
        f" engine='{engine}', threads=1);"
        "e.estimator.set_params(max_iter=30);"
        "get_engine(e.engine_name).train(e, 0, e.seeds)"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(result.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and seeds")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    many = 8 if args.quick else 64
    epochs = (
        {"sequential_epochs": (1, 2), "alternating_epochs": 6, "interspersed_epochs": 3}
        if args.quick
        else {"sequential_epochs": (1, 9), "alternating_epochs": 100, "interspersed_epochs": 50}
    )

    def experiment(seeds: range, engine: str, threads: int = 1, dtype: str = "float32") -> Experiment:
        return tutorial_experiment(seeds=seeds, engine=engine, threads=threads, dtype=dtype, **epochs)

    peak = matmul_peak(1024 if args.quick else 2048)
    small = {dtype: small_product_rate(dtype) for dtype in ("float32", "float64")}
    blas = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)
    print(f"mode: {'quick' if args.quick else 'full'}; cores: {cores}; float32 matrix-product peak: {peak:.1f} GFLOP/s")
    print(
        f"(69 x 100) @ (100 x 100) product, one thread, numba's np.dot: float32 {small['float32']:.1f} GFLOP/s, "
        f"float64 {small['float64']:.1f} GFLOP/s"
    )
    sklearn_one = time_engine("sklearn, 1 seed, 1 BLAS thread", experiment(range(42, 43), "sklearn"), jobs=1)
    timings = [sklearn_one]
    if not args.quick:
        timings.append(
            time_engine(f"sklearn, 1 seed, {blas} BLAS threads", experiment(range(42, 43), "sklearn", blas), jobs=1)
        )
    torch_one = time_engine(f"torch, 1 seed, {cores} threads", experiment(range(42, 43), "torch", cores), jobs=1)
    sklearn_many = time_engine(
        f"sklearn, {many} seeds, {cores} processes", experiment(range(many), "sklearn"), jobs=cores
    )
    torch_many = time_engine(f"torch, {many} seeds, {cores} processes", experiment(range(many), "torch"), jobs=cores)
    timings += [torch_one, sklearn_many, torch_many]
    compiled_one, compiled_many = {}, {}
    for dtype in ("float32", "float64"):
        start = time.perf_counter()
        compiled_mlp.compile_kernels((dtype,))
        print(f"compiled engine, {dtype}: kernels ready in {time.perf_counter() - start:.1f} s (compile or cache load)")
        one = experiment(range(42, 43), "compiled", dtype=dtype)
        compiled_one[dtype] = time_engine(f"compiled {dtype}, 1 seed, 1 process", one, jobs=1)
        many_seeds = experiment(range(many), "compiled", dtype=dtype)
        compiled_many[dtype] = time_engine(f"compiled {dtype}, {many} seeds, {cores} processes", many_seeds, jobs=cores)
    timings += [*compiled_one.values(), *compiled_many.values()]

    header = f"{'':<34} {'seeds':>5} {'seconds':>9} {'s/seed':>8} {'runs/s':>7} {'L-BFGS its':>10}"
    print(f"{header} {'GFLOP/s':>8}  {'peak':>5}  {'small':>6}")
    for timing in timings:
        print(timing.row(peak, small["float64" if "float64" in timing.label else "float32"]))
    print("(peak: of the large-product peak, all cores; small: of the small product's one-thread rate x processes)")
    speed = sklearn_one.seconds / torch_one.seconds
    print(f"1 seed: torch is {speed:.2f}x the speed of scikit-learn with one BLAS thread")
    sklearn_rate = sklearn_many.runs / sklearn_many.seconds
    ratio = (torch_many.runs / torch_many.seconds) / sklearn_rate
    print(f"{many} seeds: torch throughput is {ratio:.2f}x scikit-learn's at its best")
    for dtype in ("float32", "float64"):
        one, many_ = compiled_one[dtype], compiled_many[dtype]
        print(
            f"compiled {dtype}: 1 seed {sklearn_one.seconds / one.seconds:.2f}x scikit-learn with one BLAS thread; "
            f"{many} seeds {(many_.runs / many_.seconds) / sklearn_rate:.2f}x scikit-learn's throughput at its best"
        )
    for timing in (sklearn_one, torch_one, *compiled_one.values()):
        print(f"{timing.label}: {1e3 * timing.seconds / timing.iterations:.3f} ms per L-BFGS iteration (whole run)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MB (worker processes not included)")

    for name in ("sequential", "alternating", "interspersed"):
        tutorial = {"sequential": 9, "alternating": 100, "interspersed": 50}[name]
        runs = {"explorer default, 3 epochs": 3, **({} if args.quick else {f"tutorial's {tutorial} epochs": tutorial})}
        line = ", ".join(f"{label} {explorer(name, n):.2f} s" for label, n in runs.items())
        print(f"notebook explorer, 8 seeds of {name} (engine auto, 1 process): {line}")
    compile_seconds, load_seconds = cold_start()
    print(f"cold start of the compiled engine: compile {compile_seconds:.1f} s, then cache load {load_seconds:.2f} s")
    seeds = 100 if args.quick else 1000
    for engine in ("torch", "compiled"):
        print(f"peak RSS of a fresh process training {seeds} seeds, {engine} engine: {batch_rss(seeds, engine):.0f} MB")


if __name__ == "__main__":
    main()
