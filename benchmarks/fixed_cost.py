"""A command's fixed cost: a one-seed, one-epoch ``forgetlab run``, whole and in parts.

    .venv/bin/python benchmarks/fixed_cost.py            # best of 3 fresh processes each

Prints, each the best of ``--repeats`` fresh interpreters (wall time, interpreter exit
included): ``forgetlab run`` of ``examples/one-epoch.toml`` (split digits, two tasks, one epoch each,
one seed, naive fine-tuning on the compiled engine: training is a few milliseconds of it);
the same command called again in one Python process (``forgetlab.cli.main``, imports already
paid); and the import of each heavy package a run needs, alone, beside an empty interpreter;
the last line is what such a run imports (it imports neither PyTorch nor scikit-learn:
:mod:`forgetlab.models` describes the MLP, and the compiled engine trains it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: One seed, one epoch per task, two tasks: the command whose cost is all overhead.
CONFIG = Path(__file__).parents[1] / "examples" / "one-epoch.toml"

#: What each import line measures, in a fresh interpreter.
IMPORTS = {
    "nothing (python -c pass)": "pass",
    "numpy": "import numpy",
    "torch (strategies with hooks)": "import torch",
    "scikit-learn's MLPClassifier (sklearn engine)": "from sklearn.neural_network import MLPClassifier",
    "pandas": "import pandas",
    "matplotlib.figure": "import matplotlib.figure",
    "plotly.offline": "import plotly.offline",
    "numba": "import numba",
    "numba + the continual kernels (cache)": (
        "from forgetlab.numerics import compiled_sgd; compiled_sgd.compile_kernels(('float32',))"
    ),
    "forgetlab.cli": "import forgetlab.cli",
    "a naive run's stack": "import numpy, pandas, pyarrow.parquet, numba, matplotlib.figure, plotly.offline",
}

#: Calls the command twice in one process; prints the second call's seconds.
TWICE = """
import shutil, sys, time
from forgetlab.cli import main
config, out = sys.argv[1], sys.argv[2]
for call in range(2):
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    assert main(["run", config, "--out", out, "--no-progress"]) == 0
print(time.perf_counter() - start)
"""


def best_wall(argv: list[str], repeats: int) -> float:
    """The least wall time of ``repeats`` runs of ``argv`` (which must succeed)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    python = sys.executable
    forgetlab = str(Path(python).with_name("forgetlab"))
    with tempfile.TemporaryDirectory() as work:
        config, out = CONFIG, Path(work) / "out"

        def fresh_run() -> list[str]:
            shutil.rmtree(out, ignore_errors=True)
            return [forgetlab, "run", str(config), "--out", str(out), "--no-progress"]

        whole = min(best_wall(fresh_run(), 1) for _ in range(args.repeats))
        again = min(
            float(
                subprocess.run(
                    [python, "-c", TWICE, str(config), str(out)], check=True, capture_output=True, text=True
                ).stdout.split()[-1]
            )
            for _ in range(args.repeats)
        )
    print(f"forgetlab run, one seed, one epoch per task: {whole:.2f} s wall (a fresh process)")
    print(f"the same command again in the same Python process: {again:.2f} s")
    for label, code in IMPORTS.items():
        print(f"import {label:<32} {best_wall([python, '-c', code], args.repeats):.2f} s")


if __name__ == "__main__":
    main()
