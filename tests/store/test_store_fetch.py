"""The column-at-a-time read of the stored transactions gives the row-by-row read's records, value for value."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DataError

from directindex.ledger.records import Action, Source, Transaction
from directindex.store import open_book, repo, write_tx
from directindex.store.models import ImportRow, TransactionRow
from directindex.store.repo import (
    _TX_COLUMNS,
    _row_to_transaction,
    fetch_transactions,
    fetch_transactions_by_id,
    import_digests,
    now_iso,
    transaction_values,
)

D = Decimal
EXACT = ("quantity", "price", "fees", "basis", "ratio")


def varied(n: int) -> list[Transaction]:
    """``n`` rows cycling through every action and optional field, numbers of varied spelling and exponent."""
    day = date(2023, 1, 3)
    numbers = ["10.50", "0.1", "1E+2", "100", "0.000", "-0", "123456789.123456", "0.333333333", "7", "2.5E-7"]
    out = []
    for i in range(n):
        d = day + timedelta(days=i % 37)
        acct, sym = f"A{i % 7}", f"S{i % 11}"
        num = D(numbers[i % len(numbers)])
        other = D(numbers[(i * 3 + 1) % len(numbers)])
        src = Source(f"book{i // 600}/transactions.csv", i + 2)
        kind = i % 5
        if kind == 0:
            t = Transaction(f"t{i}", d, acct, Action.BUY, sym, num, other, D("1.00") if i % 2 else D("0"), source=src)
        elif kind == 1:
            t = Transaction(f"t{i}", d, acct, Action.SELL, sym, other, num, D("0.1"), lot=f"t{i - 1}", source=src)
        elif kind == 2:
            t = Transaction(f"t{i}", d, acct, Action.TRANSFER_IN, sym, num, D("0"), D("0"),
                            lot=f"L{i}" if i % 2 else None, acquired=d - timedelta(days=400 + i % 3), basis=other,
                            source=src)
        elif kind == 3:
            t = Transaction(f"t{i}", d, "" if i % 2 else acct, Action.SPLIT, sym, D("0"), D("0"), D("0"),
                            ratio=[D("2"), D("1.5"), D("0.1"), D("1E+1")][i % 4], source=src)
        else:
            action = [Action.REINVEST, Action.DONATE][i % 2]
            t = Transaction(f"t{i}", d, acct, action, sym, num, other, D("0.01"), source=src)
        out.append(t)
    return out


def store(url: str, txs: list[Transaction]) -> None:
    with write_tx(open_book(url)) as conn:
        iid = conn.execute(insert(ImportRow).values(kind="test", path="", sha256="", at=now_iso()).returning(
            ImportRow.id)).scalar_one()
        conn.execute(insert(TransactionRow), [transaction_values(t, iid) for t in txs])


def row_by_row(conn: Any) -> list[Transaction]:
    """The read as it was: every value through its column type's processor, one record per constructor call."""
    return [_row_to_transaction(r) for r in conn.execute(select(*_TX_COLUMNS).order_by(TransactionRow.seq))]


def assert_same(got: list[Transaction], expected: list[Transaction]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert type(g) is Transaction and g == e and repr(g) == repr(e)
        for name in Transaction.__slots__:
            a, b = getattr(g, name), getattr(e, name)
            assert type(a) is type(b), (e.id, name)
            if isinstance(b, Decimal):
                assert a.as_tuple() == b.as_tuple(), (e.id, name, a, b)
        assert type(g.source) is Source and type(g.action) is Action


@pytest.mark.parametrize("n", [1, 1300])  # one row; and rows over several blocks of 512
def test_fetch_equals_the_row_by_row_read(db_url: str, n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    txs = varied(n)
    store(db_url, txs)
    with open_book(db_url).connect() as conn:
        expected = row_by_row(conn)
        assert import_digests(conn)  # still reads (row by row)

        def no_fallback(r: Any) -> Transaction:
            raise AssertionError("a good book was read row by row")

        monkeypatch.setattr(repo, "_row_to_transaction", no_fallback)
        got = fetch_transactions(conn)
        assert_same(got, expected)
        assert got == txs  # numerically what was stored (PostgreSQL's NUMERIC may respell 1E+2 as 100)
        if conn.dialect.name == "sqlite":  # decimal text keeps every spelling
            assert [t.price.as_tuple() for t in got] == [t.price.as_tuple() for t in txs]
        some = ["A1", "A4"]
        assert_same(fetch_transactions(conn, some), [t for t in expected if t.account in some])
        assert fetch_transactions(conn, []) == []
        ids = [t.id for t in expected[::3]] + ["missing"]
        by_id = fetch_transactions_by_id(conn, ids)
        assert sorted(by_id) == sorted(ids[:-1])
        assert_same([by_id[i] for i in ids[:-1]], expected[::3])


def test_an_empty_book_reads_as_no_transactions(db_url: str) -> None:
    with open_book(db_url).connect() as conn:
        assert fetch_transactions(conn) == [] and fetch_transactions_by_id(conn, ["x"]) == {}


def _error(fn: Any) -> tuple[type, str]:
    try:
        fn()
    except Exception as e:  # the error itself is what is compared
        return type(e), str(e)
    raise AssertionError("no error")


@pytest.mark.parametrize(("column", "value", "error"), [
    ("quantity", "-1", "quantity is negative"),
    ("fees", "-0.01", "fees are negative"),
    ("price", "NaN", "InvalidOperation"),
    ("action", "short", "'short' is not a valid Action"),
    ("date", "2024-13-01", "month must be in 1..12"),
])
def test_a_bad_stored_row_fails_as_it_did(db_url: str, column: str, value: str, error: str) -> None:
    """Two bad rows in the third block: the error is the row-by-row read's, for the first of them."""
    store(db_url, varied(1300))
    engine = open_book(db_url)
    with write_tx(engine) as conn:
        target = TransactionRow.id.in_(["t1100", "t1200"])
        if column in EXACT:
            conn.execute(update(TransactionRow).where(target).values({column: D(value)}))
        else:  # past the column types, as a hand edit would write it
            edit = text(f"UPDATE transactions SET {column} = :v WHERE id IN ('t1100', 't1200')")
            if column == "date" and conn.dialect.name == "postgresql":
                with pytest.raises(DataError), conn.begin_nested():  # no bad date can be stored there
                    conn.execute(edit, {"v": value})
                return
            conn.execute(edit, {"v": value})
    with engine.connect() as conn:
        expected = _error(lambda: row_by_row(conn))
        assert error in expected[0].__name__ + ": " + expected[1]
        assert _error(lambda: fetch_transactions(conn)) == expected
        assert _error(lambda: fetch_transactions_by_id(conn, ["t1", "t1200"])) == expected
