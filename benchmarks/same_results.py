"""Prove that a refactor left results unchanged: the same experiments, old code against new, bit for bit.

    .venv/bin/python benchmarks/same_results.py --before REV --quick   # 2 seeds per config
    .venv/bin/python benchmarks/same_results.py --before REV           # the configs' own seeds
    .venv/bin/python benchmarks/same_results.py --before HEAD --after HEAD --quick   # checks the checker

REV is checked out with ``git worktree add --detach`` (removed at the end unless --keep).
Each case, a ``forgetlab`` command, runs in two fresh processes of .venv/bin/python with the
same environment (the CLI pins one thread per run itself) and the same configs (the current
examples/, seeds replaced in a copy with --quick or --seeds): with PYTHONPATH=<REV>/src
(before) and with PYTHONPATH=<this tree>/src (after, or --after REV); each prints
``forgetlab.__file__``, asserted to lie in the intended tree. The results and predictions
tables are read from OUT/parts/*.parquet with pandas (not with either version's loader),
sorted by (run, epoch, task, metric) and (run, task, x) then the other columns, and
compared on the columns both have: values bit for bit, dtypes equal (columns added or
removed are printed, not counted). The printed tables must match too, but for the lines
naming the output directory. Exit code 1 if any case differs or fails.

Run both sides on the same machine, one after the other: single runs differ between CPUs
(BLAS and PyTorch kernels), so results made elsewhere prove nothing.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
REDUCIBLE = ("strategies-seasons", "strategies-split-digits", "strategies-rotated-digits", "split-digits-task-il")
CONFIGS = ("tutorial", *REDUCIBLE)  # tutorial.toml is one scikit-learn run: always its own seed
KEYS = {"results": ["run", "epoch", "task", "metric"], "predictions": ["run", "task", "x"]}
MARK = "forgetlab-file: "
RUNNER = (
    f"import sys, forgetlab; print({MARK!r} + forgetlab.__file__, flush=True)\n"
    "from forgetlab.cli import main; raise SystemExit(main(sys.argv[1:]))"
)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout


def config_copy(name: str, seeds: str | None, work: Path) -> Path:
    """The current examples/NAME.toml, written into ``work`` with ``seeds`` (if given) replaced."""
    text = (ROOT / "examples" / f"{name}.toml").read_text()
    if seeds is not None:
        text, n = re.subn(r"(?m)^seeds\s*=.*$", f'seeds = "{seeds}"', text, count=1)
        assert n == 1 and tomllib.loads(text)["seeds"] == seeds, name
    (path := work / f"{name}.toml").write_text(text)
    return path


def cases(args: argparse.Namespace, work: Path) -> dict[str, list[str]]:
    seeds = args.seeds or ("0-1" if args.quick else None)
    out = {
        "tutorial (demo)": ["tutorial", "--seeds", "0-3" if args.quick else "0-15"],
        "tutorial sklearn 42": ["tutorial", "--seeds", "42", "--engine", "sklearn"],
        "tutorial torch": ["tutorial", "--seeds", "0-3" if args.quick else "0-15", "--engine", "torch"],
    }
    for name in CONFIGS:
        out[f"run {name}"] = ["run", str(config_copy(name, seeds if name in REDUCIBLE else None, work))]
    return out


def run(tree: Path, command: list[str], out: Path) -> tuple[list[str], float, str]:
    """Run the CLI with ``tree``'s code into ``out``: (stdout lines to compare, seconds, error or "")."""
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    argv = [str(PYTHON), "-c", RUNNER, *command, "--out", str(out), "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=out.parent, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = done.stdout.splitlines()
    code = Path(lines[0].removeprefix(MARK)) if lines and lines[0].startswith(MARK) else None
    if code is not None and not code.is_relative_to(tree / "src"):
        return [], seconds, f"ran the code in {code}, not under {tree / 'src'}"
    if done.returncode or code is None:
        return [], seconds, f"exit {done.returncode}; stderr: {done.stderr.strip()[-800:]}"
    skip = ("results:", "report:", "figures:")
    return [line for line in lines[1:] if str(out) not in line and not line.startswith(skip)], seconds, ""


def read(out: Path, table: str) -> pd.DataFrame:
    if not (paths := sorted((out / "parts").glob(f"{table}-*.parquet"))):
        raise FileNotFoundError(f"no {out}/parts/{table}-*.parquet")
    return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)


def describe(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> str:
    """Which columns differ, in how many rows, and the first such row (same-shape tables)."""
    out = []
    for column in old.columns:
        differ = ~((old[column] == new[column]) | (old[column].isna() & new[column].isna())).to_numpy(bool)
        if differ.any():
            i = int(differ.argmax())
            where = ", ".join(f"{k}={old.at[i, k]}" for k in keys)
            first = f"{old.at[i, column]} -> {new.at[i, column]}"
            out.append(f"{column} differs in {differ.sum()} of {len(old)} rows, first at {where}: {first}")
    return "; ".join(out) or "equal values, different layout"


def compare(before: Path, after: Path) -> tuple[list[str], list[str], int]:
    """(differences, notes, result rows) between two output directories' tables."""
    problems: list[str] = []
    notes: list[str] = []
    rows = 0  # the results table's
    for table, keys in KEYS.items():
        old, new = read(before, table), read(after, table)
        rows = rows or len(old)
        common = [c for c in old.columns if c in new.columns]
        if len(common) < max(len(old.columns), len(new.columns)):
            added, removed = new.columns.difference(common).tolist(), old.columns.difference(common).tolist()
            notes.append(f"{table}: columns added {added}, removed {removed}")
        order = keys + [c for c in common if c not in keys]  # whole rows: ties cannot reorder
        old, new = (t[common].sort_values(order, kind="stable", ignore_index=True) for t in (old, new))
        for column in common:
            if old[column].dtype != new[column].dtype:
                problems.append(f"{table}.{column}: dtype {old[column].dtype} -> {new[column].dtype}")
        try:
            pd.testing.assert_frame_equal(old, new, check_exact=True, check_dtype=False)
        except AssertionError as error:
            message = describe(old, new, keys) if len(old) == len(new) else " ".join(str(error).split())
            problems.append(f"{table}: {message}")
            continue
        for column in common:  # equal values; now bit for bit (-0.0 vs 0.0, NaN payloads)
            a, b = (np.ascontiguousarray(t[column].to_numpy()) for t in (old, new))
            if a.dtype.kind == "f" and a.dtype == b.dtype and a.tobytes() != b.tobytes():
                problems.append(f"{table}.{column}: equal values with different bits")
    return problems, notes, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision of the old code")
    parser.add_argument("--after", help="git revision of the new code (default: this working tree)")
    parser.add_argument("--quick", action="store_true", help="tutorial seeds 0-3, config seeds 0-1")
    parser.add_argument("--seeds", help="seeds of the strategies configs, e.g. 0-3 (default: 0-1 with --quick)")
    parser.add_argument("--keep", type=Path, help="work in this new directory and keep it (worktrees, outputs)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))  # e.g. timeout(1): still clean up
    work = (args.keep or Path(tempfile.mkdtemp(prefix="same-results-"))).resolve()
    work.mkdir(parents=True, exist_ok=not args.keep)
    trees = {"before": work / "before"}
    git("worktree", "add", "--quiet", "--detach", str(trees["before"]), args.before)
    try:
        if args.after:
            trees["after"] = work / "after"
            git("worktree", "add", "--quiet", "--detach", str(trees["after"]), args.after)
        else:
            trees["after"] = ROOT
        for side, tree in trees.items():
            state = " + uncommitted changes" if tree == ROOT else ""
            print(f"{side}: {tree} ({git('-C', str(tree), 'rev-parse', '--short', 'HEAD').strip()}{state})")
        examples = ["git", "diff", "--quiet", "--no-index", trees["before"] / "examples", ROOT / "examples"]
        if subprocess.run(examples).returncode:
            print(f"note: examples/ differ in {args.before}; both sides run the current ones")
        print(f"{'case':<32} {'result':<10} {'rows':>7} {'s before':>9} {'s after':>8}", flush=True)
        failed = False
        for i, (name, command) in enumerate(cases(args, work).items()):
            outs = {side: work / f"out-{i}-{side}" for side in trees}
            ran = {side: run(tree, command, outs[side]) for side, tree in trees.items()}
            problems = [f"{side}: {error}" for side, (_, _, error) in ran.items() if error]
            notes, rows = [], 0
            if not problems:
                try:
                    problems, notes, rows = compare(outs["before"], outs["after"])
                except (FileNotFoundError, KeyError) as error:  # no parts, or a sort key missing
                    problems = [f"{type(error).__name__}: {error}"]
                old, new = ran["before"][0], ran["after"][0]
                if old != new:
                    diff = difflib.unified_diff(old, new, "before", "after", lineterm="", n=0)
                    problems.append("printed tables differ:\n      " + "\n      ".join(list(diff)[:30]))
            result = "identical" if not problems else "FAILED" if any(e for *_, e in ran.values()) else "DIFFERENT"
            print(f"{name:<32} {result:<10} {rows:>7} {ran['before'][1]:>9.1f} {ran['after'][1]:>8.1f}")
            print("".join(f"    {line}\n" for line in notes + problems), end="", flush=True)
            failed = failed or bool(problems)
        return 1 if failed else 0
    finally:
        if not args.keep:
            for tree in trees.values():
                if tree != ROOT:
                    git("worktree", "remove", "--force", str(tree))
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
