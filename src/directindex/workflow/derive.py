"""Deriving lots from stored transactions: the ledger is a pure fold, so the book keeps no lots as truth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from directindex.ledger import LedgerConfig, LedgerResult, Method, book
from directindex.ledger.records import Account, Security, Transaction


def derive(
    transactions: Iterable[Transaction],
    accounts: Mapping[str, Account],
    securities: Mapping[str, Security] | None = None,
    as_of: date | None = None,
    method: Method = Method.FIFO,
) -> LedgerResult:
    """Replay the history through the ledger; bad data raises ``InputError`` naming file, line and field."""
    return book(transactions, accounts, securities or {}, LedgerConfig(method=method), as_of).raise_errors()
