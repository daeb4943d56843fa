"""The daily run, approval routing, re-validation before release, paper fills, reconciliation, audit."""

from __future__ import annotations

import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from directindex.ledger.records import Account, AccountType, Lot
from directindex.store import engine_for, open_book
from directindex.store.models import ProposalRow, RunAccountRow
from directindex.workflow import audit, lock, proposals
from directindex.workflow.approval import ApprovalPolicy, policy_for, route
from directindex.workflow.context import BookView
from directindex.workflow.execution import order_file, paper_fill, release
from directindex.workflow.imports import import_path
from directindex.workflow.proposals import ProposalError, State
from directindex.workflow.proposer import LossHarvestProposer, ProposalContext, ProposalDraft, Trade
from directindex.workflow.reconcile import reconcile
from directindex.workflow.run import daily_run
from tests.store.dbfixtures import PRICES, TX_COLUMNS, write_book, write_csv

AS_OF = date(2025, 1, 15)
# These cases test the workflow's mechanics with the small loss-threshold proposer (one sell per losing
# lot, no replacements); test_workflow_engine.py runs the default harvest engine.
SIMPLE = LossHarvestProposer()
PX = {k: Decimal(v) for k, v in {**PRICES, "AAA": "45", "GOOG": "155"}.items()}  # only AAA lot t1 is down


def setup_book(db_url: str, tmp_path: Path, policy: str | None = None) -> None:
    import_path(open_book(db_url), write_book(tmp_path / "book", policy=policy))


def state(db_url: str, pid: str) -> State:
    with engine_for(db_url).connect() as conn:
        return proposals.get(conn, pid).state


def test_run_proposes_routes_and_rerun_adds_nothing(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    seen: list[int] = []
    report = daily_run(engine, AS_OF, PX, SIMPLE, progress=lambda done, total, acct: seen.append(done))
    assert report.proposals == ("P-20250115-TAX-1",)
    assert report.accounts == 3 and seen[-1] == 3
    with engine.connect() as conn:
        p = proposals.get(conn, "P-20250115-TAX-1")
        changes = conn.execute(select(RunAccountRow.changes).where(RunAccountRow.account == "TAX-1")).scalar_one()
    assert [(t["side"], t["symbol"], t["lot"], t["quantity"]) for t in p.trades] == [("sell", "AAA", "t1", "100")]
    assert p.trades[0]["evidence"]["unrealized"] == "-500" and p.trades[0]["evidence"]["term"] == "long"
    # small (4,500 of 107,600), loss-only, no TE figures, IRA-2 does not hold AAA: auto-approved
    assert p.state is State.APPROVED and p.routing["auto"] is True
    assert [(t["from"], t["to"], t["by"]) for t in p.transitions] == [
        ("draft", "pending_approval", "policy"), ("pending_approval", "approved", "policy:auto")]
    assert '"new_harvestable_losses":["t1"]' in changes
    again = daily_run(engine, AS_OF, PX, SIMPLE)
    assert again.processed == 0 and again.already_done == 3 and again.proposals == ()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ProposalRow)).scalar_one() == 1
        assert audit.verify(conn) == []


def test_policy_routes_to_named_approver_with_reasons(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path, policy="[approval]\napprover = 'dana'\nmax_trade_fraction = 0.01\n"
                                        "[accounts.TAX-3.approval]\napprover = 'erin'\n")
    engine = open_book(db_url)
    px = {**PX, "BBB": Decimal("150"), "GOOG": Decimal("100")}
    daily_run(engine, AS_OF, px, SIMPLE)
    with engine.connect() as conn:
        p1 = proposals.get(conn, "P-20250115-TAX-1")
        p3 = proposals.get(conn, "P-20250115-TAX-3")
    assert p1.state is State.PENDING_APPROVAL and p1.approver == "dana"
    reasons = " | ".join(p1.routing["reasons"])
    assert "of the account, above 1.0%" in reasons
    assert "tax-advantaged account(s) IRA-2 of household H1" in reasons  # IRA-2 holds BBB, TAX-1 sells it
    assert p1.policy["max_trade_fraction"] == "0.01"
    assert p3.approver == "erin"
    with pytest.raises(ProposalError, match="routed to dana"):
        proposals.approve(engine, p1.id, "erin", "looks fine")
    proposals.approve(engine, p1.id, "dana", "ok, household checked")
    proposals.reject(engine, p3.id, "erin", "client asked to wait")
    assert state(db_url, p1.id) is State.APPROVED and state(db_url, p3.id) is State.REJECTED
    with pytest.raises(ProposalError, match="is rejected; it cannot become approved"):
        proposals.approve(engine, p3.id, "erin", "")


def test_route_rules_on_their_own() -> None:
    acct = Account("A", "H", "x", AccountType.TAXABLE)
    ira = Account("I", "H", "y", AccountType.ROTH_IRA)
    lot = Lot("A", "L1", "AAA", Decimal(10), date(2024, 1, 1), Decimal(1000), Decimal(0), date(2024, 1, 1),
              date(2025, 1, 2))
    ctx = ProposalContext(AS_OF, acct, (acct, ira), (lot,), (lot,), (), (), {}, {}, {})
    sell = Trade("A", "sell", "AAA", Decimal(10), "L1", "harvest", Decimal(120), {"unrealized": Decimal(200)})
    draft = ProposalDraft((sell,), summary={"account_value": Decimal(100000), "tracking_error_after": "0.03"})
    r = route(draft, ctx, ApprovalPolicy(gain_threshold=Decimal(100), tracking_error_budget=Decimal("0.02")))
    assert not r.auto and len(r.reasons) == 2
    assert "realizes 200.00 of gains, above the 100.00 threshold" in r.reasons[0]
    assert "tracking error to 0.0300, past the budget 0.0200" in r.reasons[1]
    assert route(draft, ctx, ApprovalPolicy(gain_threshold=Decimal(500))).auto
    assert policy_for({"approval": {"max_auto_notional": 10}, "accounts": {"A": {"approval": {"approver": "z"}}}},
                      "A") == ApprovalPolicy(approver="z", max_auto_notional=Decimal(10))


def test_spouse_ira_purchase_after_approval_stops_release(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    daily_run(engine, AS_OF, PX, SIMPLE)
    pid = "P-20250115-TAX-1"
    assert state(db_url, pid) is State.APPROVED
    # After approval, bob (alice's spouse, same household) buys AAA in his IRA.
    import_path(engine, write_csv(tmp_path / "ira.csv", TX_COLUMNS, [
        ("ira-buy", "2025-01-16", "IRA-2", "buy", "AAA", "3", "45", "0", "")]))
    result = release(engine, pid, "ops", date(2025, 1, 17))
    assert result.state is State.APPROVED and result.orders == ()
    assert "buy of 3 AAA in account IRA-2 (traditional_ira) on 2025-01-16" in result.revalidation.problems[0]
    with engine.connect() as conn:
        assert proposals.get(conn, pid).orders == []
        refused = audit.records(conn, pid, ("release_refused",))
    assert len(refused) == 1 and "IRA-2" in refused[0].payload["problems"][0]


def test_release_fill_import_executes_and_is_booked(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    daily_run(engine, AS_OF, PX, SIMPLE)
    pid = "P-20250115-TAX-1"
    result = release(engine, pid, "ops", date(2025, 1, 16), PX)
    assert result.state is State.RELEASED and [o["id"] for o in result.orders] == [f"{pid}-1"]
    with engine.connect() as conn:
        assert order_file(conn, pid).splitlines() == [
            "order_id,proposal,account,side,symbol,quantity,lot", f"{pid}-1,{pid},TAX-1,sell,AAA,100,t1"]
        fills = paper_fill(conn, pid, {"AAA": Decimal("44.50")}, date(2025, 1, 16))
    path = tmp_path / "fills.csv"
    path.write_text(fills)
    report = import_path(engine, path)
    assert report.executed == (pid,)
    assert state(db_url, pid) is State.EXECUTED
    assert import_path(engine, path).changed is False  # the same fills twice change nothing
    with engine.connect() as conn:
        view = BookView.build(conn, date(2025, 1, 16))
        story = [r.kind for r in audit.records(conn, pid)]
    assert not [lot for lot in view.ledger.lots if lot.account == "TAX-1" and lot.symbol == "AAA"]
    sale = [r for r in view.ledger.reliefs if r.transaction == f"{pid}-1"]
    assert sale[0].proceeds == Decimal("4450.00") and sale[0].gain_loss == Decimal("-550.00")
    assert story == ["proposal", "transition", "transition", "transition", "release", "fill", "transition"]


def test_stale_proposal_expires(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    daily_run(engine, AS_OF, PX, SIMPLE)
    result = release(engine, "P-20250115-TAX-1", "ops", date(2025, 1, 30))
    assert result.state is State.EXPIRED and "proposed 15 days ago" in result.revalidation.expired[0]
    assert state(db_url, "P-20250115-TAX-1") is State.EXPIRED


def test_price_move_expires(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    daily_run(engine, AS_OF, PX, SIMPLE)
    result = release(engine, "P-20250115-TAX-1", "ops", date(2025, 1, 16), {"AAA": Decimal("52")})
    assert result.state is State.EXPIRED and "AAA moved from 45 to 52" in result.revalidation.expired[0]


def test_reconciliation_break_blocks_until_resolved(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    positions = write_csv(tmp_path / "pos.csv", ("account", "symbol", "quantity", "lot", "acquired", "basis"), [
        ("TAX-1", "AAA", "100", "t1", "2024-01-10", "5000.00"),
        ("TAX-1", "BBB", "10", "t2", "2024-02-11", "2002.00"),
        ("TAX-1", "CCC", "999", "", "", ""),
        ("TAX-3", "GOOG", "20", "", "", ""),
        ("TAX-3", "ZZZ", "5", "", "", ""),
        ("IRA-2", "BBB", "5", "", "", ""),
    ])
    report = reconcile(engine, positions, AS_OF)
    got = {(b.account, b.symbol, b.lot, b.kind) for b in report.breaks}
    assert got == {("TAX-1", "BBB", "t2", "acquired"), ("TAX-1", "CCC", None, "quantity"),
                   ("TAX-3", "CCC", None, "missing"), ("TAX-3", "ZZZ", None, "extra")}
    run = daily_run(engine, AS_OF, PX, SIMPLE)
    assert set(run.blocked_by_breaks) == {"TAX-1", "TAX-3"} and run.proposals == ()
    clean = write_csv(tmp_path / "clean.csv", ("account", "symbol", "quantity"), [
        ("TAX-1", "AAA", "100"), ("TAX-1", "BBB", "10"), ("TAX-1", "CCC", "1000"), ("TAX-3", "GOOG", "20"),
        ("TAX-3", "CCC", "1000"), ("IRA-2", "BBB", "5")])
    second = reconcile(engine, clean, AS_OF)
    assert second.breaks == () and second.resolved == 4
    assert daily_run(engine, date(2025, 1, 16), PX, SIMPLE).proposals == ("P-20250116-TAX-1",)


def test_audit_verify_names_edited_and_deleted_records(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    daily_run(engine, AS_OF, PX, SIMPLE)
    with engine.connect() as conn:
        assert audit.verify(conn) == []
        n = len(audit.records(conn))
    assert n >= 6
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit SET payload = replace(payload, '-500', '-5000') WHERE kind = 'proposal'"))
    with engine.connect() as conn:
        seq = audit.records(conn, kinds=("proposal",))[0].seq
        problems = audit.verify(conn)
    assert problems == [f"audit record {seq} (proposal P-20250115-TAX-1): content does not match its hash "
                        "(the record was edited)"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit WHERE seq = :s"), {"s": seq + 1})
        conn.execute(text("DELETE FROM audit WHERE seq = :s"), {"s": n})
    with engine.connect() as conn:
        problems = audit.verify(conn)
    assert f"audit record(s) {seq + 1} deleted: the chain jumps from {seq} to {seq + 2}" in problems
    assert f"audit record(s) {n}..{n} deleted: the chain ends at {n - 1} but its head says {n}" in problems


def test_concurrent_run_is_refused_and_stale_lock_taken_over(db_url: str, tmp_path: Path) -> None:
    setup_book(db_url, tmp_path)
    engine = open_book(db_url)
    lock.acquire(engine, "run", "another run")
    with pytest.raises(lock.BookLocked, match=r"held by another run \(pid \d+"):
        daily_run(engine, AS_OF, PX, SIMPLE)
    lock.release(engine, "run")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO locks (name, owner, pid, host, acquired_at) VALUES "
                          "('run', 'crashed run', :pid, :host, '2025-01-15T00:00:00+00:00')"),
                     {"pid": dead.pid, "host": __import__("socket").gethostname()})
    assert daily_run(engine, AS_OF, PX, SIMPLE).processed == 3
    with engine.connect() as conn:
        assert [r.payload["stale_owner"] for r in audit.records(conn, kinds=("lock_takeover",))] == ["crashed run"]
