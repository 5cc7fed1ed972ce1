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

Batch independence. A run's vectors that enter inner products (s, y, g, d) are stored in rows
padded to a multiple of 64 bytes, each starting 64-byte aligned, and every inner product and the
combination H g = gamma g + [S Y] c are batched matrix products (``torch.bmm``: 1 x P times P x
k per run) of one shape whatever the batch, and with more than one thread the products of a
single run (a run alone, or alone in a range of slots) are computed as a batch of two (``_bmm``:
PyTorch hands a batch of one to MKL as a plain matrix product, which MKL may split between
threads: measured on an AVX-512 Xeon); MKL computes such a product identically for a run alone,
in any slot of a batch and with 1 or 2 threads (it does not for unaligned rows or 1-column
results, which are not used). The scalar logic is element-wise float64, run by run for few runs
and vectorised over runs otherwise, with the same operations; the other vector operations are
element-wise. A run's results are therefore bit-identical whatever the batch
(``tests/test_lbfgs.py`` checks alone against batches of 3 to 40 runs, 1 and 2 threads, and
every alternative code path against the others), provided ``fun`` is row-independent too (beware
``t.sum(1)`` on a single row of >= 32768 entries: PyTorch then sums it with two threads, in
another order than the rows of a batch). The independence rests on the BLAS: another BLAS build
or CPU may round these products differently, consistently within a process.

Floating point. Vectors (x, g, d, s, y) keep the dtype of ``x0``; inner products are
accumulated in that dtype by the BLAS, H g is one matrix product in that dtype (its two-loop
coefficients rounded to it), and every scalar of the line search and of the two-loop recursion
is float64, with SciPy's float64 constants (eps above) whatever the dtype. In float32 the steps
and directions are rounded to float32 and f carries float32 rounding (relative 6e-8 per
operation): the relative-reduction test (2.2e-9 by default) then fires only once f no longer
decreases beyond its own rounding, and a ``gtol`` below the gradient's rounding noise is never
met; runs end on the relative reduction (or a line-search failure) instead. SciPy itself always
works in float64.

Differences from SciPy 1.17 (float64). Rounding only: inner products are summed in another order
than OpenBLAS's ``ddot``/``dnrm2``, and the L-BFGS step is the two-loop recursion in
inner-product form, combined by one matrix product, rather than L-BFGS-B's compact
representation (mathematically equal). Iterates agree to ~1e-16 after two iterations and the gap
grows with the iterations: counts, stop and point (to 1e-8) are identical on the quadratics,
Rosenbrock functions (up to 72 iterations), line-search failures and 30 iterations of a small
network tested in ``tests/test_lbfgs.py``, except the point of the 20-D quadratic of condition
1e3 (125 iterations): 1.1e-8 from SciPy's, as much as either optimiser moves (up to 1.5e-8) when
x0 moves by one ulp, and the BLAS's AVX2 and AVX-512 kernels alone move it by 5e-9; 20-D
Rosenbrock runs (~120 iterations) differ by up to 2 iterations and 4 evaluations, as much as
SciPy differs from itself when x0 moves by one ulp. Not mirrored: L-BFGS-B's reset of the memory
when the Cholesky factorisation of its middle matrix fails (rounding-level breakdown of its
compact form). After a line-search failure SciPy returns the restored x and jac but ``fun`` of
the last rejected trial; ``minimize`` returns f(x).

Cost per iteration and memory. Between two calls of the objective a run reads its history (2
``history`` vectors of P) twice, for [S Y]'[g y] and for H g, and about a dozen other vectors of
P: with float32 and P = 10,401 about 2.9 MB per run and iteration, so beyond a few runs the
optimiser is memory-bound. On the 2-core machine described in the project's references (shared;
measured 2026-11-23, history evicted between iterations), only the two passes over the history
already cost ~100 us per run and iteration with 1 thread (~70 us with 2), and the whole
optimiser ~0.2-0.3 ms per run and iteration at 16-256 runs in float32 (~0.16-0.18 ms with 2
threads; the tutorial MLP's forward and backward pass costs ~0.2 ms), ~0.75 ms for one run,
mostly Python and per-operation overhead. float64 costs about 1.5 times as much. Memory: (2
``history`` + 5) R P' + 5 R P elements of ``x0``'s dtype (P' = P padded to 64 bytes), about 1.25
GB for R = 1000, P = 10,401 in float32 (the history is 0.83 GB of it), plus temporaries of a few
R P.

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

import math
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
# History read between its products with [g y] and its combination, per block of runs (stays in cache).
_CACHE_BYTES = 32 << 20
# Upper size of the temporaries used to move running runs into the slots of stopped ones.
_MOVE_BYTES = 64 << 20

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
    at rounding level (module docstring). Memory: (2 history + 5) R P' + 5 R P elements of
    ``x0``'s dtype (P' = P padded to 64 bytes); the history is read twice per iteration by
    batched matrix products (module docstring: cost). Finished runs are never passed to ``fun``
    again; a run whose f or g is not finite is frozen at its
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
    state = _State(x0, history)
    tol = (ftol / EPS) * EPS
    _start(fun, state, gtol)
    while state.n:
        _round(fun, state, max_iter, max_fun, gtol, tol, max_line_search)
    return state.result()


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


class _Sel:
    """Some of the running runs: slots ``idx`` (n,), sorted unless not ``ordered``, and how to read or write their rows.

    A contiguous range of slots is read as a view (no copy); any other set with ``index_select``.
    ``at`` indexes the per-slot numpy arrays (a slice or ``idx``); ``full`` is true for all the
    running runs, whose tensors are used as they are.
    """

    __slots__ = ("_device", "_index", "_ranges", "at", "full", "idx", "n", "span")

    def __init__(self, idx: np.ndarray, device: torch.device, full: bool = False, ordered: bool = True) -> None:
        self.idx = idx
        self.n = int(idx.size)
        self.full = full
        contiguous = full or (ordered and self.n > 0 and int(idx[-1]) - int(idx[0]) + 1 == self.n)
        self.span = slice(int(idx[0]), int(idx[-1]) + 1) if contiguous and self.n else None
        self.at = self.span if self.span is not None else idx
        self._index: torch.Tensor | None = None
        self._ranges: list[tuple[int, int]] | None = None
        self._device = device

    @property
    def index(self) -> torch.Tensor:
        """The slots as an int64 tensor."""
        if self._index is None:
            self._index = torch.from_numpy(self.idx).to(self._device)
        return self._index

    def take(self, t: torch.Tensor) -> torch.Tensor:
        """Rows of ``t`` (n_running, ...): a view when the slots are contiguous."""
        if self.full:
            return t
        return t[self.span] if self.span is not None else t.index_select(0, self.index)

    def put(self, t: torch.Tensor, values: torch.Tensor) -> None:
        """Write ``values`` into the rows of ``t`` (n_running, ...)."""
        if self.span is not None:
            (t if self.full else t[self.span]).copy_(values)
        else:
            t.index_copy_(0, self.index, values)

    def subset(self, mask: np.ndarray) -> _Sel:
        """The slots where ``mask`` (n,) is true."""
        return self if mask.all() else _Sel(self.idx[mask], self._device)

    def ranges(self) -> list[tuple[int, int]] | None:
        """The slots as ranges [lo, hi) of consecutive slots if at most ``_MAX_SPANS`` (handled as views), else None."""
        if self.span is not None:
            return [(self.span.start, self.span.stop)]
        if self._ranges is None:
            spans = _spans(self.idx)
            self._ranges = spans if len(spans) <= _MAX_SPANS else []
        return self._ranges or None

    def copy(self, dst: torch.Tensor, src: torch.Tensor) -> None:
        """dst[rows] = src[rows] for tensors (n_running, ...)."""
        if self.full:
            dst.copy_(src)
            return
        ranges = self.ranges()
        if ranges is None:
            dst.index_copy_(0, self.index, src.index_select(0, self.index))
        else:
            for lo, hi in ranges:
                dst[lo:hi].copy_(src[lo:hi])


def _spans(idx: np.ndarray) -> list[tuple[int, int]]:
    """Sorted indices as ranges [lo, hi) of consecutive indices."""
    if idx.size == 0:
        return []
    if int(idx[-1]) - int(idx[0]) + 1 == idx.size:
        return [(int(idx[0]), int(idx[-1]) + 1)]
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = idx[np.concatenate(([0], breaks))]
    ends = idx[np.concatenate((breaks - 1, [idx.size - 1]))] + 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _aligned_zeros(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A zero tensor whose first element is 64-byte aligned (whatever the allocator guarantees)."""
    size = math.prod(shape)
    lanes = 64 // dtype.itemsize
    flat = torch.zeros(size + lanes, dtype=dtype, device=device)
    offset = (-flat.data_ptr() % 64) // dtype.itemsize
    return flat[offset : offset + size].view(shape)


def _array(t: torch.Tensor) -> np.ndarray:
    """A tensor (not requiring grad) as a float64 array."""
    a = t.numpy() if t.device.type == "cpu" else t.cpu().numpy()
    return a if a.dtype == np.float64 else a.astype(np.float64)


# columns of the line-search state (one row per run), as in dcsrch's isave/dsave
_BRACKT, _STAGE, _GINIT, _GTEST, _GX, _GY, _FINIT, _FX, _FY, _STX, _STY, _STMIN, _STMAX, _WIDTH, _WIDTH1 = range(15)
# up to this many runs, the line search's scalar logic runs run by run (same arithmetic, less overhead)
_FEW_SEARCHES = 12
# up to this many runs, the two-loop recursion runs run by run (same arithmetic, less overhead)
_FEW_TWO_LOOPS = 4
# selections of runs in at most this many ranges of consecutive slots are handled range by range
# (views); others by index_select / index_copy_
_MAX_SPANS = 16
# new pairs of at most this many groups of consecutive runs with the same ring slot are stored group by
# group (views); more through index_copy_
_MAX_GROUPS = 64
# entries of each trial point compared first with the last point evaluated (memoisation)
_SAMPLE = 64


class _State:
    """The buffers of one :func:`minimize` call.

    The running runs occupy the first ``n`` slots of every buffer (run ``ids[i]`` in slot i). When
    runs stop, their results are written to the ``out_*`` buffers (by run) and the last running
    runs move into the freed slots (:meth:`stop`): slots are in increasing run order only until a
    run stops, and ``fun`` receives its rows in run order through ``by_run``. Vectors that enter
    inner products live in ``block`` (R, 2 history + 4, padded P): every row starts 64 bytes
    aligned, so a run's products are computed identically in any slot. The other vectors are
    (R, P). Views of the running runs' rows are made once per set of running runs (:meth:`_views`).
    """

    def __init__(self, x0: torch.Tensor, history: int) -> None:
        R, P = x0.shape
        m = history
        self.n_runs, self.n_params, self.m, self.n = R, P, m, R
        self.dtype, self.device = x0.dtype, x0.device
        self.np_dtype = np.float64 if x0.dtype == torch.float64 else np.float32
        lanes = 64 // x0.dtype.itemsize
        self.padded = -(-P // lanes) * lanes
        # rows of a run's block: s_0..s_{m-1}, y_0..y_{m-1} (a ring of pairs), g (at x), y (of the
        # newest pair), d, and g at the last point evaluated
        self.G, self.Y, self.D, self.GS = 2 * m, 2 * m + 1, 2 * m + 2, 2 * m + 3
        self.block = _aligned_zeros((R, 2 * m + 4, self.padded), self.dtype, self.device)
        self.hg = _aligned_zeros((R, self.padded), self.dtype, self.device)  # H g
        self.x = torch.empty((R, P), dtype=self.dtype, device=self.device)  # accepted iterate
        self.x.copy_(x0.detach())
        self.trial = self.x.clone()  # next point to evaluate
        self.seen = torch.empty_like(self.x)  # last point evaluated (memoisation, as SciPy)
        self.ids = np.arange(R)
        # per-slot scalars
        self.f = np.zeros(R)
        self.fs = np.zeros(R)  # f at the last point evaluated
        self.n_iter = np.zeros(R, dtype=np.int64)
        self.n_fun = np.zeros(R, dtype=np.int64)
        # stored pairs: a ring of `col` slots of `block` from `head`; their scalars by age (0: newest):
        # rho_j = 1 / s_j'y_j, sy[j, k] = s_j'y_k (j older than k), yy[j, k] = y_j'y_k
        self.head = np.zeros(R, dtype=np.int64)
        self.col = np.zeros(R, dtype=np.int64)
        self.theta = np.ones(R)
        self.rho = np.zeros((R, m))
        self.sy = np.zeros((R, m, m))
        self.yy = np.zeros((R, m, m))
        # the current line search
        self.stp = np.zeros(R)
        self.fold = np.zeros(R)
        self.gdold = np.zeros(R)
        self.ifun = np.zeros(R, dtype=np.int64)
        self.search = np.zeros((R, 15))
        # results, by run
        self.out_x = torch.empty_like(self.x)
        self.out_g = torch.empty_like(self.x)
        self.out_f = np.zeros(R)
        self.out_iter = np.zeros(R, dtype=np.int64)
        self.out_fun = np.zeros(R, dtype=np.int64)
        self.out_status = np.full(R, int(Status.RUNNING), dtype=np.int64)
        # runs whose history is read between its products and its combination (stays in cache)
        self.chunk = max(1, _CACHE_BYTES // (2 * m * self.padded * x0.dtype.itemsize))
        self.stride = max(1, P // _SAMPLE)  # sampled entries for the memoisation test
        # g'g as computed (any summation order) is at most (1 + gamma_P) times the exact value, with
        # gamma_P = P u / (1 - P u): (computed g'g) * shrink / P <= max_i g_i^2 (margin for the test's
        # own float64 rounding); 0 if the bound is useless
        rounding = P * torch.finfo(self.dtype).eps / 2
        self.shrink = max(0.0, 1.0 - 1.01 * rounding / (1.0 - rounding) - 1e-14) if rounding < 0.5 else 0.0
        self._views()

    def _views(self) -> None:
        """Views of the running runs' rows (n = ``self.n``)."""
        n, m, P = self.n, self.m, self.n_params
        b = self.block[:n]
        self.hist_t = b[:, : 2 * m].transpose(1, 2)  # [S Y]' per run
        self.comb = b[:, : 2 * m + 1]  # [S Y g]
        self.gy = b[:, self.G : self.Y + 1]  # [g y]
        self.d1 = b[:, self.D : self.D + 1]
        self.gyd_t = b[:, self.G : self.D + 1].transpose(1, 2)  # [g y d]'
        self.gs1 = b[:, self.GS : self.GS + 1]
        self.dgs_t = b[:, self.D : self.GS + 1].transpose(1, 2)  # [d gs]'
        self.g_row, self.y_row, self.d_row, self.gs_row = (b[:, k] for k in (self.G, self.Y, self.D, self.GS))
        self.g_vec, self.y_vec, self.d_vec, self.gs_vec = (
            r[:, :P] for r in (self.g_row, self.y_row, self.d_row, self.gs_row)
        )
        self.hg_row = self.hg[:n]
        self.hg1 = self.hg_row.unsqueeze(1)
        self.hg_vec = self.hg_row[:, :P]
        self.x_n, self.trial_n, self.seen_n = self.x[:n], self.trial[:n], self.seen[:n]
        self.trial_k, self.seen_k = self.trial_n[:, :: self.stride], self.seen_n[:, :: self.stride]
        self.ids_t = torch.from_numpy(self.ids).to(self.device)
        self.every = _Sel(np.arange(n), self.device, full=True)
        ordered = bool((np.diff(self.ids) > 0).all())
        self.by_run = None if ordered else np.argsort(self.ids)  # slots in run order

    def swap(self) -> None:
        """The trial points become the last points evaluated (``seen``); the old ``seen`` rows are reused."""
        self.seen, self.trial = self.trial, self.seen
        self.seen_n, self.trial_n = self.trial_n, self.seen_n
        self.seen_k, self.trial_k = self.trial_k, self.seen_k

    def sel(self, mask: np.ndarray) -> _Sel:
        """The running runs where ``mask`` (n,) is true."""
        return self.every if mask.all() else _Sel(np.flatnonzero(mask), self.device)

    def column(self, values: np.ndarray) -> torch.Tensor:
        """A per-run float64 array (k,) as a (k, 1) tensor of the parameters' dtype."""
        t = torch.from_numpy(np.ascontiguousarray(values, dtype=self.np_dtype))
        return (t if self.device.type == "cpu" else t.to(self.device)).unsqueeze(1)

    def stop(self, status: np.ndarray) -> None:
        """Record the runs whose ``status`` (n,) is no longer RUNNING and remove them from the slots."""
        done = status != Status.RUNNING
        if not done.any():
            return
        slots = np.flatnonzero(done)
        ids = self.ids[slots]
        where = torch.from_numpy(slots).to(self.device)
        to = torch.from_numpy(ids).to(self.device)
        self.out_x.index_copy_(0, to, self.x_n.index_select(0, where))
        self.out_g.index_copy_(0, to, self.g_vec.index_select(0, where))
        self.out_f[ids] = self.f[slots]
        self.out_iter[ids] = self.n_iter[slots]
        self.out_fun[ids] = self.n_fun[slots]
        self.out_status[ids] = status[slots]
        k = int(self.n - slots.size)
        holes = slots[slots < k]  # freed slots below k, filled by the running runs above k
        movers = np.flatnonzero(~done[k:]) + k
        if holes.size:
            for a in (self.f, self.fs, self.n_iter, self.n_fun, self.head, self.col, self.theta, self.rho, self.sy):
                a[holes] = a[movers]
            for a in (self.yy, self.stp, self.fold, self.gdold, self.ifun, self.search, self.ids):
                a[holes] = a[movers]
            for t in (self.x, self.trial, self.seen, self.block):
                _move_rows(t, holes, movers)
        self.ids = self.ids[:k].copy()
        self.n = k
        self._views()

    def result(self) -> LBFGSResult:
        """The per-run result."""
        return LBFGSResult(
            x=self.out_x,
            f=torch.from_numpy(self.out_f).to(device=self.device, dtype=self.dtype),
            g=self.out_g,
            n_iter=torch.from_numpy(self.out_iter),
            n_fun=torch.from_numpy(self.out_fun),
            status=torch.from_numpy(self.out_status),
        )


def _move_rows(t: torch.Tensor, to: np.ndarray, source: np.ndarray) -> None:
    """t[to] = t[source] (distinct rows), with temporaries of at most ``_MOVE_BYTES``."""
    limit = max(1, _MOVE_BYTES // max(1, t[0].numel() * t.element_size()))
    for a in range(0, to.size, limit):
        where = torch.from_numpy(to[a : a + limit]).to(t.device)
        t.index_copy_(0, where, t.index_select(0, torch.from_numpy(source[a : a + limit]).to(t.device)))


# --- inner products and combinations, one per run, independent of the batch --------------------


def _bmm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``torch.bmm(a, b)`` (into ``out`` if given), computed alike for a batch of one and in a batch.

    PyTorch hands a batch of one to the BLAS as a plain matrix product, which MKL may split
    between threads (another summation order), whereas a batch of two or more is one batched
    call that computes each product on one thread, with the bits of a single-threaded product.
    So with more than one thread a batch of one is computed as a batch of two (stride-0
    expansion, no copy) and the first result kept; with one thread the plain product is
    already the same computation (no cost). Measured with PyTorch 2.13, MKL 2024.2, on a Xeon
    with AVX-512 and 2 threads: the 1 x P' times P' x k inner products of a single run differ
    in the last bits from the same products in a batch, and from themselves with 1 thread,
    from P' ~ 10^4 on in float64 (~ 2 10^4 in float32), and so do the (2 x P')(P' x 2 history)
    products with MKL's AVX2 kernels (``MKL_ENABLE_INSTRUCTIONS=AVX2``); expanded, every product
    of :func:`_row_products` and :func:`_directions` equals the batch's, and with 1 thread the
    plain one does too (128 shapes, history 1 to 20, P' up to 2.6 10^5, both dtypes, AVX2 and
    AVX-512 kernels). (The same tests passed on the AVX2 EPYC machines used before without
    this.) Cost: nothing with 1 thread; with 2 (P = 10,401), 6-40 us per product of a single
    run, ~45 us (float32) to ~80 us (float64) per iteration of a run alone.
    """
    if a.shape[0] != 1 or torch.get_num_threads() == 1:
        return torch.bmm(a, b) if out is None else torch.bmm(a, b, out=out)
    first = torch.bmm(a.expand(2, -1, -1), b.expand(2, -1, -1))[:1]
    return first if out is None else out.copy_(first)


def _row_products(state: _State, sel: _Sel, u: torch.Tensor, v_t: torch.Tensor) -> np.ndarray:
    """u'v float64 (n, k) of the runs ``sel``, for u a view (n_running, 1, P') and v_t (n_running, P', k).

    One batched matrix product (1 x P' times P' x k per run) per range of consecutive slots.
    """
    if sel.span is not None:
        if sel.full:
            return _array(_bmm(u, v_t)[:, 0])
        s = sel.span
        return _array(_bmm(u[s], v_t[s])[:, 0])
    ranges = sel.ranges()
    if ranges is None:  # gathered rows (new tensors: their rows are 64-byte aligned too)
        return _array(_bmm(sel.take(u), sel.take(v_t.transpose(1, 2)).transpose(1, 2))[:, 0])
    out = torch.empty((sel.n, 1, v_t.shape[2]), dtype=state.dtype, device=state.device)
    pos = 0
    for lo, hi in ranges:
        _bmm(u[lo:hi], v_t[lo:hi], out=out[pos : pos + hi - lo])
        pos += hi - lo
    return _array(out[:, 0])


def _directions(state: _State, sel: _Sel, slot: np.ndarray, dr: np.ndarray) -> None:
    """H g into ``state.hg`` for the runs ``sel``, which have stored pairs.

    For each block of at most ``state.chunk`` runs: [g y]'[S Y] by one batched product per range
    of consecutive slots (for the runs that stored a new pair in ``slot`` (n,) with s'y = ``dr``
    (n,), y'[S Y] gives its products; ``slot`` is -1 elsewhere), the two-loop coefficients, then
    H g = gamma g + [S Y] c by one batched product (1 x (2 history + 1) times
    (2 history + 1) x P per run) while the block's history is still in cache.
    """
    m = state.m
    ages = np.arange(m)
    for b in range(0, sel.n, state.chunk):
        part = sel.idx[b : b + state.chunk]
        spans = [(sel.span.start + b, sel.span.start + b + part.size)] if sel.span is not None else _spans(part)
        if len(spans) == 1:
            lo, hi = spans[0]
            dots = _array(_bmm(state.gy[lo:hi], state.hist_t[lo:hi]))
        else:
            out = torch.empty((part.size, 2, 2 * m), dtype=state.dtype, device=state.device)
            pos = 0
            for lo, hi in spans:
                _bmm(state.gy[lo:hi], state.hist_t[lo:hi], out=out[pos : pos + hi - lo])
                pos += hi - lo
            dots = _array(out)
        new = slot[part] >= 0
        if new.any():
            _record_products(state, part[new], dots[new, 1], dr[part][new])
        order = (state.head[part, None] + state.col[part, None] - 1 - ages) % m  # slot of each age
        a = np.take_along_axis(dots[:, 0, :m], order, 1)  # s'g by age
        yg = np.take_along_axis(dots[:, 0, m:], order, 1)
        gamma = 1.0 / state.theta[part]  # H_0 = I / theta
        if part.size <= _FEW_TWO_LOOPS:
            c = np.empty((part.size, m))
            e = np.empty((part.size, m))
            for i, r in enumerate(part.tolist()):
                c[i], e[i] = _two_loop_one(
                    a[i].tolist(),
                    yg[i].tolist(),
                    state.rho[r].tolist(),
                    state.sy[r].tolist(),
                    state.yy[r].tolist(),
                    float(gamma[i]),
                )
        else:
            c, e = _two_loop(
                a.T,
                yg.T,
                state.rho[part].T,
                state.sy[part].transpose(1, 2, 0),
                state.yy[part].transpose(1, 2, 0),
                gamma,
            )
            c, e = c.T, e.T
        coef = np.empty((part.size, 1, 2 * m + 1))
        rows = np.arange(part.size)[:, None]
        coef[rows, 0, order] = c
        coef[rows, 0, order + m] = e
        coef[:, 0, 2 * m] = gamma
        coef_t = torch.from_numpy(coef.astype(state.np_dtype, copy=False)).to(state.device)
        pos = 0
        for lo, hi in spans:
            _bmm(coef_t[pos : pos + hi - lo], state.comb[lo:hi], out=state.hg1[lo:hi])
            pos += hi - lo


# --- the L-BFGS step ---------------------------------------------------------------------------


def _two_loop(
    a: np.ndarray, b: np.ndarray, rho: np.ndarray, sy: np.ndarray, yy: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (c, e) (history, n) by age of H g = gamma g + sum_j c_j s_j + e_j y_j (two-loop recursion).

    The recursion of Nocedal (1980) on inner products, by age j = 0 (newest) .. history-1, with
    a = S'g, b = Y'g, rho_j = 1 / s_j'y_j (0 for ages without a pair), sy[j, k] = s_j'y_k and
    yy[j, k] = y_j'y_k (runs along the last axis of every argument):

    - first loop, newest to oldest: alpha_j = rho_j s_j'q_j, q_j = g - sum_{k newer} alpha_k y_k,
      so s_j'q_j = a_j - sum_{k newer} alpha_k s_j'y_k;
    - second loop, oldest to newest: beta_j = rho_j y_j'r_j,
      r_j = gamma q + sum_{k older} (alpha_k - beta_k) s_k with q = g - sum_k alpha_k y_k, so
      y_j'r_j = gamma (b_j - sum_k alpha_k y_j'y_k) + sum_{k older} (alpha_k - beta_k) s_k'y_j;
    - H g = r = gamma q + sum_k (alpha_k - beta_k) s_k: c = alpha - beta, e = -gamma alpha.

    Element-wise float64 operations over runs, in the order of :func:`_two_loop_one`, which
    gives the same bits. Ages without a pair have rho = 0, hence zero coefficients.
    """
    m = a.shape[0]
    alpha = np.empty_like(a)
    sq = a.copy()  # s_j'q, lowered as the alphas of newer pairs become known
    for k in range(m):
        ak = np.multiply(rho[k], sq[k], out=alpha[k])
        if k + 1 < m:
            sq[k + 1 :] -= ak * sy[k + 1 :, k]
    products = alpha[:, None, :] * yy.transpose(1, 0, 2)  # [k, j]: alpha_k y_j'y_k
    yq = b.copy()  # y_j'q
    for k in range(m):
        yq -= products[k]
    gyq = gamma * yq
    beta = np.empty_like(a)
    ys = np.zeros_like(a)  # sum over older k of (alpha_k - beta_k) s_k'y_j
    for j in range(m - 1, -1, -1):
        bj = np.multiply(rho[j], gyq[j] + ys[j], out=beta[j])
        if j:
            ys[:j] += (alpha[j] - bj) * sy[j, :j]
    return alpha - beta, -gamma * alpha


def _two_loop_one(
    a: list[float], b: list[float], rho: list[float], sy: list[list[float]], yy: list[list[float]], gamma: float
) -> tuple[list[float], list[float]]:
    """:func:`_two_loop` for one run, with Python floats (IEEE float64, the same operations)."""
    m = len(a)
    alpha = [0.0] * m
    sq = list(a)
    for k in range(m):
        ak = rho[k] * sq[k]
        alpha[k] = ak
        for j in range(k + 1, m):
            sq[j] = sq[j] - ak * sy[j][k]
    yq = list(b)
    for k in range(m):
        ak = alpha[k]
        for j in range(m):
            yq[j] = yq[j] - ak * yy[j][k]
    beta = [0.0] * m
    ys = [0.0] * m
    for j in range(m - 1, -1, -1):
        bj = rho[j] * (gamma * yq[j] + ys[j])
        beta[j] = bj
        w = alpha[j] - bj
        row = sy[j]
        for i in range(j):
            ys[i] = ys[i] + w * row[i]
    return [alpha[j] - beta[j] for j in range(m)], [-gamma * alpha[j] for j in range(m)]


def _insert_pairs(state: _State, sel: _Sel, stp: np.ndarray) -> np.ndarray:
    """Store s = stp d and y (block row Y) of the runs ``sel`` in their rings; return the ring slots used (n,).

    The oldest pair is dropped beyond ``history``. Runs in consecutive slots that use the same ring
    slot are written together (views); many such groups go through index_copy_.
    """
    m, at = state.m, sel.at
    head, col = state.head[at], state.col[at]
    full = col >= m
    slot = np.where(full, head, (head + col) % m)
    state.head[at] = np.where(full, (head + 1) % m, head)
    state.col[at] = np.minimum(col + 1, m)
    column = state.column(stp)
    ranges = sel.ranges()
    if ranges is None:
        y = torch.sub(sel.take(state.gs_row), sel.take(state.g_row))
        sel.put(state.y_row, y)
    else:
        for lo, hi in ranges:
            torch.sub(state.gs_row[lo:hi], state.g_row[lo:hi], out=state.y_row[lo:hi])
        groups, pos = [], 0
        for lo, hi in ranges:
            cut = (np.flatnonzero(np.diff(slot[pos : pos + hi - lo])) + 1).tolist()
            groups += [(lo + a, lo + b, pos + a) for a, b in zip([0, *cut], [*cut, hi - lo], strict=True)]
            pos += hi - lo
        if len(groups) <= _MAX_GROUPS:
            for lo, hi, pos in groups:
                j = int(slot[pos])
                torch.mul(state.d_row[lo:hi], column[pos : pos + hi - lo], out=state.block[lo:hi, j])
                state.block[lo:hi, m + j].copy_(state.y_row[lo:hi])
            return slot
    rows = state.block.view(-1, state.padded)
    where = torch.from_numpy(sel.idx * (2 * m + 4) + slot).to(state.device)
    rows.index_copy_(0, where, sel.take(state.d_row) * column)
    rows.index_copy_(0, where + m, y if ranges is None else state.y_row.index_select(0, sel.index))
    return slot


def _record_products(state: _State, idx: np.ndarray, dots: np.ndarray, dr: np.ndarray) -> None:
    """Record the scalars of the new pairs of runs ``idx`` (now age 0), given y'[S Y] (``dots`` (n, 2 history)).

    As L-BFGS-B: the new diagonal of S'Y is the line search's s'y = ``dr``, theta = y'y / s'y.
    """
    m = state.m
    if idx.size <= _FEW_TWO_LOOPS:
        for i, r in enumerate(idx.tolist()):
            order = (int(state.head[r]) + int(state.col[r]) - 1 - np.arange(m)) % m
            sy, yy, rho = state.sy[r], state.yy[r], state.rho[r]
            sy[1:, 1:] = sy[:-1, :-1].copy()
            yy[1:, 1:] = yy[:-1, :-1].copy()
            rho[1:] = rho[:-1].copy()
            y_new = dots[i, m:][order]
            sy[:, 0] = dots[i, :m][order]
            sy[0, 0] = dr[i]
            yy[:, 0] = y_new
            yy[0, :] = y_new
            rho[0] = 1.0 / dr[i]
            state.theta[r] = y_new[0] / dr[i]
        return
    state.sy[idx, 1:, 1:] = state.sy[idx, :-1, :-1]
    state.yy[idx, 1:, 1:] = state.yy[idx, :-1, :-1]
    state.rho[idx, 1:] = state.rho[idx, :-1]
    order = (state.head[idx, None] + state.col[idx, None] - 1 - np.arange(m)) % m  # slot of each age
    sy = np.take_along_axis(dots[:, :m], order, 1)
    yy = np.take_along_axis(dots[:, m:], order, 1)
    sy[:, 0] = dr
    state.sy[idx, :, 0] = sy
    state.yy[idx, :, 0] = yy
    state.yy[idx, 0, :] = yy
    state.rho[idx, 0] = 1.0 / dr
    state.theta[idx] = yy[:, 0] / dr


def _forget_pairs(state: _State, at: slice | np.ndarray) -> None:
    """Drop all stored pairs of runs ``at`` (L-BFGS-B's restart: col = head = 0, theta = 1)."""
    state.col[at] = 0
    state.head[at] = 0
    state.theta[at] = 1.0
    state.rho[at] = 0.0


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


def _dcsrch_done(st: np.ndarray, f: np.ndarray, g: np.ndarray, stp: np.ndarray) -> np.ndarray:
    """Where ``dcsrch`` (:func:`_dcsrch`) ends the search at ``stp`` (convergence or a warning)."""
    brackt = st[:, _BRACKT] != 0.0
    gtest, stmin, stmax = st[:, _GTEST], st[:, _STMIN], st[:, _STMAX]
    ftest = st[:, _FINIT] + stp * gtest
    decrease = f <= ftest
    done = decrease & (np.abs(g) <= _LS_GTOL * (-st[:, _GINIT]))
    done |= brackt & ((stp <= stmin) | (stp >= stmax) | ((stmax - stmin) <= _LS_XTOL * stmax))
    done |= (stp == _STPMAX) & decrease & (g <= gtest)
    done |= (stp == _STPMIN) & (~decrease | (g >= gtest))
    return done


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


def _search_step(state: _State, f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dcsrch`` for every running run at its current step; stores the next steps; returns (steps, done).

    The convergence test is vectorised; the step of the runs not done is computed run by run when
    they are few (:func:`_dcsrch_one`), else vectorised over them (:func:`_dcsrch`).
    """
    n = state.n
    stp, st = state.stp[:n], state.search[:n]
    if n <= _FEW_SEARCHES:
        new = np.empty(n)
        done = np.empty(n, dtype=bool)
        with np.errstate(all="ignore"):
            for r in range(n):
                new[r], done[r] = _dcsrch_one(st[r], f[r], g[r], stp[r])
        stp[:] = new
        return new, done
    with np.errstate(all="ignore"):
        done = _dcsrch_done(st, f, g, stp)
        if done.all():
            return stp.copy(), done
        new = stp.copy()
        going = np.flatnonzero(~done)
        if going.size <= _FEW_SEARCHES:
            for r in going.tolist():
                new[r] = _dcsrch_one(st[r], f[r], g[r], stp[r])[0]
        else:
            sub = st[going]
            new[going] = _dcsrch(sub, f[going], g[going], stp[going])[0]
            st[going] = sub
    stp[:] = new
    return new, done


# --- the driver ---------------------------------------------------------------------------------


def _evaluate(fun: Objective, state: _State, sel: _Sel) -> None:
    """Evaluate ``fun`` at the trial points of runs ``sel``; store f, g as the last point evaluated.

    ``fun`` receives the rows in run order: when the slots are not, through a permutation.
    """
    if state.by_run is not None:
        order = sel.idx[np.argsort(state.ids[sel.idx])] if not sel.full else state.by_run
        sel = _Sel(order, state.device, ordered=False)  # slots in run order, through index ops
    f, g = fun(sel.take(state.trial_n), sel.take(state.ids_t))
    if not isinstance(f, torch.Tensor) or tuple(f.shape) != (sel.n,):
        raise invalid("fun", "minimize", f"a callable returning f of shape ({sel.n},)", getattr(f, "shape", f))
    if not isinstance(g, torch.Tensor) or tuple(g.shape) != (sel.n, state.n_params):
        shape = getattr(g, "shape", g)
        raise invalid("fun", "minimize", f"a callable returning g of shape ({sel.n}, {state.n_params})", shape)
    sel.put(state.gs_vec, g.detach())
    state.fs[sel.at] = _array(f.detach())
    state.n_fun[sel.at] += 1


def _fresh(state: _State) -> np.ndarray:
    """Where (n,) the trial point differs from the last point evaluated (SciPy's memoisation test, ==).

    Sampled entries first; rows equal there are compared whole.
    """
    fresh = (state.trial_k != state.seen_k).any(1).cpu().numpy()
    if state.stride > 1 and not fresh.all():
        rest = state.sel(~fresh)
        fresh[rest.idx] = (rest.take(state.trial_n) != rest.take(state.seen_n)).any(1).cpu().numpy()
    return fresh


def _abs_max(v: torch.Tensor) -> np.ndarray:
    """max_i |v_i| of each row (n, P) as float64 (n,); NaN if a row has a NaN."""
    hi, lo = _array(torch.stack((v.amax(1), v.amin(1))))
    return np.maximum(hi, -lo)


def _start(fun: Objective, state: _State, gtol: float) -> None:
    """Evaluate x0, test it (non-finite, gtol) and start the first line search of the others."""
    n = state.n
    _evaluate(fun, state, state.every)
    state.swap()
    state.g_row.copy_(state.gs_row)
    state.f[:n] = state.fs[:n]
    sbgnrm = _abs_max(state.g_vec)
    f = state.f[:n]
    bad = ~(np.isfinite(f) & np.isfinite(sbgnrm))
    status = np.full(n, int(Status.RUNNING), dtype=np.int64)
    status[bad] = Status.DIVERGED
    status[~bad & (sbgnrm <= gtol)] = Status.CONVERGED_GRADIENT
    going = status == Status.RUNNING
    if going.any():
        sel = state.sel(going)
        sel.copy(state.hg_row, state.g_row)  # with no pairs: the Cauchy point of B = I
        status[sel.idx[_begin_search(state, sel)]] = Status.LINE_SEARCH_FAILURE
    state.stop(status)


def _begin_search(state: _State, sel: _Sel) -> np.ndarray:
    """Start the line search of runs ``sel`` along d = z - x, z = x - H g (``state.hg``).

    Writes d and the first trial; returns where (sel.n,) the search cannot start (g'd >= 0).
    z is not stored: it is the trial point of step 1, written as x - H g whenever needed.
    """
    ranges = sel.ranges()
    if ranges is not None:  # in place
        for lo, hi in ranges:
            z, x = state.trial_n[lo:hi], state.x_n[lo:hi]
            torch.sub(x, state.hg_vec[lo:hi], out=z)
            torch.sub(z, x, out=state.d_vec[lo:hi])
    else:
        x = sel.take(state.x_n)
        z = torch.sub(x, sel.take(state.hg_vec))
        sel.put(state.trial_n, z)
        sel.put(state.d_vec, torch.sub(z, x))
    products = _row_products(state, sel, state.d1, state.gyd_t)  # d'g, d'y, d'd
    gd = products[:, 0]
    with np.errstate(divide="ignore"):
        stp = np.where(state.n_iter[sel.at] == 0, np.fmin(1.0 / np.sqrt(products[:, 2]), _STPMAX), 1.0)
    ok = gd < 0.0
    if not ok.any():
        return ~ok
    good = sel.subset(ok)
    gd, stp = gd[ok], stp[ok]
    at = good.at
    state.stp[at] = stp
    state.fold[at] = state.f[at]
    state.gdold[at] = gd
    state.ifun[at] = 1
    state.search[at] = _dcsrch_start(state.f[at], gd, stp)
    if not (stp == 1.0).all():  # z is already the trial point where stp == 1
        _put_trial(state, good.subset(stp != 1.0), stp[stp != 1.0])
    return ~ok


def _put_trial(state: _State, sel: _Sel, stp: np.ndarray) -> None:
    """Write the trial points of runs ``sel``: stp d + x, or z = x - H g where stp == 1 (as L-BFGS-B)."""
    unit = stp == 1.0
    ranges = sel.ranges()
    if ranges is None:
        x = sel.take(state.x_n)
        if unit.all():
            trial = torch.sub(x, sel.take(state.hg_vec))
        else:
            trial = torch.add(sel.take(state.d_vec) * state.column(stp), x)
            if unit.any():
                where = torch.from_numpy(unit).to(state.device).unsqueeze(1)
                trial = torch.where(where, torch.sub(x, sel.take(state.hg_vec)), trial)
        sel.put(state.trial_n, trial)
        return
    column = None if unit.all() else state.column(stp)
    pos = 0
    for lo, hi in ranges:
        k = hi - lo
        trial, x, u = state.trial_n[lo:hi], state.x_n[lo:hi], unit[pos : pos + k]
        if u.all():
            torch.sub(x, state.hg_vec[lo:hi], out=trial)
        else:
            torch.mul(state.d_vec[lo:hi], column[pos : pos + k], out=trial)
            trial.add_(x)
            if u.any():
                where = torch.from_numpy(u).to(state.device).unsqueeze(1)
                torch.where(where, torch.sub(x, state.hg_vec[lo:hi]), trial, out=trial)
        pos += k


def _round(
    fun: Objective,
    state: _State,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
    max_line_search: int,
) -> None:
    """One evaluation round: evaluate the trial points of the running runs, then advance each run."""
    n = state.n
    # SciPy's memoisation: a trial equal to the last point evaluated is not evaluated again
    fresh = _fresh(state)
    if fresh.any():
        _evaluate(fun, state, state.sel(fresh))
    state.swap()  # every trial row still needed is rewritten below
    gd, gg = _row_products(state, state.every, state.gs1, state.dgs_t).T  # g'd, g'g at the point evaluated
    f = state.fs[:n]
    status = np.full(n, int(Status.RUNNING), dtype=np.int64)
    live = np.isfinite(f) & np.isfinite(gd)
    status[~live] = Status.DIVERGED

    stp, done = _search_step(state, f, gd)
    failed = np.zeros(n, dtype=bool)
    more = live & ~done  # runs that need another trial in this line search
    if more.any():
        ifun = state.ifun[:n]
        ifun[more] += 1
        over = more & (ifun - 1 >= max_line_search)  # iback >= maxls: the trial is not evaluated
        failed |= over
        trying = more & ~over
        if trying.any():
            _put_trial(state, state.sel(trying), stp[trying])
    accepted = live & done
    if accepted.any():
        failed |= _new_iterates(state, accepted, f, gd, gg, stp, status, max_iter, max_fun, gtol, tol)

    # failed line searches: back at the start point (never left); retry once without pairs
    if failed.any():
        had = state.col[:n] > 0
        status[failed & ~had] = Status.LINE_SEARCH_FAILURE
        retry = failed & had
        if retry.any():
            sel = state.sel(retry)
            _forget_pairs(state, sel.at)
            sel.copy(state.hg_row, state.g_row)
            status[sel.idx[_begin_search(state, sel)]] = Status.LINE_SEARCH_FAILURE
    state.stop(status)


def _new_iterates(
    state: _State,
    accepted: np.ndarray,
    f: np.ndarray,
    gd: np.ndarray,
    gg: np.ndarray,
    stp: np.ndarray,
    status: np.ndarray,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
) -> np.ndarray:
    """Accept the last trial of the runs whose search ended; test, update and start the next searches.

    Writes the stops into ``status``; returns where (n,) the next search cannot start. ``gg`` (n,)
    is g'g at the new points: max_i |g_i| >= sqrt(g'g / P) > gtol spares computing max_i |g_i|.
    """
    n = state.n
    acc = state.sel(accepted)
    n_iter = state.n_iter[:n]
    n_iter[acc.at] += 1
    sbgnrm = np.full(n, np.inf)
    with np.errstate(all="ignore"):
        exact = accepted & ~(np.isfinite(gg) & (np.sqrt(gg * state.shrink / state.n_params) > gtol))
    if exact.any():
        some = state.sel(exact)
        sbgnrm[some.at] = _abs_max(some.take(state.gs_vec))
    fold = state.fold[:n]
    stop = np.full(n, int(Status.RUNNING), dtype=np.int64)
    stop[(fold - f) <= tol * np.fmax(np.fmax(np.abs(fold), np.abs(f)), 1.0)] = Status.CONVERGED_REDUCTION
    stop[sbgnrm <= gtol] = Status.CONVERGED_GRADIENT
    stop[state.n_fun[:n] > max_fun] = Status.MAX_FUN
    stop[n_iter >= max_iter] = Status.MAX_ITER
    status[accepted] = stop[accepted]
    going = accepted & (stop == Status.RUNNING)

    # L-BFGS update with s = stp d, y = g_{k+1} - g_k, unless s'y <= eps (-g_k's), where
    # s'y = stp (g_{k+1}'d - g_k'd) as L-BFGS-B computes it
    gdold = state.gdold[:n]
    with np.errstate(all="ignore"):
        dr = np.where(stp == 1.0, gd - gdold, (gd - gdold) * stp)
        ddum = np.where(stp == 1.0, -gdold, -gdold * stp)
    update = going & ~(dr <= EPS * ddum)
    slot = np.full(n, -1, dtype=np.int64)
    if update.any():
        slot[update] = _insert_pairs(state, state.sel(update), stp[update])

    acc.copy(state.x_n, state.seen_n)
    acc.copy(state.g_row, state.gs_row)
    state.f[acc.at] = f[acc.at]
    failed = np.zeros(n, dtype=bool)
    if not going.any():
        return failed

    paired = going & (state.col[:n] > 0)
    if (going & ~paired).any():
        unpaired = state.sel(going & ~paired)
        unpaired.copy(state.hg_row, state.g_row)
    if paired.any():
        _directions(state, state.sel(paired), slot, dr)
    sel = state.sel(going)
    failed[sel.idx[_begin_search(state, sel)]] = True
    return failed
