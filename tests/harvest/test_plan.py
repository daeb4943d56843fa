"""Harvest passes over small households, each replayed through the exact ledger (IRC 1091; Pub 550).

Every proposal is appended to the history as transactions at the as-of date and prices and booked: it
must produce no wash sale. Then the next 30 days are simulated with the restricted list honoured (every
restricted name bought on its expiry date, everything else bought and reinvested freely, pending orders
filled): still no wash sale.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from directindex.harvest import (
    HarvestPolicy,
    PeerReplacer,
    PendingOrder,
    Reason,
    Side,
    load_book_dir,
    plan_harvest,
    policy_from_mapping,
)
from directindex.harvest.inputs import prices_on, risk_model_for
from directindex.ledger import Action, Transaction, book
from directindex.market.io import load_prices
from tests.harvest.replay import honour_restricted, replay
from tests.harvest.scenarios import AS_OF, PRICES, SECURITIES, household

BOOK = Path(__file__).resolve().parents[2] / "examples" / "book"


def check_no_wash(accts, txs, proposal, pending=()):
    _, fresh = replay(accts, SECURITIES, txs, proposal)
    assert fresh == [], fresh
    _, fresh = replay(accts, SECURITIES, txs, proposal, honour_restricted(accts, proposal, PRICES, pending))
    assert fresh == [], fresh


def sells(proposal):
    return {(t.account, t.lot) for t in proposal.trades if t.side is Side.SELL}


@pytest.mark.parametrize(("days_ago", "blocked"), [(29, True), (30, True), (31, False)])
def test_reinvested_dividend_in_the_ira_29_30_31_days_ago(days_ago, blocked):
    """Pub 550: a purchase 30 days before the sale is inside the window, 31 days before is not."""
    d = (AS_OF - timedelta(days=days_ago)).isoformat()
    accts, txs = household(f"""
        B1,2024-01-10,JOINT,buy,XOM,100,120,0,,,,
        R1,{d},IRA,reinvest,XOM,0.5,95,0,,,,
    """)
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF)
    assert (("JOINT", "B1") not in sells(p)) is blocked
    if blocked:
        (b,) = p.blocked
        assert b.cause == "recent_purchase"
        assert f"bought 0.5 shares of XOM in account IRA on {d} (dividend reinvestment)" in b.reason
    check_no_wash(accts, txs, p)
    # The guard has teeth: the ledger itself finds the wash when the sale is made anyway (and none at 31).
    sale = Transaction("X1", AS_OF, "JOINT", Action.SELL, "XOM", Decimal(100), PRICES["XOM"], lot="B1")
    washes = book([*txs, sale], accts, SECURITIES).raise_errors().wash_sales
    assert bool(washes) is blocked
    if blocked:
        assert washes[0].permanent  # the replacement sits in the IRA: the loss is lost (Rev. Rul. 2008-5)


def test_spouse_purchase_of_the_other_share_class_blocks():
    """GOOG and GOOGL are one identical group; the spouse's Roth purchase blocks the joint account's loss."""
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,GOOG,100,120,0,,,,
        B2,2025-06-01,ROTH,buy,GOOGL,3,92,0,,,,
        B3,2024-02-01,SPOUSE,buy,MSFT,50,110,0,,,,
    """)
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF)
    assert sells(p) == {("SPOUSE", "B3")}
    (b,) = p.blocked
    assert (b.account, b.symbol, b.cause) == ("JOINT", "GOOG", "recent_purchase")
    assert "GOOGL in account ROTH on 2025-06-01 (purchase)" in b.reason
    check_no_wash(accts, txs, p)


def test_replacement_never_in_the_identical_group_never_restricted_never_excluded():
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,GOOG,100,120,0,,,,
        B2,2024-01-10,SPOUSE,buy,META,10,100,0,,,,
        B3,2025-05-01,SPOUSE,buy,AAPL,10,100,0,,,,
        S3,2025-06-01,SPOUSE,sell,AAPL,10,90,0,B3,,,
    """)
    policy = policy_from_mapping({"defaults": {"replacement": "basket", "basket_size": 5,
                                               "exclusions": ["ORCL"]}})
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF, policy)
    buys = {t.symbol for t in p.trades if t.reason is Reason.REPLACEMENT}
    assert buys and not buys & {"GOOG", "GOOGL", "ORCL", "AAPL"}
    (aapl,) = [e for e in p.restricted if e.group == "AAPL"]
    assert aapl.source == "book" and aapl.expires == date(2025, 7, 2)  # sold 2025-06-01 + 31 days
    assert {e.group for e in p.restricted if e.source == "proposal"} == {"alphabet"}
    check_no_wash(accts, txs, p)


def test_pending_order_blocks_and_its_fill_would_have_washed():
    accts, txs = household("""
        B1,2024-01-10,SPOUSE,buy,CVX,100,120,0,,,,
        B2,2024-01-10,JOINT,buy,XOM,100,120,0,,,,
    """)
    policy = HarvestPolicy(pending=(PendingOrder("IRA", "CVX", "buy", Decimal(5), id="ORD-1"),))
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF, policy)
    assert sells(p) == {("JOINT", "B2")}
    (b,) = p.blocked
    assert b.cause == "pending_order" and "ORD-1" in b.reason and "account IRA" in b.reason
    check_no_wash(accts, txs, p, pending=[("IRA", "CVX", Decimal(5))])
    # Without the guard the fill would wash the sale: the check has teeth.
    unguarded = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF)
    fill = Transaction("P1", AS_OF + timedelta(days=1), "IRA", Action.BUY, "CVX", Decimal(5), PRICES["CVX"])
    _, fresh = replay(accts, SECURITIES, txs, unguarded, [fill])
    assert fresh and fresh[0].permanent


def test_selling_the_one_recent_lot_too_clears_the_window():
    """The spouse's recent purchase is itself at a loss: it is sold first, then the older lot."""
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,AAPL,100,120,0,,,,
        B2,2025-06-10,SPOUSE,buy,AAPL,10,100,0,,,,
    """)
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF)
    order = [(t.account, t.lot) for t in p.trades if t.side is Side.SELL]
    assert order == [("SPOUSE", "B2"), ("JOINT", "B1")]
    check_no_wash(accts, txs, p)


def test_two_recent_lots_cannot_be_cleared():
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,AAPL,100,120,0,,,,
        B2,2025-06-10,SPOUSE,buy,AAPL,10,100,0,,,,
        B3,2025-06-12,JOINT,buy,AAPL,10,100,0,,,,
    """)
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF)
    assert not sells(p)
    assert {b.lot for b in p.blocked} == {"B1", "B2", "B3"}
    check_no_wash(accts, txs, p)


def test_recent_lot_in_the_ira_is_not_sold_to_clear():
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,AAPL,100,120,0,,,,
        B2,2025-06-10,IRA,buy,AAPL,10,100,0,,,,
    """)
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF)
    assert not sells(p)
    assert "not itself harvestable" in p.blocked[0].reason
    check_no_wash(accts, txs, p)


def test_gain_loss_matching_and_target():
    """Short-term gains this year: short-term losses first; a $500 target stops the pass."""
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,XOM,100,100,0,,,,
        B2,2025-03-03,JOINT,buy,MSFT,100,100,0,,,,
        B3,2025-03-03,SPOUSE,buy,CVX,100,120,0,,,,
    """)
    policy = policy_from_mapping({"tax": {"outside_short_term": 5000, "target": 500}})
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF, policy)
    harvested = [t for t in p.trades if t.reason is Reason.HARVEST]
    assert [t.lot for t in harvested] == ["B3"]  # short-term, the largest loss, meets the target alone
    assert {b.lot: b.cause for b in p.blocked} == {"B2": "target_met", "B1": "target_met"}
    assert p.summary.harvested_short_term == Decimal("2000.00")
    assert p.summary.estimated_tax_value > 0


def test_tax_advantaged_lots_are_never_harvested_and_thresholds_apply():
    accts, txs = household("""
        B1,2024-01-10,IRA,buy,XOM,100,120,0,,,,
        B2,2024-01-10,ROTH,buy,MSFT,100,120,0,,,,
        B3,2024-01-10,JOINT,buy,CVX,100,101,0,,,,
        B4,2025-06-10,JOINT,buy,META,100,110,0,,,,
    """)
    policy = policy_from_mapping({"harvest": {"loss_threshold": 0.02, "min_days": 10}})
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF, policy)
    assert not p.trades
    assert [(b.lot, b.cause) for b in p.blocked] == [("B4", "min_days")]


def test_drip_warning():
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,XOM,100,120,0,,,,
        B2,2024-01-10,ROTH,buy,XOM,10,80,0,,,,
    """)
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF, policy_from_mapping({"accounts": {"ROTH": {"drip": True}}}))
    (w,) = p.warnings
    assert (w.account, w.symbol, w.code) == ("ROTH", "XOM", "drip")
    assert "2025-07-17" in w.message


def test_example_book_end_to_end():
    b = load_book_dir(BOOK)
    prices = load_prices(BOOK / "prices.csv")
    day = date(2025, 6, 16)
    px = prices_on(prices, day)
    model = risk_model_for(prices, b.securities, day)
    assert model is not None
    p = plan_harvest(b.accounts, b.securities, b.transactions, px, day, b.policy, risk_model=model)
    causes = {(x.symbol, x.cause) for x in p.blocked}
    assert ("GOOG", "recent_purchase") in causes  # IRA's GOOGL reinvestment 29 days ago
    assert ("CVX", "pending_order") in causes  # pending.csv
    assert ("JOINT", "T3") in sells(p)  # XOM: the Roth's reinvestment was 31 days ago
    assert not any(t.symbol == "NVDA" and t.side is Side.SELL for t in p.trades)  # the low-basis position stays
    assert p.summary.tracking_error_after is not None
    (cvx,) = [x for x in p.blocked if x.cause == "pending_order"]
    assert "pending buy order ORD-7 of 15 shares of CVX in account IRA for 2025-06-17" in cvx.reason
    # te_budget = 0.02 in policy.toml: an account the proposal takes past it is flagged with the figure
    over = {w.account: w for w in p.warnings if w.code == "tracking_error_over_budget"}
    for account, (_, after) in p.tracking_error.items():
        assert (account in over) is (after is not None and after > 0.02)
        if account in over:
            assert f"{after:.2%}" in over[account].message and "2.00%" in over[account].message
    pending = [(o.account, o.symbol, o.quantity) for o in b.policy.pending if o.side == "buy"]
    _, fresh = replay(b.accounts, b.securities, b.transactions, p)
    assert fresh == []
    _, fresh = replay(b.accounts, b.securities, b.transactions, p, honour_restricted(b.accounts, p, px, pending))
    assert fresh == []


def test_replacement_interface_optimizer_and_peer():
    b = load_book_dir(BOOK)
    prices = load_prices(BOOK / "prices.csv")
    day = date(2025, 6, 16)
    px = prices_on(prices, day)
    model = risk_model_for(prices, b.securities, day)
    from directindex.harvest import OptimizerReplacer

    for replacer in (PeerReplacer(1), OptimizerReplacer()):
        p = plan_harvest(b.accounts, b.securities, b.transactions, px, day, b.policy, risk_model=model,
                         replacer=replacer)
        buys = [t for t in p.trades if t.reason is Reason.REPLACEMENT]
        assert buys, replacer.name
        for t in buys:
            assert t.symbol not in {"MSFT", "XOM", "AAPL", "JPM"}
        _, fresh = replay(b.accounts, b.securities, b.transactions, p)
        assert fresh == []


def test_swap_back_after_the_window():
    """Harvest GOOG into META; 40 days later, with GOOG back near the benchmark, swap back lowers TE."""
    b = load_book_dir(BOOK)
    prices = load_prices(BOOK / "prices.csv")
    day = date(2025, 6, 16)
    model = risk_model_for(prices, b.securities, day)
    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,GOOG,100,120,0,,,,
        S1,2025-05-01,JOINT,sell,GOOG,100,100,0,B1,,,
        R1,2025-05-01,JOINT,buy,META,95,100,0,,,,
        B2,2024-01-10,JOINT,buy,XOM,100,90,0,,,,
    """)
    policy = policy_from_mapping({"harvest": {"swap_back": True},
                                  "defaults": {"benchmark": {"GOOG": 0.5, "XOM": 0.5}}})
    p = plan_harvest(accts, SECURITIES, txs, {**PRICES, "META": Decimal("99.5")}, day, policy, risk_model=model)
    swaps = [t for t in p.trades if t.reason is Reason.SWAP_BACK]
    assert [(t.side, t.symbol) for t in swaps] == [(Side.SELL, "META"), (Side.BUY, "GOOG")]
    assert p.summary.tracking_error_after < p.summary.tracking_error_before
    _, fresh = replay(accts, SECURITIES, txs, p)
    assert fresh == []


def test_peer_score_matrix_matches_the_per_name_scores() -> None:
    """The batched scores (one pass per harvest) match the formula on the dense covariance, and the basket
    is the one the per-name ranking picks."""
    from directindex.harvest.replace import PeerReplacer as Peer
    from directindex.harvest.replace import ReplacementRequest as Req
    from directindex.market.risk import FactorRiskModel as Model

    rng = np.random.default_rng(5)
    n, k = 40, 4
    syms = tuple(f"S{i:02d}" for i in range(n))
    b = rng.normal(size=(n, k))
    b[:, 0] = 1 + 0.3 * rng.normal(size=n)
    a = rng.normal(size=(k, k))
    model = Model(symbols=syms, factor_names=("market", "f1", "f2", "f3"), exposures=b,
                  factor_cov=a @ a.T * 1e-3, specific_var=rng.uniform(0.01, 0.05, n))
    sectors = {s: ("A", "B", "")[i % 3] for i, s in enumerate(syms)}
    sold = {"S03": 1000.0, "S10": 500.0, "S21": 250.0}
    req = Req(account="X", as_of=date(2024, 1, 2), sold=sold, holdings={}, lots=(),
              allowed=tuple(s for s in syms if s not in sold), prices=dict.fromkeys(syms, 10.0), sectors=sectors,
              risk_model=model, basket_size=3)
    peer = Peer(3)
    batch = peer.score_matrix(sorted(sold), req)
    assert batch is not None
    cands, matrix = batch
    cov = b @ model.factor_cov @ b.T + np.diag(model.specific_var)  # the dense covariance, independently
    for r, s in enumerate(sorted(sold)):
        i = syms.index(s)
        expected = []
        for c in cands:
            j = syms.index(c)
            corr = cov[i, j] / np.sqrt(cov[i, i] * cov[j, j])
            same = 0.1 if sectors[s] and sectors[s] == sectors[c] else 0.0
            expected.append(corr - 0.5 * abs(b[j, 0] - b[i, 0]) + same)
        np.testing.assert_allclose(matrix[r], expected, rtol=1e-10, atol=1e-12)
        one = peer.scores(s, req)
        assert list(one) == cands
        np.testing.assert_allclose([one[c] for c in cands], matrix[r], rtol=1e-12, atol=1e-14)
    out = peer(req)
    # the same basket the per-name ranking picks, dollars conserved
    expected: dict[str, float] = {}
    for s, dollars in sorted(sold.items()):
        ranked = sorted(peer.scores(s, req).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        w = np.array([max(v, 0.0) for _, v in ranked])
        w = w / w.sum() if w.sum() > 0 else np.full(len(ranked), 1 / len(ranked))
        for (c, _), x in zip(ranked, w, strict=True):
            expected[c] = expected.get(c, 0.0) + dollars * float(x)
    assert set(out) == set(expected)
    for c in out:
        assert out[c] == pytest.approx(expected[c])
    assert sum(out.values()) == pytest.approx(sum(sold.values()))


def test_pass_indexes_match_a_full_scan():
    """The group -> symbols and account -> lots indexes built once per pass equal the rescans they replace.

    GOOG and GOOGL are one identical group: the drip warning for a GOOGL holding in the Roth and the
    restricted entry both name the whole group, whichever symbol was harvested.
    """
    from directindex.harvest.plan import _Context
    from directindex.ledger.view import lot_table

    accts, txs = household("""
        B1,2024-01-10,JOINT,buy,GOOG,100,120,0,,,,
        B2,2024-01-10,ROTH,buy,GOOGL,10,80,0,,,,
        B3,2024-01-10,JOINT,buy,XOM,50,120,0,,,,
        B4,2024-02-10,ROTH,buy,XOM,5,80,0,,,,
    """)
    policy = policy_from_mapping({"accounts": {"ROTH": {"drip": ["GOOGL"]}}})
    p = plan_harvest(accts, SECURITIES, txs, PRICES, AS_OF, policy)
    assert [(w.account, w.symbol, w.code) for w in p.warnings] == [("ROTH", "GOOGL", "drip")]
    assert "GOOG/GOOGL" in p.warnings[0].message
    assert {(e.group, e.symbols) for e in p.restricted} == {("alphabet", ("GOOG", "GOOGL")), ("XOM", ("XOM",))}
    led = book(txs, accts, SECURITIES)
    table = lot_table(led.lots, accts, SECURITIES, sorted({x.symbol for x in led.lots} | set(PRICES)))
    ctx = _Context(AS_OF, accts, SECURITIES, policy, dict(PRICES), table, led, {})
    for g in {*(s.group for s in SECURITIES.values()), "NOPE"}:
        full = {s for s, sec in SECURITIES.items() if sec.group == g} | {s for s in table.symbols
                                                                         if ctx.group(s) == g}
        assert ctx.group_symbols(g) == tuple(sorted(full))
    for a in [*accts, "NOPE"]:
        assert ctx.lots_of(a) == tuple(x for x in led.lots if x.account == a)
