"""The exact tax-lot ledger: lots, reliefs, wash sales and Form 8949 rows. Pure: no prices, no storage."""

from directindex.ledger.book import LedgerConfig, LedgerResult, allocate, book, cents
from directindex.ledger.records import (
    Account,
    AccountType,
    Action,
    Lot,
    Method,
    Relief,
    Security,
    Source,
    Term,
    Transaction,
    WashSale,
)

__all__ = [
    "Account", "AccountType", "Action", "LedgerConfig", "LedgerResult", "Lot", "Method", "Relief",
    "Security", "Source", "Term", "Transaction", "WashSale", "allocate", "book", "cents",
]
