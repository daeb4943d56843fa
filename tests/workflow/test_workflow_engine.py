"""The daily run with the harvest engine, pending orders from the book, and the audit check of stored rows."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, text

from directindex.store import engine_for, load_book, open_book
from directindex.workflow import audit, proposals
from directindex.workflow.execution import paper_fill, release
from directindex.workflow.imports import import_path
from directindex.workflow.proposals import State
from directindex.workflow.run import daily_run
from tests.store.dbfixtures import PRICES, TX_COLUMNS, write_book, write_csv

AS_OF = date(2025, 1, 15)
# AAA lot t1 (basis 5,000) and BBB lot t2 (basis 2,002.00) are down; nothing else is.
PX = {k: Decimal(v) for k, v in {**PRICES, "AAA": "45", "BBB": "150", "GOOG": "155"}.items()}
PENDING_COLUMNS = ("account", "symbol", "side", "quantity", "date", "id")


def book_with_pending(root: Path, rows: list[tuple[str, ...]]) -> Path:
    book = write_book(root)
    write_csv(book / "pending.csv", PENDING_COLUMNS, rows)
    return book


def approved_engine_proposal(db_url: str, book: Path) -> tuple[Engine, str]:
    """A book imported and run on ``AS_OF``; its engine proposal approved by its approver if it needs one."""
    engine = open_book(db_url)
    import_path(engine, book)
    daily_run(engine, AS_OF, PX)
    pid = "P-20250115-TAX-1"
    with engine.connect() as conn:
        approver = proposals.get(conn, pid).approver
    if approver is not None:
        proposals.approve(engine, pid, approver, "reviewed")
    return engine, pid


def test_pending_orders_are_imported_idempotently_and_block_the_engine(db_url: str, tmp_path: Path) -> None:
    # Bob (alice's spouse, household H1) has a buy of BBB pending in his IRA: selling TAX-1's BBB at a
    # loss now would wash the loss into the IRA for good (Rev. Rul. 2008-5).
    book = book_with_pending(tmp_path / "book", [("IRA-2", "BBB", "buy", "5", "2025-01-14", "ORD-1")])
    engine = open_book(db_url)
    first = import_path(engine, book)
    assert first.pending_updated
    assert not import_path(engine, book).changed  # the same pending.csv twice changes nothing
    policy = load_book(db_url)[3]
    assert policy is not None and policy["pending"] == [
        {"id": "ORD-1", "account": "IRA-2", "symbol": "BBB", "side": "buy", "quantity": "5",
         "date": date(2025, 1, 14)}]
    report = daily_run(engine, AS_OF, PX)
    assert report.proposals == ("P-20250115-TAX-1",)
    with engine.connect() as conn:
        p = proposals.get(conn, "P-20250115-TAX-1")
    assert p.proposer == "harvest-engine"
    sells = [(t["symbol"], t["lot"]) for t in p.trades if t["side"] == "sell"]
    assert sells == [("AAA", "t1")]
    assert all(t["symbol"] not in ("AAA", "BBB") for t in p.trades if t["side"] == "buy")  # replacements only
    assert [(b["symbol"], b["lot"]) for b in p.blocked] == [("BBB", "t2")]
    assert "pending buy order ORD-1" in p.blocked[0]["reason"]
    evidence = p.trades[0]["evidence"]
    assert evidence["unrealized"] == "-500" and evidence["basis"] == "5000"
    assert {c["rule"] for c in evidence["wash_checks"]} >= {"recent_purchase", "pending_order"}
    # A new snapshot without the order replaces the stored set.
    write_csv(book / "pending.csv", PENDING_COLUMNS, [])
    assert import_path(engine, book).pending_updated
    assert "pending" not in (load_book(db_url)[3] or {})


def test_pending_buy_arriving_after_approval_stops_release(db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "book")
    engine, pid = approved_engine_proposal(db_url, book)
    # After approval the custodian reports a pending buy of AAA in the spouse's IRA.
    write_csv(book / "pending.csv", PENDING_COLUMNS, [("IRA-2", "AAA", "buy", "3", "2025-01-16", "ORD-9")])
    import_path(engine, book)
    result = release(engine, pid, "ops", date(2025, 1, 16))
    assert result.state is State.APPROVED and result.orders == ()
    assert any("pending buy order ORD-9 of 3 AAA in account IRA-2" in p for p in result.revalidation.problems)


def test_engine_proposal_releases_fills_and_the_rows_match_the_trail(db_url: str, tmp_path: Path) -> None:
    engine, pid = approved_engine_proposal(db_url, write_book(tmp_path / "book"))
    assert release(engine, pid, "ops", date(2025, 1, 16), PX).state is State.RELEASED
    with engine.connect() as conn:
        fills = paper_fill(conn, pid, PX, date(2025, 1, 16))
    (tmp_path / "fills.csv").write_text(fills)
    assert import_path(engine, tmp_path / "fills.csv").executed == (pid,)
    with engine.connect() as conn:
        assert audit.verify(conn) == [] and audit.verify_tables(conn) == []

    def problems_after(sql: str) -> list[str]:
        with engine.begin() as conn:
            conn.execute(text(sql))
        with engine.connect() as conn:
            return audit.verify(conn) + audit.verify_tables(conn)

    # Each edit is to a row, not to the chain: the chain stays intact, the rows no longer match it.
    assert problems_after("UPDATE transactions SET quantity = '99' WHERE id = 't1'") == [
        "transactions rows of import 1 do not match audit record 1 (a row was edited, deleted or added)"]
    assert any(f"proposal {pid}: its transitions" in p
               for p in problems_after("UPDATE transitions SET by = 'mallory' WHERE to_state = 'released'"))
    assert any(f"order {pid}-1 of proposal {pid} differs from its release record" in p
               for p in problems_after(f"UPDATE orders SET quantity = '1' WHERE id = '{pid}-1'"))
    assert any(f"proposal {pid} is pending_approval but the audit trail says executed" in p
               for p in problems_after(f"UPDATE proposals SET state = 'pending_approval' WHERE id = '{pid}'"))


def test_fill_rows_written_elsewhere_are_found(db_url: str, tmp_path: Path) -> None:
    engine = open_book(db_url)
    import_path(engine, write_book(tmp_path / "book"))
    later = write_csv(tmp_path / "later.csv", TX_COLUMNS, [("t9", "2024-05-01", "TAX-1", "buy", "AAA", "1", "50",
                                                            "0", "")])
    import_path(engine, later)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM transactions WHERE id = 't9'"))
    with engine_for(db_url).connect() as conn:
        assert audit.verify_tables(conn) == [
            "transactions rows of import 2 do not match audit record 2 (a row was edited, deleted or added)"]


def test_postgresql_tests_fail_rather_than_skip_without_a_server() -> None:
    env = {**os.environ, "DIRECTINDEX_TEST_PG": "postgresql://postgres@127.0.0.1:1/test"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
         "tests/store/test_store_book.py::test_init_is_repeatable_and_uninitialized_book_is_refused"],
        capture_output=True, text=True, env=env, timeout=300, cwd=Path(__file__).resolve().parents[2])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "PASSED tests/store/test_store_book.py::test_init_is_repeatable_and_uninitialized_book_is_refused[sqlite]" \
        in out, out
    assert "ERROR tests/store/test_store_book.py::test_init_is_repeatable_and_uninitialized_book_is_refused" \
        "[postgresql]" in out and "SKIPPED" not in out.upper().replace("NEVER SKIP", ""), out
    assert "PostgreSQL is not reachable at postgresql://postgres@127.0.0.1:1/test" in out
