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

Where the parts live: this module has the rules, :func:`minimize`, its results and the driver of
the iterations; :mod:`forgetlab.numerics.lbfgs_state` the buffers of a call, the selections of
running runs and the batch-independent products (``_bmm``); :mod:`forgetlab.numerics.lbfgs_step`
the history of pairs, the two-loop recursion, the direction and the trial points; and
:mod:`forgetlab.numerics.morethuente` the Moré–Thuente line search (``dcsrch``/``dcstep``).

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
from forgetlab.numerics.lbfgs_state import _RUNNING, _array, _row_products, _Sel, _State
from forgetlab.numerics.lbfgs_step import _begin_search, _directions, _forget_pairs, _insert_pairs, _put_trial
from forgetlab.numerics.morethuente import search_steps
from forgetlab.validation import Interval, validate

__all__ = ["DEFAULT_FTOL", "EPS", "LBFGSResult", "Objective", "Status", "message", "minimize"]

EPS = 2.220446049250313e-16
"""float64 machine epsilon, the ``epsmch`` L-BFGS-B uses whatever the dtype."""
DEFAULT_FTOL = 2.220446049250313e-09
"""SciPy's default ``ftol`` (factr 1e7 times ``EPS``)."""

Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``fun(x, runs) -> (f, g)``: x (A, P) rows of the runs ``runs`` (A,) int64; f (A,), g (A, P)."""


class Status(IntEnum):
    """Why a run stopped (``LBFGSResult.status``); ``RUNNING`` never appears in a result.

    SciPy's ``status`` is 0 for ``CONVERGED_*``, 1 for ``MAX_ITER`` and ``MAX_FUN`` and 2 for
    ``LINE_SEARCH_FAILURE`` (1 if that failure happened after more than ``max_fun``
    evaluations); ``DIVERGED`` has no SciPy counterpart.
    """

    RUNNING = _RUNNING  # -1, the code the buffers of lbfgs_state use
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


#: What :func:`minimize`'s settings accept.
MINIMIZE_CONSTRAINTS = {
    "max_iter": Interval(int, 0, None),
    "max_fun": Interval(int, 0, None),
    "history": Interval(int, 1, None),
    "max_line_search": Interval(int, 1, None),
    "gtol": Interval(float, 0, None, noun="a finite float"),
    "ftol": Interval(float, 0, None, noun="a finite float"),
}


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
    return _result(state)


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
    settings = {"max_iter": max_iter, "max_fun": max_fun, "history": history, "max_line_search": max_line_search}
    validate("minimize", MINIMIZE_CONSTRAINTS, {**settings, "gtol": gtol, "ftol": ftol})


def _result(state: _State) -> LBFGSResult:
    """The per-run result of a finished call (every run stopped)."""
    return LBFGSResult(
        x=state.out_x,
        f=torch.from_numpy(state.out_f).to(device=state.device, dtype=state.dtype),
        g=state.out_g,
        n_iter=torch.from_numpy(state.out_iter),
        n_fun=torch.from_numpy(state.out_fun),
        status=torch.from_numpy(state.out_status),
    )


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

    stp, done = search_steps(state.stp[:n], state.search[:n], f, gd)
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
