"""Which lots a trim relieves: losses first, then the highest basis, long-term gains before short-term
ones where the lower rate makes them cheaper; never FIFO by default."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directindex.construct import TaxRates, order_lots_for_sale, select_lots
from directindex.construct.lots import LotColumns, price_columns, price_holdings, price_lots
from directindex.ledger.records import Lot

from .construct_fixtures import make_lot

AS_OF = date(2026, 6, 30)
RATES = TaxRates(short_term=0.408, long_term=0.238)
PRICE = 100.0

#  lot      shares  basis/share  acquired      term   tax per share sold
LOTS = [
    make_lot("XYZ", "old-gain", 10, 40.0, date(2020, 1, 2)),  # LT  +60 x .238 = 14.28
    make_lot("XYZ", "st-gain-small", 10, 90.0, date(2026, 3, 2)),  # ST  +10 x .408 =  4.08
    make_lot("XYZ", "lt-gain-mid", 10, 80.0, date(2024, 1, 2)),  # LT  +20 x .238 =  4.76
    make_lot("XYZ", "st-gain-big", 10, 70.0, date(2026, 2, 2)),  # ST  +30 x .408 = 12.24
    make_lot("XYZ", "lt-loss", 10, 110.0, date(2023, 5, 2)),  # LT  -10 x .238 = -2.38
    make_lot("XYZ", "st-loss", 10, 105.0, date(2026, 4, 2)),  # ST   -5 x .408 = -2.04
]


def test_sale_order_is_by_tax_cost_per_share() -> None:
    order = [lot.lot for lot in order_lots_for_sale(LOTS, PRICE, AS_OF, RATES)]
    assert order == ["lt-loss", "st-loss", "st-gain-small", "lt-gain-mid", "st-gain-big", "old-gain"]


def test_long_term_gain_goes_before_a_cheaper_per_share_short_term_gain_when_the_rate_makes_it_cheaper() -> None:
    # LT gain of 30/share (7.14 tax) before ST gain of 20/share (8.16 tax)
    lots = [make_lot("Q", "st", 10, 80.0, date(2026, 1, 5)), make_lot("Q", "lt", 10, 70.0, date(2022, 1, 5))]
    assert [lot.lot for lot in order_lots_for_sale(lots, PRICE, AS_OF, RATES)] == ["lt", "st"]


def test_select_lots_takes_losses_first_and_splits_the_last_lot() -> None:
    sales = select_lots(LOTS, Decimal(25), PRICE, AS_OF, RATES)
    assert [(s.lot.lot, s.quantity, s.term.value) for s in sales] == [
        ("lt-loss", Decimal(10), "long"),
        ("st-loss", Decimal(10), "short"),
        ("st-gain-small", Decimal(5), "short"),
    ]
    assert sum(s.gain for s in sales) == -100.0 - 50.0 + 50.0
    assert abs(sum(s.tax for s in sales) - (-23.8 - 20.4 + 20.4)) < 1e-9


def test_select_lots_never_sells_more_than_is_held() -> None:
    sales = select_lots(LOTS, Decimal(1000), PRICE, AS_OF, RATES)
    assert sum(s.quantity for s in sales) == Decimal(60)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(1, 40), st.integers(0, 2000),
                          st.sampled_from(["a", "b", "c"])), min_size=0, max_size=25),
       st.lists(st.integers(1, 300), min_size=4, max_size=4))
def test_price_holdings_equals_price_lots_name_by_name(rows: list[tuple[int, int, int, int, str]],
                                                      px: list[int]) -> None:
    """The one-sort fast path gives the views of one ``price_lots`` per name, ties and empty lots included."""
    by_name: dict[int, list[Lot]] = {}
    for k, (name, qty, basis, age, tag) in enumerate(rows):
        lot = make_lot(f"S{name}", f"{tag}{k % 3}", qty, float(basis), date(2026, 6, 1).fromordinal(
            date(2026, 6, 1).toordinal() - age))
        by_name.setdefault(name, []).append(lot)
    prices = np.array([float(p) for p in px])
    memo: dict[int, tuple[Lot, float, float, int, int]] = {}
    for _ in range(2):  # the second time from the memo
        fast = price_holdings(by_name, prices, AS_OF, RATES, memo)
        slow = {i: price_lots(lots, float(prices[i]), AS_OF, RATES) for i, lots in by_name.items()}
        assert {i: fast.views(i) for i in fast.names} == {i: v for i, v in slow.items() if v}
        assert fast.names == [i for i in slow if slow[i]]
        value = fast.value(4)
        for i, views in slow.items():
            assert value[i] == sum(v.value for v in views)


def _columns(lots: list[Lot], symbols: tuple[str, ...]) -> LotColumns:
    """``lots`` as columns, every float taken from the record the way the optimizer reads it."""
    code = {s: k for k, s in enumerate(symbols)}
    return LotColumns(
        "A", symbols, np.array([code[lot.symbol] for lot in lots], dtype=np.int64),
        np.array([float(lot.quantity) for lot in lots]),
        np.array([float(lot.cost + lot.wash_sale_adjustment) for lot in lots]),
        np.array([lot.long_term_on.toordinal() for lot in lots], dtype=np.int64),
        np.array([lot.holding_start.toordinal() for lot in lots], dtype=np.int64),
        [lot.lot for lot in lots], lambda k: lots[k])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(1, 40), st.integers(0, 2000),
                          st.sampled_from(["a", "b", "c"])), min_size=0, max_size=25),
       st.lists(st.integers(1, 300), min_size=4, max_size=4))
def test_price_columns_equals_price_holdings(rows: list[tuple[int, int, int, int, str]], px: list[int]) -> None:
    """Lots given as columns price to the same arrays, in the same order, with the same records as the
    record path, names in the order of their first lot (as grouping the records gives them)."""
    lots = [make_lot(f"S{name}", f"{tag}{k % 3}", qty, float(basis),
                     date.fromordinal(date(2026, 6, 1).toordinal() - age))
            for k, (name, qty, basis, age, tag) in enumerate(rows)]
    prices = np.array([float(p) for p in px])
    by_name: dict[int, list[Lot]] = {}
    for lot in lots:
        if lot.quantity > 0:
            by_name.setdefault(int(lot.symbol[1:]), []).append(lot)
    slow = price_holdings(by_name, prices, AS_OF, RATES)
    cols = _columns(lots, ("S0", "S1", "S2", "S3"))
    open_rows = np.flatnonzero(cols.quantity > 0)
    fast = price_columns(cols, open_rows, cols.symbol[open_rows], prices, AS_OF, RATES)
    assert fast.names == slow.names and fast.first == slow.first and fast.count == slow.count
    for field in ("name", "quantity", "basis_per_share", "price", "tax_per_share", "long"):
        assert np.array_equal(getattr(fast, field), getattr(slow, field)), field
    assert list(fast.lots[0:len(fast.lots)]) == list(slow.lots)
    assert {i: fast.views(i) for i in fast.names} == {i: slow.views(i) for i in slow.names}
    assert len(cols) == len(lots) and list(cols) == lots and (not lots or cols[-1] is lots[-1])


def test_lot_columns_must_have_one_entry_per_lot() -> None:
    with pytest.raises(ValueError, match="one entry per lot"):
        LotColumns("A", ("X",), np.zeros(2, dtype=np.int64), np.ones(1), np.ones(2), np.zeros(2, dtype=np.int64),
                   np.zeros(2, dtype=np.int64), ["a", "b"], lambda k: LOTS[k])
