"""The Python API: the tutorial and any experiment in one call each, with files on disk.

The CLI is a thin shell over these functions; a notebook calls them directly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from forgetlab.experiment import Experiment, Results
from forgetlab.models import tutorial_model
from forgetlab.report import check_formats, write_figures
from forgetlab.results import PREDICTION_COLUMNS, RESULT_COLUMNS
from forgetlab.schedules import SCHEDULES, Schedule, make_schedule
from forgetlab.store import finished_runs, load, lock_output, prepare_output, write_manifest, write_part
from forgetlab.sweep import DEFAULT_MEMORY_BUDGET, Sweep, plan, run_batches
from forgetlab.tasks import seasons as make_seasons

__all__ = ["run_experiment", "run_sweep", "tutorial", "tutorial_experiment"]


def tutorial_experiment(
    *,
    seeds: Sequence[int] = (42,),
    schedules: Sequence[str] = tuple(SCHEDULES),
    seasons: Sequence[str] = ("summer", "autumn"),
    k: int = 30,
    sequential_epochs: Sequence[int] = (1, 9),
    alternating_epochs: int = 100,
    interspersed_epochs: int = 50,
    engine: str = "auto",
    threads: int | None = None,
    dtype: str = "float32",
) -> Experiment:
    """The tutorial's experiment, with every setting open to change.

    Defaults are the tutorial's: summer then autumn, normalised over both, split seed 42;
    ``MLPRegressor((100, 100), solver="lbfgs", max_iter=10000)``; exercise 1 (one fit on
    summer, nine epochs on autumn), 2a (alternating, K=30, 100 epochs) and 2b
    (interspersed, K=30, 50 epochs); seed 42.

    Parameters
    ----------
    seeds : sequence of int, default (42,)
        Seed ``s`` sets the model's ``random_state`` and the sampling RNG
        ``RandomState(s)``, restarted for each schedule. ``(42,)`` is the tutorial exactly.
    schedules : sequence of str
        Any of ``sequential``, ``alternating``, ``interspersed``.
    seasons : sequence of str
        Seasons in training order.
    k : int, default 30
        Samples per task per epoch for the alternating and interspersed schedules.
    sequential_epochs : sequence of int, default (1, 9)
        Epochs on each season for the sequential schedule.
    alternating_epochs, interspersed_epochs : int
        Epochs in all for those schedules.
    engine : {"auto", "compiled", "torch", "sklearn"}, default "auto"
        Which engine trains the runs; ``"auto"`` is the compiled engine for the tutorial's model.
    threads : int, optional
        BLAS threads per run (sklearn and compiled engines) or PyTorch threads per worker
        process (torch engine); default 1.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of the compiled and torch engines.

    Raises
    ------
    InvalidParameterError
        For any setting out of range, naming it.

    Examples
    --------
    >>> experiment = tutorial_experiment(seeds=range(4), schedules=["interspersed"])
    >>> [(schedule.name, seed) for schedule, seed in experiment.runs()][:2]
    [('interspersed', 0), ('interspersed', 1)]
    """
    settings = {
        "sequential": {"epochs_per_task": tuple(sequential_epochs)},
        "alternating": {"k": k, "n_epochs": alternating_epochs},
        "interspersed": {"k": k, "n_epochs": interspersed_epochs},
    }
    built: list[Schedule] = [make_schedule(name, settings.get(name)) for name in schedules]
    return Experiment(
        stream=make_seasons(seasons),
        estimator=tutorial_model(),
        schedules=built,
        seeds=tuple(seeds),
        engine=engine,
        threads=threads,
        dtype=dtype,
    )


def run_sweep(
    sweep: Sweep,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    jobs: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = True,
    figures: str | Sequence[str] = ("png",),
) -> Results:
    """Run every run of a sweep; with ``out``, write each batch's tables there as it finishes.

    The output directory is checked before any training: one that holds a different
    experiment is refused (:class:`forgetlab.store.OutputError`), never overwritten, and
    one that holds results of this sweep is completed only with ``resume`` (which trains
    just the missing runs: a run's numbers do not depend on the batch it trains in, so
    the completed table equals an uninterrupted run's). While it runs the directory is
    locked against a second writer. Once every run is in, the static figures are drawn,
    once, in each of ``figures``' formats (:func:`forgetlab.report.write_figures`). The
    returned tables are the ones trained in this call, kept in memory (equal to
    :func:`forgetlab.load` of ``out``); a resumed sweep's are read back from ``out``,
    which also holds the runs of earlier calls.

    Parameters
    ----------
    sweep : Sweep
        What to run (:meth:`Sweep.of` an Experiment, or :func:`forgetlab.config.load_config`).
    out : path, optional
        Output directory (layout in :mod:`forgetlab.store`); without it the tables stay in
        memory.
    resume : bool, default False
        Complete the results already in ``out``.
    jobs : int, optional
        Local worker processes (default: one per core, divided by the runs' threads).
    workers : int, optional
        Start a Dask ``LocalCluster`` with this many workers instead.
    scheduler : str, optional
        Run on the Dask cluster at this address instead.
    memory_budget : int, default 2 GiB
        Bytes one batch may take while it trains (:func:`forgetlab.sweep.plan`).
    progress : bool, default True
        Show a progress bar over runs, with the time left.
    figures : str or sequence of str, default ("png",)
        With ``out``, the formats of the static figures ``scores.<format>`` and (1-D
        regression) ``predictions.<format>``: some of png, svg, pdf; ``()`` for none. A
        sweep of several variants gets none.

    Returns
    -------
    Results

    Raises
    ------
    InvalidParameterError
        For a figure format not in png, svg, pdf (before anything trains).
    """
    figure_formats = check_formats(figures) if len(figures) else ()
    path = None
    done: set[int] = set()
    if out is not None:
        path = prepare_output(out, sweep.fingerprint(), resume=resume)
    with lock_output(path) if path is not None else _nothing():
        if path is not None:
            prepare_output(path, sweep.fingerprint(), resume=resume)  # again, now that no one else writes
            write_manifest(path, {**sweep.manifest(), "fingerprint": sweep.fingerprint(), "config": sweep.config})
            done = finished_runs(path)
        parallel = workers or jobs or (os.cpu_count() or 1)
        batches = plan(sweep, done=done, parallel=parallel, memory_budget=memory_budget)
        parts: list[tuple[pd.DataFrame, pd.DataFrame]] = []
        bar = tqdm(total=sweep.n_runs, initial=len(done), desc="training", unit="run", disable=not progress)
        with bar:
            for batch, scores, predictions in run_batches(
                sweep, batches, jobs=jobs, workers=workers, scheduler=scheduler
            ):
                if path is not None:
                    write_part(path, batch.name, scores, predictions)
                parts.append((scores, predictions))
                bar.update(len(sweep.run_ids(batch)))
        if path is not None and done:  # earlier calls' runs are on disk only
            scores, predictions = load(path), load(path, "predictions")
        else:
            scores = _ordered([p[0] for p in parts], RESULT_COLUMNS)
            predictions = _ordered([p[1] for p in parts], PREDICTION_COLUMNS)
        if path is not None and figure_formats:
            stream = sweep.variants[0].experiment.stream if len(sweep.variants) == 1 else None
            write_figures(path, figure_formats, stream=stream, scores=scores, predictions=predictions)
    manifest = {**sweep.manifest(), "fingerprint": sweep.fingerprint()}
    return Results(scores=scores, predictions=predictions, manifest=manifest, out=None if path is None else Path(path))


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


def _ordered(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Batches' tables as one, ordered by run (as :func:`forgetlab.store.load` orders them)."""
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True).sort_values("run", kind="stable", ignore_index=True)


def run_experiment(
    experiment: Experiment,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    n_jobs: int | None = None,
    progress: bool = True,
) -> Results:
    """Run an experiment; with ``out``, write its tables and figures there.

    The sweep of one experiment (:func:`run_sweep`), trained on this machine.

    Parameters
    ----------
    experiment : Experiment
        What to run (validated when it was built).
    out : path, optional
        Directory for ``experiment.json``, the results parts and the figures
        ``scores.png`` and ``predictions.png``.
    resume : bool, default False
        Complete the results already in ``out``.
    n_jobs : int, optional
        Worker processes (default: one per ``threads`` cores); 1 trains in this process.
    progress : bool, default True
        Show a progress bar over runs.

    Returns
    -------
    Results
    """
    return run_sweep(Sweep.of(experiment), out=out, resume=resume, jobs=n_jobs, progress=progress)


def tutorial(
    *,
    seeds: Sequence[int] = (42,),
    schedules: Sequence[str] = tuple(SCHEDULES),
    out: str | os.PathLike | None = None,
    engine: str = "auto",
    threads: int | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> Results:
    """Reproduce the tutorial (exercises 1, 2a and 2b) over one or many seeds.

    A shortcut for ``run_experiment(tutorial_experiment(...), out=...)``; use those two for
    any other setting.

    Examples
    --------
    >>> import forgetlab
    >>> results = forgetlab.tutorial(seeds=range(8), out="runs/tutorial-8")  # doctest: +SKIP
    >>> forgetlab.final_scores(results.scores)  # doctest: +SKIP
    """
    experiment = tutorial_experiment(seeds=seeds, schedules=schedules, engine=engine, threads=threads)
    return run_experiment(experiment, out=out, n_jobs=n_jobs, progress=progress)
