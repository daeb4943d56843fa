"""A whole backtest: our strategy and the baselines in the same run, summarized for ``summary.json``.

Baselines, each over the same prices and dates:

* ``index_fund``: buy and hold a fund that earns the benchmark's total return less its expense ratio.
* ``index_fund_harvest``: the same fund, harvested at the fund level into an alternate fund that tracks
  the same market (not substantially identical), swapped on the same cadence and threshold; booked
  through the ledger like the account's own trades.
* ``annual_december``: the direct index harvested once a year, on the first trading day of December.
* ``monthly_any_loss``: harvest every loss monthly with no threshold (the Chaudhuri, Burnham & Lo design).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import numpy as np

from directindex.backtest.config import BacktestConfig
from directindex.backtest.data import BacktestMarket
from directindex.backtest.engine import Progress, RunResult, Simulation, cadence_days
from directindex.backtest.metrics import end_of_horizon, total, yearly
from directindex.ledger import Account, AccountType, Action, Security, Transaction, book

BASELINES = ("index_fund", "index_fund_harvest", "annual_december", "monthly_any_loss")


def _fund_run(market: BacktestMarket, config: BacktestConfig, harvest: bool) -> RunResult:
    """A fund (or a pair of funds swapped at a loss) earning the benchmark's total return."""
    t0 = market.day_index(config.start)
    t1 = int(market.dates.searchsorted(np.datetime64(config.end), side="right")) - 1
    dates = market.dates[t0: t1 + 1]
    n = len(dates)
    bench = np.zeros(n)
    for k in range(1, n):
        bench[k] = float(market.benchmark_weights(t0 + k - 1) @ market.returns[t0 + k])
    daily_fee = config.index_fund_fee / 252
    price = 100.0 * np.cumprod(1 + bench - np.r_[0.0, np.full(n - 1, daily_fee)])
    acct = Account(config.account, config.household, "owner", AccountType.TAXABLE)
    txs: list[Transaction] = []
    reasons: dict[str, str] = {}
    funds = ("FUND-A", "FUND-B")
    hold, shares, basis = 0, 0.0, 0.0
    last_loss = {f: -10**9 for f in funds}
    days = cadence_days(dates, config.harvest_cadence) if harvest else np.zeros(n, bool)
    bought = np.zeros(n)
    sold = np.zeros(n)

    def tx(k: int, action: Action, fund: str, q: float, reason: str) -> Transaction:
        tid = f"F{len(txs) + 1:06d}"
        p = Decimal(f"{price[k]:.4f}")
        t = Transaction(tid, dates[k].date(), config.account, action, fund, Decimal(f"{q:.6f}"), p,
                        lot=tid if action is Action.BUY else None)
        txs.append(t)
        reasons[tid] = reason
        return t

    shares = round(config.initial / float(Decimal(f"{price[0]:.4f}")), 6)
    basis = shares * price[0]
    tx(0, Action.BUY, funds[0], shares, "funding")
    for k in range(1, n):
        if not days[k]:
            continue
        value = shares * price[k]
        other = funds[1 - hold]
        if value < basis * (1 - config.threshold) and dates[k].date().toordinal() - last_loss[other] > 30:
            tx(k, Action.SELL, funds[hold], shares, "harvest")
            last_loss[funds[hold]] = dates[k].date().toordinal()
            shares = round(float(Decimal(f"{shares:.6f}") * Decimal(f"{price[k]:.4f}")) / float(Decimal(f"{price[k]:.4f}")), 6)  # noqa: E501
            tx(k, Action.BUY, other, shares, "replacement")
            sold[k] = bought[k] = value
            hold, basis = 1 - hold, shares * price[k]
    ledger = book(txs, {acct.account: acct}, {f: Security(f) for f in funds}).raise_errors()
    value = shares * price
    flows = np.zeros(n)
    flows[0] = config.initial
    return RunResult(
        config=config, dates=dates, value=value, flows=flows, benchmark_return=bench, bought=bought,
        sold_value=sold, funding_bought=np.r_[config.initial, np.zeros(n - 1)], ex_ante_te=np.full(n, np.nan),
        transactions=txs, reasons=reasons, ledger=ledger, checks=[], accounts={acct.account: acct},
        securities={f: Security(f) for f in funds}, final_prices={funds[0]: float(price[-1]), funds[1]: float(price[-1])},  # noqa: E501
        final_cash=0.0,
    )


def _describe(run: RunResult) -> dict[str, Any]:
    rows, extra = yearly(run)
    tot = total(rows, run)
    horizon = end_of_horizon(run, extra)
    fee = run.config.fee
    return {
        "years": rows,
        "total": tot,
        "tax": {k: v for k, v in extra.items() if k != "by_year"} | {"by_year": extra["by_year"]},
        "end_of_horizon": horizon,
        "fees": {
            "management_fee": fee,
            "break_even_fee": tot["tax_alpha"],
            "break_even_fee_with_active_return": tot["tax_alpha"] + tot["active_return"],
            "net_tax_alpha": tot["tax_alpha"] - fee,
        },
        "ledger_checks": [
            {"date": c.on.isoformat(), "lots": c.lots, "quantity_mismatches": c.quantity_mismatches,
             "max_basis_diff": round(c.max_basis_diff, 6), "wash_sales": c.wash_sales, "agrees": c.agrees}
            for c in run.checks
        ],
    }


def baseline_configs(config: BacktestConfig) -> dict[str, BacktestConfig]:
    """The engine-run baselines: December-only harvesting, and any loss monthly with no threshold."""
    return {
        "annual_december": replace(config, harvest_cadence="december", name="annual_december", ledger_check="end"),
        "monthly_any_loss": replace(config, harvest_cadence="monthly", rebalance_cadence="monthly", threshold=0.0,
                                    name="monthly_any_loss", ledger_check="end"),
    }


def run_backtest(
    market: BacktestMarket,
    config: BacktestConfig,
    *,
    baselines: tuple[str, ...] = BASELINES,
    progress: Progress | None = None,
    baseline_progress: Progress | None = None,
    workers: int | None = None,
) -> tuple[dict[str, Any], dict[str, RunResult]]:
    """Run the strategy and the baselines; returns the summary and the runs by name.

    The engine-run baselines are independent simulations over the same market: with more than one core
    they run in forked worker processes while the strategy runs here (``workers=0``, or the environment
    variable ``DIRECTINDEX_WORKERS=1``, keeps everything in this process).
    """
    engine_baselines = baseline_configs(config)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r} (one of {', '.join(BASELINES)})")
    engine_runs = {name: engine_baselines[name] for name in baselines if name in engine_baselines}
    runs: dict[str, RunResult] = {}
    runs.update(_run_engines(market, config, engine_runs, progress, baseline_progress, workers))
    for name in baselines:
        if name == "index_fund":
            runs[name] = _fund_run(market, config, harvest=False)
        elif name == "index_fund_harvest":
            runs[name] = _fund_run(market, config, harvest=True)
    main = _describe(runs[config.name])
    summary: dict[str, Any] = {
        "strategy": config.name,
        "config": _config_dict(config, market),
        "years": main["years"],
        "total": main["total"],
        "tax": main["tax"],
        "end_of_horizon": main["end_of_horizon"],
        "fees": main["fees"],
        "ledger_checks": main["ledger_checks"],
        "baselines": {},
    }
    for name in baselines:
        d = _describe(runs[name])
        summary["baselines"][name] = {"total": d["total"], "years": d["years"],
                                      "end_of_horizon": d["end_of_horizon"], "fees": d["fees"]}
    return summary, runs


# The market the forked workers read: set just before the pool forks, so it is inherited, never pickled.
_WORKER_MARKET: BacktestMarket | None = None
_WORKER_PROGRESS: dict[str, Any] = {}


def _worker_run(name: str, config: BacktestConfig) -> RunResult:
    assert _WORKER_MARKET is not None
    done, total = _WORKER_PROGRESS[name]

    def progress(k: int, n: int) -> None:
        done.value, total.value = k, n

    # the baselines' workers already sit beside the strategy: their risk models are estimated in place
    return Simulation(_WORKER_MARKET, config, progress=progress, risk_workers=1).run()


def _worker_count(requested: int | None, jobs: int) -> int:
    if requested is None:
        env = os.environ.get("DIRECTINDEX_WORKERS", "")
        # the variable counts processes, as for the ledger (1: this one only); ``workers`` counts those beside
        requested = (int(env) if env.isdigit() else (os.cpu_count() or 1)) - 1
    if jobs == 0 or "fork" not in mp.get_all_start_methods():
        return 0
    return max(0, min(requested, jobs))


def _run_engines(
    market: BacktestMarket,
    config: BacktestConfig,
    baselines: dict[str, BacktestConfig],
    progress: Progress | None,
    baseline_progress: Progress | None,
    workers: int | None,
) -> dict[str, RunResult]:
    """The strategy here, the engine baselines beside it in forked workers (or after it, in order)."""
    global _WORKER_MARKET
    n_workers = _worker_count(workers, len(baselines))
    if n_workers == 0:
        runs = {config.name: Simulation(market, config, progress=progress).run()}
        for name, cfg in baselines.items():
            runs[name] = Simulation(market, cfg, progress=baseline_progress).run()
        return runs
    ctx = mp.get_context("fork")
    _WORKER_MARKET = market
    _WORKER_PROGRESS.clear()
    for name in baselines:
        _WORKER_PROGRESS[name] = (ctx.Value("l", 0, lock=False), ctx.Value("l", 0, lock=False))

    def report_baselines() -> None:
        if baseline_progress is not None:
            done = sum(int(d.value) for d, _ in _WORKER_PROGRESS.values())
            total = sum(int(t.value) for _, t in _WORKER_PROGRESS.values())
            if total:
                baseline_progress(done, total)

    def on_main(k: int, n: int) -> None:
        if progress is not None:
            progress(k, n)
        report_baselines()

    try:
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            futures = {name: pool.submit(_worker_run, name, cfg) for name, cfg in baselines.items()}
            runs = {config.name: Simulation(market, config, progress=on_main).run()}
            pending = set(futures.values())
            while pending:
                _, pending = wait(pending, timeout=0.5)
                report_baselines()
            for name, fut in futures.items():
                runs[name] = fut.result()
    finally:
        _WORKER_MARKET = None
        _WORKER_PROGRESS.clear()
    return runs


def _config_dict(config: BacktestConfig, market: BacktestMarket) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in config.__dataclass_fields__:
        v = getattr(config, k)
        if isinstance(v, date):
            out[k] = v.isoformat()
        elif k == "tax":
            out[k] = {f: getattr(v, f) for f in v.__dataclass_fields__}
        elif k == "in_kind":
            out[k] = [{"symbol": x.symbol, "quantity": x.quantity, "basis": x.basis,
                       "acquired": x.acquired.isoformat()} for x in v]
        else:
            out[k] = list(v) if isinstance(v, tuple) else v
    out["market"] = market.source
    out["symbols"] = market.n
    return out
