"""The HTML report: one offline file whose figures, tables and provenance match the results, names as text."""

import base64
import hashlib
import html
import json
import re
import shutil
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from matplotlib.figure import Figure
from plotly.offline import get_plotlyjs
from sklearn.neural_network import MLPClassifier, MLPRegressor

import forgetlab.report.static
from forgetlab import ForgetlabError, load, run_experiment
from forgetlab.api import run_sweep
from forgetlab.cli import main
from forgetlab.experiment import Experiment
from forgetlab.report import REPORT, symlog, write_figures, write_report
from forgetlab.report.phases import (
    NO_PHASE_COLUMN,
    Switch,
    matrix_epochs,
    no_matrix_reason,
    shared_phases,
    switches,
)
from forgetlab.schedules import Alternating, Interspersed, Sequential
from forgetlab.strategies import DER, DERPP, ERACE, MAS, Cumulative, GDumb, GenerativeReplay, Naive
from forgetlab.sweep import Sweep
from forgetlab.tasks import from_arrays, seasons, split_digits

HOSTILE = "<script>alert(1)</script>"
#: Plotly reads <b>, <br>, <a href=...> and entities in its text; shown literally too.
HOSTILE_2 = "<b>b</b> &amp; %{x} <img src=x onerror=alert(2)>"


def _regressor() -> MLPRegressor:
    return MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50)


def _schedules() -> list:
    return [Sequential(epochs_per_task=(2, 2)), Interspersed(k=5, n_epochs=3)]


def _run(experiment: Experiment, out) -> None:
    run_sweep(Sweep.of(experiment), out=out, jobs=1, progress=False)


def hostile_stream():
    rng = np.random.default_rng(0)

    def task(name: str, shift: float) -> dict:
        x, x_test = rng.uniform(-1, 1, size=(40, 1)), rng.uniform(-1, 1, size=(12, 1))
        y, y_test = np.sin(3 * x[:, 0] + shift), np.sin(3 * x_test[:, 0] + shift)
        return {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test, "name": name}

    return from_arrays([task(HOSTILE, 0.0), task(HOSTILE_2, 2.0)])


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    out = tmp_path_factory.mktemp("regression")
    stream = seasons()
    _run(
        Experiment(stream=stream, estimator=_regressor(), schedules=_schedules(), seeds=[0, 1, 2], engine="sklearn"),
        out,
    )
    return out, write_report(out)


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    out = tmp_path_factory.mktemp("classification")
    experiment = Experiment(
        stream=split_digits("class", n_tasks=2),
        estimator=MLPClassifier(hidden_layer_sizes=(16,), solver="adam"),
        schedules=[Sequential(epochs_per_task=(2, 2))],
        strategies=[Naive(), Cumulative()],
        seeds=[0, 1, 2],
    )
    _run(experiment, out)
    return out, write_report(out)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    experiment = Experiment(
        stream=hostile_stream(), estimator=_regressor(), schedules=_schedules(), seeds=[0, 1], engine="sklearn"
    )
    _run(experiment, out)
    return out, write_report(out)


class _Tables(HTMLParser):
    """The text of every table's body cells and of every <pre>, by id, and the page's elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict]] = []
        self.pre: dict[str, str] = {}
        self._table = self._cell = self._pre = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "pre":
            self._pre = attrs.get("id", "")
            self.pre[self._pre] = ""
        elif tag == "table":
            self._table = self.tables.setdefault(attrs.get("id", ""), [])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._table.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "pre":
            self._pre = None
        elif tag == "td" and self._cell is not None:
            self._table[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._pre is not None:
            self.pre[self._pre] += data
        if self._cell is not None:
            self._cell.append(data)


def parse(path) -> _Tables:
    parser = _Tables()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def figures(path) -> list[dict]:
    """Every figure's JSON embedded in the report, in page order."""
    text = path.read_text(encoding="utf-8")
    blocks = re.findall(r'<script type="application/json" class="figure-data" data-figure="[^"]+">(.*?)</script>', text)
    return [json.loads(block) for block in blocks]


def title(figure: dict) -> str:
    return figure["layout"]["title"]["text"]


def test_the_report_is_one_file_that_loads_nothing_and_runs_only_its_own_scripts(regression):
    out, path = regression
    assert path == out / REPORT and path.is_file()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".lock"], "no temporary file left"
    text = path.read_text(encoding="utf-8")
    plotly_js = get_plotlyjs()
    assert text.count(plotly_js) == 1, "plotly.js inlined once"
    rest = text.replace(plotly_js, "")
    # outside plotly.js's own source nothing names a remote address (plotly.js holds URLs of map tiles, its
    # logo and chart studio, used only by map traces, the logo (off) and the cloud button (off))
    assert "http://" not in rest and "https://" not in rest and "//cdn" not in rest
    page = parse(path)
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            assert attrs.get(name) is None or attrs[name].startswith("#"), (tag, attrs)
    assert not [tag for tag, _ in page.tags if tag in ("link", "img", "iframe", "object", "embed")]
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    executable = [attrs for attrs in scripts if attrs.get("type") != "application/json"]
    assert len(executable) == 2 and len(scripts) == 2 + 1 + len(figures(path))  # + the Plotly config
    csp = next(attrs["content"] for tag, attrs in page.tags if attrs.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none'; script-src 'sha256-")
    for body in re.findall(r"<script>(.*?)</script>", text, flags=re.DOTALL):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp, "every inline script is allowed by its hash, nothing else runs"
    config = json.loads(re.search(r'<script type="application/json" id="plotly-config">(.*?)</script>', text)[1])
    assert config["displaylogo"] is False and config["typesetMath"] is False
    assert len(text.encode()) - len(plotly_js.encode()) < 200_000, "the report beside plotly.js is small"


def test_every_figure_is_valid_plotly_and_the_score_curves_are_the_medians_over_seeds(regression):
    out, path = regression
    scores = load(out)
    drawn = figures(path)
    for figure in drawn:
        go.Figure(data=figure["data"], layout=figure["layout"])  # raises on an unknown or bad property
    curves = [f for f in drawn if f["layout"].get("updatemenus")]
    assert [title(f) for f in curves] == [
        "<b>sequential / naive</b> (3 seeds)",
        "<b>interspersed / naive</b> (3 seeds)",
    ]
    sequential = curves[0]
    summer = scores.query("schedule == 'sequential' and task == 'summer'")
    median = summer.groupby("epoch")["value"].median()
    line = next(t for t in sequential["data"] if t["name"] == "summer" and "fill" not in t)
    assert line["x"] == [1, 2, 3, 4]
    np.testing.assert_allclose(line["y"], symlog(median.to_numpy()), rtol=1e-5)  # symlog first
    np.testing.assert_allclose([row[2] for row in line["customdata"]], median.to_numpy(), rtol=1e-5)
    x_menu, y_menu = sequential["layout"]["updatemenus"]
    assert [b["label"] for b in x_menu["buttons"]] == ["epochs", "samples seen"]
    assert [b["label"] for b in y_menu["buttons"]] == ["symlog", "linear [-1, 1]"]
    index = sequential["data"].index(line)
    samples = x_menu["buttons"][1]["args"][0]["x"][index]
    assert samples == summer.groupby("epoch")["samples_seen"].median().tolist() == [69, 138, 206, 274]
    np.testing.assert_allclose(y_menu["buttons"][1]["args"][0]["y"][index], median.to_numpy(), rtol=1e-5)
    assert y_menu["buttons"][1]["args"][1]["yaxis.range"] == [-1.05, 1.05]
    # the task switch (summer -> autumn after epoch 2), in epochs and in samples seen
    assert [s["x0"] for s in sequential["layout"]["shapes"]] == [2]
    assert [s["x0"] for s in x_menu["buttons"][1]["args"][1]["shapes"]] == [138]
    assert curves[1]["layout"]["shapes"] == [], "interspersed training never switches"
    # the band: the 2.5th and 97.5th percentiles over seeds
    band = next(t for t in sequential["data"] if t["name"] == "summer" and t.get("fill") == "toself")
    high = summer.groupby("epoch")["value"].quantile(0.975).to_numpy()
    np.testing.assert_allclose(band["y"][:4], symlog(high), rtol=1e-5)


def test_score_matrices_only_for_panels_with_one_phase_per_task(regression):
    out, path = regression
    scores = load(out)
    heatmaps = [f for f in figures(path) if f["data"][0]["type"] == "heatmap"]
    assert [title(f) for f in heatmaps] == ["<b>sequential / naive</b> (mean of 3 seeds)"]
    rows = scores.query("schedule == 'sequential'")
    mean = rows.groupby(["epoch", "task"])["value"].mean()
    expected = [[mean[(epoch, task)] for task in ("summer", "autumn")] for epoch in (2, 4)]  # phases end at 2, 4
    text = heatmaps[0]["data"][0]["text"]
    assert text == [[f"{v:.3f}" for v in row] for row in expected]
    note = path.read_text(encoding="utf-8").split('<ul id="no-score-matrix">')[1].split("</ul>")[0]
    assert "interspersed / naive" in note and "its epochs form 1 phase" in note


def test_tables_hold_the_final_scores_comparisons_and_provenance(regression):
    out, path = regression
    page = parse(path)
    final = page.tables["final-scores"]
    assert [row[:4] for row in final] == [
        ["sequential", "naive", "summer", "R²"],
        ["sequential", "naive", "autumn", "R²"],
        ["interspersed", "naive", "summer", "R²"],
        ["interspersed", "naive", "autumn", "R²"],
    ]
    assert [row[4:7] for row in final] == [["4", "274", "3"]] * 2 + [["3", "30", "3"]] * 2  # epochs, samples, seeds
    last = load(out).query("schedule == 'sequential' and task == 'summer' and epoch == 4")["value"]
    assert final[0][7] == f"{last.mean():.3f}"
    assert "stream-metrics" not in page.tables, "the tutorial's schedules have no stream metrics"
    comparison = page.tables["compare-schedule-r2"]
    assert [row[:4] for row in comparison] == [
        ["naive", "summer", "sequential", "interspersed"],
        ["naive", "autumn", "sequential", "interspersed"],
    ]
    assert [row[4] for row in comparison] == ["3", "3"]  # pairs
    manifest = json.loads((out / "experiment.json").read_text())
    provenance = dict(page.tables["provenance-table"])
    assert provenance["fingerprint"] == manifest["fingerprint"]
    assert "scikit-learn 1." in provenance["versions"] and provenance["date"] == manifest["provenance"]["date"]
    assert json.loads(page.pre["manifest"]) == manifest, "the whole manifest"
    assert "config" not in page.pre, "the tutorial has no config"
    predictions = [f for f in figures(path) if "final models" in title(f)]
    assert len(predictions) == 2
    summer = next(t for t in predictions[0]["data"] if t["name"] == "summer: median of 3 seeds")
    assert len(summer["x"]) == len(load(out, "predictions").query("run == 0 and task == 'summer'"))


def test_the_classification_report_has_stream_metrics_and_compares_strategies(classification):
    out, path = classification
    page = parse(path)
    metrics = page.tables["stream-metrics"]
    assert [row[:3] for row in metrics] == [["sequential", "naive", "3"], ["sequential", "cumulative", "3"]]
    acc = load(out).query("metric == 'acc' and strategy == 'naive'")["value"].mean()
    assert metrics[0][3].startswith(f"{acc:.3f} [")
    assert len(metrics[0]) == 3 + 5, "ACC, BWT, FWT, forgetting, intransigence"
    assert [row[:4] for row in page.tables["compare-strategy-accuracy"]] == [
        ["sequential", "digits 0-1", "naive", "cumulative"],
        ["sequential", "digits 2-3", "naive", "cumulative"],
    ]
    assert "compare-schedule-accuracy" not in page.tables, "one schedule"
    drawn = figures(path)
    heatmaps = [title(f) for f in drawn if f["data"][0]["type"] == "heatmap"]
    assert heatmaps == [
        "<b>sequential / naive</b> (mean of 3 seeds)",
        "<b>sequential / cumulative</b> (mean of 3 seeds)",
    ]
    assert not [f for f in drawn if "final models" in title(f)], "no predictions figure for labels"
    curves = [f for f in drawn if f["layout"].get("updatemenus")]
    assert all(len(f["layout"]["updatemenus"]) == 1 for f in curves), "accuracy is linear: no y switch"
    assert [s["x0"] for s in curves[1]["layout"]["shapes"]] == [2], "cumulative: 'digits 0-1', then both"
    text = path.read_text(encoding="utf-8")
    for name in ("digits 0-1", "digits 2-3", "sequential / cumulative"):
        assert name in text


#: The strategies added after naive, EWC, SI, LwF, A-GEM and replay, by their names in the tables.
NEWER = {
    "mas": MAS(),
    "der": DER(buffer_size=20),
    "derpp": DERPP(buffer_size=20),
    "er_ace": ERACE(buffer_size=20),
    "gdumb": GDumb(memory_size=20),
    "generative_replay": GenerativeReplay(latent_size=4, hidden_layer_sizes=(16,)),
}


def test_the_report_and_compare_show_the_newer_strategies_like_the_others(tmp_path, capsys):
    experiment = Experiment(
        stream=split_digits("class", n_tasks=2),
        estimator=MLPClassifier(hidden_layer_sizes=(16,), solver="adam"),
        schedules=[Sequential(epochs_per_task=(1, 1))],
        strategies=[Naive(), *NEWER.values()],
        seeds=[0, 1],
    )
    _run(experiment, tmp_path)
    page = parse(write_report(tmp_path))
    names = ["naive", *NEWER]
    assert [row[1] for row in page.tables["stream-metrics"]] == names
    assert {row[3] for row in page.tables["compare-strategy-accuracy"]} == set(NEWER), "each against naive"
    heatmaps = [title(f) for f in figures(tmp_path / REPORT) if f["data"][0]["type"] == "heatmap"]
    assert heatmaps == [f"<b>sequential / {name}</b> (mean of 2 seeds)" for name in names]
    capsys.readouterr()
    assert main(["compare", str(tmp_path), "--between", "strategy", "--task", "all", "--metric", "acc"]) == 0
    summary, paired = capsys.readouterr().out.split("Paired by seed")
    rows = [line.split() for line in summary.splitlines()[2:] if line.strip()]
    assert [next(name for name in names if name in row) for row in rows] == names, "one row per strategy"
    pairs = [line.split() for line in paired.splitlines()[2:] if line.strip()]
    assert all(any({"naive", name} <= set(row) for row in pairs) for name in NEWER), "each paired with naive"


def test_names_from_the_data_are_text_never_markup(hostile):
    _, path = hostile
    text = path.read_text(encoding="utf-8")
    for name in (HOSTILE, HOSTILE_2):
        assert name not in text
        assert name.replace("&", "\\u0026").replace("<", "\\u003c") not in text, "JSON keeps Plotly's escapes"
    rest = text.replace(get_plotlyjs(), "")
    assert "<script>alert" not in rest and "<img" not in rest and "<b>b</b>" not in rest
    assert html.escape(HOSTILE) in rest and html.escape(HOSTILE_2) in rest  # in the HTML tables
    # inside figures, escaped for Plotly's pseudo-HTML (which decodes entities as it draws text), then for JSON
    for_plotly = [html.escape(name, quote=False).replace("%", "&#37;") for name in (HOSTILE, HOSTILE_2)]
    assert for_plotly[1] == "&lt;b&gt;b&lt;/b&gt; &amp;amp; &#37;{x} &lt;img src=x onerror=alert(2)&gt;"
    assert "\\u0026lt;script\\u0026gt;alert(1)\\u0026lt;/script\\u0026gt;" in rest
    names = {trace["name"] for figure in figures(path) for trace in figure["data"] if "name" in trace}
    assert set(for_plotly) <= names
    page = parse(path)
    assert [row[2] for row in page.tables["final-scores"]] == [HOSTILE, HOSTILE_2] * 2, "shown as text"
    assert not [tag for tag, _ in page.tags if tag in ("img", "b")]


def _hand_made(phases_by_run: dict[int, list[int]], trained: list[str] | None = None) -> pd.DataFrame:
    """Results rows of two tasks, one run per key, recording epochs 1, 2, ... in the given phases."""
    rows = []
    for run, run_phases in phases_by_run.items():
        for epoch, phase in enumerate(run_phases, start=1):
            label = trained[epoch - 1] if trained else "?"
            for task in ("a", "b"):
                rows.append({"run": run, "epoch": epoch, "samples_seen": 10 * epoch, "trained": label})
                rows[-1] |= {"phase": phase, "task": task, "value": 0.5}
    return pd.DataFrame(rows)


def test_phases_come_from_the_phase_column_never_from_the_trained_labels():
    sequential = _hand_made({0: [0, 0, 1, 1], 1: [0, 0, 1, 1]})
    assert shared_phases(sequential).to_dict() == {1: 0, 2: 0, 3: 1, 4: 1}
    assert matrix_epochs(sequential, 2) == [2, 4], "R[i, :] at the last recorded epoch of phase i"
    alternating = _hand_made({0: [0, 1, 1, 1], 1: [0, 1, 1, 1]}, trained=["a", "b", "a", "b"])
    assert matrix_epochs(alternating, 2) == [1, 4], "the first task's first epoch; everything after b arrives"
    first_run = alternating[(alternating["run"] == 0) & (alternating["task"] == "a")]
    assert switches(first_run) == [Switch(1, 10.0, "b")], "one mark, where b arrives"
    interspersed = _hand_made({0: [0, 0, 0]}, trained=["b+a"] * 3)
    assert matrix_epochs(interspersed, 2) is None and switches(interspersed.query("task == 'a'")) == []
    assert no_matrix_reason(interspersed, 2).startswith("its epochs form 1 phase")
    different = _hand_made({0: [0, 0, 1, 1], 1: [0, 1, 1, 1]})
    assert shared_phases(different) is None and matrix_epochs(different, 2) is None
    assert no_matrix_reason(different, 2) == "its runs differ in the epochs they record or in their phases"
    shorter = _hand_made({0: [0, 0, 1, 1], 1: [0, 0, 1]})
    assert matrix_epochs(shorter, 2) is None, "runs that record different epochs"
    three_phases = _hand_made({0: [0, 1, 2]})
    assert matrix_epochs(three_phases, 2) is None
    assert no_matrix_reason(three_phases, 2) == "its epochs form 3 phases, not one per task (2 tasks)"


@pytest.fixture(scope="module")
def alternating(tmp_path_factory):
    out = tmp_path_factory.mktemp("alternating")
    experiment = Experiment(
        stream=seasons(),
        estimator=_regressor(),
        schedules=[Alternating(k=5, n_epochs=4)],
        seeds=[0, 1],
        engine="sklearn",
    )
    _run(experiment, out)
    return out, write_report(out)


def test_an_alternating_schedule_has_two_phases_a_score_matrix_and_one_switch_line(alternating):
    """As the results table's stream metrics treat it: summer's first epoch, then everything after autumn arrives."""
    out, path = alternating
    scores = load(out)
    assert scores.query("run == 0 and task == 'summer'")["phase"].tolist() == [0, 1, 1, 1]
    drawn = figures(path)
    (curves,) = [f for f in drawn if f["layout"].get("updatemenus")]
    assert [s["x0"] for s in curves["layout"]["shapes"]] == [1], "one dashed line: autumn arrives after epoch 1"
    assert [s["label"]["text"] for s in curves["layout"]["shapes"]] == ["→ autumn"]
    (heatmap,) = [f for f in drawn if f["data"][0]["type"] == "heatmap"]
    assert title(heatmap) == "<b>alternating / naive</b> (mean of 2 seeds)"
    mean = scores.groupby(["epoch", "task"])["value"].mean()
    expected = [[mean[(epoch, task)] for task in ("summer", "autumn")] for epoch in (1, 4)]
    assert heatmap["data"][0]["text"] == [[f"{v:.3f}" for v in row] for row in expected]
    text = path.read_text(encoding="utf-8")
    assert "no-score-matrix" not in text
    assert "alternating training too, whose phases are the first epoch of each task but the last" in text


def _rewrite_parts(source, target, change) -> None:
    """A copy of an output directory whose results parts went through ``change`` (a DataFrame -> DataFrame)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".lock", REPORT))
    for part in (target / "parts").glob("results-*.parquet"):
        change(pd.read_parquet(part)).to_parquet(part)


def test_a_table_without_the_phase_column_gets_no_matrices_no_switch_lines_and_one_line_saying_why(
    regression, tmp_path
):
    source, _ = regression
    out = tmp_path / "old"
    _rewrite_parts(source, out, lambda table: table.drop(columns="phase"))
    assert "phase" not in load(out).columns
    path = write_report(out)
    text = path.read_text(encoding="utf-8")
    assert text.count(html.escape(NO_PHASE_COLUMN)) == 1
    drawn = figures(path)
    assert not [f for f in drawn if f["data"][0]["type"] == "heatmap"]
    curves = [f for f in drawn if f["layout"].get("updatemenus")]
    assert len(curves) == 2 and all(f["layout"]["shapes"] == [] for f in curves)
    assert all(b["args"][1]["shapes"] == [] for f in curves for b in f["layout"]["updatemenus"][0]["buttons"])
    assert 'id="matrices"' not in text and "dashed lines" not in text
    assert "final-scores" in parse(path).tables, "the rest of the report stays"


def test_the_trained_labels_are_shown_never_parsed(regression, tmp_path):
    source, original = regression
    out = tmp_path / "relabelled"
    _rewrite_parts(source, out, lambda table: table.assign(trained="<i>anything</i>"))
    before, after = figures(original), figures(write_report(out))
    heatmaps = [[f["data"][0]["text"] for f in drawn if f["data"][0]["type"] == "heatmap"] for drawn in (before, after)]
    assert heatmaps[0] == heatmaps[1] and len(heatmaps[0]) == 1
    lines = [
        [[s["x0"] for s in f["layout"]["shapes"]] for f in drawn if f["layout"].get("updatemenus")]
        for drawn in (before, after)
    ]
    assert lines[0] == lines[1] == [[2], []]
    assert [s["label"]["text"] for s in after[0]["layout"]["shapes"]] == ["→ &lt;i&gt;anything&lt;/i&gt;"]


def test_write_report_refuses_a_directory_without_results(tmp_path):
    with pytest.raises(ForgetlabError, match="No results table"):
        write_report(tmp_path)
    assert not (tmp_path / REPORT).exists()


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


def test_the_report_command_prints_the_path_and_writes_static_figures(regression, classification, capsys):
    out, path = regression
    path.unlink()
    assert main(["report", str(out), "--format", "svg"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"report: {path}", f"figures: {out / 'scores.svg'}, {out / 'predictions.svg'}"]
    assert path.is_file()
    for name in ("scores.svg", "predictions.svg"):
        assert (out / name).read_text().lstrip().startswith("<?xml")
    out, path = classification
    assert main(["report", str(out), "--format", "png,pdf"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == f"figures: {out / 'scores.png'}, {out / 'scores.pdf'}"
    assert (out / "scores.pdf").read_bytes().startswith(b"%PDF") and not (out / "predictions.pdf").exists()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"report: {path}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "jpg"], "The 'format' parameter must be a comma-separated list of png, svg, pdf"),
        (["--format", "svg,"], "got 'svg,'"),
    ],
)
def test_a_bad_format_is_one_line_and_exit_code_2(regression, capsys, args, message):
    out, _ = regression
    assert exit_code(["report", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_directory_without_results_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"forgetlab: error: No results table in {str(tmp_path)!r} (looked for parts/results-*.parquet).\n"
    with pytest.raises(ForgetlabError):
        write_figures(tmp_path, "svg")


SWEEP = """
seeds = [0, 1]
engine = "sklearn"
[stream]
kind = "seasons"
[model]
class = "MLPRegressor"
hidden_layer_sizes = [8]
[optimizer]
name = "lbfgs"
max_iter = 50
[[schedules]]
name = "sequential"
epochs_per_task = [1, 1]
[[schedules]]
name = "interspersed"
k = 5
n_epochs = 2
[grid]
"model.alpha" = [0.0001, 0.01]
"""


def test_forgetlab_run_writes_the_report_of_every_variant(tmp_path, capsys):
    config = tmp_path / "sweep.toml"
    config.write_text(SWEEP)
    out = tmp_path / "out"
    assert exit_code(["run", str(config), "--out", str(out), "--format", "bmp", "--jobs", "1"]) == 2
    assert not out.exists(), "a bad --format is refused before anything trains"
    capsys.readouterr()
    assert main(["run", str(config), "--out", str(out), "--no-progress", "--jobs", "1", "--format", "svg"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"report: {out / REPORT}" in lines
    assert lines[-1] == "figures: none for a sweep of several variants (the report shows every variant)"
    page = parse(out / REPORT)
    assert [row[0] for row in page.tables["final-scores"]] == ["model.alpha=0.0001"] * 4 + ["model.alpha=0.01"] * 4
    assert [row[0] for row in page.tables["compare-schedule-r2"]] == ["model.alpha=0.0001"] * 2 + [
        "model.alpha=0.01"
    ] * 2
    titles = [title(f) for f in figures(out / REPORT) if f["layout"].get("updatemenus")]
    assert titles[0] == "<b>model.alpha=0.0001 / sequential / naive</b> (2 seeds)" and len(titles) == 4
    config = json.loads(page.pre["config"])
    assert config["grid"] == {"model.alpha": [0.0001, 0.01]} and config["seeds"] == [0, 1]


def test_forgetlab_tutorial_writes_the_report_and_the_formats_asked_for(tmp_path, capsys):
    out = tmp_path / "tutorial"
    argv = ["tutorial", "--schedules", "sequential", "--sequential-epochs", "1,1", "--seeds", "1", "--engine"]
    argv += ["sklearn", "--out", str(out), "--no-progress", "--jobs", "1", "--format", "svg"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    figures_written = [out / name for name in ("scores.png", "predictions.png", "scores.svg", "predictions.svg")]
    assert lines[-3:] == [
        f"report: {out / REPORT}",
        f'results: {out} (load with forgetlab.load({str(out)!r}), or forgetlab query {out} "SQL")',
        "figures: " + ", ".join(map(str, figures_written)),
    ]
    assert (out / REPORT).stat().st_size < 10 * 2**20


ONE_VARIANT = """
seeds = [0]
engine = "sklearn"
[stream]
kind = "seasons"
[model]
class = "MLPRegressor"
hidden_layer_sizes = [8]
[optimizer]
name = "lbfgs"
max_iter = 50
[[schedules]]
name = "sequential"
epochs_per_task = [1, 1]
"""


@pytest.fixture
def figure_writes(monkeypatch):
    """Every static figure written: the file names through the one writer, and matplotlib's savefig calls."""
    writes = {"files": [], "savefig": 0}
    write_file, savefig = forgetlab.report.static.write_file, Figure.savefig

    def counted_write_file(path, write):
        writes["files"].append(path.name)
        write_file(path, write)

    def counted_savefig(self, *args, **kwargs):
        writes["savefig"] += 1
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(forgetlab.report.static, "write_file", counted_write_file)
    monkeypatch.setattr(Figure, "savefig", counted_savefig)
    return writes


def _tutorial_command(out) -> None:
    argv = ["tutorial", "--schedules", "sequential", "--sequential-epochs", "1,1", "--seeds", "1", "--engine"]
    assert main([*argv, "sklearn", "--out", str(out), "--no-progress", "--jobs", "1", "--format", "png,svg"]) == 0


def _run_command(out) -> None:
    config = out.parent / "one.toml"
    config.write_text(ONE_VARIANT)
    assert main(["run", str(config), "--out", str(out), "--no-progress", "--jobs", "1", "--format", "pdf"]) == 0


def _run_experiment(out) -> None:
    experiment = Experiment(
        stream=seasons(),
        estimator=_regressor(),
        schedules=[Sequential(epochs_per_task=(1, 1))],
        seeds=[0],
        engine="sklearn",
    )
    run_experiment(experiment, out=out, progress=False, n_jobs=1)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (_tutorial_command, ["scores.png", "predictions.png", "scores.svg", "predictions.svg"]),
        (_run_command, ["scores.png", "predictions.png", "scores.pdf", "predictions.pdf"]),
        (_run_experiment, ["scores.png", "predictions.png"]),
    ],
    ids=["forgetlab tutorial", "forgetlab run", "run_experiment"],
)
def test_each_command_writes_each_static_figure_once(command, expected, figure_writes, tmp_path, capsys):
    out = tmp_path / "out"
    command(out)
    assert figure_writes["files"] == expected, "each file once, PNG always, then the formats asked for"
    assert figure_writes["savefig"] == len(expected), "no other writer draws them again"
    assert all((out / name).stat().st_size > 0 for name in expected)
    if command is not _run_experiment:
        assert capsys.readouterr().out.splitlines()[-1] == "figures: " + ", ".join(str(out / n) for n in expected)


def test_forgetlab_report_writes_the_static_figures_once_and_only_with_format(regression, figure_writes, capsys):
    out, _ = regression
    assert main(["report", str(out)]) == 0
    assert figure_writes == {"files": [], "savefig": 0}
    assert main(["report", str(out), "--format", "png,svg"]) == 0
    expected = ["scores.png", "predictions.png", "scores.svg", "predictions.svg"]
    assert figure_writes == {"files": expected, "savefig": 4}
    assert capsys.readouterr().out.splitlines()[-1] == "figures: " + ", ".join(str(out / n) for n in expected)
