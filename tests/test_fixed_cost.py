"""A command's fixed cost: each command imports only what it needs, and a sweep's tables are not read back.

Each check runs the command in a fresh interpreter and lists the heavy packages it
imported (``sys.modules``): the help imports none; ``query``, ``compare`` and ``report``
no training stack (``report`` matplotlib only with ``--format``); loading a config no
plotting, report, cluster, compiled or scikit-learn stack (:mod:`forgetlab.models` describes
the MLPs), and PyTorch only for strategies with training hooks; a ``run`` of a naive
continual config neither PyTorch (the compiled engine trains it), scikit-learn, Dask nor
DuckDB. The tables :func:`forgetlab.run_sweep` returns (and the report and figures are made
of) are the ones it trained, equal to what :func:`forgetlab.load` reads back.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from forgetlab import load
from forgetlab.api import run_sweep
from forgetlab.config import parse_config
from forgetlab.report import write_report

#: Packages that cost a command a noticeable part of a second to import.
HEAVY = ("numpy", "pandas", "pyarrow", "sklearn", "scipy", "torch", "numba", "matplotlib", "plotly", "dask", "duckdb")

#: One epoch per task, one seed: the command a fixed cost is measured on (benchmarks/fixed_cost.py too).
CONTINUAL = (Path(__file__).parents[1] / "examples" / "one-epoch.toml").read_text()

#: The tutorial's shape (a regression stream, no strategies), small.
REGRESSION = """
seeds = [0]
[stream]
kind = "seasons"
[model]
class = "MLPRegressor"
hidden_layer_sizes = [8]
[optimizer]
name = "lbfgs"
max_iter = 20
[[schedules]]
name = "sequential"
epochs_per_task = [1, 1]
"""


def imported(code: str) -> set[str]:
    """The :data:`HEAVY` packages a fresh interpreter has imported after running ``code``."""
    probe = f"import sys\n{code}\nprint('\\n' + ' '.join(sorted(set(HEAVY) & set(sys.modules))))"
    heavy = f"HEAVY = {HEAVY!r}\n"
    done = subprocess.run([sys.executable, "-c", heavy + probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())


def command(*argv: str) -> str:
    """Code that runs ``forgetlab ARGV`` (its exit code must be 0)."""
    return (
        "from forgetlab.cli import main\n"
        "try:\n"
        f"    code = main({list(argv)!r})\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "assert code == 0, code\n"
    )


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    """An output directory of the continual config with a second strategy (trained in this process)."""
    out = tmp_path_factory.mktemp("continual")
    config = CONTINUAL + '[[strategies]]\nname = "cumulative"\n'
    run_sweep(parse_config(config), out=out, jobs=1, progress=False, figures=())
    return out


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["run", "--help"], ["report", "--help"]])
def test_help_and_version_import_no_heavy_package(argv):
    assert imported(command(*argv)) == set()


def test_query_imports_no_training_or_plotting_stack(output):
    found = imported(command("query", str(output), "SELECT count(*) FROM results"))
    assert "duckdb" in found
    assert not found & {"sklearn", "torch", "numba", "matplotlib", "plotly", "dask"}


def test_report_imports_no_training_stack_and_matplotlib_only_for_static_figures(output):
    found = imported(command("report", str(output)))
    assert "plotly" in found
    assert not found & {"sklearn", "torch", "numba", "matplotlib", "dask", "duckdb"}
    assert "matplotlib" in imported(command("report", str(output), "--format", "svg"))


def test_compare_imports_no_training_or_plotting_stack(output):
    found = imported(command("compare", str(output), "--between", "strategy"))
    assert "scipy" in found
    assert not found & {"sklearn", "torch", "numba", "matplotlib", "plotly", "dask", "duckdb"}


#: The continual config with a strategy that trains with hooks (the torch engine's).
EWC = CONTINUAL + '[[strategies]]\nname = "ewc"\n'


def test_loading_a_config_imports_no_plotting_report_cluster_or_compiled_stack(tmp_path):
    for name, text in (("continual", CONTINUAL), ("ewc", EWC), ("regression", REGRESSION)):
        config = tmp_path / f"{name}.toml"
        config.write_text(text)
        found = imported(f"from forgetlab.config import load_config\nload_config({str(config)!r})")
        assert not found & {"matplotlib", "plotly", "dask", "duckdb", "numba", "sklearn"}, name
        assert ("torch" in found) == (name == "ewc"), "PyTorch only for strategies with training hooks"


def test_a_naive_continual_run_imports_neither_pytorch_nor_scikit_learn_nor_dask_nor_duckdb(tmp_path):
    config = tmp_path / "continual.toml"
    config.write_text(CONTINUAL)
    found = imported(command("run", str(config), "--out", str(tmp_path / "out"), "--no-progress"))
    assert {"numba", "matplotlib", "plotly"} <= found
    assert not found & {"torch", "sklearn", "dask", "duckdb"}
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"report.html", "scores.png", "experiment.json"}


@pytest.mark.parametrize("config", [CONTINUAL, REGRESSION], ids=["continual", "regression"])
def test_run_sweep_returns_the_tables_it_wrote(config, tmp_path):
    out = tmp_path / "out"
    results = run_sweep(parse_config(config), out=out, jobs=1, progress=False, figures=())
    pd.testing.assert_frame_equal(results.scores, load(out))
    pd.testing.assert_frame_equal(results.predictions, load(out, "predictions"))
    resumed = run_sweep(parse_config(config), out=out, resume=True, jobs=1, progress=False, figures=())
    pd.testing.assert_frame_equal(resumed.scores, results.scores)
    assert json.loads((out / "experiment.json").read_text())["resumed"], "the second call resumed from disk"


def test_the_report_from_the_tables_in_memory_is_the_report_read_from_disk(tmp_path):
    out = tmp_path / "out"
    results = run_sweep(parse_config(REGRESSION), out=out, jobs=1, progress=False, figures=())
    from_disk = write_report(out).read_text()
    in_memory = write_report(out, scores=results.scores, predictions=results.predictions).read_text()
    assert in_memory == from_disk
    assert "predictions" in in_memory
