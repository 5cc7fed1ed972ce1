"""L-BFGS batched over independent runs, with SciPy's L-BFGS-B semantics for unbounded problems.

R runs, each minimising its own objective over its own parameter vector, advance together:
one call of the objective per evaluation round evaluates every run that needs a point, whatever
stage of its line search it is at. A run that has finished (converged, stopped or diverged) is no
longer passed to the objective, and nothing a run computes depends on the other runs of the batch.

Per-run and shared arguments of :func:`minimize`
------------------------------------------------
- per run: the rows of ``x0`` (R, P); every result field is per run (leading axis R); the
  objective receives the rows of the runs that need an evaluation and returns their values.
- shared: the objective callable, ``max_iter``, ``max_fun``, ``gtol``, ``ftol``, ``history`` and
  ``max_line_search`` (one value for all runs). No randomness is involved.

The algorithm, per run (L-BFGS-B v3.0 of Byrd, Lu, Nocedal and Zhu, as in SciPy, without bounds)
--------------------------------------------------------------------------------------------------
1. Evaluate f and g at x0 (one evaluation). Stop with 0 iterations if max_i |g_i| <= gtol.
2. Direction: with no stored pair, z = x - g (the Cauchy point of B = I); otherwise
   z = x - H g, where H is the L-BFGS inverse Hessian of the ``history`` newest pairs
   (s_i, y_i) with H_0 = I / theta, theta = y'y / s'y of the newest pair (two-loop recursion,
   Nocedal 1980; for unbounded problems it equals L-BFGS-B's compact-form subspace step).
   The direction is d = z - x, computed like that, as L-BFGS-B does.
3. Line search: Moré–Thuente ``dcsrch``/``dcstep`` with ftol = 1e-3, gtol = 0.9, xtol = 0.1,
   stpmin = 0, stpmax = 1e10, on phi(a) = f(x + a d). The first trial step is
   min(1 / ||d||_2, 1e10) in the first iteration and 1 afterwards; a trial with step exactly 1 is
   the point z itself, any other is a d + x. It fails when g'd >= 0 at its start, or when
   ``dcsrch`` asks for trial ``max_line_search + 1``. A warning of ``dcsrch`` (rounding errors,
   xtol, stpmax, stpmin) ends the search like a convergence, at the last trial point.
4. On failure the run returns to the start point of the search; if it had stored pairs they are
   all dropped and the iteration is retried from step 2 (steepest descent), otherwise the run
   stops with ``Status.LINE_SEARCH_FAILURE``.
5. After a successful search (one iteration, x_{k+1} = last trial point), in this order:
   iterations >= max_iter -> ``MAX_ITER``; evaluations > max_fun -> ``MAX_FUN``;
   max_i |g_i| <= gtol -> ``CONVERGED_GRADIENT``;
   (f_k - f_{k+1}) <= tol * max(|f_k|, |f_{k+1}|, 1) -> ``CONVERGED_REDUCTION``,
   with tol = (ftol / eps) * eps and eps = 2.220446049250313e-16 (SciPy's factr round trip).
   The limits are only tested there: ``n_fun`` may exceed ``max_fun`` by at most
   ``max_line_search``, and ``max_iter=0`` still performs one iteration, as in SciPy.
6. Otherwise store s = stp d, y = g_{k+1} - g_k unless s'y <= eps (-g_k's), where
   s'y = stp (g_{k+1}'d - g_k'd) comes from the line search (exactly L-BFGS-B's test; it is not
   eps y'y), dropping the oldest pair beyond ``history``; continue at step 2.

Evaluations are counted as SciPy's ``nfev``: the start point counts once, and a trial point
bit-for-bit equal to the last point evaluated for that run is not evaluated again (SciPy's
memoisation), so it does not count.

Beyond SciPy: a run whose objective returns a non-finite f, or a gradient with a non-finite
entry (detected as a non-finite f, max |g| or g'd), is flagged ``Status.DIVERGED`` and frozen at
its last accepted point (at x0 with the returned values if x0 itself is non-finite).

Batch independence. Every reduction is per run (row-wise, each row summed whole by one thread,
also for a single run, for which PyTorch would otherwise split a long row between threads), and
the scalar logic is element-wise float64; small batches (<= 8 runs) take a run-by-run path with
the same operations. A run's results are therefore bit-identical whatever the batch, provided
``fun`` is row-independent too (beware ``t.sum(1)`` on a single row of >= 32768 entries:
PyTorch then sums it with two threads, in another order than the rows of a batch).

Floating point. Vectors (x, g, d, s, y) keep the dtype of ``x0``; inner products are
accumulated in that dtype, and every scalar of the line search and of the two-loop recursion is
float64, with SciPy's float64 constants (eps above) whatever the dtype. In float32 the steps
and directions are rounded to float32 and f carries float32 rounding (relative 6e-8 per
operation): the relative-reduction test (2.2e-9 by default) then fires only once f no longer
decreases beyond its own rounding, and a ``gtol`` below the gradient's rounding noise is never
met; runs end on the relative reduction (or a line-search failure) instead. SciPy itself always
works in float64.

Differences from SciPy 1.17 (float64). Rounding only: inner products are summed in another order
than OpenBLAS's ``ddot``/``dnrm2``, and the L-BFGS step is the two-loop recursion in inner-product
form rather than L-BFGS-B's compact representation (mathematically equal). Iterates agree to
~1e-16 after two iterations and the gap grows with the iterations: counts, stop and point
(to 1e-8) are identical on the quadratics (up to 125 iterations), Rosenbrock functions (up to
72 iterations), line-search failures and 30 iterations of a small network tested in
``tests/test_lbfgs.py``; 20-D Rosenbrock runs (~115 iterations) differ by 0-2 iterations and
up to 5 evaluations, as much as SciPy differs from itself when x0 moves by one ulp. Not
mirrored: L-BFGS-B's reset of the memory when the Cholesky factorisation of its middle matrix
fails (rounding-level breakdown of its compact form). After a line-search failure SciPy returns
the restored x and jac but ``fun`` of the last rejected trial; ``minimize`` returns f(x).

References
----------
.. [1] R. H. Byrd, P. Lu, J. Nocedal and C. Zhu, "A limited memory algorithm for bound
   constrained optimization", SIAM J. Sci. Comput. 16(5), 1190-1208, 1995.
.. [2] J. L. Morales and J. Nocedal, "Remark on Algorithm 778: L-BFGS-B", ACM Trans. Math.
   Softw. 38(1), 2011 (L-BFGS-B v3.0, the version SciPy translated to C).
.. [3] J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
   decrease", ACM Trans. Math. Softw. 20(3), 286-307, 1994.
.. [4] J. Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35(151),
   773-782, 1980.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import NamedTuple

import numpy as np
import torch

from forgetlab.errors import invalid

__all__ = ["DEFAULT_FTOL", "EPS", "LBFGSResult", "Objective", "Status", "message", "minimize"]

EPS = 2.220446049250313e-16
"""float64 machine epsilon, the ``epsmch`` L-BFGS-B uses whatever the dtype."""
DEFAULT_FTOL = 2.220446049250313e-09
"""SciPy's default ``ftol`` (factr 1e7 times ``EPS``)."""

# Moré–Thuente parameters fixed by L-BFGS-B's lnsrlb.
_LS_FTOL, _LS_GTOL, _LS_XTOL = 1e-3, 0.9, 0.1
_STPMIN, _STPMAX = 0.0, 1e10
_XTRAPL, _XTRAPU = 1.1, 4.0
# Upper size of the temporaries used to read the history (per block of runs).
_CHUNK_BYTES = 4 << 20

Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``fun(x, runs) -> (f, g)``: x (A, P) rows of the runs ``runs`` (A,) int64; f (A,), g (A, P)."""


class Status(IntEnum):
    """Why a run stopped (``LBFGSResult.status``); ``RUNNING`` never appears in a result.

    SciPy's ``status`` is 0 for ``CONVERGED_*``, 1 for ``MAX_ITER`` and ``MAX_FUN`` and 2 for
    ``LINE_SEARCH_FAILURE`` (1 if that failure happened after more than ``max_fun``
    evaluations); ``DIVERGED`` has no SciPy counterpart.
    """

    RUNNING = -1
    CONVERGED_GRADIENT = 0
    CONVERGED_REDUCTION = 1
    MAX_ITER = 2
    MAX_FUN = 3
    LINE_SEARCH_FAILURE = 4
    DIVERGED = 5


_MESSAGES = {
    Status.RUNNING: "running",
    Status.CONVERGED_GRADIENT: "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
    Status.CONVERGED_REDUCTION: "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
    Status.MAX_ITER: "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    Status.MAX_FUN: "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
    Status.LINE_SEARCH_FAILURE: "ABNORMAL: line search failed",
    Status.DIVERGED: "DIVERGED: non-finite objective or gradient",
}


def message(status: int) -> str:
    """The text of a status code, worded like SciPy's ``OptimizeResult.message``.

    Parameters
    ----------
    status : int
        A :class:`Status` code, e.g. an element of ``LBFGSResult.status``.

    Returns
    -------
    str
        The message.

    Raises
    ------
    InvalidParameterError
        If ``status`` is not a :class:`Status` code.

    Examples
    --------
    >>> message(0)
    'CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL'
    >>> message(Status.MAX_FUN)
    'STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT'
    """
    try:
        return _MESSAGES[Status(int(status))]
    except ValueError:
        raise invalid("status", "message", f"one of {[int(s) for s in Status]}", status) from None


class LBFGSResult(NamedTuple):
    """What :func:`minimize` returns; every field is per run (leading axis R).

    Attributes
    ----------
    x : torch.Tensor
        (R, P) the final point of each run (its last accepted iterate).
    f : torch.Tensor
        (R,) the objective at ``x``, dtype of ``x0``.
    g : torch.Tensor
        (R, P) the gradient at ``x``.
    n_iter : torch.Tensor
        (R,) int64, iterations (successful line searches), SciPy's ``nit``.
    n_fun : torch.Tensor
        (R,) int64, objective evaluations, SciPy's ``nfev``.
    status : torch.Tensor
        (R,) int64, a :class:`Status` code; see :func:`message`.
    """

    x: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    n_iter: torch.Tensor
    n_fun: torch.Tensor
    status: torch.Tensor


def minimize(
    fun: Objective,
    x0: torch.Tensor,
    *,
    max_iter: int = 15000,
    max_fun: int = 15000,
    gtol: float = 1e-5,
    ftol: float = DEFAULT_FTOL,
    history: int = 10,
    max_line_search: int = 20,
) -> LBFGSResult:
    """Minimise R independent objectives with L-BFGS, as ``scipy.optimize.minimize(method="L-BFGS-B")``.

    Each run r minimises its own f_r over its own row x_r, with SciPy's options
    ``maxiter=max_iter, maxfun=max_fun, gtol=gtol, ftol=ftol, maxcor=history,
    maxls=max_line_search`` and no bounds; the steps are described in the module docstring.
    A run's result does not depend on the other runs of the batch.

    Parameters
    ----------
    fun : callable
        ``fun(x, runs) -> (f, g)``, shared by all runs. ``runs`` is a sorted int64 tensor (A,)
        of the runs that need an evaluation in this round and ``x`` (A, P) their points (row i
        belongs to run ``runs[i]``); return their objective values f (A,) and gradients g (A, P).
        ``fun`` must not modify ``x`` (it may be a view of the optimiser's state); it may reuse
        its own output buffers, which are copied before the next call. It is called once per
        evaluation round, only with runs still running.
    x0 : torch.Tensor
        (R, P) float32 or float64, the start point of each run (per run). Not modified.
    max_iter : int, default=15000
        Stop a run after this many iterations (tested after each iteration; shared).
    max_fun : int, default=15000
        Stop a run once it has used more than this many evaluations (tested after each
        iteration, so a run can end with up to ``max_line_search`` more; shared).
    gtol : float, default=1e-5
        Stop when max_i |g_i| <= gtol, also at x0 (shared).
    ftol : float, default=2.220446049250313e-09
        Stop when (f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol (shared).
    history : int, default=10
        Number of (s, y) pairs kept, SciPy's ``maxcor`` (shared).
    max_line_search : int, default=20
        Evaluations allowed per line search, SciPy's ``maxls`` (shared).

    Returns
    -------
    LBFGSResult
        Per-run x (R, P), f (R,), g (R, P), n_iter (R,), n_fun (R,), status (R,).

    Raises
    ------
    InvalidParameterError
        If ``x0`` is not a non-empty 2-D float32/float64 tensor, a limit or tolerance is out of
        range, or ``fun`` returns tensors of the wrong shape.

    Notes
    -----
    Limited-memory BFGS (two-loop recursion [4]_) with the Moré–Thuente line search [3]_ and
    the stopping rules of L-BFGS-B v3.0 [1]_ [2]_ as SciPy runs it; differences with SciPy are
    at rounding level (module docstring). Memory: (2 history + 7) R P elements of ``x0``'s
    dtype; the history is read twice per iteration, in blocks of consecutive runs. Finished
    runs are never passed to ``fun`` again; a run whose f or g is not finite is frozen at its
    last accepted point with ``Status.DIVERGED``. Results of a run do not depend on the batch
    if ``fun``'s rows do not (module docstring).

    References
    ----------
    .. [1] R. H. Byrd, P. Lu, J. Nocedal and C. Zhu, "A limited memory algorithm for bound
       constrained optimization", SIAM J. Sci. Comput. 16(5), 1190-1208, 1995.
    .. [2] J. L. Morales and J. Nocedal, "Remark on Algorithm 778: L-BFGS-B", ACM Trans.
       Math. Softw. 38(1), 2011.
    .. [3] J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
       decrease", ACM Trans. Math. Softw. 20(3), 286-307, 1994.
    .. [4] J. Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp.
       35(151), 773-782, 1980.

    Examples
    --------
    Two runs of f_r(x) = sum_i h_ri (x_i - 1)^2 / 2, one already at its optimum:

    >>> import torch
    >>> h = torch.tensor([[1.0, 10.0], [2.0, 3.0]], dtype=torch.float64)
    >>> def fun(x, runs):
    ...     r = x - 1.0
    ...     return 0.5 * (h[runs] * r * r).sum(1), h[runs] * r
    >>> x0 = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    >>> res = minimize(fun, x0)
    >>> res.x.round(decimals=6)
    tensor([[1., 1.],
            [1., 1.]], dtype=torch.float64)
    >>> res.n_iter.tolist(), res.n_fun.tolist(), [Status(int(s)).name for s in res.status]
    ([5, 0], [6, 1], ['CONVERGED_GRADIENT', 'CONVERGED_GRADIENT'])
    >>> message(res.status[0])
    'CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL'
    """
    _check_arguments(fun, x0, max_iter, max_fun, gtol, ftol, history, max_line_search)
    runs = _Runs(x0, history)
    tol = (ftol / EPS) * EPS
    _evaluate_start(fun, runs, gtol)
    while True:
        pending = np.flatnonzero(runs.status == Status.RUNNING)
        if pending.size == 0:
            break
        _round(fun, runs, _Rows(pending, runs), max_iter, max_fun, gtol, tol, max_line_search)
    return runs.result()


def _check_arguments(
    fun: object,
    x0: object,
    max_iter: object,
    max_fun: object,
    gtol: object,
    ftol: object,
    history: object,
    max_line_search: object,
) -> None:
    """Raise InvalidParameterError unless the arguments of :func:`minimize` are allowed."""
    if not callable(fun):
        raise invalid("fun", "minimize", "a callable fun(x, runs) -> (f, g)", fun)
    if not isinstance(x0, torch.Tensor) or x0.dim() != 2 or x0.dtype not in (torch.float32, torch.float64):
        shown = f"tensor of shape {tuple(x0.shape)} and dtype {x0.dtype}" if isinstance(x0, torch.Tensor) else x0
        raise invalid("x0", "minimize", "a 2-D float32 or float64 tensor (R, P)", shown)
    if x0.shape[0] < 1 or x0.shape[1] < 1:
        raise invalid("x0", "minimize", "a tensor with R >= 1 runs and P >= 1 parameters", tuple(x0.shape))
    for name, value, low in (("max_iter", max_iter, 0), ("max_fun", max_fun, 0), ("history", history, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise invalid(name, "minimize", f"an int >= {low}", value)
    if isinstance(max_line_search, bool) or not isinstance(max_line_search, int | np.integer) or max_line_search < 1:
        raise invalid("max_line_search", "minimize", "an int >= 1", max_line_search)
    for name, value in (("gtol", gtol), ("ftol", ftol)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating) or not 0 <= value < np.inf:
            raise invalid(name, "minimize", "a finite float >= 0", value)


class _Rows:
    """A set of runs (sorted indices) and how to read or write their rows of an (R, ...) tensor.

    A contiguous range is read as a view (no copy); any other set with ``index_select``.
    """

    def __init__(self, idx: np.ndarray, runs: _Runs) -> None:
        self.idx = idx
        self.n = int(idx.size)
        contiguous = self.n > 0 and int(idx[-1]) - int(idx[0]) + 1 == self.n
        self.span = slice(int(idx[0]), int(idx[-1]) + 1) if contiguous else None
        self._index: torch.Tensor | None = None
        self._runs = runs

    @property
    def index(self) -> torch.Tensor:
        """The run indices as an int64 tensor."""
        if self._index is None:
            self._index = torch.from_numpy(self.idx).to(self._runs.device)
        return self._index

    def take(self, t: torch.Tensor) -> torch.Tensor:
        """Rows of ``t`` (a view when the runs are contiguous)."""
        return t[self.span] if self.span is not None else t.index_select(0, self.index)

    def put(self, t: torch.Tensor, values: torch.Tensor) -> None:
        """Write ``values`` into the rows of ``t``."""
        if self.span is not None:
            t[self.span].copy_(values)
        else:
            t.index_copy_(0, self.index, values)

    def subset(self, mask: np.ndarray) -> _Rows:
        """The runs where ``mask`` (n,) is true."""
        return _Rows(self.idx[mask], self._runs)

    def column(self, values: np.ndarray) -> torch.Tensor:
        """A per-run float64 array (n,) as an (n, 1) tensor of the parameters' dtype."""
        return _tensor(values, self._runs).unsqueeze(1)


def _tensor(values: np.ndarray, runs: _Runs) -> torch.Tensor:
    """A float64 array as a tensor of the parameters' dtype and device."""
    t = torch.from_numpy(np.ascontiguousarray(values, dtype=runs.np_dtype))
    return t if runs.device.type == "cpu" else t.to(runs.device)


def _array(t: torch.Tensor) -> np.ndarray:
    """A tensor (not requiring grad) as a float64 array."""
    a = t.numpy() if t.device.type == "cpu" else t.cpu().numpy()
    return a if a.dtype == np.float64 else a.astype(np.float64)


def _pick(mask: np.ndarray, runs: _Runs) -> torch.Tensor:
    """The positions where ``mask`` is true, as an index tensor."""
    return torch.from_numpy(np.flatnonzero(mask)).to(runs.device)


# columns of the line-search state (one row per run), as in dcsrch's isave/dsave
_BRACKT, _STAGE, _GINIT, _GTEST, _GX, _GY, _FINIT, _FX, _FY, _STX, _STY, _STMIN, _STMAX, _WIDTH, _WIDTH1 = range(15)
# below this many runs, the per-run scalar logic runs run by run (same arithmetic, less overhead)
_FEW_RUNS = 8


class _Runs:
    """The buffers of one :func:`minimize` call: tensors (R, ...) and float64/int arrays (R, ...)."""

    def __init__(self, x0: torch.Tensor, history: int) -> None:
        R, P = x0.shape
        self.n_runs, self.n_params, self.m = R, P, history
        self.dtype, self.device = x0.dtype, x0.device
        self.np_dtype = np.float64 if x0.dtype == torch.float64 else np.float32
        self.x = x0.detach().clone()  # accepted iterate (SciPy's t during a line search)
        self.g = torch.empty_like(self.x)
        self.trial = self.x.clone()  # next point to evaluate
        self.seen = torch.empty_like(self.x)  # last point evaluated (memoisation, as SciPy)
        self.g_seen = torch.empty_like(self.x)
        self.d = torch.zeros_like(self.x)
        self.z = torch.zeros_like(self.x)
        self.pairs = torch.zeros((R, 2 * history, P), dtype=self.dtype, device=self.device)  # [S | Y]
        self.f = np.zeros(R)
        self.f_seen = np.zeros(R)
        self.status = np.full(R, int(Status.RUNNING), dtype=np.int64)
        self.n_iter = np.zeros(R, dtype=np.int64)
        self.n_fun = np.zeros(R, dtype=np.int64)
        # stored pairs: a ring of `col` slots from `head`; s_i'y_j for slot i older than j in sy[i, j]
        self.head = np.zeros(R, dtype=np.int64)
        self.col = np.zeros(R, dtype=np.int64)
        self.theta = np.ones(R)
        self.rho = np.zeros((R, history))
        self.sy = np.zeros((R, history, history))
        self.yy = np.zeros((R, history, history))
        # the current line search
        self.stp = np.zeros(R)
        self.fold = np.zeros(R)
        self.gdold = np.zeros(R)
        self.ifun = np.zeros(R, dtype=np.int64)
        self.search = np.zeros((R, 15))
        self.chunk = max(1, _CHUNK_BYTES // (2 * history * P * self.x.element_size()))
        self._buffer: torch.Tensor | None = None

    def buffer(self) -> torch.Tensor:
        """A scratch tensor (chunk, 2 history, P) for products with the history."""
        if self._buffer is None:
            shape = (min(self.chunk, self.n_runs), 2 * self.m, self.n_params)
            self._buffer = torch.empty(shape, dtype=self.dtype, device=self.device)
        return self._buffer

    def result(self) -> LBFGSResult:
        """The per-run result."""
        return LBFGSResult(
            x=self.x,
            f=torch.from_numpy(self.f).to(device=self.device, dtype=self.dtype),
            g=self.g,
            n_iter=torch.from_numpy(self.n_iter),
            n_fun=torch.from_numpy(self.n_fun),
            status=torch.from_numpy(self.status),
        )


# --- inner products, one per run, independent of the batch -------------------------------------


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Inner products of matching rows, (n, P) x (n, P) -> float64 (n,).

    Each row is reduced whole by one thread in the same order whatever n. (For a single row
    of >= 32768 entries PyTorch would split the row between threads, so one row is reduced
    as a batch of two.)
    """
    prod = a * b
    sums = prod.expand(2, -1).sum(1)[:1] if prod.shape[0] == 1 else prod.sum(1)
    return _array(sums)


def _history_dots(runs: _Runs, rows: _Rows, vectors: list[torch.Tensor]) -> list[np.ndarray]:
    """[S'v, Y'v] (n, 2 history) float64 of each run's stored slots, for each v (n, P) of ``vectors``.

    The history is read once, in blocks of consecutive runs small enough for their products to
    stay in cache.
    """
    outs = [np.empty((rows.n, 2 * runs.m)) for _ in vectors]
    buffer = runs.buffer()
    for lo, hi, block in _history_blocks(runs, rows):
        product = buffer if hi - lo == buffer.shape[0] else buffer[: hi - lo]
        for v, out in zip(vectors, outs, strict=True):
            torch.mul(block, (v if hi - lo == rows.n else v[lo:hi]).unsqueeze(1), out=product)
            out[lo:hi] = _array(product.sum(2))
    return outs


def _history_combination(runs: _Runs, rows: _Rows, coef: torch.Tensor) -> torch.Tensor:
    """sum_k coef_k w_k over each run's stored vectors w = [S, Y]; coef (n, 2 history) -> (n, P)."""
    out = torch.empty((rows.n, runs.n_params), dtype=runs.dtype, device=runs.device)
    buffer = runs.buffer()
    for lo, hi, block in _history_blocks(runs, rows):
        product = buffer if hi - lo == buffer.shape[0] else buffer[: hi - lo]
        whole = hi - lo == rows.n
        torch.mul(block, (coef if whole else coef[lo:hi]).unsqueeze(2), out=product)
        torch.sum(product, 1, out=out if whole else out[lo:hi])
    return out


def _history_blocks(runs: _Runs, rows: _Rows) -> list[tuple[int, int, torch.Tensor]]:
    """(lo, hi, view of the stored vectors of runs ``rows.idx[lo:hi]``): consecutive runs, at most ``chunk``."""
    idx = rows.idx
    if rows.span is not None:
        spans = [(0, rows.n)]
    else:
        breaks = (np.flatnonzero(np.diff(idx) != 1) + 1).tolist()
        spans = list(zip([0, *breaks], [*breaks, rows.n], strict=True))
    blocks = []
    for lo, hi in spans:
        for a in range(lo, hi, runs.chunk):
            b = min(a + runs.chunk, hi)
            first = int(idx[a])
            blocks.append((a, b, runs.pairs[first : first + b - a]))
    return blocks


# --- the L-BFGS step ---------------------------------------------------------------------------


def _two_loop(
    a: np.ndarray,
    b: np.ndarray,
    rho: np.ndarray,
    sy: np.ndarray,
    yy: np.ndarray,
    head: np.ndarray,
    col: np.ndarray,
    gamma: np.ndarray,
) -> np.ndarray:
    """Coefficients [c, e] (n, 2 history) of H g = gamma g + sum_i c_i s_i + e_i y_i (two-loop recursion).

    The recursion of Nocedal (1980) on inner products. With ages j = 0 (newest) .. col-1,
    rho_j = 1 / s_j'y_j, a = S'g and b = Y'g (slot order):

    - first loop, newest to oldest: alpha_j = rho_j s_j'q_j, q_j = g - sum_{k newer} alpha_k y_k,
      so s_j'q_j = a_j - sum_{k newer} alpha_k s_j'y_k;
    - second loop, oldest to newest: beta_j = rho_j y_j'r_j,
      r_j = gamma q + sum_{k older} (alpha_k - beta_k) s_k with q = g - sum_k alpha_k y_k, so
      y_j'r_j = gamma (b_j - sum_k alpha_k y_j'y_k) + sum_{k older} (alpha_k - beta_k) s_k'y_j;
    - H g = r = gamma q + sum_k (alpha_k - beta_k) s_k: c = alpha - beta, e = -gamma alpha.

    Element-wise float64 operations over runs, in the order of :func:`_two_loop_one`, which
    gives the same bits. Ages beyond ``col`` have rho = 0, hence zero coefficients.
    """
    n, m = a.shape
    ages = np.arange(m)
    order = (head[:, None] + col[:, None] - 1 - ages[None, :]) % m  # slot of each age
    ui = np.arange(n)[:, None]
    rho_o = np.where(ages[None, :] < col[:, None], rho[ui, order], 0.0)
    sy_o = sy[ui[:, :, None], order[:, :, None], order[:, None, :]]  # sy_o[j, k] = s_j'y_k
    yy_o = yy[ui[:, :, None], order[:, :, None], order[:, None, :]]
    alpha = np.zeros((n, m))
    sq = a[ui, order]  # s_j'q, lowered as the alphas of newer pairs become known
    for k in range(m):
        alpha[:, k] = rho_o[:, k] * sq[:, k]
        sq[:, k + 1 :] -= alpha[:, k, None] * sy_o[:, k + 1 :, k]
    yq = b[ui, order]  # y_j'q
    for k in range(m):
        yq -= alpha[:, k, None] * yy_o[:, :, k]
    beta = np.zeros((n, m))
    ys = np.zeros((n, m))  # sum over older k of (alpha_k - beta_k) s_k'y_j
    for j in range(m - 1, -1, -1):
        beta[:, j] = rho_o[:, j] * (gamma * yq[:, j] + ys[:, j])
        ys[:, :j] += (alpha[:, j] - beta[:, j])[:, None] * sy_o[:, j, :j]
    coef = np.zeros((n, 2 * m))
    coef[ui, order] = alpha - beta
    coef[ui, order + m] = -gamma[:, None] * alpha
    return coef


def _two_loop_one(
    a: list[float],
    b: list[float],
    rho: list[float],
    sy: list[list[float]],
    yy: list[list[float]],
    head: int,
    col: int,
    gamma: float,
) -> list[float]:
    """:func:`_two_loop` for one run, with Python floats (IEEE float64, the same operations)."""
    m = len(a)
    order = [(head + col - 1 - j) % m for j in range(m)]
    rho_o = [rho[order[j]] if j < col else 0.0 for j in range(m)]
    sy_o = [[sy[i][k] for k in order] for i in order]
    yy_o = [[yy[i][k] for k in order] for i in order]
    alpha = [0.0] * m
    sq = [a[i] for i in order]
    for k in range(m):
        ak = rho_o[k] * sq[k]
        alpha[k] = ak
        for j in range(k + 1, m):
            sq[j] = sq[j] - ak * sy_o[j][k]
    yq = [b[i] for i in order]
    for k in range(m):
        ak = alpha[k]
        for j in range(m):
            yq[j] = yq[j] - ak * yy_o[j][k]
    beta = [0.0] * m
    ys = [0.0] * m
    for j in range(m - 1, -1, -1):
        bj = rho_o[j] * (gamma * yq[j] + ys[j])
        beta[j] = bj
        w = alpha[j] - bj
        row = sy_o[j]
        for i in range(j):
            ys[i] = ys[i] + w * row[i]
    coef = [0.0] * (2 * m)
    for j in range(m):
        coef[order[j]] = alpha[j] - beta[j]
        coef[order[j] + m] = -gamma * alpha[j]
    return coef


def _insert_pairs(runs: _Runs, rows: _Rows, s: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Store (s, y) of each run of ``rows`` in its ring, dropping the oldest beyond history; return the slots."""
    m, idx = runs.m, rows.idx
    full = runs.col[idx] >= m
    slot = np.where(full, runs.head[idx], (runs.head[idx] + runs.col[idx]) % m)
    runs.head[idx] = np.where(full, (runs.head[idx] + 1) % m, runs.head[idx])
    runs.col[idx] = np.minimum(runs.col[idx] + 1, m)
    flat = runs.pairs.view(runs.n_runs * 2 * m, runs.n_params)
    where = torch.from_numpy(idx * (2 * m) + slot).to(runs.device)
    flat.index_copy_(0, where, s)
    flat.index_copy_(0, where + m, y)
    return slot


def _record_products(runs: _Runs, idx: np.ndarray, slot: np.ndarray, dots: np.ndarray, dr: np.ndarray) -> None:
    """Record s_i'y and y_i'y (``dots`` (n, 2 history)) of the new pairs in ``slot``, with s'y = dr.

    As L-BFGS-B: the new diagonal of S'Y is the line search's s'y, theta = y'y / s'y.
    """
    m = runs.m
    every = np.arange(m)[None, :]
    runs.sy[idx[:, None], every, slot[:, None]] = dots[:, :m]
    runs.sy[idx, slot, slot] = dr
    runs.yy[idx[:, None], every, slot[:, None]] = dots[:, m:]
    runs.yy[idx[:, None], slot[:, None], every] = dots[:, m:]
    runs.rho[idx, slot] = 1.0 / dr
    runs.theta[idx] = dots[np.arange(idx.size), m + slot] / dr


def _forget_pairs(runs: _Runs, idx: np.ndarray) -> None:
    """Drop all stored pairs of runs ``idx`` (L-BFGS-B's restart: col = head = 0, theta = 1)."""
    runs.col[idx] = 0
    runs.head[idx] = 0
    runs.theta[idx] = 1.0
    runs.rho[idx] = 0.0


def _inverse_hessian_times(runs: _Runs, rows: _Rows, g: torch.Tensor, dots: np.ndarray) -> torch.Tensor:
    """H g (n, P) for runs with stored pairs, given ``dots`` = [S'g, Y'g] (n, 2 history)."""
    idx, m = rows.idx, runs.m
    gamma = 1.0 / runs.theta[idx]  # H_0 = I / theta
    if rows.n <= _FEW_RUNS:
        coef = np.array(
            [
                _two_loop_one(
                    dots[i, :m].tolist(),
                    dots[i, m:].tolist(),
                    runs.rho[r].tolist(),
                    runs.sy[r].tolist(),
                    runs.yy[r].tolist(),
                    int(runs.head[r]),
                    int(runs.col[r]),
                    float(gamma[i]),
                )
                for i, r in enumerate(idx)
            ]
        )
    else:
        coef = _two_loop(
            dots[:, :m], dots[:, m:], runs.rho[idx], runs.sy[idx], runs.yy[idx], runs.head[idx], runs.col[idx], gamma
        )
    return rows.column(gamma) * g + _history_combination(runs, rows, _tensor(coef, runs))


# --- the Moré–Thuente line search (dcsrch / dcstep of MINPACK-2, as in L-BFGS-B) ----------------


def _dcstep(
    stx: np.ndarray,
    fx: np.ndarray,
    dx: np.ndarray,
    sty: np.ndarray,
    fy: np.ndarray,
    dy: np.ndarray,
    stp: np.ndarray,
    fp: np.ndarray,
    dp: np.ndarray,
    brackt: np.ndarray,
    stpmin: np.ndarray,
    stpmax: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """One safeguarded step of Moré–Thuente, element-wise over runs (L-BFGS-B's C ``dcstep``).

    The four cases of [3] section 4: (1) higher function value: cubic, or average of cubic and
    quadratic; (2) derivatives of opposite sign: cubic or secant; (3) derivative decreasing in
    magnitude: cubic towards the bound, or secant, safeguarded; (4) otherwise: cubic on the
    bracket, or the bound. Returns (stx, fx, dx, sty, fy, dy, stp, brackt). Call under
    ``np.errstate(all="ignore")``; :func:`_dcstep_one` does the same operations for one run.
    """
    sgnd = dp * (dx / np.abs(dx))
    case1 = fp > fx
    case2 = ~case1 & (sgnd < 0.0)
    case3 = ~case1 & ~case2 & (np.abs(dp) < np.abs(dx))

    theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
    s = np.fmax(np.abs(theta), np.fmax(np.abs(dx), np.abs(dp)))
    ts, xs, ps = theta / s, dx / s, dp / s
    root = s * np.sqrt(ts * ts - xs * ps)

    gamma = np.where(stp < stx, -root, root)
    p = (gamma - dx) + theta
    q = ((gamma - dx) + gamma) + dp
    stpc = stx + (p / q) * (stp - stx)
    stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
    step1 = np.where(np.abs(stpc - stx) < np.abs(stpq - stx), stpc, stpc + (stpq - stpc) / 2.0)

    gamma = np.where(stp > stx, -root, root)
    p = (gamma - dp) + theta
    q = ((gamma - dp) + gamma) + dx
    stpc = stp + (p / q) * (stx - stp)
    secant = stp + (dp / (dp - dx)) * (stx - stp)
    step2 = np.where(np.abs(stpc - stp) > np.abs(secant - stp), stpc, secant)

    root3 = s * np.sqrt(np.fmax(0.0, ts * ts - xs * ps))
    gamma = np.where(stp > stx, -root3, root3)
    p = (gamma - dp) + theta
    q = (gamma + (dx - dp)) + gamma
    r = p / q
    stpc = np.where((r < 0.0) & (gamma != 0.0), stp + r * (stx - stp), np.where(stp > stx, stpmax, stpmin))
    bound = stp + 0.66 * (sty - stp)
    near = np.where(np.abs(stpc - stp) < np.abs(secant - stp), stpc, secant)
    near = np.where(stp > stx, np.fmin(bound, near), np.fmax(bound, near))
    far = np.where(np.abs(stpc - stp) > np.abs(secant - stp), stpc, secant)
    far = np.fmax(stpmin, np.fmin(stpmax, far))
    step3 = np.where(brackt, near, far)

    theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
    s = np.fmax(np.abs(theta), np.fmax(np.abs(dy), np.abs(dp)))
    ts, ys, ps = theta / s, dy / s, dp / s
    root = s * np.sqrt(ts * ts - ys * ps)
    gamma = np.where(stp > sty, -root, root)
    p = (gamma - dp) + theta
    q = ((gamma - dp) + gamma) + dy
    stpc = stp + (p / q) * (sty - stp)
    step4 = np.where(brackt, stpc, np.where(stp > stx, stpmax, stpmin))

    stpf = np.where(case1, step1, np.where(case2, step2, np.where(case3, step3, step4)))
    swap = ~case1 & (sgnd < 0.0)
    return (
        np.where(case1, stx, stp),
        np.where(case1, fx, fp),
        np.where(case1, dx, dp),
        np.where(case1, stp, np.where(swap, stx, sty)),
        np.where(case1, fp, np.where(swap, fx, fy)),
        np.where(case1, dp, np.where(swap, dx, dy)),
        stpf,
        brackt | case1 | case2,
    )


def _dcstep_one(
    stx: np.float64,
    fx: np.float64,
    dx: np.float64,
    sty: np.float64,
    fy: np.float64,
    dy: np.float64,
    stp: np.float64,
    fp: np.float64,
    dp: np.float64,
    brackt: bool,
    stpmin: np.float64,
    stpmax: np.float64,
) -> tuple[np.float64, np.float64, np.float64, np.float64, np.float64, np.float64, np.float64, bool]:
    """:func:`_dcstep` for one run, on numpy float64 scalars (the same operations, case by case)."""
    sgnd = dp * (dx / np.abs(dx))
    if fp > fx or sgnd < 0.0 or np.abs(dp) < np.abs(dx):
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = np.fmax(np.abs(theta), np.fmax(np.abs(dx), np.abs(dp)))
        ts, xs, ps = theta / s, dx / s, dp / s
    if fp > fx:
        root = s * np.sqrt(ts * ts - xs * ps)
        gamma = -root if stp < stx else root
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if np.abs(stpc - stx) < np.abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        return stx, fx, dx, stp, fp, dp, stpf, True
    if sgnd < 0.0:
        root = s * np.sqrt(ts * ts - xs * ps)
        gamma = -root if stp > stx else root
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        stpc = stp + (p / q) * (stx - stp)
        secant = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if np.abs(stpc - stp) > np.abs(secant - stp) else secant
        return stp, fp, dp, stx, fx, dx, stpf, True
    if np.abs(dp) < np.abs(dx):
        root3 = s * np.sqrt(np.fmax(0.0, ts * ts - xs * ps))
        gamma = -root3 if stp > stx else root3
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        stpc = stp + r * (stx - stp) if r < 0.0 and gamma != 0.0 else (stpmax if stp > stx else stpmin)
        secant = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            bound = stp + 0.66 * (sty - stp)
            stpf = stpc if np.abs(stpc - stp) < np.abs(secant - stp) else secant
            stpf = np.fmin(bound, stpf) if stp > stx else np.fmax(bound, stpf)
        else:
            stpf = stpc if np.abs(stpc - stp) > np.abs(secant - stp) else secant
            stpf = np.fmax(stpmin, np.fmin(stpmax, stpf))
        return stp, fp, dp, sty, fy, dy, stpf, brackt
    if brackt:
        theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
        s = np.fmax(np.abs(theta), np.fmax(np.abs(dy), np.abs(dp)))
        ts, ys, ps = theta / s, dy / s, dp / s
        root = s * np.sqrt(ts * ts - ys * ps)
        gamma = -root if stp > sty else root
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dy
        stpf = stp + (p / q) * (sty - stp)
    else:
        stpf = stpmax if stp > stx else stpmin
    return stp, fp, dp, sty, fy, dy, stpf, brackt


def _dcsrch_start(f: np.ndarray, g: np.ndarray, stp: np.ndarray) -> np.ndarray:
    """The search state (n, 15) after ``dcsrch``'s START call at step ``stp`` (requires g < 0)."""
    st = np.zeros((f.size, 15))
    st[:, _STAGE] = 1.0
    st[:, _GINIT] = g
    st[:, _GTEST] = _LS_FTOL * g
    st[:, _GX] = g
    st[:, _GY] = g
    st[:, _FINIT] = f
    st[:, _FX] = f
    st[:, _FY] = f
    st[:, _STMAX] = stp + _XTRAPU * stp
    st[:, _WIDTH] = _STPMAX - _STPMIN
    st[:, _WIDTH1] = (_STPMAX - _STPMIN) / 0.5
    return st


def _dcsrch(st: np.ndarray, f: np.ndarray, g: np.ndarray, stp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One call of ``dcsrch`` with phi(stp) = f, phi'(stp) = g, element-wise over runs.

    Updates the state ``st`` (n, 15) in place; returns the next trial step and ``done``:
    convergence (sufficient decrease f <= f(0) + 1e-3 stp g(0) and curvature
    |g| <= 0.9 |g(0)|) or a warning, after which the search ends at this step.
    :func:`_dcsrch_one` does the same operations for one run.
    """
    brackt = st[:, _BRACKT] != 0.0
    gtest, stx, sty, stmin, stmax = st[:, _GTEST], st[:, _STX], st[:, _STY], st[:, _STMIN], st[:, _STMAX]
    ftest = st[:, _FINIT] + stp * gtest
    stage = np.where((st[:, _STAGE] == 1.0) & (f <= ftest) & (g >= 0.0), 2.0, st[:, _STAGE])
    done = brackt & ((stp <= stmin) | (stp >= stmax))
    done |= brackt & ((stmax - stmin) <= _LS_XTOL * stmax)
    done |= (stp == _STPMAX) & (f <= ftest) & (g <= gtest)
    done |= (stp == _STPMIN) & ((f > ftest) | (g >= gtest))
    done |= (f <= ftest) & (np.abs(g) <= _LS_GTOL * (-st[:, _GINIT]))
    st[:, _STAGE] = stage

    # in stage 1, step on the modified function psi(stp) = phi(stp) - phi(0) - ftol stp phi'(0)
    mod = (stage == 1.0) & (f <= st[:, _FX]) & (f > ftest)
    with np.errstate(all="ignore"):
        fx = np.where(mod, st[:, _FX] - stx * gtest, st[:, _FX])
        fy = np.where(mod, st[:, _FY] - sty * gtest, st[:, _FY])
        gx = np.where(mod, st[:, _GX] - gtest, st[:, _GX])
        gy = np.where(mod, st[:, _GY] - gtest, st[:, _GY])
        fp = np.where(mod, f - stp * gtest, f)
        gp = np.where(mod, g - gtest, g)
        stx, fx, gx, sty, fy, gy, new, brackt = _dcstep(stx, fx, gx, sty, fy, gy, stp, fp, gp, brackt, stmin, stmax)
        fx = np.where(mod, fx + stx * gtest, fx)
        fy = np.where(mod, fy + sty * gtest, fy)
        gx = np.where(mod, gx + gtest, gx)
        gy = np.where(mod, gy + gtest, gy)
        # bisect when the bracket does not shrink fast enough
        width, width1 = st[:, _WIDTH], st[:, _WIDTH1]
        new = np.where(brackt & (np.abs(sty - stx) >= 0.66 * width1), stx + 0.5 * (sty - stx), new)
        width1 = np.where(brackt, width, width1)
        width = np.where(brackt, np.abs(sty - stx), width)
        stmin = np.where(brackt, np.fmin(stx, sty), new + _XTRAPL * (new - stx))
        stmax = np.where(brackt, np.fmax(stx, sty), new + _XTRAPU * (new - stx))
        new = np.fmin(np.fmax(new, _STPMIN), _STPMAX)
        new = np.where(brackt & ((new <= stmin) | (new >= stmax) | (stmax - stmin <= _LS_XTOL * stmax)), stx, new)
    going = ~done
    for k, value in (
        (_BRACKT, brackt.astype(float)),
        (_GX, gx),
        (_GY, gy),
        (_FX, fx),
        (_FY, fy),
        (_STX, stx),
        (_STY, sty),
        (_STMIN, stmin),
        (_STMAX, stmax),
        (_WIDTH, width),
        (_WIDTH1, width1),
    ):
        st[going, k] = value[going]
    return np.where(done, stp, new), done


def _dcsrch_one(st: np.ndarray, f: np.float64, g: np.float64, stp: np.float64) -> tuple[np.float64, bool]:
    """:func:`_dcsrch` for one run: updates ``st`` (15,) in place; returns (next step, done).

    Call under ``np.errstate(all="ignore")``.
    """
    brackt = bool(st[_BRACKT])
    gtest, stx, sty, stmin, stmax = st[_GTEST], st[_STX], st[_STY], st[_STMIN], st[_STMAX]
    ftest = st[_FINIT] + stp * gtest
    if st[_STAGE] == 1.0 and f <= ftest and g >= 0.0:
        st[_STAGE] = 2.0
    if (
        (brackt and (stp <= stmin or stp >= stmax))
        or (brackt and (stmax - stmin) <= _LS_XTOL * stmax)
        or (stp == _STPMAX and f <= ftest and g <= gtest)
        or (stp == _STPMIN and (f > ftest or g >= gtest))
        or (f <= ftest and np.abs(g) <= _LS_GTOL * (-st[_GINIT]))
    ):
        return stp, True
    fx, fy, gx, gy = st[_FX], st[_FY], st[_GX], st[_GY]
    if st[_STAGE] == 1.0 and f <= fx and f > ftest:
        stx, fx, gx, sty, fy, gy, new, brackt = _dcstep_one(
            stx,
            fx - stx * gtest,
            gx - gtest,
            sty,
            fy - sty * gtest,
            gy - gtest,
            stp,
            f - stp * gtest,
            g - gtest,
            brackt,
            stmin,
            stmax,
        )
        fx, fy, gx, gy = fx + stx * gtest, fy + sty * gtest, gx + gtest, gy + gtest
    else:
        stx, fx, gx, sty, fy, gy, new, brackt = _dcstep_one(stx, fx, gx, sty, fy, gy, stp, f, g, brackt, stmin, stmax)
    width, width1 = st[_WIDTH], st[_WIDTH1]
    if brackt:
        if np.abs(sty - stx) >= 0.66 * width1:
            new = stx + 0.5 * (sty - stx)
        width1, width = width, np.abs(sty - stx)
        stmin, stmax = np.fmin(stx, sty), np.fmax(stx, sty)
    else:
        stmin, stmax = new + _XTRAPL * (new - stx), new + _XTRAPU * (new - stx)
    new = np.fmin(np.fmax(new, _STPMIN), _STPMAX)
    if brackt and (new <= stmin or new >= stmax or stmax - stmin <= _LS_XTOL * stmax):
        new = stx
    st[_BRACKT] = float(brackt)
    st[_GX], st[_GY], st[_FX], st[_FY], st[_STX], st[_STY] = gx, gy, fx, fy, stx, sty
    st[_STMIN], st[_STMAX], st[_WIDTH], st[_WIDTH1] = stmin, stmax, width, width1
    return new, False


def _search_step(runs: _Runs, idx: np.ndarray, f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dcsrch`` for runs ``idx`` at their current step; stores the next steps; returns (steps, done)."""
    stp = runs.stp[idx]
    if idx.size <= _FEW_RUNS:
        new = np.empty(idx.size)
        done = np.empty(idx.size, dtype=bool)
        with np.errstate(all="ignore"):
            for i, r in enumerate(idx):
                new[i], done[i] = _dcsrch_one(runs.search[r], f[i], g[i], stp[i])
    else:
        st = runs.search[idx]
        new, done = _dcsrch(st, f, g, stp)
        runs.search[idx] = st
    runs.stp[idx] = new
    return new, done


# --- the driver ---------------------------------------------------------------------------------


def _call(fun: Objective, runs: _Runs, rows: _Rows, x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """Evaluate ``fun`` on the rows ``x`` of runs ``rows``; store g in ``g_seen``; return (g, f)."""
    f, g = fun(x, rows.index)
    if not isinstance(f, torch.Tensor) or tuple(f.shape) != (rows.n,):
        raise invalid("fun", "minimize", f"a callable returning f of shape ({rows.n},)", getattr(f, "shape", f))
    if not isinstance(g, torch.Tensor) or tuple(g.shape) != (rows.n, runs.n_params):
        shape = getattr(g, "shape", g)
        raise invalid("fun", "minimize", f"a callable returning g of shape ({rows.n}, {runs.n_params})", shape)
    g = g.detach()
    if g.dtype != runs.dtype:
        g = g.to(runs.dtype)
    rows.put(runs.g_seen, g)
    f_np = _array(f.detach())
    runs.f_seen[rows.idx] = f_np
    runs.n_fun[rows.idx] += 1
    return g, f_np


def _evaluate_start(fun: Objective, runs: _Runs, gtol: float) -> None:
    """Evaluate x0, test it (non-finite, gtol) and start the first line search of the others."""
    rows = _Rows(np.arange(runs.n_runs), runs)
    g, f = _call(fun, runs, rows, runs.x)
    runs.seen.copy_(runs.x)
    runs.g.copy_(g)
    runs.f[:] = f
    sbgnrm = _array(torch.linalg.vector_norm(g, np.inf, dim=1))
    bad = ~(np.isfinite(f) & np.isfinite(sbgnrm))
    runs.status[bad] = Status.DIVERGED
    runs.status[~bad & (sbgnrm <= gtol)] = Status.CONVERGED_GRADIENT
    going = rows.subset(runs.status == Status.RUNNING)
    if going.n:
        failed = _begin_search(runs, going, None)
        runs.status[failed] = Status.LINE_SEARCH_FAILURE


def _begin_search(runs: _Runs, rows: _Rows, hg: torch.Tensor | None) -> np.ndarray:
    """Start the line search of runs ``rows`` along z - x, z = x - H g (``hg``; g if None).

    Writes d, z and the first trial; returns the runs whose search cannot start (g'd >= 0).
    """
    idx = rows.idx
    x = rows.take(runs.x)
    g = rows.take(runs.g)
    z = x - (g if hg is None else hg)  # with no pairs: the Cauchy point of B = I
    d = z - x
    dnorm = np.sqrt(_rowdot(d, d))
    gd = _rowdot(g, d)
    with np.errstate(divide="ignore"):
        stp = np.where(runs.n_iter[idx] == 0, np.fmin(1.0 / dnorm, _STPMAX), 1.0)
    ok = gd < 0.0
    good = rows
    if not ok.all():
        good = rows.subset(ok)
        keep = _pick(ok, runs)
        z, d, x, gd, stp = z[keep], d[keep], x[keep], gd[ok], stp[ok]
    if good.n:
        gi = good.idx
        good.put(runs.z, z)
        good.put(runs.d, d)
        runs.stp[gi] = stp
        runs.fold[gi] = runs.f[gi]
        runs.gdold[gi] = gd
        runs.ifun[gi] = 1
        runs.search[gi] = _dcsrch_start(runs.f[gi], gd, stp)
        _put_trial(runs, good, stp, x, d, z)
    return idx[~ok]


def _put_trial(
    runs: _Runs, rows: _Rows, stp: np.ndarray, x: torch.Tensor, d: torch.Tensor, z: torch.Tensor | None
) -> None:
    """Write the trial points of runs ``rows``: stp d + x, or z where stp == 1 (as L-BFGS-B)."""
    unit = stp == 1.0
    if unit.all():
        trial = rows.take(runs.z) if z is None else z
    else:
        trial = torch.add(d * rows.column(stp), x)
        if unit.any():
            z = rows.take(runs.z) if z is None else z
            trial = torch.where(torch.from_numpy(unit).to(runs.device).unsqueeze(1), z, trial)
    rows.put(runs.trial, trial)


def _round(
    fun: Objective,
    runs: _Runs,
    rows: _Rows,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
    max_line_search: int,
) -> None:
    """One evaluation round: evaluate the trial points of runs ``rows``, then advance each run."""
    # SciPy's memoisation: a trial equal to the last point evaluated is not evaluated again
    same = ~(rows.take(runs.trial) != rows.take(runs.seen)).any(1).cpu().numpy()
    if not same.any():
        _call(fun, runs, rows, rows.take(runs.trial))
    elif not same.all():
        fresh = rows.subset(~same)
        _call(fun, runs, fresh, fresh.take(runs.trial))
    runs.seen, runs.trial = runs.trial, runs.seen  # every trial row still needed is rewritten below
    g_new = rows.take(runs.g_seen)
    f_new = runs.f_seen[rows.idx]
    gd = _rowdot(g_new, rows.take(runs.d))

    diverged = ~(np.isfinite(f_new) & np.isfinite(gd))
    if diverged.any():
        runs.status[rows.idx[diverged]] = Status.DIVERGED
        live = ~diverged
        rows, g_new, f_new, gd = rows.subset(live), g_new[_pick(live, runs)], f_new[live], gd[live]
        if rows.n == 0:
            return

    idx = rows.idx
    stp, done = _search_step(runs, idx, f_new, gd)
    failed: list[np.ndarray] = []

    more = ~done  # runs that need another trial in this line search
    if more.any():
        t_idx = idx[more]
        runs.ifun[t_idx] += 1
        over = runs.ifun[t_idx] - 1 >= max_line_search  # iback >= maxls: the trial is not evaluated
        failed.append(t_idx[over])
        trying = rows.subset(more).subset(~over)
        if trying.n:
            _put_trial(runs, trying, runs.stp[trying.idx], trying.take(runs.x), trying.take(runs.d), None)

    if done.any():
        failed.append(_new_iterates(runs, rows, done, g_new, f_new, gd, stp, max_iter, max_fun, gtol, tol))

    # failed line searches: back at the start point (never left); retry once without pairs
    lost = np.sort(np.concatenate(failed)) if failed else np.empty(0, dtype=np.int64)
    if lost.size:
        had = runs.col[lost] > 0
        runs.status[lost[~had]] = Status.LINE_SEARCH_FAILURE
        retry = lost[had]
        if retry.size:
            _forget_pairs(runs, retry)
            runs.status[_begin_search(runs, _Rows(retry, runs), None)] = Status.LINE_SEARCH_FAILURE


def _new_iterates(
    runs: _Runs,
    rows: _Rows,
    done: np.ndarray,
    g_new: torch.Tensor,
    f_new: np.ndarray,
    gd: np.ndarray,
    stp: np.ndarray,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
) -> np.ndarray:
    """Accept the last trial of the runs whose search ended; test, update and start the next searches.

    Returns the runs whose next search cannot start.
    """
    acc = rows.subset(done)
    a_idx = acc.idx
    g_acc = g_new if done.all() else g_new[_pick(done, runs)]
    f_acc, gd_acc, stp_acc = f_new[done], gd[done], stp[done]
    fold = runs.fold[a_idx]
    runs.n_iter[a_idx] += 1
    sbgnrm = _array(torch.linalg.vector_norm(g_acc, np.inf, dim=1))
    status = np.full(acc.n, int(Status.RUNNING), dtype=np.int64)
    status[(fold - f_acc) <= tol * np.fmax(np.fmax(np.abs(fold), np.abs(f_acc)), 1.0)] = Status.CONVERGED_REDUCTION
    status[sbgnrm <= gtol] = Status.CONVERGED_GRADIENT
    status[runs.n_fun[a_idx] > max_fun] = Status.MAX_FUN
    status[runs.n_iter[a_idx] >= max_iter] = Status.MAX_ITER
    going = status == Status.RUNNING

    # L-BFGS update with s = stp d, y = g_{k+1} - g_k, unless s'y <= eps (-g_k's), where
    # s'y = stp (g_{k+1}'d - g_k'd) as L-BFGS-B computes it
    gdold = runs.gdold[a_idx]
    dr = np.where(stp_acc == 1.0, gd_acc - gdold, (gd_acc - gdold) * stp_acc)
    ddum = np.where(stp_acc == 1.0, -gdold, -gdold * stp_acc)
    update = going & ~(dr <= EPS * ddum)
    if update.any():
        upd = acc.subset(update)
        y = (g_acc if update.all() else g_acc[_pick(update, runs)]) - upd.take(runs.g)
        s = upd.take(runs.d) * upd.column(stp_acc[update])
        slot = _insert_pairs(runs, upd, s, y)

    acc.put(runs.x, acc.take(runs.seen))
    acc.put(runs.g, g_acc)
    runs.f[a_idx] = f_acc
    runs.status[a_idx] = status
    if not going.any():
        return np.empty(0, dtype=np.int64)

    cont = acc.subset(going)
    paired = runs.col[cont.idx] > 0
    failed = [_begin_search(runs, cont.subset(~paired), None)] if not paired.all() else []
    if paired.any():
        hist = cont.subset(paired)
        g_h = hist.take(runs.g)
        vectors = [g_h]
        if update.any():
            pos = np.searchsorted(hist.idx, upd.idx)
            if pos.size == hist.n:
                vectors.append(y)
            else:
                y_h = torch.zeros_like(g_h)
                y_h[torch.from_numpy(pos).to(runs.device)] = y
                vectors.append(y_h)
        dots = _history_dots(runs, hist, vectors)
        if update.any():
            _record_products(runs, upd.idx, slot, dots[1][pos], dr[update])
        failed.append(_begin_search(runs, hist, _inverse_hessian_times(runs, hist, g_h, dots[0])))
    return np.concatenate(failed)
