"""Which lots go when a name is trimmed: by tax, not by FIFO.

Each open lot's tax cost per share sold today is ``(price - basis per share) x rate``, with the
short-term rate before ``long_term_on`` and the long-term rate from it; a loss has a negative cost
(a benefit). Selling in ascending cost order takes losses first (short-term losses, which offset
income taxed at the higher rate, before long-term ones), then the highest basis, preferring a
long-term gain to a short-term one whenever the lower rate makes it cheaper.

Ascending cost per share also makes each name's tax cost a convex piecewise-linear function of the
weight sold, which is how the optimizer prices sells: one segment per lot (adjacent lots merged when a
name has more lots than the problem has segments).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple, overload

import numpy as np
import numpy.typing as npt

from directindex.construct.config import TaxRates
from directindex.ledger.records import Lot, Term
from directindex.market.risk import FloatArray


class LotView(NamedTuple):
    """One open lot in floats, priced today, with its tax cost per share.

    A named tuple rather than a frozen dataclass: a rebalance prices every open lot, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost more than the pricing itself.
    """

    lot: Lot
    quantity: float
    basis_per_share: float
    price: float
    term: Term
    tax_per_share: float

    @property
    def gain_per_share(self) -> float:
        return self.price - self.basis_per_share

    @property
    def value(self) -> float:
        return self.quantity * self.price


def term_on(lot: Lot, as_of: date) -> Term:
    return Term.LONG if as_of >= lot.long_term_on else Term.SHORT


def price_lots(lots: Iterable[Lot], price: float, as_of: date, rates: TaxRates) -> list[LotView]:
    """Lots of one symbol in sale order (ascending tax cost per share; ties: older holding first)."""
    views = []
    long_rate, short_rate = rates.long_term, rates.short_term
    for lot in lots:
        q = float(lot.quantity)
        if q <= 0:
            continue
        bps = float(lot.cost + lot.wash_sale_adjustment) / q
        if as_of >= lot.long_term_on:
            views.append(LotView(lot, q, bps, price, Term.LONG, (price - bps) * long_rate))
        else:
            views.append(LotView(lot, q, bps, price, Term.SHORT, (price - bps) * short_rate))
    views.sort(key=lambda v: (v.tax_per_share, -v.basis_per_share, v.lot.holding_start, v.lot.lot))
    return views


class _Records(Sequence[Lot]):
    """Lot records built when read: entry ``k`` is ``record(rows[k])``."""

    __slots__ = ("rows", "record")

    def __init__(self, rows: Sequence[int], record: Callable[[int], Lot]):
        self.rows, self.record = rows, record

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, k: int) -> Lot: ...

    @overload
    def __getitem__(self, k: slice) -> list[Lot]: ...

    def __getitem__(self, k: int | slice) -> Lot | list[Lot]:
        if isinstance(k, slice):
            return [self.record(r) for r in self.rows[k]]
        return self.record(self.rows[k])


class LotColumns(_Records):
    """One account's open lots as columns, for a caller that keeps its lots in arrays (the backtest).

    A sequence of ``Lot`` records like ``Holdings.lots`` (``record(k)`` builds row ``k``'s record when it
    is read), but the optimizer prices the columns without reading a record: a rebalance then builds
    records only for the lots it sells. Each column holds what the record's fields give as floats:
    ``quantity`` is ``float(lot.quantity)``, ``basis`` is ``float(lot.cost + lot.wash_sale_adjustment)``,
    ``long_term_on`` and ``holding_start`` are ordinals, ``symbol`` indexes ``symbols``.
    """

    __slots__ = ("account", "symbols", "symbol", "quantity", "basis", "long_term_on", "holding_start", "ids")

    def __init__(self, account: str, symbols: tuple[str, ...], symbol: npt.NDArray[np.int64], quantity: FloatArray,
                 basis: FloatArray, long_term_on: npt.NDArray[np.int64], holding_start: npt.NDArray[np.int64],
                 ids: Sequence[str], record: Callable[[int], Lot]):
        n = len(ids)
        if not all(len(x) == n for x in (symbol, quantity, basis, long_term_on, holding_start)):
            raise ValueError("LotColumns: every column must have one entry per lot")
        super().__init__(range(n), record)
        self.account, self.symbols, self.ids = account, symbols, ids
        self.symbol, self.quantity, self.basis = symbol, quantity, basis
        self.long_term_on, self.holding_start = long_term_on, holding_start


@dataclass(frozen=True)
class PricedLots:
    """Every held name's open lots, priced today, in sale order: one array row per lot.

    Rows are grouped by name (names in ``names`` order), each name's rows in :func:`price_lots` order.
    :meth:`views` gives one name's :class:`LotView` list, built only for the names a rebalance trades.
    """

    names: list[int]
    first: dict[int, int]  # name -> its first row
    count: dict[int, int]  # name -> its number of lots
    name: npt.NDArray[np.int64]
    lots: Sequence[Lot]
    quantity: FloatArray
    basis_per_share: FloatArray
    price: FloatArray
    tax_per_share: FloatArray
    long: npt.NDArray[np.bool_]

    def views(self, i: int) -> list[LotView]:
        k0 = self.first.get(i)
        if k0 is None:
            return []
        k1 = k0 + self.count[i]
        q, b, p, t, lg = (x[k0:k1].tolist() for x in (self.quantity, self.basis_per_share, self.price,
                                                      self.tax_per_share, self.long))
        return [LotView(lot, q[j], b[j], p[j], Term.LONG if lg[j] else Term.SHORT, t[j])
                for j, lot in enumerate(self.lots[k0:k1])]

    def value(self, n: int) -> FloatArray:
        """Held value by name (quantity times price, added up in sale order)."""
        return np.bincount(self.name, weights=self.quantity * self.price, minlength=n).astype(np.float64)


EMPTY_LOTS = PricedLots([], {}, {}, np.zeros(0, dtype=np.int64), [], np.zeros(0), np.zeros(0), np.zeros(0),
                        np.zeros(0), np.zeros(0, dtype=bool))


def price_holdings(
    by_name: dict[int, list[Lot]],
    prices: FloatArray,
    as_of: date,
    rates: TaxRates,
    memo: dict[int, tuple[Lot, float, float, int, int]] | None = None,
) -> PricedLots:
    """:func:`price_lots` for every held name at once (``prices`` indexed by name), in one sort.

    The same lots in the same order as one ``price_lots`` call per name, names in ``by_name``'s order.
    ``memo`` (kept by the caller between calls, left holding this call's lots) remembers each lot
    record's quantity and basis as floats: a backtest re-prices the same frozen records every month, and
    reading decimals back into floats was most of the cost.
    """
    old = memo if memo is not None else {}
    flat: list[Lot] = []
    keys: list[int] = []  # each lot's name
    rows = []
    for i, lots in by_name.items():
        for lot in lots:
            hit = old.get(id(lot))
            if hit is None or hit[0] is not lot:
                if not lot.quantity > 0:
                    continue
                hit = (lot, float(lot.quantity), float(lot.cost + lot.wash_sale_adjustment),
                       lot.long_term_on.toordinal(), lot.holding_start.toordinal())
            flat.append(lot)
            keys.append(i)
            rows.append(hit)
    if memo is not None:
        memo.clear()
        memo.update((id(r[0]), r) for r in rows)
    if not flat:
        return EMPTY_LOTS
    _, ql, bl, lt, st = zip(*rows, strict=True)
    place = {i: k for k, i in enumerate(by_name)}
    return _priced(list(by_name), np.array(keys, dtype=np.int64), np.array([place[i] for i in keys], dtype=np.int64),
                   np.array(ql), np.array(bl), np.array(lt, dtype=np.int64), np.array(st, dtype=np.int64),
                   np.array([lot.lot for lot in flat]), lambda order: [flat[j] for j in order], prices, as_of, rates)


def price_columns(columns: LotColumns, rows: npt.NDArray[np.int64], name: npt.NDArray[np.int64], prices: FloatArray,
                  as_of: date, rates: TaxRates) -> PricedLots:
    """:func:`price_holdings` on ``rows`` of ``columns`` (open, priced lots; ``name`` each one's name).

    Names come in the order of their first lot in ``rows``, as grouping the records by name gives them.
    The same arrays in the same order as :func:`price_holdings` on those lots' records.
    """
    if not len(rows):
        return EMPTY_LOTS
    names, first_at, group = np.unique(name, return_index=True, return_inverse=True)
    appearance = np.argsort(first_at, kind="stable")  # the names in the order of their first lot
    rank = np.empty(len(names), dtype=np.int64)
    rank[appearance] = np.arange(len(names))
    rows_list = rows.tolist()
    return _priced(names[appearance].tolist(), name, rank[group.reshape(-1)],
                   columns.quantity[rows], columns.basis[rows], columns.long_term_on[rows],
                   columns.holding_start[rows], np.array(columns.ids)[rows],
                   lambda order: _Records([rows_list[j] for j in order], columns.record), prices, as_of, rates)


def _priced(by_name: list[int], name: npt.NDArray[np.int64], group: npt.NDArray[np.int64], q: FloatArray,
            basis: FloatArray, lt: npt.NDArray[np.int64], start: npt.NDArray[np.int64], ids: npt.NDArray[np.str_],
            records: Callable[[list[int]], Sequence[Lot]], prices: FloatArray, as_of: date,
            rates: TaxRates) -> PricedLots:
    """The lots (one entry per lot, ``group``: its name's place in ``by_name``) priced and put in sale order."""
    bps = basis / q
    long = as_of.toordinal() >= lt
    px = np.asarray(prices, dtype=float)[name]
    tax = (px - bps) * np.where(long, rates.long_term, rates.short_term)
    order = np.lexsort((ids, start, -bps, tax, group))
    counts = np.bincount(group, minlength=len(by_name))
    held = [i for k, i in enumerate(by_name) if counts[k]]
    count = {i: int(counts[k]) for k, i in enumerate(by_name) if counts[k]}
    offsets = np.cumsum([count[i] for i in held]) - [count[i] for i in held]
    first = dict(zip(held, offsets.tolist(), strict=True))
    return PricedLots(held, first, count, name[order], records(order.tolist()), q[order], bps[order], px[order],
                      tax[order], long[order])


def order_lots_for_sale(lots: Iterable[Lot], price: float, as_of: date, rates: TaxRates) -> list[Lot]:
    """The lots in the order a tax-aware sale relieves them."""
    return [v.lot for v in price_lots(lots, price, as_of, rates)]


@dataclass(frozen=True, slots=True)
class LotSale:
    """Shares of one lot chosen for sale, with the estimated gain and its term."""

    lot: Lot
    quantity: Decimal
    price: float
    gain: float
    term: Term
    tax: float


def select_lots(
    lots: Iterable[Lot],
    quantity: Decimal,
    price: float,
    as_of: date,
    rates: TaxRates,
    *,
    amounts: Sequence[float] | None = None,
    within_gain: bool = False,
) -> list[LotSale]:
    """Relieve ``quantity`` shares in tax order (or the per-lot ``amounts`` the optimizer chose).

    ``amounts`` (shares, aligned with the sale order of :func:`price_lots`) lets a solver that priced each
    lot separately decide the split, e.g. when a gain budget binds; the total is still ``quantity``.
    ``within_gain`` rounds each lot's amount so that whole shares never realize more gain than the
    fractional plan: gain lots round down, loss lots up (then ``quantity`` is ignored).
    """
    return select_priced(price_lots(lots, price, as_of, rates), quantity, price, rates, amounts=amounts,
                         within_gain=within_gain)


def select_priced(
    views: Sequence[LotView],
    quantity: Decimal,
    price: float,
    rates: TaxRates,
    *,
    amounts: Sequence[float] | None = None,
    within_gain: bool = False,
) -> list[LotSale]:
    """:func:`select_lots` on lots already priced in sale order (by :func:`price_lots` at ``price``)."""
    want = min(quantity, sum((v.lot.quantity for v in views), Decimal(0)))
    plan: list[Decimal] = [Decimal(0)] * len(views)
    left = want
    if amounts is not None and within_gain:
        for i, (v, amt) in enumerate(zip(views, amounts, strict=False)):
            plan[i] = min(v.lot.quantity, _shares(amt, v.lot.quantity, up=v.gain_per_share < 0))
        left = Decimal(0)
    elif amounts is not None:
        for i, (v, amt) in enumerate(zip(views, amounts, strict=False)):
            take = min(v.lot.quantity, _shares(amt, v.lot.quantity), left)
            plan[i] = take
            left -= take
    for i, v in enumerate(views):
        if left <= 0:
            break
        take = min(v.lot.quantity - plan[i], left)
        plan[i] += take
        left -= take
    out = []
    for v, q in zip(views, plan, strict=True):
        if q > 0:
            gain = float(q) * v.gain_per_share
            rate = rates.long_term if v.term is Term.LONG else rates.short_term
            out.append(LotSale(v.lot, q, price, gain, v.term, gain * rate))
    return out


def _shares(amount: float, lot_quantity: Decimal, up: bool | None = None) -> Decimal:
    """Whole shares unless the lot itself is fractional; within half a share of the lot means all of it.

    ``up`` True rounds up, False down, ``None`` to the nearest share (solver noise below 1e-6 share is
    ignored either way).
    """
    if amount <= 1e-6:
        return Decimal(0)
    if up is None and float(lot_quantity) - amount < 0.5:
        return lot_quantity
    if up is None:
        return Decimal(int(round(amount)))
    whole = math.ceil(amount - 1e-6) if up else math.floor(amount + 1e-6)
    return min(lot_quantity, Decimal(whole)) if float(lot_quantity) - amount > 1e-6 else lot_quantity


def lot_segments(
    priced: PricedLots, n: int, segments: int, value: float
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Per-name piecewise-linear sell schedule for the optimizer.

    Returns ``caps`` (n x K, weight of the account in each segment), ``tax`` (n x K, tax cost per unit
    weight sold), ``gain`` (n x K, realized gain per dollar sold; times the account value and the weight
    sold it is the gain in dollars) and, per name and segment, the number of lots it merges.
    Lots beyond ``K`` per name are merged with their neighbours in sale order; a merged segment's cost is
    the value-weighted average, which lies on the chord above the exact convex cost.
    """
    caps = np.zeros((n, segments))
    tax = np.zeros((n, segments))
    gain = np.zeros((n, segments))
    merged = np.zeros((n, segments), dtype=np.int64)
    if not priced.names:
        return caps, tax, gain, merged
    sizes = np.array([priced.count[i] for i in priced.names])
    name = priced.name
    qty = priced.quantity
    px = priced.price
    value_each = qty * px
    tax_each = priced.tax_per_share * qty
    gain_each = (px - priced.basis_per_share) * qty
    # position of each lot within its name, and its segment as np.array_split numbers them
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    pos = np.arange(len(name)) - starts
    length = np.repeat(sizes, sizes)
    parts = np.minimum(segments, length)
    q, r = length // parts, length % parts
    big = r * (q + 1)
    seg = np.where(pos < big, pos // (q + 1), r + (pos - big) // np.maximum(q, 1))
    tot = np.zeros((n, segments))
    np.add.at(tot, (name, seg), value_each)
    np.add.at(tax, (name, seg), tax_each)
    np.add.at(gain, (name, seg), gain_each)
    ok = tot > 0
    caps[ok] = tot[ok] / value
    tax[ok] /= tot[ok]
    gain[ok] /= tot[ok]
    tax[~ok] = 0.0
    gain[~ok] = 0.0
    keep = ok[name, seg]
    np.add.at(merged, (name[keep], seg[keep]), 1)
    return caps, tax, gain, merged
