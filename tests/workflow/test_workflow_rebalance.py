"""Rebalances in the daily run: triggered accounts only, trades in the proposal, no wash sale on replay.

Household H1 (TAX-1 and bob's IRA-2) holds mostly CCC against an index of five names: its tracking
error is far past the alert level, so TAX-1 is rebalanced. TAX-3's benchmark is its own holdings, it
gets no new cash and it is not a cadence day: no rebalance (its GOOG loss is still harvested).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from directindex.ledger import Action, Transaction, book
from directindex.store import load_book, open_book
from directindex.workflow import audit, proposals
from directindex.workflow.harvest_engine import HarvestEngineProposer
from directindex.workflow.imports import import_path
from directindex.workflow.rebalance import Rebalancer, RebalanceSettings, cadence_due, triggers
from directindex.workflow.run import daily_run
from tests.store.dbfixtures import PRICES, write_book

AS_OF = date(2025, 1, 15)
PX = {k: Decimal(v) for k, v in {**PRICES, "AAA": "45", "GOOG": "120"}.items()}
POLICY = """
[defaults]
benchmark = {AAA = 0.2, BBB = 0.2, GOOG = 0.2, CCC = 0.2, GOOGL = 0.2}
te_budget = 0.03

[risk]
tracking_error_alert = 0.02

[rebalance]
cadence = "quarterly"

[accounts.TAX-3]
benchmark = {GOOG = 2400, CCC = 101000}

[accounts.IRA-2.rebalance]
enabled = false

[approval]
max_trade_fraction = 1.0
"""


def history(prices: dict[str, Decimal], days: int = 160, seed: int = 11) -> pd.DataFrame:
    """Daily closes ending at ``prices``: a market factor plus noise, so a risk model can be estimated."""
    rng = np.random.default_rng(seed)
    syms = sorted(prices)
    r = rng.normal(0, 0.01, (days, 1)) + rng.normal(0, 0.015, (days, len(syms)))
    level = np.exp(np.cumsum(r, axis=0))
    close = level / level[-1] * np.array([float(prices[s]) for s in syms])
    dates = pd.bdate_range(end=pd.Timestamp(AS_OF), periods=days)
    return pd.DataFrame({"date": np.repeat(dates, len(syms)), "symbol": np.tile(syms, days),
                         "close": close.ravel()})


def run(engine, day: date = AS_OF, prices: dict[str, Decimal] = PX):
    hist = history(prices)
    return daily_run(engine, day, prices, HarvestEngineProposer(prices_history=hist), owner="test",
                     rebalancer=Rebalancer())


def replay_washes(url: str, trades: list[dict], on: date) -> list:
    """Book the history plus every proposed trade at its price on ``on``: the wash sales it creates."""
    accounts, securities, txs, _ = load_book(url)
    before = book(txs, accounts, securities).raise_errors()
    new = [Transaction(f"X{i}", on, t["account"], Action.SELL if t["side"] == "sell" else Action.BUY,
                       t["symbol"], Decimal(str(t["quantity"])), Decimal(str(t["price"])), Decimal(0),
                       t.get("lot") or None) for i, t in enumerate(trades)]
    after = book([*txs, *new], accounts, securities).raise_errors()
    old = {(w.sale_transaction, w.replacement_transaction) for w in before.wash_sales}
    return [w for w in after.wash_sales if (w.sale_transaction, w.replacement_transaction) not in old]


def test_a_drifted_account_is_rebalanced_and_an_untriggered_one_is_not(db_url: str, tmp_path: Path) -> None:
    engine = open_book(db_url)
    import_path(engine, write_book(tmp_path / "book", policy=POLICY))
    report = run(engine)
    assert report.changes["rebalanced"] == 1
    with engine.connect() as conn:
        p1 = proposals.get(conn, "P-20250115-TAX-1")
        p3 = proposals.get(conn, "P-20250115-TAX-3")
        assert audit.verify(conn) == [] and audit.verify_tables(conn) == []
    rebal = [t for t in p1.trades if t["reason"] == "rebalance"]
    assert rebal and {t["side"] for t in rebal} == {"buy", "sell"}
    info = p1.summary["rebalance"]
    assert [t["trigger"] for t in info["triggers"]] == ["tracking_error"]
    assert info["tracking_error_before"] > 0.02
    assert info["tracking_error_after"] < info["tracking_error_before"]
    assert "tax_cost" in info
    assert p1.summary["tracking_error_after"] == info["tracking_error_after"]
    for t in rebal:
        assert t["evidence"]["tracking_error_before"] == info["tracking_error_before"]
    # AAA is harvested at a loss in TAX-1: the rebalance never buys it back, and the harvest's own
    # replacement buys gave way to the optimizer's
    assert any(t["reason"] == "harvest" and t["symbol"] == "AAA" for t in p1.trades)
    assert not any(t["side"] == "buy" and t["symbol"] == "AAA" for t in p1.trades)
    assert not any(t["reason"] == "replacement" for t in p1.trades)
    restricted = {r["symbol"] for r in p1.restricted}
    assert not any(t["side"] == "buy" and t["symbol"] in restricted for t in p1.trades)
    # a sale realizing a gain is above the loss-only threshold: routed, with the reason
    assert p1.state is proposals.State.PENDING_APPROVAL or p1.routing["auto"]
    # TAX-3: harvest only
    assert all(t["reason"] != "rebalance" for t in p3.trades) and "rebalance" not in p3.summary
    assert replay_washes(db_url, [*p1.trades, *p3.trades], AS_OF) == []


def test_rerunning_the_same_date_creates_nothing_new(db_url: str, tmp_path: Path) -> None:
    engine = open_book(db_url)
    import_path(engine, write_book(tmp_path / "book", policy=POLICY))
    first = run(engine)
    with engine.connect() as conn:
        before = proposals.listing(conn, None, None, None)
        n_audit = len(audit.records(conn))
    again = run(engine)
    assert again.processed == 0 and again.proposals == ()
    with engine.connect() as conn:
        assert proposals.listing(conn, None, None, None) == before
        assert len(audit.records(conn)) == n_audit
    assert len(first.proposals) == len(before)


def test_new_cash_and_the_cadence_trigger(db_url: str, tmp_path: Path) -> None:
    """A sale booked since the previous run is new cash; the first run of a quarter is a cadence day."""
    engine = open_book(db_url)
    policy = POLICY.replace('cadence = "quarterly"', 'cadence = "none"\nmin_cash = 500')
    root = write_book(tmp_path / "book", policy=policy)
    import_path(engine, root)
    day0 = AS_OF - timedelta(days=1)
    # no risk model on day 0 (no history given): nothing is rebalanced, the run is the "previous run"
    daily_run(engine, day0, PX, HarvestEngineProposer(), owner="test", rebalancer=Rebalancer())
    sale = root / "sale.csv"
    sale.write_text("id,date,account,action,symbol,quantity,price,fees,lot\n"
                    "s1,2025-01-15,TAX-3,sell,CCC,100,101,0,\n")
    import_path(engine, sale)
    run(engine)
    with engine.connect() as conn:
        p3 = proposals.get(conn, "P-20250115-TAX-3")
    info = p3.summary["rebalance"]
    assert [t["trigger"] for t in info["triggers"]] == ["new_cash"]
    assert Decimal(str(info["cash_invested"])) >= Decimal("10100")
    assert replay_washes(db_url, p3.trades, AS_OF) == []


@pytest.mark.parametrize(("cadence", "previous", "due"), [
    ("quarterly", date(2025, 3, 31), True), ("quarterly", date(2025, 4, 1), False),
    ("monthly", date(2025, 4, 1), False), ("weekly", date(2025, 3, 28), True), ("none", date(2024, 1, 1), False),
    ("quarterly", None, False),
])
def test_cadence_days(cadence: str, previous: date | None, due: bool) -> None:
    assert cadence_due(cadence, date(2025, 4, 2), previous) is due


def test_trigger_thresholds() -> None:
    s = RebalanceSettings()
    kw = {"alert": 0.02, "budget": 0.03, "as_of": AS_OF, "previous_run": AS_OF - timedelta(days=1)}
    assert triggers(s, tracking_error=0.019, new_cash=Decimal(900), account_value=Decimal(100000), **kw) == []
    fired = triggers(s, tracking_error=0.021, new_cash=Decimal(1001), account_value=Decimal(100000), **kw)
    assert [t["trigger"] for t in fired] == ["tracking_error", "new_cash"]
    # the cash threshold is the larger of min_cash and cash_fraction of the account
    assert triggers(s, tracking_error=None, new_cash=Decimal(4000), account_value=Decimal(1_000_000), **kw) == []


def test_one_compiled_problem_sized_to_the_book_and_the_heap_left_as_found(db_url: str, tmp_path: Path) -> None:
    import gc

    from directindex.workflow.rebalance import lots_per_name

    engine = open_book(db_url)
    import_path(engine, write_book(tmp_path / "book", policy=POLICY))
    rebalancer = Rebalancer()
    enabled = gc.isenabled()
    daily_run(engine, AS_OF, PX, HarvestEngineProposer(prices_history=history(PX)), owner="test",
              rebalancer=rebalancer)
    assert gc.get_freeze_count() == 0 and gc.isenabled() == enabled
    assert rebalancer._opt is not None and rebalancer._view is not None
    most = lots_per_name(rebalancer._view)
    assert most >= 1
    # every account's problem has the book's segment count: one structure, one compile
    assert {s.segments for s in rebalancer._opt.problems} <= {next(k for k in (1, 2, 4, 8) if k >= min(most, 8))}
    assert len(rebalancer._opt.problems) == 1
