"""The Moré–Thuente line search of L-BFGS-B (MINPACK-2's ``dcsrch`` and ``dcstep``), batched over runs.

:func:`forgetlab.numerics.lbfgs.minimize` searches phi(a) = f(x + a d) of every running run with
the algorithm of Moré and Thuente [1]_ as coded in MINPACK-2 [2]_ and shipped with L-BFGS-B v3.0
[3]_ (SciPy's C translation), statement for statement, with the parameters L-BFGS-B's ``lnsrlb``
fixes: ftol = 1e-3, gtol = 0.9, xtol = 0.1, stpmin = 0, stpmax = 1e10.

A search's state is a row of 15 float64 (the columns ``_BRACKT`` .. ``_WIDTH1``, dcsrch's
``isave``/``dsave``), started by :func:`_dcsrch_start` and advanced one trial at a time by
:func:`_search_step`. The logic comes twice: vectorised over runs, one array element per run
(:func:`_dcstep`, :func:`_dcsrch`, :func:`_dcsrch_done`), and for one run on float64 scalars
(:func:`_dcstep_one`, :func:`_dcsrch_one`), with the same IEEE float64 operations in the same
order, so a run's steps are bit-identical whichever is used; :func:`_search_step` takes the
scalar twins for up to ``_FEW_SEARCHES`` runs (less overhead). Every scalar is float64 whatever
the dtype of the parameters. Nothing here knows the optimiser's state or imports the rest of
the L-BFGS: the functions take and return numpy arrays.

References
----------
.. [1] J. J. Moré and D. J. Thuente, "Line search algorithms with guaranteed sufficient
   decrease", ACM Trans. Math. Softw. 20(3), 286-307, 1994.
.. [2] MINPACK-2 subroutines ``dcsrch`` and ``dcstep``: J. J. Moré and D. J. Thuente, MINPACK-1
   Project, Argonne National Laboratory, June 1983; B. M. Averick, R. G. Carter and J. J. Moré,
   MINPACK-2 Project, Argonne National Laboratory and University of Minnesota, November 1993.
.. [3] J. L. Morales and J. Nocedal, "Remark on Algorithm 778: L-BFGS-B", ACM Trans. Math.
   Softw. 38(1), 2011 (L-BFGS-B v3.0, the version SciPy translated to C).
"""

from __future__ import annotations

import numpy as np

# Moré–Thuente parameters fixed by L-BFGS-B's lnsrlb.
_LS_FTOL, _LS_GTOL, _LS_XTOL = 1e-3, 0.9, 0.1
_STPMIN, _STPMAX = 0.0, 1e10
_XTRAPL, _XTRAPU = 1.1, 4.0
# columns of the line-search state (one row per run), as in dcsrch's isave/dsave
_BRACKT, _STAGE, _GINIT, _GTEST, _GX, _GY, _FINIT, _FX, _FY, _STX, _STY, _STMIN, _STMAX, _WIDTH, _WIDTH1 = range(15)
# up to this many runs, the line search's scalar logic runs run by run (same arithmetic, less overhead)
_FEW_SEARCHES = 12


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

    The four cases of [1] section 4: (1) higher function value: cubic, or average of cubic and
    quadratic; (2) derivatives of opposite sign: cubic or secant; (3) derivative decreasing in
    magnitude: cubic towards the bound, or secant, safeguarded; (4) otherwise: cubic on the
    bracket, or the bound. Every case's step is computed for every run (one function per
    case) and each run takes its case's. Returns (stx, fx, dx, sty, fy, dy, stp, brackt). Call
    under ``np.errstate(all="ignore")``; :func:`_dcstep_one` does the same operations for one
    run, case by case.
    """
    sgnd = dp * (dx / np.abs(dx))
    case1 = fp > fx
    case2 = ~case1 & (sgnd < 0.0)
    case3 = ~case1 & ~case2 & (np.abs(dp) < np.abs(dx))

    theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
    s = np.fmax(np.abs(theta), np.fmax(np.abs(dx), np.abs(dp)))
    ts, xs, ps = theta / s, dx / s, dp / s
    root = s * np.sqrt(ts * ts - xs * ps)
    step1 = _step_higher_value(stx, fx, dx, stp, fp, dp, theta, root)
    step2, secant = _step_opposite_slopes(stx, dx, stp, dp, theta, root)
    root3 = s * np.sqrt(np.fmax(0.0, ts * ts - xs * ps))
    step3 = _step_slope_decreases(stx, dx, sty, stp, dp, brackt, stpmin, stpmax, theta, root3, secant)
    step4 = _step_slope_grows(stx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax)

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


def _step_higher_value(
    stx: np.ndarray,
    fx: np.ndarray,
    dx: np.ndarray,
    stp: np.ndarray,
    fp: np.ndarray,
    dp: np.ndarray,
    theta: np.ndarray,
    root: np.ndarray,
) -> np.ndarray:
    """:func:`_dcstep`'s case 1, a higher function value (the minimum is bracketed).

    The cubic step if it is closer to stx than the quadratic step, else their average; ``theta``
    and ``root`` are the cubic's terms on (stx, stp).
    """
    gamma = np.where(stp < stx, -root, root)
    p = (gamma - dx) + theta
    q = ((gamma - dx) + gamma) + dp
    stpc = stx + (p / q) * (stp - stx)
    stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
    return np.where(np.abs(stpc - stx) < np.abs(stpq - stx), stpc, stpc + (stpq - stpc) / 2.0)


def _step_opposite_slopes(
    stx: np.ndarray, dx: np.ndarray, stp: np.ndarray, dp: np.ndarray, theta: np.ndarray, root: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_dcstep`'s case 2, a lower function value and derivatives of opposite sign (bracketed).

    Returns (the cubic step if it is farther from stp than the secant step, else the secant step;
    the secant step, which case 3 uses too).
    """
    gamma = np.where(stp > stx, -root, root)
    p = (gamma - dp) + theta
    q = ((gamma - dp) + gamma) + dx
    stpc = stp + (p / q) * (stx - stp)
    secant = stp + (dp / (dp - dx)) * (stx - stp)
    return np.where(np.abs(stpc - stp) > np.abs(secant - stp), stpc, secant), secant


def _step_slope_decreases(
    stx: np.ndarray,
    dx: np.ndarray,
    sty: np.ndarray,
    stp: np.ndarray,
    dp: np.ndarray,
    brackt: np.ndarray,
    stpmin: np.ndarray,
    stpmax: np.ndarray,
    theta: np.ndarray,
    root3: np.ndarray,
    secant: np.ndarray,
) -> np.ndarray:
    """:func:`_dcstep`'s case 3, a lower value, derivatives of one sign, the derivative's magnitude decreasing.

    The cubic step (or the bound it tends to) if it is closer to stp than the secant step,
    else the secant step, kept within 0.66 of the way to sty when bracketed; when not
    bracketed the farther of the two, clipped to [stpmin, stpmax].
    """
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
    return np.where(brackt, near, far)


def _step_slope_grows(
    stx: np.ndarray,
    sty: np.ndarray,
    fy: np.ndarray,
    dy: np.ndarray,
    stp: np.ndarray,
    fp: np.ndarray,
    dp: np.ndarray,
    brackt: np.ndarray,
    stpmin: np.ndarray,
    stpmax: np.ndarray,
) -> np.ndarray:
    """:func:`_dcstep`'s case 4, a lower value, derivatives of one sign, the derivative's magnitude not decreasing.

    The minimiser of the cubic on (stp, sty) when bracketed, else stpmax or stpmin.
    """
    theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
    s = np.fmax(np.abs(theta), np.fmax(np.abs(dy), np.abs(dp)))
    ts, ys, ps = theta / s, dy / s, dp / s
    root = s * np.sqrt(ts * ts - ys * ps)
    gamma = np.where(stp > sty, -root, root)
    p = (gamma - dp) + theta
    q = ((gamma - dp) + gamma) + dy
    stpc = stp + (p / q) * (sty - stp)
    return np.where(brackt, stpc, np.where(stp > stx, stpmax, stpmin))


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


def _search_step(stp: np.ndarray, st: np.ndarray, f: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``dcsrch`` for every running run at its current step; stores the next steps; returns (steps, done).

    ``stp`` (n,) and ``st`` (n, 15) are the runs' steps and search states, both updated in place;
    ``f`` and ``g`` (n,) are phi and phi' at ``stp``.

    The convergence test is vectorised; the step of the runs not done is computed run by run when
    they are few (:func:`_dcsrch_one`), else vectorised over them (:func:`_dcsrch`).
    """
    n = stp.size
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
