"""The Moré-Thuente line search (MINPACK-2's ``dcsrch`` and ``dcstep``): the one definition, compiled.

A port, operation for operation, of the C translation of MINPACK-2 that SciPy's L-BFGS-B
(1.15+) calls, with the parameters L-BFGS-B's ``lnsrlb`` fixes. Both L-BFGS implementations
search with it: the compiled engine's (:mod:`forgetlab.numerics.compiled_lbfgs`) calls
:func:`dcsrch` for its one run, the batched one (:mod:`forgetlab.numerics.lbfgs`, the torch
engine) calls :func:`start_searches` and :func:`search_steps`, which loop over the runs of a
batch in compiled code. The search is reverse communication: :func:`dcsrch_start` takes
phi(0), phi'(0) and the first step, then each :func:`dcsrch` call takes phi and phi' at the
current trial step and returns the next trial step, or ``done``.

It finds a step ``stp`` with the sufficient decrease and curvature conditions

.. math:: \\phi(\\text{stp}) \\le \\phi(0) + \\text{ftol}\\,\\text{stp}\\,\\phi'(0), \\qquad
          |\\phi'(\\text{stp})| \\le \\text{gtol}\\,|\\phi'(0)|,

with L-BFGS-B's constants ftol = 1e-3, gtol = 0.9, xtol = 0.1, stpmin = 0, stpmax = 1e10.
A warning of MINPACK (rounding errors prevent progress, the bracket is below xtol, the step
is at stpmin or stpmax) ends the search too (``done``), at the current trial step, as
L-BFGS-B treats it. All scalars are float64 (IEEE arithmetic: see :mod:`forgetlab.numerics.jit`).

The search state is a float64 array of :data:`SEARCH_SIZE` entries (MINPACK's ``isave`` and
``dsave``), owned by one run.

References
----------
.. [1] J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
   decrease", ACM Trans. Math. Softw. 20(3), 286-307, 1994.
"""

from __future__ import annotations

import numpy as np

from forgetlab.numerics.jit import compiled_any, kernel

__all__ = [
    "FTOL",
    "GTOL",
    "SEARCH_SIZE",
    "STPMAX",
    "STPMIN",
    "XTOL",
    "compile_searches",
    "dcsrch",
    "dcsrch_start",
    "dcstep",
    "search_steps",
    "start_searches",
]

FTOL, GTOL, XTOL = 1e-3, 0.9, 0.1
STPMIN, STPMAX = 0.0, 1e10
_XTRAPL, _XTRAPU = 1.1, 4.0
# entries of the search state
_BRACKT, _STAGE, _GINIT, _GTEST, _GX, _GY, _FINIT, _FX, _FY, _STX, _STY, _STMIN, _STMAX, _WIDTH, _WIDTH1 = range(15)
#: Entries of a search state (:func:`dcsrch_start`).
SEARCH_SIZE = 15


@kernel
def dcstep(
    stx: float,
    fx: float,
    dx: float,
    sty: float,
    fy: float,
    dy: float,
    stp: float,
    fp: float,
    dp: float,
    brackt: bool,
    stpmin: float,
    stpmax: float,
) -> tuple[float, float, float, float, float, float, float, bool]:
    """One safeguarded step of Moré-Thuente: the new interval (stx, sty) and the next trial step.

    The four cases of [1]_ section 4: (1) a higher function value: the cubic step, or the
    average of the cubic and quadratic steps; (2) derivatives of opposite signs: the cubic or
    the secant step; (3) the derivative decreases in magnitude: the cubic step towards the
    bound or the secant step, safeguarded; (4) otherwise the cubic step in the bracket, or a
    bound. Returns ``(stx, fx, dx, sty, fy, dy, stp, brackt)``.

    Examples
    --------
    >>> stp = dcstep(0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 1.0, 2.0, 1.0, False, 0.0, 5.0)[6]
    >>> 0.0 < stp < 1.0
    True
    """
    sgnd = dp * (dx / abs(dx))
    theta = s = ts = xs = ps = 0.0
    if fp > fx or sgnd < 0.0 or abs(dp) < abs(dx):
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = _fmax(abs(theta), _fmax(abs(dx), abs(dp)))
        ts, xs, ps = theta / s, dx / s, dp / s
    if fp > fx:
        root = s * np.sqrt(ts * ts - xs * ps)
        gamma = -root if stp < stx else root
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) < abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        return stx, fx, dx, stp, fp, dp, stpf, True
    if sgnd < 0.0:
        root = s * np.sqrt(ts * ts - xs * ps)
        gamma = -root if stp > stx else root
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        stpc = stp + (p / q) * (stx - stp)
        secant = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(secant - stp) else secant
        return stp, fp, dp, stx, fx, dx, stpf, True
    if abs(dp) < abs(dx):
        root3 = s * np.sqrt(_fmax(0.0, ts * ts - xs * ps))
        gamma = -root3 if stp > stx else root3
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        bound_step = stpmax if stp > stx else stpmin
        stpc = stp + r * (stx - stp) if r < 0.0 and gamma != 0.0 else bound_step
        secant = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            bound = stp + 0.66 * (sty - stp)
            stpf = stpc if abs(stpc - stp) < abs(secant - stp) else secant
            stpf = _fmin(bound, stpf) if stp > stx else _fmax(bound, stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(secant - stp) else secant
            stpf = _fmax(stpmin, _fmin(stpmax, stpf))
        return stp, fp, dp, sty, fy, dy, stpf, brackt
    if brackt:
        theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
        s = _fmax(abs(theta), _fmax(abs(dy), abs(dp)))
        ts, ys, ps = theta / s, dy / s, dp / s
        root = s * np.sqrt(ts * ts - ys * ps)
        gamma = -root if stp > sty else root
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dy
        stpf = stp + (p / q) * (sty - stp)
    else:
        stpf = stpmax if stp > stx else stpmin
    return stp, fp, dp, sty, fy, dy, stpf, brackt


@kernel
def _fmin(a: float, b: float) -> float:
    """``np.fmin`` of two floats: the other one if one is NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a < b else b


@kernel
def _fmax(a: float, b: float) -> float:
    """``np.fmax`` of two floats: the other one if one is NaN."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a > b else b


@kernel
def dcsrch_start(search: np.ndarray, f: float, g: float, stp: float) -> None:
    """Start a search (MINPACK's ``task = 'START'``): phi(0) = ``f``, phi'(0) = ``g`` < 0, first step ``stp``.

    Fills ``search`` (:data:`SEARCH_SIZE`,) float64; the caller then evaluates phi at ``stp``.
    """
    search[:] = 0.0
    search[_STAGE] = 1.0
    search[_GINIT] = g
    search[_GTEST] = FTOL * g
    search[_GX] = g
    search[_GY] = g
    search[_FINIT] = f
    search[_FX] = f
    search[_FY] = f
    search[_STMAX] = stp + _XTRAPU * stp
    search[_WIDTH] = STPMAX - STPMIN
    search[_WIDTH1] = (STPMAX - STPMIN) / 0.5


@kernel
def dcsrch(search: np.ndarray, f: float, g: float, stp: float) -> tuple[float, bool]:
    """One call of ``dcsrch`` with phi(stp) = ``f`` and phi'(stp) = ``g``: returns (next step, done).

    ``done``: the conditions of the module docstring hold at ``stp``, or MINPACK warns; the
    search ends at ``stp``. Otherwise ``search`` is updated in place and phi is to be
    evaluated at the returned step.

    Examples
    --------
    phi(a) = (a - 2)^2 from a = 0 with a first step of 10 (too long: the search comes back
    until both conditions hold):

    >>> search = np.zeros(SEARCH_SIZE)
    >>> dcsrch_start(search, 4.0, -4.0, 10.0)
    >>> stp, done, trials = 10.0, False, 0
    >>> while not done:
    ...     stp, done = dcsrch(search, (stp - 2.0) ** 2, 2.0 * (stp - 2.0), stp)
    ...     trials += 1
    >>> f, g = (stp - 2.0) ** 2, 2.0 * (stp - 2.0)
    >>> bool(f <= 4.0 + FTOL * stp * -4.0 and abs(g) <= GTOL * 4.0), trials > 1
    (True, True)
    """
    brackt = search[_BRACKT] != 0.0
    gtest, stx, sty, stmin, stmax = search[_GTEST], search[_STX], search[_STY], search[_STMIN], search[_STMAX]
    ftest = search[_FINIT] + stp * gtest
    if search[_STAGE] == 1.0 and f <= ftest and g >= 0.0:
        search[_STAGE] = 2.0
    if (
        (brackt and (stp <= stmin or stp >= stmax))
        or (brackt and (stmax - stmin) <= XTOL * stmax)
        or (stp == STPMAX and f <= ftest and g <= gtest)
        or (stp == STPMIN and (f > ftest or g >= gtest))
        or (f <= ftest and abs(g) <= GTOL * (-search[_GINIT]))
    ):
        return stp, True
    fx, fy, gx, gy = search[_FX], search[_FY], search[_GX], search[_GY]
    if search[_STAGE] == 1.0 and f <= fx and f > ftest:
        # stage 1: step on the modified function psi(a) = phi(a) - phi(0) - ftol a phi'(0)
        stx, fx, gx, sty, fy, gy, new, brackt = dcstep(
            stx, fx - stx * gtest, gx - gtest, sty, fy - sty * gtest, gy - gtest,
            stp, f - stp * gtest, g - gtest, brackt, stmin, stmax,
        )  # fmt: skip
        fx, fy, gx, gy = fx + stx * gtest, fy + sty * gtest, gx + gtest, gy + gtest
    else:
        stx, fx, gx, sty, fy, gy, new, brackt = dcstep(stx, fx, gx, sty, fy, gy, stp, f, g, brackt, stmin, stmax)
    width, width1 = search[_WIDTH], search[_WIDTH1]
    if brackt:
        if abs(sty - stx) >= 0.66 * width1:  # bisect when the bracket does not shrink fast enough
            new = stx + 0.5 * (sty - stx)
        width1, width = width, abs(sty - stx)
        stmin, stmax = _fmin(stx, sty), _fmax(stx, sty)
    else:
        stmin, stmax = new + _XTRAPL * (new - stx), new + _XTRAPU * (new - stx)
    new = _fmin(_fmax(new, STPMIN), STPMAX)
    if brackt and (new <= stmin or new >= stmax or stmax - stmin <= XTOL * stmax):
        new = stx
    search[_BRACKT] = 1.0 if brackt else 0.0
    search[_GX], search[_GY], search[_FX], search[_FY], search[_STX], search[_STY] = gx, gy, fx, fy, stx, sty
    search[_STMIN], search[_STMAX], search[_WIDTH], search[_WIDTH1] = stmin, stmax, width, width1
    return new, False


@kernel
def _start_searches(search: np.ndarray, f: np.ndarray, g: np.ndarray, stp: np.ndarray) -> None:
    for r in range(f.size):
        dcsrch_start(search[r], f[r], g[r], stp[r])


@kernel
def _search_steps(search: np.ndarray, f: np.ndarray, g: np.ndarray, stp: np.ndarray, done: np.ndarray) -> None:
    for r in range(f.size):
        stp[r], done[r] = dcsrch(search[r], f[r], g[r], stp[r])


def _float64(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def start_searches(f: np.ndarray, g: np.ndarray, stp: np.ndarray) -> np.ndarray:
    """The search states (n, :data:`SEARCH_SIZE`) of ``n`` runs after :func:`dcsrch_start` (requires g < 0).

    Examples
    --------
    >>> start_searches(np.array([4.0]), np.array([-4.0]), np.array([10.0])).shape
    (1, 15)
    """
    search = np.zeros((np.size(f), SEARCH_SIZE))
    _start_searches(search, _float64(f), _float64(g), _float64(stp))
    return search


def search_steps(stp: np.ndarray, search: np.ndarray, f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dcsrch` for each of ``n`` runs at its step ``stp``: returns (next steps, done), both (n,).

    ``search`` (n, :data:`SEARCH_SIZE`) and ``stp`` (n,), both float64, are
    updated in place (a run's step is left where its search is done); ``f`` and ``g`` are phi
    and phi' at ``stp``. The runs are independent: each one's step is what :func:`dcsrch`
    gives it alone.
    """
    done = np.zeros(stp.size, dtype=np.bool_)
    _search_steps(search, _float64(f), _float64(g), stp, done)
    return stp.copy(), done


def compile_searches() -> bool:
    """Compile (or load from numba's cache) :func:`start_searches` and :func:`search_steps`; True if compiled."""
    one = np.ones(1)
    search_steps(one.copy(), start_searches(one, -one, one), one, one)
    return compiled_any(_start_searches, _search_steps)
