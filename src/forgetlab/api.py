"""The Python API: the tutorial and any experiment in one call each, with files on disk.

The CLI is a thin shell over these functions; a notebook calls them directly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from forgetlab.engines.sklearn import tutorial_model
from forgetlab.experiment import Experiment, Results, run
from forgetlab.plots import plot_predictions, plot_scores
from forgetlab.schedules import SCHEDULES, Schedule, make_schedule
from forgetlab.store import prepare_output, write_atomic, write_results
from forgetlab.tasks import seasons as make_seasons

__all__ = ["FIGURES", "run_experiment", "tutorial", "tutorial_experiment"]

#: Figures written into every output directory.
FIGURES = {"scores": "scores.png", "predictions": "predictions.png"}


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
    engine : {"auto", "sklearn", "torch"}, default "auto"
        Which engine trains the runs; ``"auto"`` is torch for the tutorial's model.
    threads : int, optional
        BLAS threads per run (sklearn engine) or PyTorch threads per worker process (torch
        engine); default 1.
    dtype : {"float32", "float64"}, default "float32"
        Arithmetic of the torch engine.

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


def run_experiment(
    experiment: Experiment,
    *,
    out: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> Results:
    """Run an experiment; with ``out``, write its tables and figures there.

    The output directory is checked before any training: one that holds a different
    experiment is refused (:class:`forgetlab.store.OutputError`), never overwritten.

    Parameters
    ----------
    experiment : Experiment
        What to run (validated when it was built).
    out : path, optional
        Directory for ``experiment.json``, ``results.parquet``, ``predictions.parquet``
        and the figures ``scores.png`` and ``predictions.png``.
    n_jobs : int, optional
        Worker processes (default: one per ``threads`` cores).
    progress : bool, default True
        Show a progress bar over runs.

    Returns
    -------
    Results
    """
    path = prepare_output(out, experiment.fingerprint()) if out is not None else None
    with tqdm(total=len(experiment.runs()), desc="training", unit="run", disable=not progress) as bar:
        results = run(experiment, n_jobs=n_jobs, on_run_done=bar.update)
    if path is None:
        return results
    write_results(path, results.manifest, {"results": results.scores, "predictions": results.predictions})
    stream = experiment.stream
    figures = {"scores": plot_scores(results.scores, metric=results.scores["metric"].iloc[0])}
    if stream.kind == "regression" and stream[0].x_train.shape[1] == 1:
        figures["predictions"] = plot_predictions(results.predictions, stream)
    for name, figure in figures.items():
        write_atomic(path / FIGURES[name], lambda tmp, figure=figure: figure.savefig(tmp, format="png", dpi=120))
    return replace(results, out=Path(path))


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
