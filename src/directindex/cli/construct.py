"""``directindex construct`` and ``directindex rebalance``: a thin shell over :mod:`directindex.construct`.

Both commands load prices, the security master and the benchmark, estimate the factor risk model as of
the date, and solve; ``rebalance`` starts from the account's open lots (booked from the ledger files).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from directindex.cli._app import app
from directindex.cli.common import Format, emit_json, fail, handle_errors, render_table, stdout
from directindex.construct import (
    ConstructionResult,
    Exclusions,
    Holdings,
    Policy,
    SectorBounds,
    SolverConfig,
    TaxRates,
    Tilt,
    TrackingErrorOptimizer,
    build_universe,
)
from directindex.errors import InputError
from directindex.market.risk import FactorRiskModel

PricesOpt = Annotated[Path, typer.Option("--prices", help="prices CSV/Parquet (date, symbol, close, ...)")]
SecuritiesOpt = Annotated[Path, typer.Option("--securities", help="security master CSV")]
BenchmarkOpt = Annotated[Path, typer.Option("--benchmark", help="benchmark weights or caps CSV")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="date of the prices and risk model (default: last)")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="exclude a symbol (repeat)")]
ExcludeSectorOpt = Annotated[list[str] | None, typer.Option("--exclude-sector", help="exclude a sector (repeat)")]
ExcludeIndustryOpt = Annotated[
    list[str] | None, typer.Option("--exclude-industry", help="exclude an industry (repeat)")
]
ExcludeWhereOpt = Annotated[
    list[str] | None,
    typer.Option("--exclude-where", help="exclude names whose security-master COLUMN=VALUE (repeat)"),
]
TiltOpt = Annotated[list[str] | None, typer.Option("--tilt", help="FACTOR=LO:HI active z-score exposure (repeat)")]
TeOpt = Annotated[float, typer.Option("--te-budget", help="annual ex-ante tracking-error budget")]
MaxNamesOpt = Annotated[int | None, typer.Option("--max-names", help="at most this many names")]
SectorBandOpt = Annotated[float | None, typer.Option("--sector-band", help="sector weight within benchmark +- band")]
CashOpt = Annotated[float, typer.Option("--cash-target", help="weight to keep in cash")]
MinPosOpt = Annotated[float, typer.Option("--min-position", help="smallest position weight")]
NoBuyOpt = Annotated[list[str] | None, typer.Option("--no-buy", help="do not buy this symbol (repeat)")]
HoldOnlyOpt = Annotated[list[str] | None, typer.Option("--hold-only", help="may hold or sell, not buy (repeat)")]
SolverOpt = Annotated[str, typer.Option("--solver", help="CLARABEL or OSQP")]
FormatOpt = Annotated[Format, typer.Option("--format", help="table or json")]


def _policy(
    exclude: list[str] | None,
    exclude_sector: list[str] | None,
    exclude_industry: list[str] | None,
    exclude_where: list[str] | None,
    tilt: list[str] | None,
    te_budget: float,
    max_names: int | None,
    sector_band: float | None,
    cash_target: float,
    min_position: float,
    no_buy: list[str] | None,
    hold_only: list[str] | None,
    **more: Any,
) -> Policy:
    try:
        tilts = tuple(Tilt.parse(t) for t in tilt or [])
        return Policy(
            te_budget=te_budget,
            cash_target=cash_target,
            exclusions=Exclusions(
                tuple(exclude or ()),
                tuple(exclude_sector or ()),
                tuple(exclude_industry or ()),
                tuple(exclude_where or ()),
            ),
            sector_bounds=None if sector_band is not None and sector_band < 0 else SectorBounds(sector_band or 0.05),
            tilts=tilts,
            no_buy=frozenset(no_buy or ()),
            hold_only=frozenset(hold_only or ()),
            max_names=max_names,
            min_position=min_position,
            **more,
        )
    except ValueError as e:
        raise InputError.single("options", None, None, str(e)) from None


def _market(
    prices_path: Path, securities_path: Path, benchmark_path: Path, as_of: str | None, extra: set[str] | None = None
) -> tuple[TrackingErrorOptimizer, pd.Series, dict[str, float], date]:
    from directindex.market.io import load_benchmark, load_prices, load_security_master
    from directindex.market.returns import total_returns
    from directindex.market.riskmodel import estimate_factor_model

    prices = load_prices(prices_path)
    securities = load_security_master(securities_path)
    bench = load_benchmark(benchmark_path, securities)
    day = pd.Timestamp(as_of) if as_of else pd.Timestamp(prices["date"].max())
    prices = prices[prices["date"] <= day]
    if prices.empty:
        raise InputError.single(str(prices_path), None, "date", f"no prices on or before {day.date()}")
    last = prices.sort_values("date").groupby("symbol")["close"].last()
    returns = total_returns(prices)
    universe_syms = [s for s in dict.fromkeys([*bench.index, *(extra or set())]) if s in returns.columns]
    if not universe_syms:
        raise InputError.single(str(benchmark_path), None, "symbol", "no benchmark symbol has prices")
    returns = returns[universe_syms]
    sectors = securities["sector"].reindex(universe_syms).fillna("Unknown")
    rm: FactorRiskModel = estimate_factor_model(returns, sectors, as_of=day)
    universe = build_universe(rm.symbols, securities, returns=returns, benchmark=bench.to_dict(), as_of=day)
    opt = TrackingErrorOptimizer(rm, universe)
    return opt, bench, {str(k): float(v) for k, v in last.items()}, day.date()


def _render(result: ConstructionResult, fmt: Format, bench: pd.Series, title: str) -> None:
    payload = result.as_dict()
    if fmt is Format.json:
        emit_json(payload)
        return
    summary = [
        {"figure": "status", "value": result.status},
        {"figure": "ex-ante tracking error", "value": f"{result.ex_ante_tracking_error:.4%}"},
        {"figure": "tracking error before", "value": f"{result.tracking_error_before:.4%}"},
        {"figure": "budget", "value": f"{result.te_budget:.4%}"},
        {"figure": "names", "value": payload["names"]},
        {"figure": "cash", "value": f"{result.cash_weight:.4%}"},
    ]
    if result.trades:
        summary += [
            {"figure": "realized gain", "value": f"{result.realized_gain:,.2f}"},
            {"figure": "tax cost", "value": f"{result.tax_cost:,.2f}"},
            {"figure": "turnover", "value": f"{result.turnover:.2%}"},
        ]
    stdout.print(render_table(summary, ["figure", "value"], title=title))
    rows = [
        {
            "symbol": s,
            "weight": f"{w:.4%}",
            "benchmark": f"{float(bench.get(s, 0.0)):.4%}",
            "active": f"{w - float(bench.get(s, 0.0)):+.4%}",
        }
        for s, w in sorted(result.weights.items(), key=lambda kv: -kv[1])[:25]
    ]
    stdout.print(render_table(rows, ["symbol", "weight", "benchmark", "active"], title="largest weights"))
    if result.trades:
        cols = ["side", "symbol", "quantity", "price", "lot", "estimated_gain", "term"]
        stdout.print(render_table([t.as_dict() for t in result.trades], cols, title="trades"))
    act = [c.as_dict() for c in result.active_constraints]
    if act:
        stdout.print(render_table(act[:30], ["name", "detail", "value", "bound"], title="active constraints"))
    for a in result.alerts:
        stdout.print(f"[bold yellow]alert[/] {a.code}: {a.message}")
    if result.diagnosis is not None:
        for r in result.diagnosis.relaxations:
            stdout.print(f"  relax {r.constraint} {r.detail}: {r.current:.6g} -> {r.needed:.6g}")
        if result.diagnosis.drop_exclusions:
            stdout.print(f"  drop exclusions: {', '.join(result.diagnosis.drop_exclusions)}")


@app.command("construct")
@handle_errors
def construct_cmd(
    prices: PricesOpt,
    securities: SecuritiesOpt,
    benchmark: BenchmarkOpt,
    as_of: AsOfOpt = None,
    exclude: ExcludeOpt = None,
    exclude_sector: ExcludeSectorOpt = None,
    exclude_industry: ExcludeIndustryOpt = None,
    exclude_where: ExcludeWhereOpt = None,
    tilt: TiltOpt = None,
    te_budget: TeOpt = 0.01,
    max_names: MaxNamesOpt = None,
    sector_band: SectorBandOpt = None,
    cash_target: CashOpt = 0.0,
    min_position: MinPosOpt = 0.0,
    no_buy: NoBuyOpt = None,
    hold_only: HoldOnlyOpt = None,
    solver: SolverOpt = "CLARABEL",
    fmt: FormatOpt = Format.table,
) -> None:
    """Target weights closest to the benchmark under the policy (tracking error minimized)."""
    policy = _policy(
        exclude,
        exclude_sector,
        exclude_industry,
        exclude_where,
        tilt,
        te_budget,
        max_names,
        sector_band,
        cash_target,
        min_position,
        no_buy,
        hold_only,
    )
    opt, bench, _, day = _market(prices, securities, benchmark, as_of)
    opt.solver = SolverConfig(solver=solver.upper(), diagnose_budget=True)
    try:
        result = opt.solve(bench, policy=policy)
    except KeyError as e:
        raise fail(f"unknown factor or column {e}") from None
    _render(result, fmt, bench, f"construct as of {day}")


@app.command("rebalance")
@handle_errors
def rebalance_cmd(
    account: Annotated[str, typer.Option("--account", help="the account to rebalance")],
    prices: PricesOpt,
    securities: SecuritiesOpt,
    benchmark: BenchmarkOpt,
    as_of: AsOfOpt = None,
    exclude: ExcludeOpt = None,
    exclude_sector: ExcludeSectorOpt = None,
    exclude_industry: ExcludeIndustryOpt = None,
    exclude_where: ExcludeWhereOpt = None,
    tilt: TiltOpt = None,
    te_budget: TeOpt = 0.01,
    max_names: MaxNamesOpt = None,
    sector_band: SectorBandOpt = None,
    cash_target: CashOpt = 0.0,
    min_position: MinPosOpt = 0.0,
    no_buy: NoBuyOpt = None,
    hold_only: HoldOnlyOpt = None,
    gain_budget: Annotated[float | None, typer.Option("--gain-budget", help="net realized gain allowed ($)")] = None,
    max_turnover: Annotated[float | None, typer.Option("--max-turnover", help="one-sided turnover limit")] = None,
    min_trade: Annotated[float, typer.Option("--min-trade", help="smallest trade, weight of the account")] = 0.0,
    cash: Annotated[float, typer.Option("--cash", help="cash in the account (or a new contribution), $")] = 0.0,
    st_rate: Annotated[float, typer.Option("--st-rate", help="marginal short-term gain rate")] = 0.408,
    lt_rate: Annotated[float, typer.Option("--lt-rate", help="marginal long-term gain rate")] = 0.238,
    solver: SolverOpt = "CLARABEL",
    fmt: FormatOpt = Format.table,
    accounts: Annotated[Path | None, typer.Argument(help="accounts.csv (omit with --db)")] = None,
    transactions: Annotated[Path | None, typer.Argument(help="transactions.csv (omit with --db)")] = None,
    db: Annotated[str | None, typer.Option("--db", envvar="DIRECTINDEX_DB", help="read the stored book")] = None,
) -> None:
    """Lot-level trades that bring the account toward its benchmark, tax-aware, within the policy."""
    from directindex.ledger.book import book
    from directindex.ledger.io import load_accounts, load_securities, load_transactions

    policy = _policy(
        exclude,
        exclude_sector,
        exclude_industry,
        exclude_where,
        tilt,
        te_budget,
        max_names,
        sector_band,
        cash_target,
        min_position,
        no_buy,
        hold_only,
        gain_budget=gain_budget,
        max_turnover=max_turnover,
        min_trade=min_trade,
        rates=TaxRates(st_rate, lt_rate),
    )
    if accounts is not None and transactions is not None:
        accts = load_accounts(accounts)
        txs, secs = load_transactions(transactions, accts), load_securities(securities)
    elif db is not None:
        from directindex.store import load_book

        accts, secs, txs, _stored_policy = load_book(db)
    else:
        raise typer.BadParameter("give ACCOUNTS and TRANSACTIONS files, or --db URL")
    if account not in accts:
        raise InputError.single(str(accounts or db), None, "account", f"no account '{account}'")
    day = date.fromisoformat(as_of) if as_of else None
    ledger = book(txs, accts, secs, as_of=day).raise_errors()
    lots = tuple(lot for lot in ledger.lots if lot.account == account)
    opt, bench, last, mday = _market(prices, securities, benchmark, as_of, {lot.symbol for lot in lots})
    opt.solver = SolverConfig(solver=solver.upper(), diagnose_budget=True)
    holdings = Holdings(account, lots, cash, day or mday)
    try:
        result = opt.solve(bench, holdings, prices=last, policy=policy)
    except KeyError as e:
        raise fail(f"unknown factor or column {e}") from None
    _render(result, fmt, bench, f"rebalance {account} as of {holdings.as_of}")
