"""The report in a real browser: headless Chromium loads it offline, draws every figure, runs no injected script.

Run with ``-s`` to see the report's size, the time from navigation to every figure drawn (printed, not
asserted: the machine is shared) and where the screenshot is.
"""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from forgetlab.api import run_sweep, tutorial_experiment
from forgetlab.experiment import Experiment
from forgetlab.report import write_report
from forgetlab.schedules import Interspersed, Sequential
from forgetlab.sweep import Sweep
from forgetlab.tasks import from_arrays

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<script>alert(1)</script>"
HOSTILE_2 = "<b>b</b> &amp; %{x} <img src=x onerror=alert(2)>"

#: True once every figure is drawn: Plotly's data with points, and SVG marks of its traces.
ALL_DRAWN = """n => {
  const plots = [...document.querySelectorAll(".js-plotly-plot")];
  return document.body.getAttribute("data-figures-drawn") === String(n) && plots.length === n && plots.every(p =>
    p._fullData && p._fullData.some(t => (t._length || (t.z ? t.z.length : 0)) > 0) &&
    p.querySelector(".scatterlayer .trace path.js-line, .scatterlayer .trace path.point, .heatmaplayer image"));
}"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A fresh headless Chromium (own user-data dir) that may fetch nothing but file:// URLs."""
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI installs it")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    remote: list[str] = []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.route("**/*", only_files)
        try:
            yield context, remote
        finally:
            context.close()


class Watched:
    """A page whose console errors, page errors and dialogs are recorded."""

    def __init__(self, context) -> None:
        self.page = context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: Path) -> float:
        """Navigate to the report; the seconds until every figure is drawn."""
        n_figures = path.read_text(encoding="utf-8").count('class="figure-data"')
        start = time.perf_counter()
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function(ALL_DRAWN, arg=n_figures, timeout=120_000)
        return time.perf_counter() - start


def cells(page, table: str, columns: int) -> list[list[str]]:
    rows = page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    return [row[:columns] for row in rows]


def test_the_tutorial_report_draws_every_figure_offline_without_errors(browser, tmp_path):
    context, remote = browser
    out = tmp_path / "tutorial"
    experiment = tutorial_experiment(seeds=range(8), schedules=["sequential", "interspersed"])
    run_sweep(Sweep.of(experiment), out=out, progress=False)
    path = write_report(out)
    size = path.stat().st_size
    print(f"\nreport: {path}, {size / 2**20:.2f} MiB")
    assert size < 10 * 2**20

    watched = Watched(context)
    seconds = watched.open(path)
    print(f"from navigation to all figures drawn: {seconds:.2f} s")
    page = watched.page
    n_plots = page.eval_on_selector_all(".js-plotly-plot", "plots => plots.length")
    assert n_plots == 5, "2 score panels, 2 prediction panels, 1 score matrix"
    points = page.eval_on_selector_all(
        ".js-plotly-plot",
        "plots => plots.map(p => p._fullData.reduce((n, t) => n + (t._length || (t.z ? t.z.flat().length : 0)), 0))",
    )
    assert all(n > 0 for n in points), points
    print(f"points drawn per figure: {points}")
    assert page.locator(".scatterlayer .trace path.js-line").count() > 0
    assert page.locator(".heatmaplayer image").count() == 1
    assert cells(page, "final-scores", 3) == [
        ["sequential", "naive", "summer"],
        ["sequential", "naive", "autumn"],
        ["interspersed", "naive", "summer"],
        ["interspersed", "naive", "autumn"],
    ]
    assert cells(page, "compare-schedule-r2", 4) == [
        ["naive", "summer", "sequential", "interspersed"],
        ["naive", "autumn", "sequential", "interspersed"],
    ]
    assert page.locator("#no-score-matrix li").all_text_contents() == [
        "interspersed / naive: its epochs form 1 phase (no new task arrives after the first epoch), not one per "
        "task (2 tasks)."
    ]

    # the buttons: x in samples seen (the switch line follows), y on a linear axis clipped to [-1, 1]
    first = page.locator("#figure-0")
    first.locator(".updatemenu-button", has_text="samples seen").click()
    first.locator(".updatemenu-button", has_text="linear [-1, 1]").click()
    page.wait_for_function("() => document.getElementById('figure-0').layout.xaxis.title.text === 'samples seen'")
    x = page.evaluate("document.getElementById('figure-0').data.map(t => t.x[0])")
    assert x == [69, 69, 69, 69], "summer's 69 training samples after epoch 1, for both tasks' band and line"
    assert page.evaluate("document.getElementById('figure-0').layout.shapes.map(s => s.x0)") == [69]
    assert page.evaluate("document.getElementById('figure-0').layout.yaxis.range") == [-1.05, 1.05]

    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"screenshot: {screenshot}")
    assert watched.errors == [] and watched.dialogs == []
    assert remote == [], "the report fetched nothing but itself"


def test_a_hostile_task_name_is_shown_as_text_and_never_runs(browser, tmp_path):
    context, remote = browser
    rng = np.random.default_rng(0)

    def task(name: str, shift: float) -> dict:
        x, x_test = rng.uniform(-1, 1, size=(40, 1)), rng.uniform(-1, 1, size=(12, 1))
        y, y_test = np.sin(3 * x[:, 0] + shift), np.sin(3 * x_test[:, 0] + shift)
        return {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test, "name": name}

    experiment = Experiment(
        stream=from_arrays([task(HOSTILE, 0.0), task(HOSTILE_2, 2.0)]),
        estimator=MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50),
        schedules=[Sequential(epochs_per_task=(2, 2)), Interspersed(k=5, n_epochs=3)],
        seeds=[0, 1],
        engine="sklearn",
    )
    out = tmp_path / "hostile"
    run_sweep(Sweep.of(experiment), out=out, jobs=1, progress=False)
    watched = Watched(context)
    watched.open(write_report(out))
    page = watched.page

    cell = page.locator("#final-scores td").nth(2)
    assert cell.text_content() == HOSTILE and cell.is_visible()
    legend = page.locator("#figure-0 .legendtext").all_text_contents()
    assert legend == [HOSTILE, HOSTILE_2], "Plotly shows the names literally (no tags, no entities decoded twice)"
    ticks = page.locator(".js-plotly-plot:has(.heatmaplayer image) .xtick text").all_text_contents()
    assert ticks == [HOSTILE, HOSTILE_2]
    # hover a point: the hover label holds the name too
    box = page.locator("#figure-0 .scatterlayer .trace path.point").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#figure-0 .hoverlayer .hovertext")
    assert HOSTILE in page.locator("#figure-0 .hoverlayer").text_content()
    page.wait_for_timeout(300)
    injected = page.evaluate("document.querySelectorAll('img, b, script:not([type])').length")
    assert injected == 2, "the page's own two scripts, no element from a name"
    assert watched.dialogs == [], "alert never fired"
    assert watched.errors == []
    assert remote == []
