"""Booking households on several cores gives exactly the one-process fold's result, record for record.

Households are independent for the wash-sale rule (IRC 1091 reaches the spouse's accounts, never another
household's), so ``book`` may fold shares of whole households in forked processes and merge them back.
The history below mixes everything that crosses a share boundary or depends on order: wash sales within
and across a household's accounts (IRAs included, Rev. Rul. 2008-5), later purchases washing earlier
losses, splits of one account and splits with an empty account (every account), transfers in, named
lots, and bad rows (an id used twice across households, an unknown account, selling more than held, a
lot that does not exist, a lot id used twice).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from directindex.ledger import Account, AccountType, Action, LedgerConfig, Method, Security, Source, Transaction, book

book_module = importlib.import_module("directindex.ledger.book")  # the module (the package exports the function)

TYPES = [AccountType.TAXABLE, AccountType.TAXABLE, AccountType.TRADITIONAL_IRA, AccountType.ROTH_IRA]
SYMBOLS = ["X", "Y", "GOOG", "GOOGL", "VOO", "IVV"]
SECURITIES = {s: Security(s, identical_group=g)
              for s, g in {"GOOG": "alphabet", "GOOGL": "alphabet", "VOO": "sp500", "IVV": "sp500"}.items()}

needs_fork = pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="parallel booking needs fork")


def history(seed: int, households: int = 12, rows: int = 3000) -> tuple[list[Transaction], dict[str, Account]]:
    rnd = random.Random(seed)
    accounts = {f"A{i}": Account(f"A{i}", f"H{i // 4}", f"O{i // 2}", TYPES[i % 4]) for i in range(households * 4)}
    names = list(accounts)
    held: dict[tuple[str, str], int] = {}
    lots: dict[tuple[str, str], list[str]] = {}
    txs: list[Transaction] = []
    start = date(2023, 1, 1)
    for k in range(rows):
        line = k + 2
        src = Source("transactions.csv", line)
        day = start + timedelta(days=rnd.randrange(500))
        acct = rnd.choice(names)
        sym = rnd.choice(SYMBOLS)
        price = Decimal(rnd.randrange(1000, 20000)) / 100
        fees = Decimal(rnd.randrange(0, 200)) / 100
        roll = rnd.random()
        tid = f"T{k}"
        if roll < 0.01:  # an id already used, likely in another household
            tid = f"T{rnd.randrange(max(k, 1))}"
        if roll < 0.02:
            txs.append(Transaction(tid, day, acct, Action.BUY, sym, Decimal(5), price, fees, source=src))
        elif roll < 0.03:
            txs.append(Transaction(tid, day, "NOWHERE", Action.BUY, sym, Decimal(5), price, source=src))
        elif roll < 0.04:  # a split of every account holding the symbol
            txs.append(Transaction(tid, day, "", Action.SPLIT, sym, ratio=Decimal(rnd.choice([2, 3])), source=src))
        elif roll < 0.05:
            txs.append(Transaction(tid, day, acct, Action.SPLIT, sym, ratio=Decimal("1.5"), source=src))
        elif roll < 0.06:  # more than held, sometimes
            txs.append(Transaction(tid, day, acct, Action.SELL, sym, Decimal(rnd.randrange(1, 400)), price, fees,
                                   source=src))
        elif roll < 0.07:
            txs.append(Transaction(tid, day, acct, Action.SELL, sym, Decimal(1), price, lot="NO-SUCH-LOT", source=src))
        elif roll < 0.08:  # a lot id that may already exist in the account
            txs.append(Transaction(tid, day, acct, Action.BUY, sym, Decimal(3), price, lot=f"L{rnd.randrange(20)}",
                                   source=src))
        elif roll < 0.10:
            txs.append(Transaction(tid, day, acct, Action.TRANSFER_IN, sym, Decimal(rnd.randrange(1, 30)), fees=fees,
                                   acquired=day - timedelta(days=rnd.randrange(800)),
                                   basis=Decimal(rnd.randrange(100, 900000)) / 100, source=src))
        elif roll < 0.55 and held.get((acct, sym), 0) > 0:
            q = rnd.randrange(1, held[(acct, sym)] + 1)
            named = lots.get((acct, sym)) if rnd.random() < 0.2 else None
            action = Action.DONATE if rnd.random() < 0.05 else Action.SELL
            txs.append(Transaction(tid, day, acct, action, sym, Decimal(q), price, fees,
                                   lot=rnd.choice(named) if named else None, source=src))
            held[(acct, sym)] -= q
        else:
            q = rnd.randrange(1, 60)
            action = Action.REINVEST if rnd.random() < 0.1 else Action.BUY
            txs.append(Transaction(tid, day, acct, action, sym, Decimal(q), price, fees, source=src))
            held[(acct, sym)] = held.get((acct, sym), 0) + q
            lots.setdefault((acct, sym), []).append(tid)
    return txs, accounts


def assert_identical(a, b) -> None:
    for name in ("lots", "reliefs", "wash_sales", "errors"):
        x, y = getattr(a, name), getattr(b, name)
        assert x == y, name
        assert [repr(r) for r in x] == [repr(r) for r in y], name  # same Decimal exponents, same dates


@needs_fork
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_booking_is_identical_to_the_sequential_fold(seed, workers):
    txs, accounts = history(seed)
    one = book(txs, accounts, SECURITIES, workers=1)
    # The history exercises what the merge must keep in order.
    assert len(one.wash_sales) > 50 and any(w.permanent for w in one.wash_sales)
    assert len({accounts[w.sale_account].household for w in one.wash_sales}) > 1
    assert {e.field for e in one.errors} >= {"id", "account", "quantity", "lot"}
    many = book(txs, accounts, SECURITIES, workers=workers)
    assert_identical(one, many)


@needs_fork
@pytest.mark.parametrize("method", list(Method))
def test_every_relief_method_books_identically_in_parallel(method):
    txs, accounts = history(7, households=6, rows=1500)
    config = LedgerConfig(method=method)
    assert_identical(book(txs, accounts, SECURITIES, config, workers=1),
                     book(txs, accounts, SECURITIES, config, workers=2))


@needs_fork
def test_parallel_errors_name_file_line_and_field():
    txs, accounts = history(4)
    one = book(txs, accounts, SECURITIES, workers=1)
    errors = book(txs, accounts, SECURITIES, workers=2).errors
    assert errors == one.errors
    lines = [e.line for e in errors]
    assert all(e.file == "transactions.csv" and e.line is not None and e.field for e in errors)
    dup = next(e for e in errors if e.field == "id")
    assert str(dup).startswith(f"transactions.csv, line {dup.line}, field 'id': duplicate id")
    assert lines  # in the fold's order: by date, rows of one date in file order
    by_line = {t.source.line: t for t in txs if t.source}
    dates = [by_line[n].date for n in lines]
    assert dates == sorted(dates)


def test_as_of_and_one_worker_stay_sequential(monkeypatch):
    txs, accounts = history(5, households=3, rows=600)
    called = []
    monkeypatch.setattr(book_module, "_fold_parallel", lambda *a: called.append(a))
    monkeypatch.setenv(book_module.WORKERS_ENV, "1")
    book(txs, accounts, SECURITIES)
    book(txs, accounts, SECURITIES, workers=1)
    monkeypatch.setenv(book_module.WORKERS_ENV, "4")
    book(txs, accounts, SECURITIES)  # small: not worth a fork
    assert called == []
    one = book(txs, accounts, SECURITIES, workers=1, as_of=date(2023, 9, 1))
    assert all(r.date_sold <= date(2023, 9, 1) for r in one.reliefs)


@needs_fork
def test_one_household_never_forks(monkeypatch):
    txs, accounts = history(6, households=1, rows=400)
    called = []
    monkeypatch.setattr(book_module, "_fold_parallel", lambda *a: called.append(a))
    book(txs, accounts, SECURITIES, workers=2)
    assert called == []
