"""Benchmark: 500 names, 10 years, daily harvest scans, monthly rebalances (goal under 60 s on 2 cores),
side by side with cvxportfolio's backtest of the same universe and period (a single-period optimization
tracking the benchmark, user-provided returns, no download), printed as a ratio.

Our run estimates its quarterly risk models ahead in a forked worker (``workflow.fanout.Ahead``), so it uses
the second core for that; the peer's backtest runs in one process. Both are printed with their CPU seconds
(this process and its children), and our run is timed a second time in one process (``risk_workers=1``,
the models estimated when due), so the ratio can be read both ways.

Run: ``.venv/bin/python benchmarks/bench_backtest.py [--years 10] [--no-single]``.
"""

from __future__ import annotations

import os

# One BLAS thread for both sides: on a shared 2-core machine OpenBLAS's spinning threads can make a
# 500x500 eigendecomposition 100x slower, which would decide the comparison instead of the engines.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from directindex.backtest import BacktestConfig, Simulation, synthetic_market  # noqa: E402
from directindex.backtest.metrics import total, yearly  # noqa: E402


def cpu_seconds() -> float:
    """User and system CPU time of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def ours(market: object, start: object, end: object, risk_workers: int | None = None) -> tuple[float, float, object]:
    """Wall and CPU seconds of one run over the market (built before, outside the timing), and its records."""
    cfg = BacktestConfig(start=start, end=end, harvest_cadence="daily", rebalance_cadence="monthly",  # type: ignore[arg-type]
                         ledger_check="end")
    c, t = cpu_seconds(), time.perf_counter()
    run = Simulation(market, cfg, risk_workers=risk_workers).run()  # type: ignore[arg-type]
    return time.perf_counter() - t, cpu_seconds() - c, run


def cvxportfolio_run(market: object, start: object, end: object) -> float:
    import cvxportfolio as cvx

    t0, t1 = market.day_index(start), market.day_index(end)  # type: ignore[attr-defined]
    dates = market.dates  # type: ignore[attr-defined]
    rets = pd.DataFrame(market.returns, index=dates, columns=list(market.symbols))  # type: ignore[attr-defined]
    rets["USDOLLAR"] = 0.0
    w = np.array([market.benchmark_weights(t) for t in range(len(dates))])  # type: ignore[attr-defined]
    bench = pd.DataFrame(np.c_[w, np.zeros(len(dates))], index=dates, columns=rets.columns)
    policy = cvx.SinglePeriodOptimization(
        cvx.ReturnsForecast() - 10 * cvx.FactorModelCovariance(num_factors=10) - cvx.TransactionCost(a=0.0005),
        [cvx.LongOnly(), cvx.LeverageLimit(1)], benchmark=bench)
    sim = cvx.MarketSimulator(returns=rets, trading_frequency="monthly" if hasattr(cvx, "MarketSimulator") else None)
    t = time.perf_counter()
    sim.backtest(policy, start_time=dates[t0], end_time=dates[t1])
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--no-single", action="store_true", help="skip the second, one-process run of ours")
    args = ap.parse_args(argv if argv is not None else [])
    print(f"cores: {os.cpu_count()}, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    market, start, end = synthetic_market("sp500", years=args.years, seed=0)
    wall, cpu, run = ours(market, start, end)
    n_tx = len(run.transactions)  # type: ignore[attr-defined]
    print(f"directindex backtest: {market.n} names, {start}..{end}, daily harvest, monthly rebalance: "  # type: ignore[attr-defined]
          f"{wall:.1f} s wall ({cpu:.1f} s CPU, risk models estimated ahead in a forked worker), "
          f"{n_tx} ledger transactions, wash sales {len(run.ledger.wash_sales)}")  # type: ignore[attr-defined]
    rows, extra = yearly(run)  # type: ignore[arg-type]
    tot = total(rows, run)  # type: ignore[arg-type]
    print(f"  per year: harvested {100 * (tot['harvested_short_term_pct'] + tot['harvested_long_term_pct']):.2f}% "
          f"of start value, tax alpha {100 * tot['tax_alpha']:.2f}%, TE {100 * tot['tracking_error']:.2f}%, "
          f"turnover {100 * tot['turnover']:.0f}%; goal < 60 s: {'met' if wall < 60 else 'NOT met'}")
    # the peer runs on a clean heap: our run's records (tens of thousands of trades, lots and reliefs) are
    # freed first, so its garbage collector does not pay for them
    del run, rows, extra, tot
    gc.collect()
    single = None
    if not args.no_single:
        single, single_cpu, run = ours(market, start, end, risk_workers=1)
        print(f"directindex backtest in one process (risk models estimated when due): {single:.1f} s wall "
              f"({single_cpu:.1f} s CPU), {len(run.transactions)} ledger transactions")  # type: ignore[attr-defined]
        del run
        gc.collect()
    try:
        c = cpu_seconds()
        cvx_wall = cvxportfolio_run(market, start, end)
        print(f"cvxportfolio SinglePeriodOptimization, same universe/period, monthly: {cvx_wall:.1f} s wall "
              f"({cpu_seconds() - c:.1f} s CPU)")
        print(f"ratio directindex / cvxportfolio: {wall / cvx_wall:.2f} (goal <= 1: no slower)")
        if single is not None:
            print(f"ratio in one process: {single / cvx_wall:.2f}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    except Exception as e:  # the peer is optional: report, don't hide
        print(f"cvxportfolio run failed: {type(e).__name__}: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
