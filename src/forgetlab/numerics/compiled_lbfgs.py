"""L-BFGS for one run, compiled, with SciPy's L-BFGS-B rules for unbounded problems.

The algorithm and its stopping rules are those of the batched :mod:`forgetlab.numerics.lbfgs`
(its module docstring lists them step by step): the first trial step min(1 / ||d||, 1e10),
then 1; the Moré-Thuente line search (:mod:`forgetlab.numerics.morethuente`) with at most
``max_line_search`` trials; on a failed search the pairs are dropped and the iteration is
retried once along -g; a pair (s, y) is skipped when s'y <= eps (-g's); stops when
max_i |g_i| <= ``gtol``, when (f_k - f_{k+1}) <= tol max(|f_k|, |f_{k+1}|, 1), after
``max_iter`` iterations or more than ``max_fun`` evaluations; a trial point bit-for-bit equal
to the last point evaluated is not evaluated again (SciPy's memoisation); a non-finite f or
g'd flags the run ``DIVERGED`` at its last accepted point. The direction is the two-loop
recursion of Nocedal (1980) on the ``history`` newest pairs with H_0 = (s'y / y'y) I.

One run, reverse communication. The optimiser is a state held in three arrays
(:class:`LBFGSState`) and one compiled step, :func:`lbfgs_iterate`: after :func:`lbfgs_start`
the caller evaluates f and g at ``state.vectors[TRIAL]``, writes g into
``state.vectors[GS]`` and passes f to :func:`lbfgs_iterate`, until it returns a status other
than ``EVALUATE``. A compiled caller (the MLP fit of :mod:`forgetlab.numerics.compiled_mlp`)
runs that loop without the interpreter; :func:`minimize` runs it for a Python objective (the
tests compare it with ``scipy.optimize.minimize``). Nothing is shared between runs.

Floating point. Vectors (x, g, d, s, y and H g) have the dtype of ``x0`` (float32 or float64),
the inner products are BLAS dot products in that dtype, and the line search's and the
two-loop recursion's scalars are float64, with SciPy's float64 constants, as the batched
version. In float64 the iterates follow SciPy's to rounding level (inner products summed in
another order than its ``ddot``; the two-loop recursion instead of L-BFGS-B's compact form).

Memory: (2 ``history`` + 7) vectors of P in the dtype of ``x0``: 0.96 MB for the tutorial's
MLP (P = 10,401) in float32, resident in a 1 MiB L2 cache or the L3.

References
----------
.. [1] J. Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35(151),
   773-782, 1980.
.. [2] D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large scale
   optimization", Math. Programming 45, 503-528, 1989.
.. [3] R. H. Byrd, P. Lu, J. Nocedal and C. Zhu, "A limited memory algorithm for bound
   constrained optimization", SIAM J. Sci. Comput. 16(5), 1190-1208, 1995.
.. [4] J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
   decrease", ACM Trans. Math. Softw. 20(3), 286-307, 1994.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from forgetlab.errors import invalid
from forgetlab.numerics.jit import kernel
from forgetlab.numerics.morethuente import SEARCH_SIZE, STPMAX, dcsrch, dcsrch_start

__all__ = [
    "CONVERGED_GRADIENT",
    "CONVERGED_REDUCTION",
    "DEFAULT_FTOL",
    "DIVERGED",
    "EPS",
    "EVALUATE",
    "GS",
    "LINE_SEARCH_FAILURE",
    "MAX_FUN",
    "MAX_ITER",
    "TRIAL",
    "LBFGSState",
    "MinimizeResult",
    "lbfgs_iterate",
    "lbfgs_start",
    "minimize",
    "new_state",
    "state_arrays",
]

EPS = 2.220446049250313e-16
"""float64 machine epsilon, the ``epsmch`` of L-BFGS-B whatever the dtype."""
DEFAULT_FTOL = 2.220446049250313e-09
"""SciPy's default ``ftol`` (factr 1e7 times ``EPS``)."""

# statuses: the codes of forgetlab.numerics.lbfgs.Status, and EVALUATE (the caller evaluates the trial)
EVALUATE, CONVERGED_GRADIENT, CONVERGED_REDUCTION, MAX_ITER, MAX_FUN, LINE_SEARCH_FAILURE, DIVERGED = range(-1, 6)

# rows of the vectors after the 2 history rows of the ring (s_0..s_{m-1}, y_0..y_{m-1}), from the end
_X, _G, _D, _HG, TRIAL, _SEEN, GS = range(-7, 0)
# float64 scalars
_F, _FS, _STP, _FOLD, _GDOLD, _THETA = range(6)
_SEARCH = 8
_RHO = _SEARCH + SEARCH_SIZE  # then rho (history) and the two-loop's alphas (history)
# int64 counters
_N_ITER, _N_FUN, _IFUN, _HEAD, _COL, _PHASE, _STATUS = range(7)
_PHASE_START, _PHASE_SEARCH = 0, 1


class LBFGSState(NamedTuple):
    """The state of one run's L-BFGS (:func:`new_state`): three arrays, nothing shared.

    Attributes
    ----------
    vectors : ndarray of shape (2 history + 7, P), float32 or float64
        The ring of pairs s then y, then x, g, d, H g, the trial point, the last point
        evaluated and its gradient (rows ``TRIAL`` and ``GS`` are the caller's).
    scalars : ndarray of shape (31 + 2 history,), float64
        f, f at the last point evaluated, the step, the line search's state, rho of every pair.
    counters : ndarray of shape (7,), int64
        Iterations, evaluations, trials of the search, the ring's head and length, phase, status.
    """

    vectors: np.ndarray
    scalars: np.ndarray
    counters: np.ndarray


def new_state(n_params: int, *, history: int = 10, dtype: type = np.float64) -> LBFGSState:
    """A fresh state for ``n_params`` parameters of ``dtype`` (per run).

    Examples
    --------
    >>> new_state(5, history=3).vectors.shape
    (13, 5)
    """
    return LBFGSState(*state_arrays(np.zeros(n_params, dtype=dtype), history))


@kernel
def state_arrays(like: np.ndarray, history: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The arrays of a fresh :class:`LBFGSState` for parameters like ``like`` (P,) (compiled callers)."""
    return (
        np.zeros((2 * history + 7, like.shape[0]), like.dtype),
        np.zeros(_RHO + 2 * history),
        np.zeros(7, np.int64),
    )


@kernel
def lbfgs_start(vectors: np.ndarray, scalars: np.ndarray, counters: np.ndarray, x0: np.ndarray) -> int:
    """Start at ``x0`` (P,): returns ``EVALUATE`` with the trial point ``x0``."""
    scalars[:] = 0.0
    counters[:] = 0
    scalars[_THETA] = 1.0
    vectors[TRIAL, :] = x0
    counters[_PHASE] = _PHASE_START
    counters[_STATUS] = EVALUATE
    return EVALUATE


@kernel
def _abs_max(v: np.ndarray) -> float:
    """max_i |v_i|; NaN if an entry is NaN."""
    top = 0.0
    for i in range(v.shape[0]):
        a = abs(v[i])
        if a > top:
            top = a
        elif a != a:
            return np.nan
    return top


@kernel
def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """True if ``a`` and ``b`` are equal entry by entry (==)."""
    for i in range(a.shape[0]):  # noqa: SIM110  (an early-exit loop: no generator in compiled code)
        if a[i] != b[i]:
            return False
    return True


@kernel
def _put_trial(vectors: np.ndarray, stp: float) -> None:
    """The trial point x + stp d, or z = x - H g when stp is exactly 1 (as L-BFGS-B)."""
    x, d, hg, trial = vectors[_X], vectors[_D], vectors[_HG], vectors[TRIAL]
    if stp == 1.0:
        for i in range(x.shape[0]):
            trial[i] = x[i] - hg[i]
        return
    step = np.empty(1, vectors.dtype)
    step[0] = stp
    s = step[0]
    for i in range(x.shape[0]):
        trial[i] = d[i] * s + x[i]


@kernel
def _begin_search(vectors: np.ndarray, scalars: np.ndarray, counters: np.ndarray) -> bool:
    """Start the line search along d = z - x, z = x - H g; False if it cannot (g'd >= 0)."""
    x, d, hg, trial = vectors[_X], vectors[_D], vectors[_HG], vectors[TRIAL]
    for i in range(x.shape[0]):
        z = x[i] - hg[i]
        trial[i] = z
        d[i] = z - x[i]
    gd = float(np.dot(d, vectors[_G]))
    stp = min(1.0 / np.sqrt(float(np.dot(d, d))), STPMAX) if counters[_N_ITER] == 0 else 1.0
    if not gd < 0.0:
        return False
    scalars[_STP] = stp
    scalars[_FOLD] = scalars[_F]
    scalars[_GDOLD] = gd
    counters[_IFUN] = 1
    dcsrch_start(scalars[_SEARCH:_RHO], scalars[_F], gd, stp)
    if stp != 1.0:
        _put_trial(vectors, stp)
    return True


@kernel
def _direction(vectors: np.ndarray, scalars: np.ndarray, counters: np.ndarray) -> None:
    """H g into row H g: the two-loop recursion over the stored pairs, newest first, H_0 = I / theta."""
    m = (vectors.shape[0] - 7) // 2
    head, col = counters[_HEAD], counters[_COL]
    hg = vectors[_HG]
    hg[:] = vectors[_G]
    rho, alpha = scalars[_RHO : _RHO + m], scalars[_RHO + m : _RHO + 2 * m]
    coef = np.empty(1, vectors.dtype)
    for k in range(col):
        j = (head + col - 1 - k) % m
        a = rho[j] * float(np.dot(vectors[j], hg))
        alpha[j] = a
        coef[0] = a
        c, y = coef[0], vectors[m + j]
        for i in range(hg.shape[0]):
            hg[i] -= c * y[i]
    coef[0] = 1.0 / scalars[_THETA]
    gamma = coef[0]
    for i in range(hg.shape[0]):
        hg[i] *= gamma
    for k in range(col):
        j = (head + k) % m
        b = rho[j] * float(np.dot(vectors[m + j], hg))
        coef[0] = alpha[j] - b
        c, s = coef[0], vectors[j]
        for i in range(hg.shape[0]):
            hg[i] += c * s[i]


@kernel
def _store_pair(vectors: np.ndarray, scalars: np.ndarray, counters: np.ndarray, stp: float, dr: float) -> None:
    """Store s = stp d and y = g_new - g in the ring (the oldest pair dropped beyond history)."""
    m = (vectors.shape[0] - 7) // 2
    head, col = counters[_HEAD], counters[_COL]
    if col >= m:
        slot = head
        counters[_HEAD] = (head + 1) % m
    else:
        slot = (head + col) % m
        counters[_COL] = col + 1
    step = np.empty(1, vectors.dtype)
    step[0] = stp
    c = step[0]
    s, y, d, gs, g = vectors[slot], vectors[m + slot], vectors[_D], vectors[GS], vectors[_G]
    for i in range(d.shape[0]):
        s[i] = d[i] * c
        y[i] = gs[i] - g[i]
    scalars[_RHO + slot] = 1.0 / dr
    scalars[_THETA] = float(np.dot(y, y)) / dr


@kernel
def _accept(
    vectors: np.ndarray,
    scalars: np.ndarray,
    counters: np.ndarray,
    gd: float,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
) -> int:
    """Accept the trial point that ended the search: test the stops, store the pair, start the next search.

    Returns a stop status, ``EVALUATE`` (the next search started) or ``LINE_SEARCH_FAILURE``
    when the next search cannot start (g'd >= 0: the caller retries without pairs).
    """
    f, fold, stp = scalars[_FS], scalars[_FOLD], scalars[_STP]
    counters[_N_ITER] += 1
    status = EVALUATE
    if fold - f <= tol * max(max(abs(fold), abs(f)), 1.0):
        status = CONVERGED_REDUCTION
    if _abs_max(vectors[GS]) <= gtol:
        status = CONVERGED_GRADIENT
    if counters[_N_FUN] > max_fun:
        status = MAX_FUN
    if counters[_N_ITER] >= max_iter:
        status = MAX_ITER
    gdold = scalars[_GDOLD]
    dr = (gd - gdold) if stp == 1.0 else (gd - gdold) * stp
    ddum = -gdold if stp == 1.0 else -gdold * stp
    if status == EVALUATE and not dr <= EPS * ddum:
        _store_pair(vectors, scalars, counters, stp, dr)
    vectors[_X, :] = vectors[_SEEN]
    vectors[_G, :] = vectors[GS]
    scalars[_F] = f
    if status != EVALUATE:
        return status
    if counters[_COL] > 0:
        _direction(vectors, scalars, counters)
    else:
        vectors[_HG, :] = vectors[_G]
    return EVALUATE if _begin_search(vectors, scalars, counters) else LINE_SEARCH_FAILURE


@kernel
def _after_trial(
    vectors: np.ndarray,
    scalars: np.ndarray,
    counters: np.ndarray,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
    max_line_search: int,
) -> int:
    """Advance the line search with f, g at the last point evaluated; returns the next status."""
    f = scalars[_FS]
    gd = float(np.dot(vectors[GS], vectors[_D]))
    if not (np.isfinite(f) and np.isfinite(gd)):
        return DIVERGED
    stp, done = dcsrch(scalars[_SEARCH:_RHO], f, gd, scalars[_STP])
    scalars[_STP] = stp
    failed = False
    if not done:
        counters[_IFUN] += 1
        if counters[_IFUN] - 1 >= max_line_search:
            failed = True
        else:
            _put_trial(vectors, stp)
            return EVALUATE
    else:
        status = _accept(vectors, scalars, counters, gd, max_iter, max_fun, gtol, tol)
        if status != LINE_SEARCH_FAILURE:
            return status
        failed = True
    if failed and counters[_COL] > 0:  # back at x (never left): retry along -g without pairs
        counters[_COL] = 0
        counters[_HEAD] = 0
        scalars[_THETA] = 1.0
        vectors[_HG, :] = vectors[_G]
        return EVALUATE if _begin_search(vectors, scalars, counters) else LINE_SEARCH_FAILURE
    return LINE_SEARCH_FAILURE


@kernel
def _first(vectors: np.ndarray, scalars: np.ndarray, counters: np.ndarray, gtol: float) -> int:
    """Take f and g at x0, test them, and start the first line search along -g."""
    vectors[_X, :] = vectors[_SEEN]
    vectors[_G, :] = vectors[GS]
    f = scalars[_FS]
    scalars[_F] = f
    top = _abs_max(vectors[_G])
    counters[_PHASE] = _PHASE_SEARCH
    if not (np.isfinite(f) and np.isfinite(top)):
        return DIVERGED
    if top <= gtol:
        return CONVERGED_GRADIENT
    vectors[_HG, :] = vectors[_G]
    return EVALUATE if _begin_search(vectors, scalars, counters) else LINE_SEARCH_FAILURE


@kernel
def lbfgs_iterate(
    vectors: np.ndarray,
    scalars: np.ndarray,
    counters: np.ndarray,
    f: float,
    max_iter: int,
    max_fun: int,
    gtol: float,
    tol: float,
    max_line_search: int,
) -> int:
    """Take f (and g, in row ``GS``) at the trial point; advance to the next point to evaluate or a stop.

    Returns ``EVALUATE`` (evaluate at row ``TRIAL`` and call again) or a final status; the
    final point is row ``-7`` of ``vectors`` (:func:`minimize` returns it). A trial point equal
    to the last point evaluated is not returned for evaluation: its f and g are reused.
    ``tol`` is the relative-reduction tolerance (SciPy's ``ftol``).
    """
    counters[_N_FUN] += 1
    vectors[_SEEN, :] = vectors[TRIAL]
    scalars[_FS] = f
    while True:
        if counters[_PHASE] == _PHASE_START:
            status = _first(vectors, scalars, counters, gtol)
        else:
            status = _after_trial(vectors, scalars, counters, max_iter, max_fun, gtol, tol, max_line_search)
        counters[_STATUS] = status
        if status != EVALUATE or not _same(vectors[TRIAL], vectors[_SEEN]):
            return status


class MinimizeResult(NamedTuple):
    """What :func:`minimize` returns for one run: x, f, g at the final point, counts and status code."""

    x: np.ndarray
    f: float
    g: np.ndarray
    n_iter: int
    n_fun: int
    status: int


def minimize(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    max_iter: int = 15000,
    max_fun: int = 15000,
    gtol: float = 1e-5,
    ftol: float = DEFAULT_FTOL,
    history: int = 10,
    max_line_search: int = 20,
) -> MinimizeResult:
    """Minimise a Python objective with the compiled L-BFGS, as ``scipy.optimize.minimize(method="L-BFGS-B")``.

    The loop around :func:`lbfgs_iterate` in Python, for tests and small problems; options
    as SciPy's ``maxiter``, ``maxfun``, ``gtol``, ``ftol``, ``maxcor`` and ``maxls``.

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (f, g)``: x (P,) of the dtype of ``x0`` (do not modify it); g (P,).
    x0 : ndarray of shape (P,), float32 or float64
        The start point (not modified).
    max_iter, max_fun : int, default 15000
        Iteration and evaluation limits (SciPy's ``maxiter``, ``maxfun``).
    gtol : float, default 1e-5
        Stop when max_i |g_i| <= gtol.
    ftol : float, default 2.220446049250313e-09
        Stop when the relative reduction of f is at most ftol.
    history : int, default 10
        Pairs kept (``maxcor``).
    max_line_search : int, default 20
        Trials per line search (``maxls``).

    Returns
    -------
    MinimizeResult
        The status is a code of :class:`forgetlab.numerics.lbfgs.Status`.

    Raises
    ------
    InvalidParameterError
        If ``x0`` is not a non-empty 1-D float32 or float64 array.

    Examples
    --------
    >>> h = np.array([1.0, 10.0])
    >>> res = minimize(lambda x: (0.5 * float(h @ (x - 1) ** 2), h * (x - 1)), np.zeros(2))
    >>> res.x.round(6).tolist(), res.n_iter, res.n_fun, res.status
    ([1.0, 1.0], 5, 6, 0)
    """
    if not isinstance(x0, np.ndarray) or x0.ndim != 1 or x0.size == 0 or x0.dtype not in (np.float32, np.float64):
        raise invalid("x0", "minimize", "a non-empty 1-D float32 or float64 array", x0)
    state = new_state(x0.size, history=history, dtype=x0.dtype.type)
    tol = (ftol / EPS) * EPS
    status = lbfgs_start(*state, x0)
    while status == EVALUATE:
        f, g = fun(state.vectors[TRIAL])
        state.vectors[GS] = g
        status = lbfgs_iterate(*state, float(f), max_iter, max_fun, gtol, tol, max_line_search)
    v, counters = state.vectors, state.counters
    return MinimizeResult(
        v[_X].copy(), float(state.scalars[_F]), v[_G].copy(), int(counters[_N_ITER]), int(counters[_N_FUN]), status
    )
