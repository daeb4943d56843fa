"""The backtest's array lot state and what it hands the optimizer: records and columns that agree."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from directindex.backtest.lots import LotState

SYMBOLS = ("AAA", "BBB", "CCC")
START = date(2020, 1, 2)

# an operation: ("add", symbol, shares, basis in cents), ("sell", which open lot, fraction), ("split", symbol, ratio)
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 2), st.integers(1, 500), st.integers(1, 10_000_000)),
    st.tuples(st.just("sell"), st.integers(0, 50), st.sampled_from([0.25, 0.5, 1.0])),
    st.tuples(st.just("split"), st.integers(0, 2), st.sampled_from([2.0, 1.5, 1 / 3])),
), min_size=1, max_size=40)


def _records(state: LotState) -> list:
    return [state.record(SYMBOLS, i) for i in state.open_rows().tolist()]


def _apply(state: LotState, ops: list[tuple]) -> None:
    for k, op in enumerate(ops):
        if op[0] == "add":
            state.add(op[1], float(op[2]), op[3] / 100.0, START + timedelta(days=7 * k), f"T{k:04d}")
        elif op[0] == "sell":
            rows = state.open_rows()
            if rows.size:
                row = int(rows[op[1] % rows.size])
                held = float(state.qty[row])
                state.relieve(row, held if op[2] == 1.0 else np.floor(held * op[2]) or held)
        else:
            state.split(op[1], op[2])


@settings(max_examples=80, deadline=None)
@given(OPS)
def test_columns_hold_the_floats_of_the_records(ops: list[tuple]) -> None:
    """Each column is what the row's ``Lot`` record gives as a float (share counts after a split's
    six-place rounding, cents of basis), in row order; ``record(k)`` is row k's record."""
    state = LotState("A")
    _apply(state, ops)
    records = _records(state)
    cols = state.columns(SYMBOLS)
    assert len(cols) == len(records) == state.open_rows().size
    assert [cols[k] for k in range(len(cols))] == records
    assert cols.ids == [r.lot for r in records]
    assert [SYMBOLS[c] for c in cols.symbol.tolist()] == [r.symbol for r in records]
    assert cols.quantity.tolist() == [float(r.quantity) for r in records]
    assert cols.basis.tolist() == [float(r.cost + r.wash_sale_adjustment) for r in records]
    assert cols.long_term_on.tolist() == [r.long_term_on.toordinal() for r in records]
    assert cols.holding_start.tolist() == [r.holding_start.toordinal() for r in records]
    assert all(state.row_of[r.lot] == row for r, row in zip(records, state.open_rows().tolist(), strict=True))


def test_an_unchanged_lot_keeps_its_record_and_a_moved_one_gets_a_new_one() -> None:
    state = LotState("A")
    state.add(0, 10.0, 1000.0, START, "T1")
    state.add(1, 20.0, 2000.0, START, "T2")
    first = _records(state)
    state.relieve(1, 5.0)
    second = _records(state)
    assert second[0] is first[0]
    assert second[1] is not first[1] and float(second[1].quantity) == 15.0 and float(second[1].cost) == 1500.0
    assert state.columns(SYMBOLS)[1] is second[1]
