"""The Moré-Thuente line search, one definition for both engines, against SciPy on one table of cases.

:mod:`forgetlab.numerics.morethuente` is the line search of the compiled engine (``dcsrch``,
one run) and of the torch engine's batched L-BFGS (``start_searches``/``search_steps``, the
runs of a batch in one compiled loop). Both paths are checked here against SciPy's own
MINPACK-2 translation (``scipy.optimize._dcsrch``, what L-BFGS-B calls): the trial steps on
the test functions of Moré & Thuente (1994), and ``dcstep``'s four cases bit for bit.
"""

import numpy as np
import pytest
from scipy.optimize._dcsrch import DCSRCH
from scipy.optimize._dcsrch import dcstep as scipy_dcstep

from forgetlab.numerics.morethuente import (
    FTOL,
    GTOL,
    SEARCH_SIZE,
    STPMAX,
    STPMIN,
    XTOL,
    dcsrch,
    dcsrch_start,
    dcstep,
    search_steps,
    start_searches,
)


def _gamma(beta: float) -> float:
    return np.sqrt(1 + beta**2) - beta


def _phi0(a: float, beta: float) -> tuple[float, float]:
    if a <= 1 - beta:
        return 1 - a, -1.0
    if a >= 1 + beta:
        return a - 1, 1.0
    return (a - 1) ** 2 / (2 * beta) + beta / 2, (a - 1) / beta


def _wiggly(a: float, beta: float = 0.01, waves: int = 39) -> tuple[float, float]:
    f, g = _phi0(a, beta)
    w = waves * np.pi / 2
    return f + 2 * (1 - beta) / (waves * np.pi) * np.sin(w * a), g + (1 - beta) * np.cos(w * a)


def _yanai(a: float, b1: float, b2: float) -> tuple[float, float]:
    u, v = np.sqrt((1 - a) ** 2 + b2**2), np.sqrt(a**2 + b1**2)
    return _gamma(b1) * u + _gamma(b2) * v, _gamma(b1) * (a - 1) / u + _gamma(b2) * a / v


#: The test functions of Moré & Thuente (1994), section 5, as (phi, phi') of the step.
FUNCTIONS = {
    "rational": lambda a: (-a / (a * a + 2.0), (a * a - 2.0) / (a * a + 2.0) ** 2),
    "quintic": lambda a: ((a + 0.004) ** 5 - 2 * (a + 0.004) ** 4, 5 * (a + 0.004) ** 4 - 8 * (a + 0.004) ** 3),
    "wiggly": _wiggly,
    "yanai-1": lambda a: _yanai(a, 0.001, 0.001),
    "yanai-2": lambda a: _yanai(a, 0.01, 0.001),
    "yanai-3": lambda a: _yanai(a, 0.001, 0.01),
}


def our_trials(phi, stp: float, maxiter: int = 30) -> list[float]:
    f0, g0 = phi(0.0)
    search = np.zeros(SEARCH_SIZE)
    dcsrch_start(search, f0, g0, stp)
    trials = []
    for _ in range(maxiter):
        trials.append(stp)
        f, g = phi(stp)
        stp, done = dcsrch(search, f, g, stp)
        if done:
            break
    return trials


def scipy_trials(phi, stp: float, maxiter: int = 30) -> list[float]:
    trials = []

    def value(a: float) -> float:
        trials.append(a)
        return phi(a)[0]

    search = DCSRCH(value, lambda a: phi(a)[1], FTOL, GTOL, XTOL, STPMIN, STPMAX)
    search(stp, phi0=phi(0.0)[0], derphi0=phi(0.0)[1], maxiter=maxiter)
    return trials


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("first_step", [1e-3, 1e-1, 1e1, 1e3])
def test_line_search_takes_scipys_trial_steps(name, first_step):
    phi = FUNCTIONS[name]
    ours, theirs = our_trials(phi, first_step), scipy_trials(phi, first_step)
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    f, g = phi(ours[-1])
    assert f <= phi(0.0)[0] + FTOL * ours[-1] * phi(0.0)[1] or len(ours) == 30
    assert STPMIN <= ours[-1] <= STPMAX and np.isfinite(g)


def batched_trials(cases: list[tuple[str, float]], maxiter: int = 30) -> list[list[float]]:
    """Every case searched at once, as the batched L-BFGS does: one ``search_steps`` call per round."""
    phis = [FUNCTIONS[name] for name, _ in cases]
    stp = np.array([first for _, first in cases])
    values = np.array([phi(0.0) for phi in phis])
    search = start_searches(values[:, 0], values[:, 1], stp)
    trials: list[list[float]] = [[] for _ in cases]
    going = np.ones(len(cases), dtype=bool)
    for _ in range(maxiter):
        for r in np.flatnonzero(going):
            trials[r].append(float(stp[r]))
        values = np.array([phi(a) for phi, a in zip(phis, stp, strict=True)])
        before = stp.copy()
        new, done = search_steps(stp, search, values[:, 0], values[:, 1])
        assert np.array_equal(new[done], before[done]), "a finished search keeps its step"
        going &= ~done
        if not going.any():
            break
    return trials


def test_the_batched_path_takes_each_searchs_own_steps():
    """All 24 cases in one batch: each takes the trial steps it takes alone (and SciPy's)."""
    cases = [(name, first) for name in FUNCTIONS for first in (1e-3, 1e-1, 1e1, 1e3)]
    for (name, first), trials in zip(cases, batched_trials(cases), strict=True):
        assert trials == our_trials(FUNCTIONS[name], first), (name, first)


def test_start_searches_is_dcsrch_start_run_by_run():
    f, g, stp = np.array([4.0, 1.0]), np.array([-4.0, -0.5]), np.array([10.0, 0.1])
    expected = np.zeros((2, SEARCH_SIZE))
    for r in range(2):
        dcsrch_start(expected[r], f[r], g[r], stp[r])
    assert np.array_equal(start_searches(f, g, stp), expected)


def _bits(value: float) -> int | str:
    """The bits of a float (tells -0.0 from 0.0); every NaN alike (their sign bits differ between the two)."""
    return "nan" if np.isnan(value) else int(np.float64(value).view(np.uint64))


def test_dcstep_is_scipys_in_its_four_cases():
    """Random states over the four cases of Moré and Thuente, bracketed or not, steps outside
    [stpmin, stpmax], zero or equal derivatives: the interval SciPy's ``dcstep`` keeps, bit for
    bit, and its next step to 1e-12 (SciPy's Python port orders a few operations otherwise
    than the C translation L-BFGS-B runs, which ours follows: up to a few dozen ulps)."""
    rng = np.random.default_rng(0)
    n = 4000
    stx, sty, stp = rng.normal(size=(3, n)) * 10.0 ** rng.integers(-3, 4, size=(3, n))
    fx, fy, fp = rng.normal(size=(3, n))
    dx, dy, dp = rng.normal(size=(3, n))
    dx[::97], dp[::89], dp[::83] = 0.0, 0.0, dx[::83]
    brackt = rng.random(n) < 0.5
    cases, compared = set(), 0
    with np.errstate(all="ignore"):
        for r in range(n):
            args = (stx[r], fx[r], dx[r], sty[r], fy[r], dy[r], stp[r], fp[r], dp[r], bool(brackt[r]), 0.0, 1e10)
            try:
                theirs = scipy_dcstep(*(float(a) if not isinstance(a, bool) else a for a in args))
            except ZeroDivisionError:  # SciPy's Python floats raise where IEEE arithmetic gives inf/NaN
                continue
            ours = dcstep(*args)
            cases.add((fp[r] > fx[r], dp[r] * np.sign(dx[r]) < 0, abs(dp[r]) < abs(dx[r]), bool(brackt[r])))
            assert [_bits(v) for v in ours[:6]] == [_bits(v) for v in theirs[:6]], r  # the new interval: exact
            np.testing.assert_allclose(ours[6], theirs[6], rtol=1e-12, err_msg=str(r))  # the step: to rounding
            assert ours[7] == theirs[7], r
            compared += 1
    assert len(cases) >= 12 and compared > 0.9 * n
