"""``forgetlab query`` only reads: SELECTs answer, everything else is one line, exit code 2 and nothing written."""

from pathlib import Path

import pandas as pd
import pytest

from forgetlab import ForgetlabError
from forgetlab.cli import main
from forgetlab.store import PARTS, query


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An output directory with two results parts and a predictions part; the working and home directory are
    tmp_path (so relative paths, and DuckDB's extension directory ~/.duckdb, land where the tests look)."""
    out = tmp_path / "out"
    (out / PARTS).mkdir(parents=True)
    for batch, runs in (("v0-s0", [0, 1]), ("v0-s1", [2, 3])):
        part = pd.DataFrame(
            {
                "run": [run for run in runs for _ in range(2)],
                "schedule": [("sequential", "alternating")[run % 2] for run in runs for _ in range(2)],
                "task": ["summer", "autumn"] * len(runs),
                "metric": "r2",
                "value": [0.1 * run + (0.5 if task == 0 else 0.0) for run in runs for task in (0, 1)],
            }
        )
        part.to_parquet(out / PARTS / f"results-{batch}.parquet")
    pd.DataFrame({"run": [0, 0], "x": [0.0, 1.0], "y": [0.5, 0.7]}).to_parquet(
        out / PARTS / "predictions-v0-s0.parquet"
    )
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return out


def files(root: Path) -> dict[str, bytes]:
    """Every file and directory under ``root``, with its content (directories: b"")."""
    return {str(path.relative_to(root)): path.read_bytes() if path.is_file() else b"" for path in root.rglob("*")}


def test_a_select_with_where_and_group_by_answers_over_every_part(out):
    answer = query(
        out,
        "SELECT schedule, count(*) AS n, round(avg(value), 3) AS mean FROM results "
        "WHERE task = 'summer' AND metric = 'r2' GROUP BY schedule ORDER BY schedule",
    )
    assert answer.to_dict("list") == {"schedule": ["alternating", "sequential"], "n": [2, 2], "mean": [0.7, 0.6]}
    assert query(out, "SELECT count(*) AS n FROM predictions")["n"].tolist() == [2]


def test_reads_other_than_select_answer_too(out):
    assert query(out, "WITH s AS (SELECT DISTINCT run FROM results) SELECT count(*) AS n FROM s")["n"].tolist() == [4]
    assert query(out, "VALUES (1, 'a')").shape == (1, 2)
    assert "value" in query(out, "DESCRIBE results")["column_name"].tolist()
    assert "value" in query(out, "PRAGMA table_info('results')")["name"].tolist()
    assert len(query(out, "SUMMARIZE results")) == 5
    assert len(query(out, "EXPLAIN SELECT * FROM results")) == 1
    assert query(out, "SELECT 1 AS a; SELECT 2 AS b")["b"].tolist() == [2]


def test_duckdb_itself_is_closed_while_the_query_runs(out):
    answer = query(
        out, "SELECT current_setting('enable_external_access') AS e, current_setting('lock_configuration') AS l"
    )
    assert answer.to_dict("records") == [{"e": False, "l": True}]


def test_the_cli_prints_the_answer(out, capsys):
    assert main(["query", str(out), "SELECT schedule, count(*) AS n FROM results GROUP BY 1 ORDER BY 1"]) == 0
    assert capsys.readouterr().out.split() == ["schedule", "n", "alternating", "4", "sequential", "4"]


REFUSED = [
    # (sql, what the message names, the path it would write, relative to the working directory)
    ("COPY (SELECT 1) TO 'x.csv'", "COPY", "x.csv"),
    ("COPY results TO 'results.parquet' (FORMAT parquet)", "COPY", "results.parquet"),
    ("ATTACH 'other.db' AS o", "ATTACH", "other.db"),
    ("INSTALL httpfs", "INSTALL", "home/.duckdb"),
    ("FORCE INSTALL httpfs", "FORCE INSTALL", "home/.duckdb"),
    ("LOAD httpfs", "LOAD", "home/.duckdb"),
    ("CREATE TABLE t AS SELECT 1", "CREATE", None),
    ("INSERT INTO results SELECT * FROM results", "INSERT", None),
    ("DELETE FROM results", "DELETE", None),
    ("DROP VIEW results", "DROP", None),
    ("SET enable_external_access = true", "SET", None),
    ("RESET lock_configuration", "RESET", None),
    ("PRAGMA enable_profiling", "PRAGMA enable_profiling", None),
    ("CALL pragma_version()", "CALL", None),
    ("EXPORT DATABASE 'dump'", "EXPORT", "dump"),
    ("COPY FROM DATABASE memory TO other", "COPY", None),
    ("SELECT 1; COPY (SELECT 1) TO 'x.csv'", "COPY", "x.csv"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x.csv'", "COPY (in EXPLAIN)", "x.csv"),
    ("/* a comment first */ COPY (SELECT 1) TO 'x.csv'", "COPY", "x.csv"),
]


@pytest.mark.parametrize(("sql", "name", "target"), REFUSED, ids=[sql for sql, _, _ in REFUSED])
def test_a_statement_that_does_more_than_read_is_one_line_exit_2_and_writes_nothing(out, capsys, sql, name, target):
    before = files(Path.cwd())
    assert main(["query", str(out), sql]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")
    assert captured.err.startswith(f"forgetlab: error: The query must only read; refused {name}: ")
    if target is not None:
        assert not Path(target).exists()
    assert files(Path.cwd()) == before


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    ],
)
def test_a_select_cannot_read_another_file(out, capsys, sql):
    before = files(Path.cwd())
    assert main(["query", str(out), sql]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("forgetlab: error: The query failed: Permission Error")
    assert files(Path.cwd()) == before


def test_the_library_refuses_with_forgetlab_error(out):
    with pytest.raises(ForgetlabError, match=r"^The query must only read; refused COPY: \"COPY \(SELECT 1\)"):
        query(out, "COPY (SELECT 1) TO 'x.csv'")
    with pytest.raises(ForgetlabError, match="The query is empty"):
        query(out, "  -- only a comment")
    with pytest.raises(ForgetlabError, match="The query failed: Parser Error"):
        query(out, "SELEC 1")
    assert not Path("x.csv").exists()
