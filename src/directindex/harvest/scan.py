"""The candidate scan and the household wash-sale guard, as array passes over every open lot.

A harvest pass touches every lot of every account. Here that is done on the ``LotTable`` view: no Python
objects per lot, only per-(household, identical group) arrays and one chunked pass over the lots, so a
book of tens of millions of lots is scanned at close to memory speed. Records are made later, only for
the candidates that survive.

The guard, per (household, group) ``hg``:

* ``recent_roots[hg]``: distinct lots (a lot and its wash-sale parts count once: shares of the very lot
  sold never replace it) of the group, in any account of the household, taxable or not, acquired in the
  30 days up to the pass date and still open. A purchase fully sold since can no longer be a
  replacement (the ledger matches only shares still held, Treas. Reg. 1.1091-1(c)); a purchase still
  held can, so it blocks every loss sale of the group except its own.
* ``pending_buys[hg]``: pending buy orders of the group in the household: they will fill inside the
  window after the sale, so they block every loss sale of the group.
* Selling the recent lot too removes the wash when there is exactly one recent lot, every open part of
  it is itself a harvest candidate in a taxable account, and there is no pending buy: that lot is sold
  first, so when the older lots are sold it is no longer held. Two or more recent lots cannot be cleared
  this way (whichever is sold first is replaced by the other), so the group stays blocked.
* ``last_loss_sale[hg]``: the last loss sale of the group in the household; the group is restricted
  (no purchase in any account) until 31 days after it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from directindex.ledger.view import LotTable

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
WINDOW_DAYS = 30
NEVER = np.iinfo(np.int64).min // 4  # "no such day" in day arrays
CHUNK = 1 << 16  # lots per chunk: the temporaries of one chunk stay in cache


@dataclass(frozen=True)
class Thresholds:
    """Harvest thresholds per lot (arrays aligned with the table) or one value for every lot."""

    loss_threshold: FloatArray | float = 0.02
    min_loss: FloatArray | float = 0.0
    min_days: IntArray | int = 0


@dataclass(frozen=True)
class GuardArrays:
    """Per (household, group) figures; index ``hg = household_idx * n_groups + group_idx``."""

    n_groups: int
    recent_roots: IntArray
    recent_parts: IntArray
    recent_candidates: IntArray
    pending_buys: IntArray
    last_loss_sale: IntArray

    def rescuable(self) -> BoolArray:
        """Groups whose one recent lot can be sold too, which removes the wash for the rest."""
        return (self.recent_roots == 1) & (self.recent_parts == self.recent_candidates) & (self.pending_buys == 0)

    def restricted(self, as_of_day: int) -> BoolArray:
        """Groups sold at a loss in the household within the last 30 days (no buys until +31 days)."""
        return self.last_loss_sale >= as_of_day - WINDOW_DAYS


@dataclass(frozen=True)
class ScanResult:
    """Per-lot outcome of the scan. ``candidate``: taxable, a loss past the thresholds, old enough."""

    unrealized: FloatArray
    loss_ok: BoolArray  # taxable and the loss passes the thresholds (held long enough or not)
    candidate: BoolArray
    blocked_recent: BoolArray
    blocked_pending: BoolArray
    clears_wash: BoolArray  # recent lots sold too, so the rest of their group can be harvested
    harvestable: BoolArray
    guard: GuardArrays

    def indices(self) -> IntArray:
        return np.flatnonzero(self.harvestable)


def _per_lot(x: FloatArray | IntArray | float | int, sl: slice) -> FloatArray | IntArray | float | int:
    return x[sl] if isinstance(x, np.ndarray) else x


def _chunks(n: int, threads: int, fn: Callable[[slice], None]) -> None:
    slices = [slice(i, min(i + CHUNK, n)) for i in range(0, n, CHUNK)]
    if threads <= 1 or len(slices) < 4:
        for s in slices:
            fn(s)
        return
    with ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL in its loops
        list(pool.map(fn, slices))


def scan(
    table: LotTable,
    prices: FloatArray,
    as_of_day: int,
    thresholds: Thresholds,
    root_idx: IntArray | None,
    *,
    pending_hg: IntArray | None = None,
    loss_sale_hg: IntArray | None = None,
    loss_sale_day: IntArray | None = None,
    threads: int = 2,
) -> ScanResult:
    """Scan every lot: candidates, then the household guard.

    ``prices`` is aligned with ``table.symbols`` (NaN: no price, the lot is skipped); ``root_idx`` numbers
    the lot each row is a part of (equal for ``L4`` and ``L4.1`` in one account; ``None``: every row is a
    lot of its own); ``pending_hg`` lists the
    (household, group) key of each pending buy; ``loss_sale_hg``/``loss_sale_day`` the key and ordinal
    day of each loss sale in the book (for the restricted list).
    """
    n = table.quantity.shape[0]
    n_groups = len(table.groups)
    n_hg = max(len(table.households), 1) * max(n_groups, 1)
    unrealized = np.empty(n)
    loss_ok = np.empty(n, dtype=np.bool_)
    candidate = np.empty(n, dtype=np.bool_)
    recent = np.empty(n, dtype=np.bool_)
    since = as_of_day - WINDOW_DAYS

    def pass1(sl: slice) -> None:
        q, basis = table.quantity[sl], table.basis[sl]
        u = unrealized[sl]
        np.multiply(q, prices[table.symbol_idx[sl]], out=u)
        u -= basis
        thr = _per_lot(thresholds.loss_threshold, sl)
        ok = loss_ok[sl]
        # a loss (u < 0) of at least thr * basis and at least min_loss; NaN prices compare False
        np.less_equal(u, -np.maximum(basis * thr, _per_lot(thresholds.min_loss, sl)), out=ok)
        ok &= u < 0
        ok &= table.taxable[sl]
        acq = table.acquired[sl]
        np.logical_and(ok, acq <= as_of_day - _per_lot(thresholds.min_days, sl), out=candidate[sl])
        np.greater_equal(acq, since, out=recent[sl])

    _chunks(n, threads, pass1)

    # Guard arrays: only the recent lots (a few percent of a book) are grouped.
    def hg_of(ix: IntArray) -> IntArray:
        return table.household_idx[ix] * n_groups + table.group_idx[ix]

    rec = np.flatnonzero(recent)
    rec_hg = hg_of(rec)
    recent_parts = np.bincount(rec_hg, minlength=n_hg)
    recent_candidates = np.bincount(rec_hg[candidate[rec]], minlength=n_hg)
    if root_idx is None:  # every row a lot of its own
        recent_roots = recent_parts
    else:
        _, first = np.unique(root_idx[rec], return_index=True)
        recent_roots = np.bincount(rec_hg[first], minlength=n_hg)
    pending = np.bincount(pending_hg, minlength=n_hg) if pending_hg is not None and pending_hg.size else \
        np.zeros(n_hg, dtype=np.int64)
    last_loss = np.full(n_hg, NEVER, dtype=np.int64)
    if loss_sale_hg is not None and loss_sale_day is not None and loss_sale_hg.size:
        np.maximum.at(last_loss, loss_sale_hg, loss_sale_day)
    guard = GuardArrays(n_groups, recent_roots.astype(np.int64), recent_parts.astype(np.int64),
                        recent_candidates.astype(np.int64), pending.astype(np.int64), last_loss)

    # Records of the guard for the candidates only.
    cand = np.flatnonzero(candidate)
    c_hg = hg_of(cand)
    others = guard.recent_roots[c_hg] - recent[cand]
    rescue = guard.rescuable()[c_hg]
    b_pending = guard.pending_buys[c_hg] > 0
    b_recent = (others > 0) & ~rescue & ~b_pending
    blocked_recent = np.zeros(n, dtype=np.bool_)
    blocked_pending = np.zeros(n, dtype=np.bool_)
    blocked_recent[cand[b_recent]] = True
    blocked_pending[cand[b_pending]] = True
    harvestable = np.zeros(n, dtype=np.bool_)
    ok = ~(b_recent | b_pending)
    harvestable[cand[ok]] = True
    clears = np.zeros(n, dtype=np.bool_)
    clears[cand[ok & rescue & recent[cand] & (guard.recent_parts[c_hg] > 0)]] = True
    # A rescue is only needed when the group has older candidates too; it never hurts otherwise.
    return ScanResult(unrealized, loss_ok, candidate, blocked_recent, blocked_pending, clears, harvestable, guard)


def root_index(table: LotTable) -> IntArray:
    """Number each (account, lot) so that a lot's wash-sale parts (``L4``, ``L4.1``) share one number."""
    keys: dict[tuple[int, str], int] = {}
    out = np.empty(len(table.lots), dtype=np.int64)
    for i, (a, lot) in enumerate(zip(table.account_idx.tolist(), table.lots, strict=True)):
        out[i] = keys.setdefault((a, lot_root(lot.lot, lot.absorbed_loss)), len(keys))
    return out


def lot_root(lot_id: str, part: bool = True) -> str:
    """``L4.1`` -> ``L4``: the id of the lot a wash-sale part came from.

    Parts are the lots that absorbed a loss; an untouched lot whose own id ends in ``.1`` is its own root.
    """
    root, dot, suffix = lot_id.rpartition(".")
    return root if part and dot and root and suffix.isdigit() else lot_id
