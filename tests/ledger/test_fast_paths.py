"""The fold's fast paths give the records of the general ones, record for record.

* FIFO without a sort: a position's parts are kept in (acquired, row) order, except after a transfer
  in of an older lot, so FIFO takes them as they stand; the general path sorts them every sale.
* Household by household: ``book`` folds each household alone and merges the records back into row
  order; the general path is one fold over every row.
* Records built a block of fields at a time, in place of one ``__init__`` call per record
  (transactions with the constructor's checks done over whole columns).
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import random
from datetime import date
from decimal import Decimal

import pytest

from directindex.ledger import LedgerConfig, Lot, Method, Relief, Term, WashSale, book
from directindex.ledger.records import Action, Source, Transaction

from .test_parallel import SECURITIES, assert_identical, history

book_module = importlib.import_module("directindex.ledger.book")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fifo_without_sorting_matches_the_sorting_fifo(seed, monkeypatch):
    txs, accounts = history(seed, households=4, rows=2500)
    seen_unordered = []
    init = book_module._Ledger.__init__
    run = book_module._Ledger.run

    def spy(self, *args):
        out = run(self, *args)
        seen_unordered.append(bool(self.unordered))
        return out

    monkeypatch.setattr(book_module._Ledger, "run", spy)
    fast = book(txs, accounts, SECURITIES, workers=1)
    assert any(seen_unordered)  # transfers in of older lots: some positions take the sorting path

    def general(self, *args):
        init(self, *args)
        self.fifo = False  # every sale sorts its parts with the FIFO method of relief.py

    monkeypatch.setattr(book_module._Ledger, "__init__", general)
    assert_identical(fast, book(txs, accounts, SECURITIES, workers=1))


@pytest.mark.parametrize("method", list(Method))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folding_household_by_household_matches_one_fold(seed, method, monkeypatch):
    txs, accounts = history(seed, households=8, rows=3000)
    config = LedgerConfig(method=method)
    parts = book(txs, accounts, SECURITIES, config, workers=1)
    # The history has what crosses households: splits of every account, unknown accounts, ids used twice.
    assert {e.field for e in parts.errors} >= {"id", "account", "quantity", "lot"}
    assert len({accounts[r.account].household for r in parts.reliefs}) == 8
    monkeypatch.setattr(book_module, "_by_household", lambda sequenced, households, account_of=None: [sequenced])
    whole = book(txs, accounts, SECURITIES, config, workers=1)
    assert_identical(parts, whole)


def test_households_keep_row_order_and_splits_reach_every_household():
    txs, accounts = history(5, households=3, rows=600)
    sequenced = list(enumerate(sorted(txs, key=lambda t: t.date)))
    households = {a: acct.household for a, acct in accounts.items()}
    groups = book_module._by_household(sequenced, households)
    assert len(groups) == 3
    everywhere = {seq for seq, tx in sequenced if not tx.account}
    assert everywhere
    for rows in groups:
        seqs = [seq for seq, _ in rows]
        assert seqs == sorted(seqs) and everywhere <= set(seqs)
        assert len({households[tx.account] for _, tx in rows if tx.account}) == 1
    known = {seq for seq, tx in sequenced if tx.account in households}
    assert set().union(*({seq for seq, _ in rows} for rows in groups)) == known | everywhere


def _rows(cls, n, rnd):
    def value(f):
        if f.type == "Decimal":
            return Decimal(rnd.randrange(-10**6, 10**6)).scaleb(-rnd.randrange(0, 4))
        if f.type in ("date", "_Date"):
            return date.fromordinal(737000 + rnd.randrange(2000))
        if f.type == "bool":
            return rnd.random() < 0.5
        if f.type == "Term":
            return rnd.choice([Term.SHORT, Term.LONG])
        return f"s{rnd.randrange(10**6)}"
    fields = dataclasses.fields(cls)
    return [tuple(value(f) for f in fields) for _ in range(n)]


@pytest.mark.parametrize("cls", [Lot, Relief, WashSale])
@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 2000])
def test_records_built_by_columns_equal_records_built_one_by_one(cls, n):
    rows = _rows(cls, n, random.Random(n))
    expected = list(itertools.starmap(cls, rows))
    columns = list(zip(*rows, strict=True)) if rows else []
    for got in (book_module._build_rows(cls, rows), book_module.build_columns(cls, columns)):
        assert got == expected
        assert [repr(r) for r in got] == [repr(r) for r in expected]
        assert all(type(r) is cls for r in got)


def test_records_with_validation_are_not_built_by_columns():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            assert self.x >= 0

    with pytest.raises(TypeError):
        book_module._slot_setters(Checked)
    with pytest.raises(ValueError):
        book_module.build_columns(Lot, [[1], [2]])  # too few columns


def _transaction_rows(n, rnd):
    actions = list(Action)
    return [(f"t{i}", date.fromordinal(737000 + rnd.randrange(500)), f"A{rnd.randrange(5)}", rnd.choice(actions),
             f"S{rnd.randrange(9)}", Decimal(rnd.randrange(10**4)).scaleb(-rnd.randrange(0, 4)),
             Decimal(rnd.randrange(10**5)).scaleb(-2), Decimal(rnd.choice(["0", "0.00", "-0", "1.5"])),
             rnd.choice([None, f"t{i}"]), rnd.choice([None, date(2020, 1, 2)]), rnd.choice([None, Decimal("10.50")]),
             rnd.choice([None, Decimal("1E+1")]), Source("f.csv", i + 2)) for i in range(n)]


@pytest.mark.parametrize("n", [0, 1, 513, 2000])
def test_transactions_built_by_columns_equal_the_constructor(n):
    rows = _transaction_rows(n, random.Random(n))
    expected = list(itertools.starmap(Transaction, rows))
    got = book_module.build_transactions(list(zip(*rows, strict=True)) if rows else [])
    assert got == expected and [repr(t) for t in got] == [repr(t) for t in expected]
    assert all(type(t) is Transaction for t in got)


@pytest.mark.parametrize(("field", "value"), [(3, "buy"), (3, "short"), (5, Decimal("-1")), (6, Decimal("-0.01")),
                                              (7, Decimal("-1E-9")), (5, Decimal("NaN")), (6, None)])
def test_transactions_the_constructor_would_coerce_or_refuse_are_left_to_it(field, value):
    rows = _transaction_rows(1500, random.Random(7))
    for i in (900, 1400):  # the first bad row's error, as the constructor raises it
        rows[i] = (*rows[i][:field], value, *rows[i][field + 1:])

    def outcome(build):
        try:
            return build()
        except Exception as e:
            return type(e), str(e)

    expected = outcome(lambda: list(itertools.starmap(Transaction, rows)))
    assert outcome(lambda: book_module.build_transactions(list(zip(*rows, strict=True)))) == expected
    with pytest.raises(TypeError):
        book_module._slot_setters(Transaction)  # only its checking builder fills it
    with pytest.raises(ValueError):
        book_module.build_transactions([[1]])
