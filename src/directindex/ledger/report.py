"""Ledger results as rows in the column order the commands promise (open lots; Form 8949)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from directindex.ledger.book import LedgerConfig, LedgerResult, book
from directindex.ledger.io import load_accounts, load_securities, load_transactions

LOT_COLUMNS = ("account", "lot", "symbol", "quantity", "acquired", "cost", "basis", "wash_sale_adjustment",
               "long_term_on")
LOT_EXTRA = ("holding_start",)
FORM_8949_COLUMNS = ("account", "symbol", "lot", "quantity", "date_acquired", "date_sold", "proceeds",
                     "cost_basis", "code", "adjustment", "gain_loss", "term", "disallowed_permanently")
FORM_8949_EXTRA = ("holding_start", "transaction")


def book_files(accounts: Path, transactions: Path, securities: Path | None = None,
               config: LedgerConfig | None = None, as_of: Any = None) -> LedgerResult:
    """Load the CSV inputs and book them; raises ``InputError`` naming file, line and field."""
    accts = load_accounts(accounts)
    secs = load_securities(securities)
    txs = load_transactions(transactions, accts)
    return book(txs, accts, secs, config, as_of).raise_errors()


def lot_rows(result: LedgerResult) -> list[dict[str, Any]]:
    rows = [{
        "account": x.account, "lot": x.lot, "symbol": x.symbol, "quantity": x.quantity,
        "acquired": x.acquired, "cost": x.cost, "basis": x.basis, "wash_sale_adjustment": x.wash_sale_adjustment,
        "long_term_on": x.long_term_on, "holding_start": x.holding_start,
    } for x in result.lots]
    return sorted(rows, key=lambda r: (r["account"], r["symbol"], r["acquired"], r["lot"]))


def form_8949_rows(result: LedgerResult, year: int | None = None) -> list[dict[str, Any]]:
    return [{
        "account": x.account, "symbol": x.symbol, "lot": x.lot, "quantity": x.quantity,
        "date_acquired": x.date_acquired, "date_sold": x.date_sold, "proceeds": x.proceeds,
        "cost_basis": x.cost_basis, "code": x.code, "adjustment": x.adjustment, "gain_loss": x.gain_loss,
        "term": x.term.value, "disallowed_permanently": x.disallowed_permanently,
        "holding_start": x.holding_start, "transaction": x.transaction,
    } for x in result.realized(year)]
