"""The stored book: schema, exact numbers, atomic and idempotent imports, load_book."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from directindex.errors import InputError
from directindex.store import engine_for, load_book, migrate, open_book, resolve_url
from directindex.store.db import StoreError, head_revision
from directindex.store.models import AuditRow, TransactionRow
from directindex.workflow.imports import import_path
from tests.store.dbfixtures import TRANSACTIONS, TX_COLUMNS, write_book, write_csv


def count(url: str, table: type) -> int:
    with engine_for(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_urls_select_drivers() -> None:
    assert resolve_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert resolve_url("books/a.db") == "sqlite:///books/a.db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"


def test_init_is_repeatable_and_uninitialized_book_is_refused(db_url: str, tmp_path: Path) -> None:
    assert migrate(db_url) == head_revision()
    assert migrate(db_url) == head_revision()
    with pytest.raises(StoreError, match="directindex init"):
        open_book(f"sqlite:///{tmp_path / 'none.db'}")


def test_money_and_quantities_are_exact(db_url: str, tmp_path: Path) -> None:
    rows = [("x1", "2024-01-02", "TAX-1", "buy", "AAA", "0.333333333", "10.10", "0.01", ""),
            ("x2", "2024-01-03", "TAX-1", "buy", "AAA", "7", "123456789.123456", "0", "")]
    import_path(open_book(db_url), write_book(tmp_path / "b", rows))
    _, _, txs, _ = load_book(db_url)
    assert [(t.quantity, t.price, t.fees) for t in txs] == [
        (Decimal("0.333333333"), Decimal("10.10"), Decimal("0.01")),
        (Decimal("7"), Decimal("123456789.123456"), Decimal("0")),
    ]
    with engine_for(db_url).connect() as conn:
        if conn.dialect.name == "sqlite":
            kinds = {r[0] for r in conn.execute(text("SELECT typeof(price) FROM transactions"))}
            assert kinds == {"text"}  # never a binary float
        else:
            typ = conn.execute(text("SELECT data_type FROM information_schema.columns WHERE "
                                    "table_name='transactions' AND column_name='price' "
                                    "AND table_schema = current_schema()")).scalar_one()
            assert typ == "numeric"


def test_import_is_idempotent(db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "b", policy="[approval]\napprover = 'dana'\n")
    first = import_path(open_book(db_url), book)
    assert (first.accounts_added, first.securities_added, first.transactions_added) == (3, 5, len(TRANSACTIONS))
    assert first.policy_updated
    audit_before = count(db_url, AuditRow)
    second = import_path(open_book(db_url), book)
    assert not second.changed and second.transactions_unchanged == len(TRANSACTIONS)
    assert count(db_url, TransactionRow) == len(TRANSACTIONS)
    assert count(db_url, AuditRow) == audit_before
    accounts, securities, txs, policy = load_book(db_url)
    assert set(accounts) == {"TAX-1", "IRA-2", "TAX-3"}
    assert securities["GOOG"].group == "ALPHABET"
    assert [t.id for t in txs] == [r[0] for r in TRANSACTIONS]
    assert txs[0].source is not None and txs[0].source.line == 2
    assert policy == {"approval": {"approver": "dana"}}


def test_later_transactions_file_appends(db_url: str, tmp_path: Path) -> None:
    import_path(open_book(db_url), write_book(tmp_path / "b"))
    later = write_csv(tmp_path / "new.csv", TX_COLUMNS, [
        ("t1", "2024-01-10", "TAX-1", "buy", "AAA", "100", "50.0", "0.00", ""),  # same content, other spelling
        ("t7", "2024-05-01", "TAX-1", "sell", "AAA", "40", "55", "0", "t1"),
    ])
    report = import_path(open_book(db_url), later)
    assert (report.transactions_added, report.transactions_unchanged) == (1, 1)
    assert [t.id for t in load_book(db_url)[2]][-1] == "t7"


def test_conflicting_row_names_both_places(db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "b")
    import_path(open_book(db_url), book)
    other = write_csv(tmp_path / "other.csv", TX_COLUMNS, [
        ("t9", "2024-05-01", "TAX-1", "buy", "AAA", "1", "50", "0", ""),
        ("t2", "2024-02-10", "TAX-1", "buy", "BBB", "10", "201.10", "1.00", ""),
    ])
    with pytest.raises(InputError) as e:
        import_path(open_book(db_url), other)
    msg = str(e.value)
    assert f"{other}, line 3, field 'id'" in msg
    assert f"{book / 'transactions.csv'}, line 3" in msg and "price: stored 200.1, new 201.1" in msg
    assert count(db_url, TransactionRow) == len(TRANSACTIONS)  # t9 was not written either


def test_history_is_validated_by_the_ledger_before_commit(db_url: str, tmp_path: Path) -> None:
    import_path(open_book(db_url), write_book(tmp_path / "b"))
    audit_before = count(db_url, AuditRow)
    oversell = write_csv(tmp_path / "sell.csv", TX_COLUMNS, [
        ("s1", "2024-06-01", "TAX-3", "buy", "CCC", "5", "100", "0", ""),
        ("s2", "2024-06-02", "TAX-1", "sell", "AAA", "150", "60", "0", ""),
    ])
    with pytest.raises(InputError, match="sell.csv, line 3"):
        import_path(open_book(db_url), oversell)
    assert count(db_url, TransactionRow) == len(TRANSACTIONS)
    assert count(db_url, AuditRow) == audit_before


def test_malformed_row_writes_nothing(db_url: str, tmp_path: Path) -> None:
    rows = [*TRANSACTIONS, ("t8", "2024-13-01", "TAX-1", "buy", "AAA", "1", "1", "0", "")]
    with pytest.raises(InputError, match="field 'date'"):
        import_path(open_book(db_url), write_book(tmp_path / "b", rows))
    assert count(db_url, TransactionRow) == 0
    assert load_book(db_url)[0] == {}


def test_changed_account_is_a_conflict(db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "b")
    import_path(open_book(db_url), book)
    (book / "accounts.csv").write_text("account,household,owner,type\nTAX-1,H9,alice,taxable\n")
    with pytest.raises(InputError, match=r"account 'TAX-1' differs from the stored one imported from .*line 2"):
        import_path(open_book(db_url), book)
