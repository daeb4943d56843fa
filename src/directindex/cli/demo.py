"""``directindex demo``: the main job on the embedded synthetic market, no data needed.

A sample household: a joint taxable account funded with cash and a concentrated, low-basis position
transferred in kind; the spouse's own taxable account; an IRA with dividend reinvestment. Construction
with exclusions (a sector and a name), a multi-year daily backtest with its baselines, the tables and the
HTML report, then today's harvest proposal for the whole household with its evidence
(``directindex.harvest.plan_harvest``), so the household-wide wash-sale guard shows its work.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from directindex.cli._app import app
from directindex.cli.common import atomic_write, dumps_json, handle_errors, stdout


@app.command("demo")
@handle_errors
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Directory for the outputs."),
    years: int = typer.Option(5, "--years", min=1, max=20, help="Years of daily backtest."),
    seed: int = typer.Option(7, "--seed"),
) -> None:
    """Run the sample household end to end and write the report and the proposal."""
    from directindex.backtest import BacktestConfig, HouseholdTax, InKindLot, run_backtest, synthetic_market
    from directindex.backtest.engine import estimate_risk
    from directindex.cli.backtest import baseline_table, execute, write_outputs, year_table
    from directindex.harvest import HarvestPolicy, plan_harvest
    from directindex.harvest.policy import HouseholdPolicy
    from directindex.ledger import Account, AccountType, Action, Transaction

    t_start = time.perf_counter()
    stdout.print(f"[bold]directindex demo[/]: synthetic S&P 500-like market, {years} years of daily harvesting")
    market, start, end = synthetic_market("sp500", years=years, seed=seed)
    t0 = market.day_index(start)
    b0 = market.benchmark_weights(t0)
    top = int(np.argmax(b0))
    big = market.symbols[top]
    price0 = float(market.close[t0, top])
    # a concentrated position worth $300k at a tenth of that basis, held since 2005
    concentrated = InKindLot(big, float(int(300_000 / price0)), 30_000.0, date(2005, 6, 1))
    sector_names = market.sectors()
    excluded_sector = "Energy" if "Energy" in sector_names else sector_names[0]
    second = market.symbols[int(np.argsort(-b0)[1])]
    config = BacktestConfig(
        start=start, end=end, harvest_cadence="daily", rebalance_cadence="monthly", te_budget=0.015,
        initial=700_000.0, funding="in_kind", in_kind=(concentrated,), exclusions=(second,),
        exclude_sectors=(excluded_sector,),
        tax=HouseholdTax(outside_short_term=20_000.0, outside_long_term=60_000.0),
        account="JOINT-TAXABLE", household="SMITH", name="direct_index",
    )
    stdout.print(f"household SMITH: joint taxable ($700k cash + {int(concentrated.quantity)} {big} at $30k basis), "
                 f"spouse taxable, IRA; exclusions: sector {excluded_sector}, symbol {second}")
    summary, runs = execute(market, config, quiet=False,
                            baselines=("index_fund", "index_fund_harvest", "annual_december", "monthly_any_loss"))
    del run_backtest
    stdout.print(year_table(summary, f"Joint taxable account, {start} to {end}"))
    stdout.print(baseline_table(summary))
    first = summary["ledger_checks"][0] if summary["ledger_checks"] else {}
    stdout.print(f"construction: ex-ante TE after funding within budget {config.te_budget:.1%}; "
                 f"ledger checks agree: {all(c['agrees'] for c in summary['ledger_checks'])} ({first.get('lots')} lots at first year end)")  # noqa: E501

    # today's household proposal: the joint account's book plus the spouse's and the IRA's recent activity
    main = runs[config.name]
    today = end
    accounts = dict(main.accounts)
    accounts["SPOUSE-TAXABLE"] = Account("SPOUSE-TAXABLE", "SMITH", "spouse", AccountType.TAXABLE)
    accounts["IRA"] = Account("IRA", "SMITH", "owner", AccountType.TRADITIONAL_IRA)
    held = {lot.symbol for lot in main.ledger.lots}
    px = main.final_prices
    losers = sorted((s for s in held if s in px), key=lambda s: min(
        (float(lot.quantity) * px[s] - float(lot.basis)) / float(lot.basis) for lot in main.ledger.lots if lot.symbol == s))  # noqa: E501
    extra: list[Transaction] = []
    if len(losers) >= 2:
        # the spouse bought one losing name 12 days ago; the IRA reinvested a dividend in another 20 days ago
        a, b = losers[0], losers[1]
        extra.append(Transaction("SP-1", today - timedelta(days=12), "SPOUSE-TAXABLE", Action.BUY, a,
                                 Decimal(10), Decimal(f"{px[a]:.2f}")))
        extra.append(Transaction("IRA-1", today - timedelta(days=20), "IRA", Action.REINVEST, b,
                                 Decimal("1.5"), Decimal(f"{px[b]:.2f}")))
    policy = HarvestPolicy(tax=HouseholdPolicy(outside_short_term=Decimal(20_000), outside_long_term=Decimal(60_000)))
    model = estimate_risk(market, market.day_index(today))
    proposal = plan_harvest(accounts, main.securities, [*main.transactions, *extra], px, today, policy,
                            risk_model=model)
    prop = proposal.as_dict()
    table = Table(title=f"Today's harvest proposal ({today}), household SMITH")
    for c in ("account", "side", "symbol", "quantity", "reason", "evidence"):
        table.add_column(c)
    for t in prop["trades"][:15]:
        ev = t.get("evidence") or {}
        note = ""
        if isinstance(ev, dict):
            note = f"loss {ev.get('unrealized_loss', '')} {ev.get('term', '')} tax value {ev.get('tax_value', '')}"
        table.add_row(str(t["account"]), str(t["side"]), str(t["symbol"]), str(t["quantity"]), str(t["reason"]), note)
    stdout.print(table)
    for b in prop["blocked"][:5]:
        stdout.print(f"blocked: {b.get('symbol')} {b.get('reason', '')}")
    stdout.print(f"proposal: {len(prop['trades'])} trades, {len(prop['blocked'])} blocked, "
                 f"{len(prop['restricted'])} restricted names; summary {dumps_json(prop['summary'])[:300]}")
    paths = write_outputs(out, summary, runs, f"Demo household SMITH: {market.source}")
    atomic_write(out / "proposal.json", dumps_json(prop) + "\n")
    paths.append(out / "proposal.json")
    stdout.print(f"outputs: {', '.join(str(p) for p in paths)}")
    stdout.print(f"demo finished in {time.perf_counter() - t_start:.0f} s")
