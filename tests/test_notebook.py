"""examples/tutorial.ipynb: stored clean, and runs top to bottom in a fresh kernel.

The kernel is ipykernel on the interpreter running the tests (``sys.executable``, the
project's ``.venv/bin/python`` under ``.venv/bin/pytest``), whatever kernelspecs the
machine has installed: Jupyter's ``python3`` kernelspec in the venv already resolves to it
(jupyter_client swaps a bare ``python`` in a kernelspec's argv for ``sys.executable``), but
a ``python3`` kernelspec in the user's data directory (``~/.local/share/jupyter``) would
take precedence and could name another Python. The notebook runs in a temporary
directory, so anything it writes lands there, not in the repository.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SCHEDULES = ("sequential", "alternating", "interspersed")


class ThisInterpreter(KernelSpecManager):
    """Resolves every kernel name to ipykernel on the interpreter running the tests."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


def tagged(nb: nbformat.NotebookNode, tag: str) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if tag in cell.metadata.get("tags", [])]


def only(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    (cell,) = tagged(nb, tag)
    return cell


def stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(out.text for out in cell.outputs if out.output_type == "stream" and out.name == "stdout")


def mime_types(outputs: list) -> set[str]:
    return {mime for out in outputs for mime in out.get("data", {})}


def r2_series(text: str) -> list[tuple[int, str, float, float]]:
    """The printed exercise-1 table (index: epoch, trained; columns: summer, autumn), parsed."""
    rows = []
    for line in text.strip().splitlines()[2:]:  # after the column and index header lines
        epoch, trained, summer, autumn = line.split()
        rows.append((int(epoch), trained, float(summer), float(autumn)))
    return rows


def final_table(text: str) -> dict[tuple[str, str], dict[str, float]]:
    """``print(forgetlab.final_scores(...))`` parsed: (schedule, task) -> median, low, high, n_seeds.

    pandas prints the schedule only on the first row of each; the rows below carry it down.
    """
    table, schedule = {}, None
    for line in text.strip().splitlines()[2:]:
        fields = line.split()
        if len(fields) == 6:
            schedule = fields[0]
        task, values = fields[-5], [float(v) for v in fields[-4:]]
        table[(schedule, task)] = dict(zip(("median", "low", "high", "n_seeds"), values, strict=True))
    return table


def test_notebook_is_stored_clean():
    nb = nbformat.read(NOTEBOOK, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "widgets" not in nb.metadata
    for tag in ("r2-table", "seeds-table", "schedules-table", "explorer"):
        only(nb, tag)
    assert len(tagged(nb, "figure")) >= 8


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # which Python ran the kernel: read by the test, not stored in the notebook
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable)", id="which-python"))
    km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())
    here = tmp_path_factory.mktemp("notebook")
    NotebookClient(nb, km=km, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(here)}}).execute()
    return nb


@pytest.mark.slow
def test_notebook_runs_without_errors_in_this_interpreter(executed):
    assert stdout(executed.cells[-1]).strip() == sys.executable
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code)
    errors = [(cell.id, out.ename) for cell in code for out in cell.outputs if out.output_type == "error"]
    assert errors == []


@pytest.mark.slow
def test_figure_cells_draw_inline(executed):
    figures = tagged(executed, "figure")
    assert [cell.id for cell in figures if "image/png" not in mime_types(cell.outputs)] == []


@pytest.mark.slow
def test_exercise_1_prints_the_r2_series(executed):
    rows = r2_series(stdout(only(executed, "r2-table")))
    trained = [(epoch, season) for epoch, season, _, _ in rows]
    assert trained == [(1, "summer")] + [(epoch, "autumn") for epoch in range(2, 11)]
    (_, _, summer_1, _), (_, _, summer_2, autumn_2) = rows[:2]
    assert summer_1 > 0.9  # summer learned by its fit,
    assert summer_2 < 0  # forgotten after one epoch of autumn,
    assert autumn_2 > 0.9  # which is learned
    assert rows[-1][3] > 0.9


@pytest.mark.slow
def test_schedules_over_seeds_print_every_schedule_and_season(executed):
    sequential = final_table(stdout(only(executed, "seeds-table")))
    assert list(sequential) == [("sequential", "summer"), ("sequential", "autumn")]
    table = final_table(stdout(only(executed, "schedules-table")))
    assert list(table) == [(schedule, task) for schedule in SCHEDULES for task in ("summer", "autumn")]
    assert {row["n_seeds"] for row in table.values()} == {8.0}
    assert table[("sequential", "summer")]["median"] < 0 < table[("interspersed", "summer")]["median"]


@pytest.mark.slow
def test_explorer_is_a_widget_that_trained_and_drew(executed):
    cell = only(executed, "explorer")
    assert WIDGET_VIEW in mime_types(cell.outputs)
    # the Train click at the end of the cell: its output lives in the Output widget's state
    state = executed.metadata["widgets"][WIDGET_STATE]["state"]
    (captured,) = [w["state"]["outputs"] for w in state.values() if w["model_name"] == "OutputModel"]
    assert [out for out in captured if out["output_type"] == "error"] == []
    assert "image/png" in mime_types(captured)
    assert WIDGET_VIEW in mime_types(captured)  # the progress bar (tqdm.auto in a kernel)
    assert ("interspersed", "summer") in final_table("".join(out.get("text", "") for out in captured))
