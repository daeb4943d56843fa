"""Households for the harvest tests, written as the ledger tests write them: accounts and trades as CSV."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from directindex.ledger import Security
from tests.ledger.scenario import accounts, transactions

AS_OF = date(2025, 6, 16)

SECURITIES = {
    s: Security(s, sector=sec, identical_group=g)
    for s, sec, g in [
        ("AAPL", "Tech", ""), ("MSFT", "Tech", ""), ("ORCL", "Tech", ""), ("GOOG", "Comm", "alphabet"),
        ("GOOGL", "Comm", "alphabet"), ("META", "Comm", ""), ("XOM", "Energy", ""), ("CVX", "Energy", ""),
        ("COP", "Energy", ""),
    ]
}

PRICES = {s: Decimal(p) for s, p in [("AAPL", "90"), ("MSFT", "90"), ("ORCL", "100"), ("GOOG", "90"),
                                     ("GOOGL", "90"), ("META", "100"), ("XOM", "90"), ("CVX", "100"),
                                     ("COP", "100")]}


def household(rows: str):
    accts = accounts()
    return accts, transactions(rows, accts)
