"""A book directory as records: ``accounts.csv``, ``transactions.csv``, ``securities.csv``, ``policy.toml``.

``securities.csv`` and ``policy.toml`` are optional; ``pending.csv`` (pending orders) is read beside
``policy.toml`` when present. Every loader raises ``InputError`` naming the file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from directindex.errors import InputError
from directindex.harvest.policy import HarvestPolicy, load_policy
from directindex.ledger.io import load_accounts, load_securities, load_transactions
from directindex.ledger.records import Account, Security, Transaction


@dataclass(frozen=True)
class BookDir:
    accounts: dict[str, Account]
    securities: dict[str, Security]
    transactions: list[Transaction]
    policy: HarvestPolicy


def load_book_dir(path: Path | str) -> BookDir:
    d = Path(path)
    if not d.is_dir():
        raise InputError.single(str(d), None, None, "book directory not found")
    accounts = load_accounts(d / "accounts.csv")
    securities = load_securities(d / "securities.csv" if (d / "securities.csv").exists() else None)
    transactions = load_transactions(d / "transactions.csv", accounts)
    return BookDir(accounts, securities, transactions, load_policy(d / "policy.toml"))
