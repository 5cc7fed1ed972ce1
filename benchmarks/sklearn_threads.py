"""Cost of one L-BFGS iteration of the tutorial's MLP in scikit-learn, by BLAS threads.

Fits the tutorial's base model (summer, seed 42) with one BLAS thread and with the
library's default, and prints milliseconds per L-BFGS iteration and the fitted R².

    .venv/bin/python benchmarks/sklearn_threads.py
"""

from __future__ import annotations

import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info, threadpool_limits

from forgetlab.engines.sklearn import tutorial_model
from forgetlab.tasks import seasons


def fit_once(threads: int | None) -> tuple[float, int, float]:
    """Seconds, L-BFGS iterations and test R² of one base fit on summer."""
    summer = seasons(["summer", "autumn"]).tasks[0]
    model = tutorial_model().set_params(random_state=42)
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(summer.x_train, summer.y_train)
        seconds = time.perf_counter() - start
    return seconds, model.n_iter_, model.score(summer.x_test, summer.y_test)


def main() -> None:
    default = max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
    print(f"{'BLAS threads':>12}  {'iterations':>10}  {'seconds':>8}  {'ms/iteration':>12}  {'test R²':>7}")
    for threads in (1, default):
        seconds, n_iter, score = fit_once(threads)
        print(f"{threads:>12}  {n_iter:>10}  {seconds:>8.2f}  {1000 * seconds / n_iter:>12.2f}  {score:>7.3f}")


if __name__ == "__main__":
    main()
