"""The batched L-BFGS's own work per iteration (the torch engine's optimiser), objective excluded.

    .venv/bin/python benchmarks/lbfgs_overhead.py [threads]

For 1, 16, 64 and 256 runs of 10,401 parameters (the tutorial's MLP) in float32 and
float64: a cheap diagonal quadratic (per-run curvatures in [1, 1e3]) as the objective,
whose time is subtracted; steady state: the difference between ``max_iter`` = 40 and 10,
so set-up and the final stops cancel. A first untimed call loads the compiled line search
(:mod:`forgetlab.numerics.morethuente`), which would otherwise count in the first timing.
"""

from __future__ import annotations

import sys
import time

import torch

from forgetlab.numerics.lbfgs import minimize


def _rowsum(t: torch.Tensor) -> torch.Tensor:
    """Sum of each row, one row summed as a batch of two (as PyTorch sums a batch)."""
    return t.expand(2, -1).sum(dim=1)[:1] if t.shape[0] == 1 else t.sum(dim=1)


def overhead_per_iteration(n_runs: int, dtype: torch.dtype, iterations: tuple[int, int] = (10, 40)) -> float:
    """Seconds of ``minimize``'s own work per iteration of ``n_runs`` runs together (objective excluded)."""
    g = torch.Generator().manual_seed(0)
    h = (10 ** (3 * torch.rand(n_runs, 10_401, generator=g, dtype=torch.float64))).to(dtype)
    c = torch.randn(n_runs, 10_401, generator=g, dtype=torch.float64).to(dtype)
    spent = [0.0]

    def fun(x: torch.Tensor, runs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start = time.perf_counter()
        r = x - c[runs]
        grad = h[runs] * r
        f = _rowsum(0.5 * grad * r)
        spent[0] += time.perf_counter() - start
        return f, grad

    minimize(fun, torch.zeros(n_runs, 10_401, dtype=dtype), max_iter=2, gtol=0.0, ftol=0.0)  # warm-up
    totals = []
    for max_iter in iterations:
        spent[0] = 0.0
        start = time.perf_counter()
        res = minimize(fun, torch.zeros(n_runs, 10_401, dtype=dtype), max_iter=max_iter, gtol=0.0, ftol=0.0)
        totals.append((time.perf_counter() - start - spent[0], float(res.n_iter.double().mean())))
    (t1, i1), (t2, i2) = totals
    return (t2 - t1) / (i2 - i1)


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    for dtype in (torch.float32, torch.float64):
        for n_runs in (1, 16, 64, 256):
            seconds = overhead_per_iteration(n_runs, dtype)
            print(
                f"{dtype} threads={torch.get_num_threads()} R={n_runs}: {seconds * 1e3:.3f} ms/iteration, "
                f"{seconds / n_runs * 1e3:.3f} ms per run"
            )


if __name__ == "__main__":
    main()
