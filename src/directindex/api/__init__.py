"""A JSON API over the same core the CLI uses: lots, Form 8949 rows, Schedule D, harvest proposals.

A thin shell (fava's pattern): ``create_app(settings)`` builds a FastAPI application whose routes
read the book through a dependency (a book directory of CSV files, or the stored book by URL), call
the core, and return JSON. No globals: each app carries its own settings. Bad input is a 422 whose
body lists the file, line and field of every issue.
"""


from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from directindex.cli.common import to_jsonable
from directindex.errors import InputError
from directindex.ledger import Account, LedgerConfig, LedgerResult, Method, Security, Transaction, book
from directindex.ledger.io import load_accounts, load_securities, load_transactions
from directindex.ledger.report import form_8949_rows, lot_rows


@dataclass(frozen=True)
class ApiSettings:
    """Where the book lives: a directory of CSV files or a database URL; optional prices for harvest."""

    book_dir: Path | None = None
    db_url: str | None = None
    prices: Path | None = None

    def __post_init__(self) -> None:
        if (self.book_dir is None) == (self.db_url is None):
            raise ValueError("give exactly one of book_dir or db_url")


@dataclass(frozen=True)
class BookInputs:
    accounts: Mapping[str, Account]
    securities: Mapping[str, Security]
    transactions: list[Transaction]
    book_dir: Path | None


def create_app(settings: ApiSettings) -> FastAPI:
    app = FastAPI(title="directindex", version="0.1.0",
                  description="Tax lots, wash sales, Schedule D and harvest proposals as JSON.")
    app.state.settings = settings

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"errors": [
            {"file": i.file, "line": i.line, "field": i.field, "message": i.message} for i in exc.issues]})

    def get_settings(request: Request) -> ApiSettings:
        s: ApiSettings = request.app.state.settings
        return s

    def get_book(settings: Annotated[ApiSettings, Depends(get_settings)]) -> BookInputs:
        if settings.book_dir is not None:
            d = settings.book_dir
            accts = load_accounts(d / "accounts.csv")
            secs = load_securities(d / "securities.csv" if (d / "securities.csv").exists() else None)
            return BookInputs(accts, secs, load_transactions(d / "transactions.csv", accts), d)
        from directindex.store import load_book

        assert settings.db_url is not None
        accts, secs, txs, _policy = load_book(settings.db_url)
        return BookInputs(accts, secs, list(txs), None)

    def booked(inputs: BookInputs, method: Method, as_of: date | None) -> LedgerResult:
        return book(inputs.transactions, inputs.accounts, inputs.securities, LedgerConfig(method=method),
                    as_of).raise_errors()

    BookDep = Annotated[BookInputs, Depends(get_book)]

    @app.get("/api/accounts")
    def accounts(inputs: BookDep) -> list[dict[str, Any]]:
        return [{"account": a.account, "household": a.household, "owner": a.owner, "type": a.type.value}
                for a in inputs.accounts.values()]

    @app.get("/api/lots")
    def lots(inputs: BookDep, as_of: date | None = None, method: Method = Method.FIFO,
             account: str | None = None) -> Any:
        rows = lot_rows(booked(inputs, method, as_of))
        return to_jsonable([r for r in rows if account is None or r["account"] == account])

    @app.get("/api/realized")
    def realized(inputs: BookDep, year: int | None = None, method: Method = Method.FIFO) -> Any:
        return to_jsonable(form_8949_rows(booked(inputs, method, None), year))

    @app.get("/api/tax/schedule-d")
    def schedule_d_route(
        inputs: BookDep,
        year: Annotated[int, Query(description="tax year of the sales")],
        filing_status: str = "married_filing_jointly",
        carryover_short: Decimal = Decimal(0),
        carryover_long: Decimal = Decimal(0),
        taxable_income: Decimal | None = None,
    ) -> Any:
        from directindex.ledger import Term
        from directindex.tax import FilingStatus, schedule_d

        try:
            status = FilingStatus(filing_status)
        except ValueError as e:
            raise HTTPException(422, f"unknown filing status {filing_status!r}") from e
        rows = booked(inputs, Method.FIFO, None).realized(year)
        result = schedule_d([r.gain_loss for r in rows if r.term is Term.SHORT],
                            [r.gain_loss for r in rows if r.term is Term.LONG], status,
                            carryover_short=carryover_short, carryover_long=carryover_long,
                            taxable_income=taxable_income)
        return to_jsonable({
            "net_short_term": result.net_short_term, "net_long_term": result.net_long_term,
            "total": result.total, "allowed_loss": result.allowed_loss,
            "carryover_short_term": result.carryover_short_term,
            "carryover_long_term": result.carryover_long_term,
            "worksheet": result.worksheet.lines(),
        })

    return app
