"""The array scan: ``root_idx=None`` (every row a lot of its own, as in the backtest) is the same scan as
numbering each row as its own lot."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from directindex.harvest.scan import Thresholds, scan
from directindex.ledger.view import LotTable

DAY = 740_000  # an ordinal day


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_no_root_index_is_each_row_its_own_lot(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_sym, n_groups = 6, 4
    sym = rng.integers(0, n_sym, n)
    group_of = rng.integers(0, n_groups, n_sym)
    table = LotTable(
        lots=(), accounts=("A",), households=("H",), symbols=tuple(f"S{i}" for i in range(n_sym)),
        groups=tuple(str(g) for g in range(n_groups)),
        account_idx=np.zeros(n, np.int64), household_idx=np.zeros(n, np.int64), symbol_idx=sym,
        group_idx=group_of[sym], taxable=rng.uniform(size=n) < 0.9,
        quantity=rng.integers(1, 100, n).astype(float), basis=rng.uniform(100, 10_000, n),
        acquired=DAY - rng.integers(0, 90, n), long_term_on=DAY + 300 - rng.integers(0, 90, n),
    )
    prices = rng.uniform(1, 150, n_sym)
    losses = rng.integers(0, n_groups, 2)
    kw = dict(loss_sale_hg=losses.astype(np.int64), loss_sale_day=DAY - rng.integers(0, 60, 2), threads=1)
    a = scan(table, prices, DAY, Thresholds(), None, **kw)  # type: ignore[arg-type]
    b = scan(table, prices, DAY, Thresholds(), np.arange(n, dtype=np.int64), **kw)  # type: ignore[arg-type]
    for f in fields(a):
        if f.name == "guard":
            for g in fields(a.guard):
                assert np.array_equal(getattr(a.guard, g.name), getattr(b.guard, g.name)), g.name
        else:
            assert np.array_equal(getattr(a, f.name), getattr(b, f.name)), f.name
    np.testing.assert_allclose(a.unrealized, table.quantity * prices[sym] - table.basis)
    assert a.guard.recent_roots.sum() == np.count_nonzero(table.acquired >= DAY - 30)  # each recent row a lot
