"""``directindex demo``: the main job on the embedded synthetic market, no data needed.

A sample household: a joint taxable account funded with cash and a concentrated, low-basis position
transferred in kind; the spouse's own taxable account; an IRA with dividend reinvestment. Construction
with exclusions (a sector and a name), a multi-year daily backtest with its baselines, the tables and the
HTML report, then today's harvest proposal for the whole household with its evidence
(``directindex.harvest.plan_harvest``), so the household-wide wash-sale guard shows its work.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

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
    from directindex.harvest.policy import AccountPolicy, HouseholdPolicy
    from directindex.ledger import Account, AccountType

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
        exclude_sectors=(excluded_sector,), gain_budget=60_000.0,
        tax=HouseholdTax(outside_short_term=20_000.0, outside_long_term=60_000.0),
        account="JOINT-TAXABLE", household="SMITH", name="direct_index",
    )
    stdout.print(f"household SMITH: joint taxable ($700k cash + {int(concentrated.quantity)} {big} at $30k basis, "
                 f"unwound under a $60k-a-year gain budget), spouse taxable, IRA; exclusions: sector "
                 f"{excluded_sector}, symbol {second}")
    summary, runs = execute(market, config, quiet=False,
                            baselines=("index_fund", "index_fund_harvest", "annual_december", "monthly_any_loss"))
    del run_backtest
    stdout.print(year_table(summary, f"Joint taxable account, {start} to {end}"))
    stdout.print(baseline_table(summary))
    first = summary["ledger_checks"][0] if summary["ledger_checks"] else {}
    te0 = float(runs[config.name].ex_ante_te[0])
    held0 = sum(1 for t in runs[config.name].transactions if t.date == start and t.action.value == "sell")
    stdout.print(f"construction on {start}: ex-ante TE {te0:.2%} against a {config.te_budget:.1%} budget "
                 f"({'within' if te0 <= config.te_budget + 1e-9 else 'OVER: the gain budget binds'}); "
                 f"{held0} lot sale(s) of the transferred position that day; ledger checks agree: "
                 f"{all(c['agrees'] for c in summary['ledger_checks'])} ({first.get('lots')} lots at first year end)")

    # Today's household proposal. The spouse's own taxable account bought 30 large names about five months
    # ago (some are now down); the IRA reinvests dividends (DRIP on). The guard looks across all three
    # accounts: the joint account's recent replacement buys and the IRA's reinvestment block the spouse's
    # loss sales in those names; the restricted list of every account forbids buying back what was sold.
    main = runs[config.name]
    today = end
    accounts = dict(main.accounts)
    accounts["SPOUSE-TAXABLE"] = Account("SPOUSE-TAXABLE", "SMITH", "sam", AccountType.TAXABLE)
    accounts["IRA"] = Account("IRA", "SMITH", "alex", AccountType.TRADITIONAL_IRA)
    extra = _spouse_and_ira(market, main, today, excluded_sector, (big, second))
    px = main.final_prices
    policy = HarvestPolicy(
        tax=HouseholdPolicy(outside_short_term=Decimal(20_000), outside_long_term=Decimal(60_000)),
        accounts={"IRA": AccountPolicy(drip=True)},
    )
    model = estimate_risk(market, market.day_index(today))
    proposal = plan_harvest(accounts, main.securities, [*main.transactions, *extra], px, today, policy,
                            risk_model=model)
    prop = proposal.as_dict()
    table = Table(title=f"Today's harvest proposal ({today}), household SMITH")
    for c in ("account", "side", "symbol", "quantity", "lot", "reason", "evidence"):
        table.add_column(c)
    for t in prop["trades"][:20]:
        ev = t.get("evidence") or {}
        note = ""
        if isinstance(ev, dict) and t["side"] == "sell":
            note = f"unrealized {ev.get('unrealized', '')} {ev.get('term', '')}, tax value {ev.get('tax_value', '')}"
        table.add_row(str(t["account"]), str(t["side"]), str(t["symbol"]), str(t["quantity"]), str(t.get("lot") or ""),
                      str(t["reason"]), note)
    stdout.print(table)
    for b in prop["blocked"][:6]:
        stdout.print(f"blocked: {b.get('account', '')} {b.get('symbol')} lot {b.get('lot', '')}: {b.get('reason', '')}")
    for w in prop["summary"].get("warnings", [])[:4]:
        stdout.print(f"warning: {w}")
    summ = prop["summary"]
    stdout.print(f"proposal: {len(prop['trades'])} trades, {len(prop['blocked'])} blocked, "
                 f"{len(prop['restricted'])} restricted names; harvested short-term {summ['harvested_short_term']}, "
                 f"long-term {summ['harvested_long_term']}, estimated tax value {summ['estimated_tax_value']}")
    paths = write_outputs(out, summary, runs, f"Demo household SMITH: {market.source}")
    atomic_write(out / "proposal.json", dumps_json(prop) + "\n")
    paths.append(out / "proposal.json")
    paths += _stored_book(out, market, main, accounts, extra, today)
    stdout.print(f"outputs: {', '.join(str(p) for p in paths)}")
    stdout.print(f"demo finished in {time.perf_counter() - t_start:.0f} s")


def _spouse_and_ira(market: Any, main: Any, today: date, excluded_sector: str, avoid: tuple[str, ...]) -> list[Any]:
    """The spouse's purchases five months ago and the IRA's holdings with a recent dividend reinvestment."""
    from directindex.ledger import Action, Transaction

    t_end = market.day_index(today)
    t_buy = max(0, t_end - 105)
    bought_on = market.dates[t_buy].date()
    w = market.benchmark_weights(t_buy)
    sectors = market.sectors()
    # names the joint account sold at a loss within 30 days of the spouse's purchase would be washed by it
    # (household-wide, as the ledger shows); a careful spouse avoided them
    near = {t.symbol for t in main.transactions if main.reasons.get(t.id) == "harvest"
            and abs((t.date - bought_on).days) <= 30}
    order = [int(j) for j in np.argsort(-w) if w[j] > 0 and sectors[j] != excluded_sector
             and market.symbols[j] not in avoid and market.symbols[j] not in near]
    out: list[Any] = []
    for k, j in enumerate(order[:30]):
        price = float(market.close[t_buy, j])
        qty = int(8_000 / price)
        if qty > 0:
            out.append(Transaction(f"SP-{k + 1:02d}", bought_on, "SPOUSE-TAXABLE", Action.BUY, market.symbols[j],
                                   Decimal(qty), Decimal(f"{price:.2f}"), lot=f"SP-{k + 1:02d}"))
    # the IRA holds two of the spouse's names and reinvested a dividend in the first 20 days ago
    for k, j in enumerate(order[:2]):
        sym = market.symbols[j]
        price = float(market.close[t_buy, j])
        out.append(Transaction(f"IRA-{k + 1}", bought_on, "IRA", Action.BUY, sym, Decimal(50),
                               Decimal(f"{price:.2f}"), lot=f"IRA-{k + 1}"))
    t_drip = max(t_buy + 1, t_end - 14)
    sym = market.symbols[order[0]]
    out.append(Transaction("IRA-DRIP-1", market.dates[t_drip].date(), "IRA", Action.REINVEST, sym, Decimal("0.75"),
                           Decimal(f"{float(market.close[t_drip, order[0]]):.2f}"), lot="IRA-DRIP-1"))
    return sorted(out, key=lambda t: t.date)


def _stored_book(
    out: Path, market: Any, main: Any, accounts: dict[str, Any], extra: list[Any], today: date
) -> list[Path]:
    """The embedded default: the household as a book directory, imported into a SQLite book, today's run."""
    import pandas as pd

    from directindex.cli.backtest import transactions_csv
    from directindex.ledger import Method
    from directindex.store import migrate, open_book
    from directindex.workflow import audit, imports, proposals
    from directindex.workflow.harvest_engine import HarvestEngineProposer
    from directindex.workflow.run import daily_run

    book_dir = out / "book"
    t_end = market.day_index(today)
    t_from = max(0, t_end - 300)
    # a year of closes for the names the household holds or may buy (the engine's risk model reads them)
    close = pd.DataFrame(market.close[t_from: t_end + 1], index=market.dates[t_from: t_end + 1],
                         columns=list(market.symbols))
    close = close.loc[:, close.iloc[-1].notna()]
    long = close.stack().rename("close").reset_index()
    long.columns = ["date", "symbol", "close"]
    long["date"] = long["date"].dt.date.astype(str)
    sec = market.securities.reindex(list(market.symbols))
    # pandas writes the CSV quoting (an industry may hold a comma)
    account_rows = pd.DataFrame([(a.account, a.household, a.owner, a.type.value) for a in accounts.values()],
                                columns=["account", "household", "owner", "type"])
    master = pd.DataFrame({"symbol": list(market.symbols), "name": sec.get("name", pd.Series(index=sec.index)),
                           "sector": sec.get("sector"), "industry": sec.get("industry"),
                           "identical_group": sec.get("identical_group")}).fillna("")
    files = {
        "accounts.csv": account_rows.to_csv(index=False, lineterminator="\n"),
        "securities.csv": master.to_csv(index=False, lineterminator="\n"),
        "transactions.csv": transactions_csv(sorted([*main.transactions, *extra], key=lambda t: t.date)),
        "policy.toml": "[households.SMITH]\nfiling_status = \"married_filing_jointly\"\noutside_short_term = 20000\n"
                       "outside_long_term = 60000\n\n[accounts.IRA]\ndrip = true\n",
        "prices.csv": long.to_csv(index=False, lineterminator="\n"),
    }
    for name, text in files.items():
        atomic_write(book_dir / name, text)
    db = out / "book.db"
    if db.exists():
        db.unlink()  # the demo starts its book fresh each time
    url = f"sqlite:///{db}"
    rev = migrate(url)
    engine = open_book(url)
    report = imports.import_path(engine, book_dir, Method.FIFO)
    stdout.print(f"stored book: SQLite {db} (schema {rev}); imported {report.transactions_added} transactions, "
                 f"{report.accounts_added} accounts")
    px = {s: Decimal(f"{p:.4f}") for s, p in main.final_prices.items()}
    history = long.assign(date=pd.to_datetime(long["date"]))
    run = daily_run(engine, today, px, HarvestEngineProposer(prices_history=history), prices_label="demo")
    with engine.connect() as conn:
        rows = proposals.listing(conn, None, None, today)
        problems = audit.verify(conn)
    stdout.print(f"daily run {today}: {run.processed} accounts, {len(run.proposals)} proposal(s) "
                 f"({run.auto_approved} auto-approved, {run.pending_approval} pending approval)")
    for r in rows:
        stdout.print(f"  proposal {r['id']} {r['account']}: {r['state']}, {r['trades']} trades"
                     + (f", routed to {r['approver']}: {r['routing']}" if r.get("approver") else ""))
    stdout.print(f"audit trail: {'verified' if not problems else 'BROKEN: ' + '; '.join(problems)} "
                 f"(directindex audit verify --db {url})")
    return [book_dir, db]
