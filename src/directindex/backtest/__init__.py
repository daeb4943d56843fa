"""Backtests of tax alpha: a day-by-day simulation driving the real engine, its figures and baselines.

``run_backtest(market, config)`` runs our strategy and the baselines and returns the ``summary.json``
data and the runs; ``load_market_dir`` / ``synthetic_market`` give the market.
"""

from directindex.backtest.config import BacktestConfig, HouseholdTax, InKindLot
from directindex.backtest.data import BacktestMarket, load_market_dir, synthetic_market
from directindex.backtest.engine import (
    Constructor,
    DayContext,
    Harvester,
    OptimizerConstructor,
    Order,
    RunResult,
    ScanHarvester,
    Simulation,
)
from directindex.backtest.metrics import YEAR_KEYS
from directindex.backtest.run import BASELINES, run_backtest

__all__ = [
    "BASELINES", "YEAR_KEYS", "BacktestConfig", "BacktestMarket", "Constructor", "DayContext", "Harvester",
    "HouseholdTax", "InKindLot", "OptimizerConstructor", "Order", "RunResult", "ScanHarvester", "Simulation",
    "load_market_dir", "run_backtest", "synthetic_market",
]
