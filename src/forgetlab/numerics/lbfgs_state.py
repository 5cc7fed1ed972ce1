"""The buffers of one :func:`~forgetlab.numerics.lbfgs.minimize` call, and products that do not depend on the batch.

- :class:`_State`: the running runs' vectors and scalars, one slot per run (the running runs
  occupy the first ``n`` slots), the results of the runs that stopped, and the compaction of
  the slots when runs stop (:meth:`_State.stop`);
- :class:`_Sel`: some of the running runs, and how to read and write their rows (views of
  ranges of consecutive slots, or ``index_select`` / ``index_copy_``);
- :func:`_bmm` and :func:`_row_products`: the inner products of a run's rows, one batched
  matrix product per range of slots, with the same bits for a run alone and in any slot of a
  batch (why: "Batch independence" in :mod:`forgetlab.numerics.lbfgs`).

Vectors that enter inner products live in rows of ``_State.block`` padded to a multiple of 64
bytes, each starting 64-byte aligned; the scalars are float64 numpy arrays. Nothing here
computes an L-BFGS step or a line search (:mod:`forgetlab.numerics.lbfgs_step`,
:mod:`forgetlab.numerics.morethuente`); :mod:`forgetlab.numerics.lbfgs` drives them.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from forgetlab.numerics.morethuente import SEARCH_SIZE

# the status code of a run still running (``Status.RUNNING`` of forgetlab.numerics.lbfgs)
_RUNNING = -1
# History read between its products with [g y] and its combination, per block of runs (stays in cache).
_CACHE_BYTES = 32 << 20
# Upper size of the temporaries used to move running runs into the slots of stopped ones.
_MOVE_BYTES = 64 << 20
# selections of runs in at most this many ranges of consecutive slots are handled range by range
# (views); others by index_select / index_copy_
_MAX_SPANS = 16
# entries of each trial point compared first with the last point evaluated (memoisation)
_SAMPLE = 64


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


class _State:
    """The buffers of one :func:`~forgetlab.numerics.lbfgs.minimize` call.

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
        self.search = np.zeros((R, SEARCH_SIZE))
        # results, by run
        self.out_x = torch.empty_like(self.x)
        self.out_g = torch.empty_like(self.x)
        self.out_f = np.zeros(R)
        self.out_iter = np.zeros(R, dtype=np.int64)
        self.out_fun = np.zeros(R, dtype=np.int64)
        self.out_status = np.full(R, _RUNNING, dtype=np.int64)
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
        done = status != _RUNNING
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


def _move_rows(t: torch.Tensor, to: np.ndarray, source: np.ndarray) -> None:
    """t[to] = t[source] (distinct rows), with temporaries of at most ``_MOVE_BYTES``."""
    limit = max(1, _MOVE_BYTES // max(1, t[0].numel() * t.element_size()))
    for a in range(0, to.size, limit):
        where = torch.from_numpy(to[a : a + limit]).to(t.device)
        t.index_copy_(0, where, t.index_select(0, torch.from_numpy(source[a : a + limit]).to(t.device)))


# --- matrix products, one per run, independent of the batch ---------------------------------------


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
