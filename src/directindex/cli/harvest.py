"""``directindex harvest BOOK_DIR --prices P --as-of DATE``: one harvest pass, proposed, nothing executed."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from directindex.cli._app import app
from directindex.cli.common import Format, emit_json, emit_rows, handle_errors, stdout
from directindex.errors import InputError
from directindex.harvest import HarvestPolicy, load_book_dir, plan_harvest, policy_from_mapping
from directindex.harvest.inputs import prices_on, risk_model_for
from directindex.market.io import load_prices

TRADE_COLUMNS = ("account", "side", "symbol", "quantity", "price", "lot", "reason", "unrealized", "term",
                 "tax_value", "te_before", "te_after")
BLOCKED_COLUMNS = ("account", "lot", "symbol", "unrealized", "term", "cause", "reason")
RESTRICTED_COLUMNS = ("household", "group", "symbols", "sold_on", "expires", "source")


@app.command("harvest")
@handle_errors
def harvest_command(
    book_dir: Annotated[Path | None, typer.Argument(help="book directory (accounts.csv, transactions.csv, "
                                                        "securities.csv, policy.toml); omit with --db")] = None,
    prices: Annotated[Path, typer.Option("--prices", help="prices file (date,symbol,close)")] = Path("prices.csv"),
    as_of: Annotated[str, typer.Option("--as-of", help="the pass date, YYYY-MM-DD")] = "",
    fmt: Annotated[Format, typer.Option("--format", help="table or json")] = Format.table,
    db: Annotated[str | None, typer.Option("--db", help="read the stored book at URL instead")] = None,
) -> None:
    """Propose tax-loss harvests with replacements, guarded household-wide against wash sales."""
    try:
        day = date.fromisoformat(as_of)
    except ValueError:
        raise InputError.single("--as-of", None, "as_of", f"not a date (YYYY-MM-DD): {as_of!r}") from None
    if book_dir is not None:
        b = load_book_dir(book_dir)
        accounts, securities, transactions, policy = b.accounts, b.securities, b.transactions, b.policy
    elif db is not None:
        from directindex.store import load_book  # the persistent book, only when asked for

        accounts, securities, transactions, raw = load_book(db)
        policy = policy_from_mapping(raw, f"{db} (policy)") if raw else HarvestPolicy()
    else:
        raise typer.BadParameter("give BOOK_DIR or --db URL")
    frame = load_prices(prices)
    proposal = plan_harvest(accounts, securities, transactions, prices_on(frame, day, str(prices)), day, policy,
                            risk_model=risk_model_for(frame, securities, day))
    if fmt is Format.json:
        emit_json(proposal.as_dict())
        return
    trades: list[dict[str, Any]] = []
    for t in proposal.trades:
        ev = t.evidence
        trades.append({
            "account": t.account, "side": t.side.value, "symbol": t.symbol, "quantity": t.quantity,
            "price": t.price, "lot": t.lot, "reason": t.reason.value, "unrealized": ev.unrealized,
            "term": ev.term.value if ev.term else None,
            "tax_value": None if ev.tax_value is None else f"{ev.tax_value:.2f}",
            "te_before": _pct(ev.tracking_error_before), "te_after": _pct(ev.tracking_error_after),
        })
    emit_rows(trades, TRADE_COLUMNS, fmt, title=f"Harvest proposal as of {day}")
    emit_rows([b.as_dict() for b in proposal.blocked], BLOCKED_COLUMNS, fmt, title="Blocked")
    restricted = [{**r.as_dict(), "symbols": " ".join(r.symbols)} for r in proposal.restricted]
    emit_rows(restricted, RESTRICTED_COLUMNS, fmt, title="Restricted (do not buy before 'expires')")
    s = proposal.summary
    stdout.print(f"harvested short-term {s.harvested_short_term}, long-term {s.harvested_long_term}; "
                 f"estimated tax value {s.estimated_tax_value:.2f}; tracking error "
                 f"{_pct(s.tracking_error_before)} -> {_pct(s.tracking_error_after)}")
    for w in proposal.warnings:
        stdout.print(f"[yellow]warning:[/] {w.message}")


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.2f}%"
