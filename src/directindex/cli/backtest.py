"""``directindex backtest``: a day-by-day backtest of tax alpha with its baselines, tables and report."""

from __future__ import annotations

import csv
import io
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from directindex.cli._app import app
from directindex.cli.common import atomic_write, dumps_json, emit_json, fail, handle_errors, stderr, stdout


class CadenceChoice(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"
    quarterly = "quarterly"
    annual = "annual"


class OutFormat(StrEnum):
    table = "table"
    json = "json"


TRANSACTION_COLUMNS = ("id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot", "acquired",
                       "basis", "ratio")


def transactions_csv(transactions: Any, reasons: Any = None) -> str:
    """Ledger rows in the ``transactions.csv`` format (loadable by every command), plus ``reason``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*TRANSACTION_COLUMNS, *(("reason",) if reasons is not None else ())])
    for t in transactions:
        row = [t.id, t.date.isoformat(), t.account, t.action.value, t.symbol,
               "" if t.quantity is None else t.quantity, "" if t.price is None else t.price,
               "" if t.fees is None else t.fees, t.lot or "", t.acquired.isoformat() if t.acquired else "",
               "" if t.basis is None else t.basis, "" if t.ratio is None else t.ratio]
        w.writerow(row + ([reasons.get(t.id, "")] if reasons is not None else []))
    return buf.getvalue()


def trade_log_csv(run: Any) -> str:
    """The run's trade log: every ledger row with the reason the engine made it."""
    return transactions_csv(run.transactions, run.reasons)


def year_table(summary: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    cols = ("year", "harvested ST", "harvested LT", "tax alpha", "active", "TE", "turnover", "trades", "wash sales")
    for c in cols:
        table.add_column(c, justify="right")
    for r in [*summary["years"], summary["total"]]:
        table.add_row(str(r["year"]), *(f"{100 * r[k]:.2f}%" for k in (
            "harvested_short_term_pct", "harvested_long_term_pct", "tax_alpha", "active_return", "tracking_error",
            "turnover")), str(r["trades"]), str(r["wash_sales"]))
    return table


def baseline_table(summary: dict[str, Any]) -> Table:
    table = Table(title="Baselines (averages per year)")
    for c in ("strategy", "harvested", "tax alpha", "active", "TE", "turnover", "trades", "wash sales", "embedded gain"):  # noqa: E501
        table.add_column(c, justify="right")
    rows = [(summary["strategy"], summary["total"], summary["end_of_horizon"])]
    rows += [(k, v["total"], v["end_of_horizon"]) for k, v in summary["baselines"].items()]
    for name, t, eoh in rows:
        table.add_row(name, f"{100 * (t['harvested_short_term_pct'] + t['harvested_long_term_pct']):.2f}%",
                      f"{100 * t['tax_alpha']:.2f}%", f"{100 * t['active_return']:.2f}%",
                      f"{100 * t['tracking_error']:.2f}%", f"{100 * t['turnover']:.1f}%", str(t["trades"]),
                      str(t["wash_sales"]), f"{100 * eoh['embedded_gain_pct']:.1f}%")
    return table


def write_outputs(out: Path, summary: dict[str, Any], runs: dict[str, Any], title: str) -> list[Path]:
    """Render everything first, then write each file atomically (nothing half-written on error)."""
    from directindex.reports import render_backtest_html

    files = {
        "summary.json": dumps_json(summary) + "\n",
        "trades.csv": trade_log_csv(runs[summary["strategy"]]),
        "report.html": render_backtest_html(summary, runs, title),
    }
    paths = []
    for name, text in files.items():
        atomic_write(out / name, text)
        paths.append(out / name)
    return paths


def execute(market: Any, config: Any, *, quiet: bool, baselines: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:  # noqa: E501
    from directindex.backtest import run_backtest

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} days"),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=stderr, disable=quiet) as bar:
        main = bar.add_task(config.name, total=None)
        base = bar.add_task("baselines", total=None, visible=False)

        def on_main(done: int, total: int) -> None:
            bar.update(main, completed=done, total=total)

        def on_base(done: int, total: int) -> None:
            bar.update(base, completed=done, total=total, visible=True)

        return run_backtest(market, config, baselines=baselines, progress=on_main, baseline_progress=on_base)


@app.command("backtest")
@handle_errors
def backtest(
    data: Path | None = typer.Option(None, "--data", help="Data directory (the product's layout or the shared S&P 500 files)."),  # noqa: E501
    synthetic: str | None = typer.Option(None, "--synthetic", help="Synthetic universe: sp500, r3000 or textbook."),
    start: str | None = typer.Option(None, "--start", help="First day (YYYY-MM-DD); synthetic: after 2 years of history."),  # noqa: E501
    end: str | None = typer.Option(None, "--end", help="Last day (YYYY-MM-DD)."),
    cadence: CadenceChoice = typer.Option(CadenceChoice.daily, "--cadence", help="Harvest cadence."),
    rebalance: CadenceChoice = typer.Option(CadenceChoice.monthly, "--rebalance", help="Rebalance cadence."),
    te_budget: float = typer.Option(0.01, "--te-budget"),
    threshold: float = typer.Option(0.02, "--threshold"),
    initial: float = typer.Option(1_000_000.0, "--initial"),
    fee: float = typer.Option(0.002, "--fee", help="Annual management fee."),
    trading_cost: float = typer.Option(0.0005, "--trading-cost", help="Cost per dollar traded."),
    gain_budget: float | None = typer.Option(None, "--gain-budget", help="Net gain the rebalances may realize per year ($)."),  # noqa: E501
    outside_st: float = typer.Option(0.0, "--outside-st", help="Outside short-term gains per year ($)."),
    outside_lt: float | None = typer.Option(None, "--outside-lt", help="Outside long-term gains per year ($; default 10% of initial)."),  # noqa: E501
    years: int = typer.Option(10, "--years", min=1, help="Synthetic market: years of backtest."),
    seed: int = typer.Option(0, "--seed"),
    baselines: str = typer.Option("all", "--baselines", help="all, none, or a comma list."),
    out: Path | None = typer.Option(None, "--out", help="Directory for summary.json, trades.csv, report.html."),
    fmt: OutFormat = typer.Option(OutFormat.table, "--format"),
) -> None:
    """Backtest tax-loss harvesting day by day against the benchmark and the baselines."""
    from directindex.backtest import BASELINES, BacktestConfig, HouseholdTax, load_market_dir, synthetic_market

    if (data is None) == (synthetic is None):
        raise fail("give exactly one of --data DIR or --synthetic sp500")
    if data is not None:
        if start is None or end is None:
            raise fail("--data needs --start and --end")
        market = load_market_dir(data, start=start, end=end)
        s, e = date.fromisoformat(start), date.fromisoformat(end)
    else:
        if synthetic not in ("sp500", "r3000", "textbook"):
            raise fail(f"unknown synthetic universe {synthetic!r} (sp500, r3000, textbook)")
        market, s, e = synthetic_market(str(synthetic), years=years, seed=seed)
        s = date.fromisoformat(start) if start else s
        e = date.fromisoformat(end) if end else e
    chosen = BASELINES if baselines == "all" else () if baselines == "none" else tuple(baselines.split(","))
    bad = [b for b in chosen if b not in BASELINES]
    if bad:
        raise fail(f"unknown baseline(s) {', '.join(bad)} (one of {', '.join(BASELINES)})")
    try:
        config = BacktestConfig(
            start=s, end=e, harvest_cadence=cadence.value, rebalance_cadence=rebalance.value,  # type: ignore[arg-type]
            te_budget=te_budget, threshold=threshold, initial=initial, fee=fee, trading_cost=trading_cost,
            gain_budget=gain_budget,
            tax=HouseholdTax(outside_short_term=outside_st,
                             outside_long_term=0.10 * initial if outside_lt is None else outside_lt),
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    summary, runs = execute(market, config, quiet=fmt is OutFormat.json, baselines=chosen)
    if out is not None:
        paths = write_outputs(out, summary, runs, f"Backtest: {market.source}")
    if fmt is OutFormat.json:
        emit_json(summary)
        return
    stdout.print(year_table(summary, f"{config.name}: {s} to {e}, harvest {cadence.value}, rebalance {rebalance.value}"))  # noqa: E501
    if summary["baselines"]:
        stdout.print(baseline_table(summary))
    f = summary["fees"]
    stdout.print(f"management fee {100 * f['management_fee']:.2f}%, break-even fee {100 * f['break_even_fee']:.2f}%, "
                 f"ledger checks agree: {all(c['agrees'] for c in summary['ledger_checks'])}")
    if out is not None:
        stdout.print("wrote " + ", ".join(str(p) for p in paths))
