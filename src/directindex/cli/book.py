"""Commands over the persistent book: init, import, reconcile, the daily run, proposals and the audit trail.

A thin shell: it parses options, calls ``directindex.store`` and ``directindex.workflow``, and renders
what comes back. ``--db`` takes a database URL (``sqlite:///path``, ``postgresql://...``) or a file
path; without it ``DIRECTINDEX_DB`` or ``./directindex.db`` is used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from directindex.cli._app import app
from directindex.cli.common import Format, atomic_write, emit_json, emit_rows, fail, handle_errors, stderr, stdout
from directindex.ledger import Method
from directindex.store import StoreError, engine_for, migrate, open_book, resolve_url
from directindex.workflow import audit, execution, imports, proposals, reconcile
from directindex.workflow.context import BookView
from directindex.workflow.harvest_engine import HarvestEngineProposer
from directindex.workflow.lock import BookLocked
from directindex.workflow.prices import load_prices
from directindex.workflow.rebalance import Rebalancer
from directindex.workflow.run import daily_run

P = ParamSpec("P")
R = TypeVar("R")

DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file (default: $DIRECTINDEX_DB or "
                                                        "./directindex.db).")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table, json or csv.")]

proposals_app = typer.Typer(help="Review, approve, reject, release and fill proposals.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
book_app = typer.Typer(help="Read the stored book.", no_args_is_help=True)
app.add_typer(proposals_app, name="proposals")
app.add_typer(audit_app, name="audit")
app.add_typer(book_app, name="book")


def _store_errors(fn: Callable[P, R]) -> Callable[P, R]:
    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BookLocked as e:
            raise fail(str(e), code=3) from None
        except StoreError as e:
            raise fail(str(e)) from None

    return wrapper


def _day(text: str | None, name: str = "--as-of") -> date:
    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{name}: cannot parse date '{text}' (expected YYYY-MM-DD)") from None


@app.command("init")
@_store_errors
def init_cmd(db: DbOpt = None) -> None:
    """Create the book's database, or migrate it to the newest schema."""
    rev = migrate(db)
    stderr.print(f"book ready at {engine_for(db).url.render_as_string()} (schema {rev})")


@app.command("import")
@handle_errors
@_store_errors
def import_cmd(
    path: Annotated[Path, typer.Argument(help="A book directory or a transactions CSV (new trades, fills).")],
    db: DbOpt = None,
    method: Annotated[Method, typer.Option(help="Relief method used to validate the history.")] = Method.FIFO,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import atomically and idempotently; the whole history must book cleanly first."""
    report = imports.import_path(open_book(db), path, method)
    payload = {"path": report.path, "kind": report.kind, "import_id": report.import_id,
               "accounts_added": report.accounts_added, "securities_added": report.securities_added,
               "transactions_added": report.transactions_added,
               "transactions_unchanged": report.transactions_unchanged, "policy_updated": report.policy_updated,
               "pending_updated": report.pending_updated, "executed": list(report.executed)}
    if fmt is Format.json:
        emit_json(payload)
    elif not report.changed:
        stdout.print(f"{path}: nothing new ({report.transactions_unchanged} transaction(s) already stored)")
    else:
        stdout.print(f"{path}: import {report.import_id}: {report.accounts_added} account(s), "
                     f"{report.securities_added} securit(ies), {report.transactions_added} transaction(s) added, "
                     f"{report.transactions_unchanged} unchanged"
                     + (", policy updated" if report.policy_updated else "")
                     + (", pending orders replaced" if report.pending_updated else ""))
        for pid in report.executed:
            stdout.print(f"proposal {pid} executed")


@app.command("reconcile")
@handle_errors
@_store_errors
def reconcile_cmd(
    positions: Annotated[Path, typer.Argument(help="Custodian file: account,symbol,quantity[,lot,acquired,basis].")],
    db: DbOpt = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Book date to compare (default today).")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List every break between the book and the custodian; open breaks block proposals."""
    report = reconcile.reconcile(open_book(db), positions, _day(as_of))
    rows = [b.as_dict() for b in report.breaks]
    if fmt is Format.table:
        stdout.print(f"reconciliation {report.reconciliation} as of {report.as_of}: {len(rows)} break(s) over "
                     f"{len(report.accounts)} account(s); {report.resolved} earlier break(s) closed")
    emit_rows(rows, ("account", "symbol", "lot", "kind", "book", "custodian"), fmt, title="breaks")
    if rows:
        raise typer.Exit(1)


def _history(prices: Path | None) -> Any:
    """The prices file as a history frame when it has dates (for the harvest engine's risk model)."""
    if prices is None:
        return None
    with prices.open(encoding="utf-8-sig") as f:
        header = [h.strip().lower() for h in f.readline().split(",")]
    if "date" not in header:
        return None
    from directindex.market.io import load_prices as load_history

    return load_history(prices)


@app.command("run")
@handle_errors
@_store_errors
def run_cmd(
    as_of: Annotated[str, typer.Option("--as-of", help="The run date.")],
    prices: Annotated[Path | None, typer.Option(help="Prices CSV: symbol,price or date,symbol,close.")] = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Processes that work out households' proposals (default: every core, or "
                    "DIRECTINDEX_RUN_WORKERS, once 40 accounts are to be processed; 1: this process only).")] = None,
) -> None:
    """The daily run over every account: changes, harvest and triggered rebalances, approval routing."""
    day = _day(as_of)
    px = load_prices(prices, day) if prices else {}
    engine = open_book(db)
    proposer = HarvestEngineProposer(prices_history=_history(prices))  # its risk model serves the rebalancer too
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=False, disable=fmt is not Format.table) as bar:
        task = bar.add_task(f"run {day}", total=None)

        def tick(done: int, total: int, account: str) -> None:
            bar.update(task, completed=done, total=total, description=f"run {day} {account}")

        report = daily_run(engine, day, px, proposer, prices_label=str(prices or ""), progress=tick,
                           rebalancer=Rebalancer(), workers=workers)
    if fmt is Format.json:
        emit_json(report.as_dict())
        return
    stdout.print(f"run {report.as_of}: {report.processed} account(s) processed, {report.already_done} already done; "
                 f"{len(report.proposals)} proposal(s) ({report.auto_approved} auto-approved, "
                 f"{report.pending_approval} pending approval); {len(report.blocked_by_breaks)} account(s) "
                 f"blocked by reconciliation breaks")
    for k, v in report.changes.items():
        if v:
            stdout.print(f"  {k.replace('_', ' ')}: {v} account(s)")


@proposals_app.command("list")
@_store_errors
def proposals_list(
    db: DbOpt = None,
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Only this run date.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Proposals with their state and routing."""
    with open_book(db).connect() as conn:
        rows = proposals.listing(conn, state, account, _day(as_of) if as_of else None)
    emit_rows(rows, ("id", "account", "as_of", "state", "trades", "approver", "routing"), fmt, title="proposals")


@proposals_app.command("show")
@_store_errors
def proposals_show(pid: str, db: DbOpt = None, fmt: FormatOpt = Format.table) -> None:
    """One proposal: trades with evidence, blocked candidates, restricted list, routing, transitions."""
    with open_book(db).connect() as conn:
        view = proposals.get(conn, pid)
    if fmt is not Format.table:
        emit_json(view.as_dict())
        return
    stdout.print(f"[bold]{view.id}[/] {view.account} as of {view.as_of}: [bold]{view.state.value}[/]"
                 + (f" (approver {view.approver})" if view.approver else ""))
    reasons = view.routing.get("reasons") or ["auto-approved by policy"]
    for r in reasons:
        stdout.print(f"  routing: {r}")
    emit_rows([{**t, "unrealized": t.get("evidence", {}).get("unrealized"), "term": t.get("evidence", {}).get("term")}
               for t in view.trades], ("side", "symbol", "quantity", "lot", "price", "unrealized", "term", "reason"),
              Format.table, title="trades")
    if view.blocked:
        emit_rows(view.blocked, ("symbol", "lot", "reason"), Format.table, title="blocked")
    emit_rows(view.transitions, ("at", "from", "to", "by", "why"), Format.table, title="transitions")
    if view.orders:
        emit_rows(view.orders, ("id", "side", "symbol", "quantity", "lot", "status"), Format.table, title="orders")


@proposals_app.command("approve")
@_store_errors
def proposals_approve(pid: str, by: Annotated[str, typer.Option("--by")],
                      note: Annotated[str, typer.Option("--note")] = "", db: DbOpt = None) -> None:
    """Approve a pending proposal (as its named approver)."""
    proposals.approve(open_book(db), pid, by, note)
    stdout.print(f"{pid} approved by {by}")


@proposals_app.command("reject")
@_store_errors
def proposals_reject(pid: str, by: Annotated[str, typer.Option("--by")],
                     note: Annotated[str, typer.Option("--note")] = "", db: DbOpt = None) -> None:
    """Reject a proposal that has not been executed."""
    proposals.reject(open_book(db), pid, by, note)
    stdout.print(f"{pid} rejected by {by}")


@proposals_app.command("release")
@handle_errors
@_store_errors
def proposals_release(
    pid: str,
    by: Annotated[str, typer.Option("--by")] = "operator",
    on: Annotated[str | None, typer.Option("--on", help="Release date (default today).")] = None,
    prices: Annotated[Path | None, typer.Option(help="Current prices, to expire proposals whose prices moved.")] = None,
    orders: Annotated[Path | None, typer.Option("--orders", help="Write the order file (CSV) here.")] = None,
    db: DbOpt = None,
) -> None:
    """Re-validate an approved proposal against the current book and release its orders."""
    day = _day(on, "--on")
    engine = open_book(db)
    result = execution.release(engine, pid, by, day, load_prices(prices, day) if prices else None)
    if result.state is proposals.State.EXPIRED:
        raise fail(f"{pid} expired: " + "; ".join(result.revalidation.expired), code=1)
    if result.state is not proposals.State.RELEASED:
        raise fail(f"{pid} not released, the book changed since approval:\n  "
                   + "\n  ".join(result.revalidation.problems), code=1)
    if orders is not None:
        with engine.connect() as conn:
            atomic_write(orders, execution.order_file(conn, pid))
    stdout.print(f"{pid} released: {len(result.orders)} order(s)" + (f", order file {orders}" if orders else ""))


@proposals_app.command("fill")
@handle_errors
@_store_errors
def proposals_fill(
    pid: str,
    prices: Annotated[Path, typer.Option(help="Fill prices.")],
    out: Annotated[Path, typer.Option("--out", help="Write the fills (a transactions CSV) here.")],
    on: Annotated[str | None, typer.Option("--on", help="Fill date (default today).")] = None,
    db: DbOpt = None,
) -> None:
    """The paper broker: fill a released proposal's orders at a prices file; import the output to book it."""
    day = _day(on, "--on")
    with open_book(db).connect() as conn:
        text = execution.paper_fill(conn, pid, load_prices(prices, day), day)
    atomic_write(out, text)
    stdout.print(f"fills for {pid} written to {out}; book them with `directindex import {out}`")


@audit_app.command("verify")
@_store_errors
def audit_verify(db: DbOpt = None) -> None:
    """Check the hash chain and the book's rows against it; names every edited or deleted record."""
    with open_book(db).connect() as conn:
        problems = audit.verify(conn) + audit.verify_tables(conn)
        count = len(audit.records(conn, kinds=()))
    if problems:
        for p in problems:
            stderr.print(f"[bold red]audit:[/] {p}")
        raise typer.Exit(1)
    stdout.print(f"audit trail intact: {count} record(s)")


@audit_app.command("show")
@_store_errors
def audit_show(subject: str, db: DbOpt = None, fmt: FormatOpt = Format.table) -> None:
    """The whole story of a proposal (or any audited subject, e.g. ``run:2025-03-03``)."""
    with open_book(db).connect() as conn:
        recs = audit.records(conn, subject)
    if not recs:
        raise fail(f"no audit records for '{subject}'")
    rows: list[dict[str, Any]] = [{"seq": r.seq, "at": r.at, "kind": r.kind, "payload": r.payload,
                                   "hash": r.hash[:12]} for r in recs]
    if fmt is not Format.table:
        emit_json(rows)
        return
    for r in recs:
        p = r.payload
        if r.kind == "transition":
            line = f"{p['from']} -> {p['to']} by {p['by']}: {p['why']}"
        elif r.kind == "proposal":
            line = (f"proposed by {p['proposer']} for {p['account']} as of {p['as_of']}: {len(p['trades'])} trade(s), "
                    f"{len(p['blocked'])} blocked; routing: {'; '.join(p['routing']['reasons']) or 'auto'}")
        elif r.kind == "fill":
            line = ", ".join(f"{f['action']} {f['quantity']} {f['symbol']} @ {f['price']} on {f['date']}"
                             for f in p["fills"])
        elif r.kind == "release_refused":
            line = "release refused: " + "; ".join(p["problems"])
        elif r.kind == "release":
            line = f"released by {p['by']} on {p['on']}: {len(p['orders'])} order(s)"
        else:
            line = str(p)
        stdout.print(f"#{r.seq} {r.at} [bold]{r.kind}[/] {line}")


@book_app.command("lots")
@handle_errors
@_store_errors
def book_lots(db: DbOpt = None, as_of: Annotated[str | None, typer.Option("--as-of")] = None,
              account: Annotated[str | None, typer.Option()] = None, fmt: FormatOpt = Format.table) -> None:
    """Open lots of the stored book, derived by the ledger."""
    with open_book(db).connect() as conn:
        view = BookView.build(conn, _day(as_of))
    rows = [{"account": lot.account, "lot": lot.lot, "symbol": lot.symbol, "quantity": lot.quantity,
             "acquired": lot.acquired, "cost": lot.cost, "basis": lot.basis,
             "wash_sale_adjustment": lot.wash_sale_adjustment, "long_term_on": lot.long_term_on}
            for lot in view.ledger.lots if account is None or lot.account == account]
    emit_rows(rows, ("account", "lot", "symbol", "quantity", "acquired", "cost", "basis", "wash_sale_adjustment",
                     "long_term_on"), fmt, title="lots")


__all__ = ["resolve_url"]
