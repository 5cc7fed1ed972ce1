"""The L-BFGS step of :func:`~forgetlab.numerics.lbfgs.minimize`: history, H g, direction and trial points.

- The history: the pairs (s, y) in a ring of ``history`` rows per run (:func:`_insert_pairs`),
  their inner products by age, recorded as L-BFGS-B records S'Y and theta
  (:func:`_record_products`), all dropped on a restart (:func:`_forget_pairs`).
- H g by the two-loop recursion of Nocedal [1]_ on inner products (:func:`_two_loop`, vectorised
  over runs, and :func:`_two_loop_one`, its scalar twin with the same float64 operations),
  combined as H g = gamma g + [S Y] c by one batched matrix product per run (:func:`_directions`);
  for unbounded problems it equals L-BFGS-B's compact-form subspace step [2]_.
- The direction d = z - x with z = x - H g, the first step of the line search and its trial
  points stp d + x, or z itself where stp == 1, as L-BFGS-B writes them (:func:`_begin_search`,
  :func:`_put_trial`).

References
----------
.. [1] J. Nocedal, "Updating quasi-Newton matrices with limited storage", Math. Comp. 35(151),
   773-782, 1980.
.. [2] R. H. Byrd, P. Lu, J. Nocedal and C. Zhu, "A limited memory algorithm for bound
   constrained optimization", SIAM J. Sci. Comput. 16(5), 1190-1208, 1995.
"""

from __future__ import annotations

import numpy as np
import torch

from forgetlab.numerics.lbfgs_state import _array, _bmm, _row_products, _Sel, _spans, _State
from forgetlab.numerics.morethuente import STPMAX, start_searches

# up to this many runs, the two-loop recursion runs run by run (same arithmetic, less overhead)
_FEW_TWO_LOOPS = 4
# new pairs of at most this many groups of consecutive runs with the same ring slot are stored group by
# group (views); more through index_copy_
_MAX_GROUPS = 64


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
        dots = _history_products(state, part.size, spans)
        new = slot[part] >= 0
        if new.any():
            _record_products(state, part[new], dots[new, 1], dr[part][new])
        order = (state.head[part, None] + state.col[part, None] - 1 - ages) % m  # slot of each age
        a = np.take_along_axis(dots[:, 0, :m], order, 1)  # s'g by age
        yg = np.take_along_axis(dots[:, 0, m:], order, 1)
        gamma = 1.0 / state.theta[part]  # H_0 = I / theta
        c, e = _two_loop_coefficients(state, part, a, yg, gamma)
        _combine(state, spans, order, c, e, gamma)


def _history_products(state: _State, k: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """[g y]'[S Y] float64 (k, 2, 2 history) of the k runs in the ranges of slots ``spans``.

    One batched product (2 x P' times P' x 2 history per run) per range of consecutive slots.
    """
    m = state.m
    if len(spans) == 1:
        lo, hi = spans[0]
        return _array(_bmm(state.gy[lo:hi], state.hist_t[lo:hi]))
    out = torch.empty((k, 2, 2 * m), dtype=state.dtype, device=state.device)
    pos = 0
    for lo, hi in spans:
        _bmm(state.gy[lo:hi], state.hist_t[lo:hi], out=out[pos : pos + hi - lo])
        pos += hi - lo
    return _array(out)


def _two_loop_coefficients(
    state: _State, part: np.ndarray, a: np.ndarray, yg: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (c, e) (k, history) by age of the runs ``part`` (k,), from S'g ``a`` and Y'g ``yg`` by age.

    Run by run (:func:`_two_loop_one`) for up to ``_FEW_TWO_LOOPS`` runs, else vectorised over
    them (:func:`_two_loop`): the same bits.
    """
    m = state.m
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
        return c, e
    c, e = _two_loop(
        a.T,
        yg.T,
        state.rho[part].T,
        state.sy[part].transpose(1, 2, 0),
        state.yy[part].transpose(1, 2, 0),
        gamma,
    )
    return c.T, e.T


def _combine(
    state: _State, spans: list[tuple[int, int]], order: np.ndarray, c: np.ndarray, e: np.ndarray, gamma: np.ndarray
) -> None:
    """H g = gamma g + [S Y] [c e] into ``state.hg`` for the runs in ``spans``, coefficients by age.

    ``order`` (k, history) is the ring slot of each age; one batched product (1 x (2 history + 1)
    times (2 history + 1) x P per run) per range of slots.
    """
    m = state.m
    k = c.shape[0]
    coef = np.empty((k, 1, 2 * m + 1))
    rows = np.arange(k)[:, None]
    coef[rows, 0, order] = c
    coef[rows, 0, order + m] = e
    coef[:, 0, 2 * m] = gamma
    coef_t = torch.from_numpy(coef.astype(state.np_dtype, copy=False)).to(state.device)
    pos = 0
    for lo, hi in spans:
        _bmm(coef_t[pos : pos + hi - lo], state.comb[lo:hi], out=state.hg1[lo:hi])
        pos += hi - lo


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


# --- the direction and the trial points of the line search --------------------------------------


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
        stp = np.where(state.n_iter[sel.at] == 0, np.fmin(1.0 / np.sqrt(products[:, 2]), STPMAX), 1.0)
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
    state.search[at] = start_searches(state.f[at], gd, stp)
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
