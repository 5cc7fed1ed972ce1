"""Write the scikit-learn engine's tutorial scores over seeds 0-23, the torch engine's reference.

    .venv/bin/python tests/data/make_sklearn_reference.py   # ~10 minutes on 2 cores

Keeps, per seed, schedule and task: the sequential schedule's scores after its first two
epochs (summer learned, then one autumn epoch) and every schedule's final score. One BLAS
thread per run, as forgetlab always runs scikit-learn (results depend on the thread count).
"""

from pathlib import Path

from forgetlab import run_experiment, tutorial_experiment

SEEDS = range(24)
OUT = Path(__file__).with_name("sklearn_tutorial_seeds_0-23.csv")


def main() -> None:
    """Run the tutorial for ``SEEDS`` with the scikit-learn engine and write ``OUT``."""
    scores = run_experiment(tutorial_experiment(seeds=SEEDS, engine="sklearn"), progress=True).scores
    last = scores["epoch"] == scores.groupby("run")["epoch"].transform("max")
    early = (scores["schedule"] == "sequential") & (scores["epoch"] <= 2)
    kept = scores.loc[last | early, ["seed", "schedule", "epoch", "task", "value"]]
    kept.sort_values(["schedule", "seed", "epoch", "task"]).to_csv(OUT, index=False, float_format="%.17g")
    print(f"wrote {OUT} ({len(kept)} rows)")


if __name__ == "__main__":
    main()
