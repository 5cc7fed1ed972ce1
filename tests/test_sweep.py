"""Sweeps: the plan of batches, the results store written batch by batch, exact resume, SQL, `forgetlab run`."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.neural_network import MLPRegressor
from sweep_cases import CONFIG, assert_same_table

from forgetlab import Experiment, InvalidParameterError
from forgetlab.api import run_sweep, tutorial_experiment
from forgetlab.cli import main
from forgetlab.config import parse_config
from forgetlab.schedules import Interspersed
from forgetlab.store import PARTS, OutputError, finished_runs, load, lock_output, part_files
from forgetlab.sweep import Batch, Sweep, plan
from forgetlab.tasks import seasons


def test_runs_are_numbered_once_for_the_sweep(sweep, uninterrupted):
    scores = uninterrupted.scores
    assert sweep.n_runs == 3 * 5
    assert sorted(scores["run"].unique()) == list(range(15))
    labels = scores.groupby("run")["schedule"].first()
    assert labels.tolist() == ["sequential"] * 5 + ["interspersed(k=5)"] * 5 + ["interspersed(k=20)"] * 5
    assert (scores.groupby("run")["seed"].first().to_numpy() == np.tile(np.arange(5), 3)).all()
    assert (uninterrupted.predictions.groupby("run")["schedule"].first() == labels).all()


def test_the_plan_fits_the_memory_budget_and_the_workers():
    experiment = tutorial_experiment(seeds=range(10), schedules=["sequential", "interspersed"], engine="torch")
    sweep = Sweep.of(experiment)
    one = experiment.trainer.run_bytes(experiment)
    assert [b.seeds for b in plan(sweep)] == [tuple(range(10))] * 2
    assert [len(b.seeds) for b in plan(sweep, memory_budget=4 * one)] == [4, 3, 3] * 2
    assert [len(b.seeds) for b in plan(sweep, parallel=4)] == [3, 3, 2, 2] * 2
    assert [b.seeds for b in plan(sweep, done=set(range(8)) | {12})] == [(8, 9), (0, 1, 3, 4, 5, 6, 7, 8, 9)]
    assert plan(sweep, done=set(range(20))) == []
    with pytest.raises(InvalidParameterError, match=r"'memory_budget' parameter must be at least one run's estimated"):
        plan(sweep, memory_budget=one - 1)


def test_the_scikit_learn_engine_trains_one_run_per_batch(sweep):
    batches = plan(sweep)
    assert len(batches) == 15 and all(len(b.seeds) == 1 for b in batches)
    assert sorted(i for b in batches for i in sweep.run_ids(b)) == list(range(15))


def test_a_batched_run_does_not_depend_on_its_batch():
    """The torch engine: the same table whether the seeds train as one batch, in batches of one, or in 2 processes."""
    experiment = Experiment(
        stream=seasons(),
        estimator=MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200),
        schedules=[Interspersed(k=10, n_epochs=3)],
        seeds=range(3),
        engine="torch",
    )
    sweep = Sweep.of(experiment)
    together = run_sweep(sweep, jobs=1, progress=False).scores
    alone = run_sweep(sweep, jobs=1, memory_budget=experiment.trainer.run_bytes(experiment), progress=False).scores
    processes = run_sweep(sweep, jobs=2, progress=False).scores
    assert_same_table(alone, together)
    assert_same_table(processes, together)


def test_record_every_keeps_every_nth_epoch_and_each_task_switch():
    config = CONFIG.replace('"schedules.interspersed.k" = [5, 20]', '"schedules.interspersed.k" = [5]')
    config = config.replace("[grid]", "[evaluation]\nevery = 5\n[grid]")
    scores = run_sweep(parse_config(config), jobs=1, progress=False).scores
    epochs = scores.groupby("schedule")["epoch"].unique()
    assert epochs["sequential"].tolist() == [2, 4]  # the last epoch of summer, and the last
    assert epochs["interspersed"].tolist() == [5, 10, 12]


def test_an_output_directory_gets_one_part_per_batch_written_as_it_finishes(tmp_path, sweep, uninterrupted):
    out = tmp_path / "out"
    results = run_sweep(sweep, out=out, jobs=2, progress=False)
    assert len(part_files(out, "results")) == len(part_files(out, "predictions")) == 15
    assert_same_table(load(out), uninterrupted.scores)
    assert_same_table(results.scores, uninterrupted.scores)
    pd.testing.assert_frame_equal(
        load(out, "predictions").sort_values(["run", "task", "x"], ignore_index=True),
        uninterrupted.predictions.sort_values(["run", "task", "x"], ignore_index=True),
    )
    assert finished_runs(out) == set(range(15))


def test_resume_completes_what_a_killed_run_left_and_removes_its_leftovers(tmp_path, sweep, uninterrupted):
    out = tmp_path / "out"
    run_sweep(sweep, out=out, jobs=1, progress=False)
    parts = part_files(out, "results")
    for path in parts[5:]:
        path.unlink()  # the batches a killed run never finished
    orphan = part_files(out, "predictions")[-1]  # predictions written, results not: the kill came in between
    (out / PARTS / ".results-v0-s2-4.parquet.x1y2.tmp").write_bytes(b"half a file")
    assert len(finished_runs(out)) == 5
    assert not orphan.exists(), "a predictions part without its results is removed"
    assert not list((out / PARTS).glob(".*")), "temporary files are removed"
    run_sweep(sweep, out=out, resume=True, jobs=1, progress=False)
    assert_same_table(load(out), uninterrupted.scores)
    assert len(load(out, "predictions")) == len(uninterrupted.predictions)


#: ``forgetlab ...`` with every batch a second longer (the numbers are the same).
SLOW_BATCHES = """
import sys, time
import forgetlab.sweep
from forgetlab.cli import main

train = forgetlab.sweep.train
forgetlab.sweep.train = lambda sweep, batch: (time.sleep(1.0), train(sweep, batch))[1]
sys.exit(main(sys.argv[1:]))
"""


def test_a_sweep_killed_with_sigkill_resumes_to_exactly_the_uninterrupted_table(tmp_path, uninterrupted):
    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "forgetlab.cli", "run", str(config), "--out", str(out), "--jobs", "1"]
    # the first run is slowed down, each batch by a second, so the kill lands mid-sweep even on a busy machine
    slowed = [sys.executable, "-c", SLOW_BATCHES, *command[3:]]
    process = subprocess.Popen([*slowed, "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(part_files(out, "results")) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(part_files(out, "results"))
    assert process.returncode == -signal.SIGKILL and 3 <= done_before < 15, "killed mid-sweep"
    for path in part_files(out, "results"):
        pd.read_parquet(path)  # every finished part is whole

    refused = subprocess.run([*command, "--no-progress"], capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before}/15 [" in resumed.stderr, "the progress bar starts from the runs already done"
    assert_same_table(load(out), uninterrupted.scores)


def test_a_second_writer_is_refused_while_the_first_holds_the_directory(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    out.mkdir()
    with lock_output(out):
        assert main(["run", str(config), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"is in use by another forgetlab run (pid {os.getpid()})" in err
    assert not part_files(out, "results")


def test_forgetlab_run_prints_final_scores_and_query_answers_sql(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(CONFIG.replace('seeds = "0-4"', 'seeds = "0-1"'))
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--no-progress", "--jobs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Final scores over seeds (mean with a 95% bootstrap interval) of 6 runs:"
    assert lines[1].split() == [
        "metric",
        "schedule",
        "strategy",
        "task",
        "seeds",
        "mean",
        "95%",
        "interval",
        "diverged",
    ]
    assert [line.split()[1] for line in lines[2:8]] == ["sequential"] * 2 + ["interspersed(k=5)"] * 2 + [
        "interspersed(k=20)"
    ] * 2
    assert lines[-2] == f'results: {out} (load with forgetlab.load({str(out)!r}), or forgetlab query {out} "SQL")'

    sql = "SELECT schedule, count(DISTINCT run) AS runs FROM results GROUP BY schedule ORDER BY schedule"
    assert main(["query", str(out), sql]) == 0
    answer = capsys.readouterr().out.split()
    assert answer == ["schedule", "runs", "interspersed(k=20)", "2", "interspersed(k=5)", "2", "sequential", "2"]
    assert main(["query", str(out), "SELECT nothing FROM results"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("forgetlab: error: The query failed: Binder Error:") and "\n" not in err


def test_a_different_config_is_refused_in_the_same_directory(tmp_path, sweep):
    out = tmp_path / "out"
    run_sweep(parse_config(CONFIG.replace('seeds = "0-4"', "seeds = 0")), out=out, jobs=1, progress=False)
    before = {path.name: path.read_bytes() for path in (out / PARTS).iterdir()}
    with pytest.raises(OutputError, match="holds a different experiment"):
        run_sweep(sweep, out=out, resume=True, progress=False)
    assert {path.name: path.read_bytes() for path in (out / PARTS).iterdir()} == before


def test_batch_names_are_unique_to_their_runs():
    names = {Batch(variant=v, schedule=s, seeds=seeds).name for v in (0, 1) for s in (0, 1) for seeds in ((0,), (0, 1))}
    assert len(names) == 8
