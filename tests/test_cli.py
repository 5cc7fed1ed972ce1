"""The command line: what it prints, what it writes, and one clear line on bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import forgetlab
from forgetlab.cli import main
from forgetlab.results import RESULT_COLUMNS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "forgetlab.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_tutorial_end_to_end_prints_the_table_and_writes_results_and_figures(tmp_path):
    out = tmp_path / "tutorial"
    done = run_cli("tutorial", "--schedules", "sequential", "--sequential-epochs", "1,1", "--seeds", "1,2")
    assert done.returncode == 0, done.stderr
    # default out directory: runs/tutorial-<fingerprint>, relative to the working directory
    assert "runs/tutorial-" in done.stdout
    done = run_cli(
        "tutorial", "--schedules", "sequential", "--sequential-epochs", "1,1", "--seeds", "1,2", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Final test R² over 2 seeds:"
    assert lines[1].split() == ["schedule", "task", "median", "R²", "95%", "of", "seeds"]
    summer, autumn = lines[2].split(), lines[3].split()
    assert summer[:2] == ["sequential", "summer"] and float(summer[2]) < 0, "summer is forgotten"
    assert autumn[:2] == ["sequential", "autumn"] and float(autumn[2]) > 0.9
    assert f"figures: {out / 'scores.png'}, {out / 'predictions.png'}" in done.stdout
    for name in ("experiment.json", "scores.png", "predictions.png"):
        assert (out / name).stat().st_size > 0
    assert {p.name.split("-")[0] for p in (out / "parts").iterdir()} == {"predictions", "results"}
    assert "training" in done.stderr, "a progress bar on stderr"

    scores = forgetlab.load(out)
    assert list(scores.columns) == list(RESULT_COLUMNS)
    assert len(scores) == 2 * 2 * 2  # seeds x epochs x tasks
    assert scores.query("epoch == 2 and task == 'summer'")["value"].median() == pytest.approx(
        float(summer[2]), abs=1e-3
    )
    manifest = json.loads((out / "experiment.json").read_text())
    assert manifest["seeds"] == [1, 2]
    assert manifest["provenance"]["versions"]["scikit-learn"]
    predictions = forgetlab.load(out, "predictions")
    assert len(predictions) == 2 * (23 + 23)


def exit_code(argv: list[str]) -> int:
    """main()'s return value, or the code of the SystemExit argparse raises."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (
            ["--k", "69"],
            "'k' parameter of Alternating (at most the training set of 'autumn') must be an int in [1, 68]",
        ),
        (["--seasons", "summer,monsoon"], "'seasons' parameter must be a list of winter, spring, summer, autumn"),
        (["--schedules", "sequential,blocked"], "'schedules' parameter must be a list of sequential"),
        (["--alternating-epochs", "0"], "'n_epochs' parameter of Alternating must be an int >= 1; got 0"),
        (["--interspersed-epochs", "-3"], "'n_epochs' parameter of Interspersed"),
        (["--sequential-epochs", "1,0"], "'epochs_per_task' parameter of Sequential"),
        (["--sequential-epochs", "1,x"], "--sequential-epochs must be comma-separated ints"),
        (["--seeds", ""], "'seeds' parameter must be seeds like 42, 0-15 or 1,2,3"),
        (["--seeds", "5-2"], "a range must go upwards"),
        (["--seeds", "1,1"], "'seeds' parameter must be a non-empty list of distinct ints"),
        (["--engine", "jax"], "'engine' parameter must be one of auto, compiled, sklearn, torch"),
        (["--threads", "0"], "'threads' parameter must be an int >= 1"),
        (["--jobs", "0"], "'jobs' parameter must be an int >= 1"),
        (["--k", "many"], "argument --k: invalid int value: 'many'"),
    ],
)
def test_bad_input_is_one_line_naming_the_field_and_exit_code_2(args, field, capsys, tmp_path):
    out = tmp_path / "never"
    assert exit_code(["tutorial", *args, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("forgetlab")
    assert field in lines[0]
    assert captured.out == ""
    assert not out.exists(), "nothing written"


def test_a_directory_holding_another_experiment_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "experiment"
    out.mkdir()
    manifest = out / "experiment.json"
    manifest.write_text(json.dumps({"fingerprint": "0" * 64}))
    (out / "parts").mkdir()
    (out / "parts" / "results-v0-s0.parquet").write_bytes(b"earlier results")
    assert main(["tutorial", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "The 'out' directory" in err and "holds a different experiment" in err
    assert (out / "parts" / "results-v0-s0.parquet").read_bytes() == b"earlier results"
    assert json.loads(manifest.read_text()) == {"fingerprint": "0" * 64}


def test_a_non_empty_directory_without_an_experiment_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["tutorial", "--out", str(tmp_path)]) == 2
    assert "is not empty and holds no forgetlab experiment" in capsys.readouterr().err
    assert [p.name for p in Path(tmp_path).iterdir()] == ["notes.txt"]


def test_help_and_version(capsys):
    assert exit_code(["--help"]) == 0
    assert "tutorial" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("forgetlab ")
    assert main([]) == 2


def test_help_does_not_import_the_numerical_stack():
    code = "import sys; from forgetlab.cli import _build_parser; _build_parser(); print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_compare_is_a_command_with_its_own_help(capsys):
    assert exit_code(["--help"]) == 0
    assert "compare" in capsys.readouterr().out
    assert exit_code(["compare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--between {schedule,strategy}" in out and "--epoch" in out and "Holm" in out
    assert exit_code(["compare"]) == 2
    assert "the following arguments are required: DIR" in capsys.readouterr().err
