"""``directindex lots`` and ``directindex realized``: the ledger's open lots and Form 8949 rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from directindex.cli._app import app
from directindex.cli.common import Format, emit_rows, handle_errors
from directindex.errors import InputError
from directindex.ledger import LedgerConfig, LedgerResult, Method
from directindex.ledger.report import (
    FORM_8949_COLUMNS,
    FORM_8949_EXTRA,
    LOT_COLUMNS,
    LOT_EXTRA,
    book_files,
    form_8949_rows,
    lot_rows,
)

AccountsArg = Annotated[Path | None, typer.Argument(help="accounts.csv (omit with --db)")]
TransactionsArg = Annotated[Path | None, typer.Argument(help="transactions.csv (omit with --db)")]
SecuritiesOpt = Annotated[Path | None, typer.Option("--securities", help="securities.csv (identical groups)")]
MethodOpt = Annotated[Method, typer.Option("--method", help="relief method for sales that name no lot")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv")]
DbOpt = Annotated[str | None, typer.Option("--db", envvar="DIRECTINDEX_DB", help="read the stored book at URL")]


def load_ledger(accounts: Path | None, transactions: Path | None, securities: Path | None, method: Method,
                as_of: date | None, db: str | None) -> LedgerResult:
    """Book either the CSV files or the stored book (``--db``)."""
    config = LedgerConfig(method=method)
    if accounts is not None and transactions is not None:
        return book_files(accounts, transactions, securities, config, as_of)
    if db is None:
        raise typer.BadParameter("give ACCOUNTS and TRANSACTIONS files, or --db URL")
    from directindex.ledger import book
    from directindex.store import load_book  # the persistent book, only when asked for

    accts, secs, txs, _policy = load_book(db)
    return book(txs, accts, secs, config, as_of).raise_errors()


def _as_of_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError.single("command line", None, "--as-of",
                                f"cannot parse date '{text}' (expected YYYY-MM-DD)") from None


@app.command("lots")
@handle_errors
def lots_command(
    accounts: AccountsArg = None,
    transactions: TransactionsArg = None,
    securities: SecuritiesOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="book transactions up to this date")] = None,
    method: MethodOpt = Method.FIFO,
    fmt: FormatOpt = Format.table,
    db: DbOpt = None,
) -> None:
    """Open lots, one row per lot (or lot part), with basis after wash-sale adjustments."""
    day = _as_of_date(as_of)
    result = load_ledger(accounts, transactions, securities, method, day, db)
    emit_rows(lot_rows(result), LOT_COLUMNS + LOT_EXTRA, fmt, title="Open lots")


@app.command("realized")
@handle_errors
def realized_command(
    accounts: AccountsArg = None,
    transactions: TransactionsArg = None,
    securities: SecuritiesOpt = None,
    year: Annotated[int | None, typer.Option("--year", help="tax year of the sales")] = None,
    method: MethodOpt = Method.FIFO,
    fmt: FormatOpt = Format.table,
    db: DbOpt = None,
) -> None:
    """Form 8949 rows: one per lot sold in a taxable account, code W for wash sales."""
    result = load_ledger(accounts, transactions, securities, method, None, db)
    emit_rows(form_8949_rows(result, year), FORM_8949_COLUMNS + FORM_8949_EXTRA, fmt, title="Form 8949")
