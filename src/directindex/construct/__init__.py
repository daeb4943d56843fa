"""Portfolio construction under a tracking-error budget: terms, constraints, lot-level sells, diagnosis.

The harvest engine and the backtest call :class:`TrackingErrorOptimizer` (build once per universe and
risk model, then ``solve``/``fit`` per account); a replacement after a harvest is a re-solve with the
harvested names on ``Policy.no_buy``.
"""

from directindex.construct.config import Exclusions, Policy, SectorBounds, SolverConfig, TaxRates, Tilt
from directindex.construct.lots import LotColumns, LotSale, order_lots_for_sale, select_lots
from directindex.construct.optimizer import Holdings, TrackingErrorOptimizer, apply_trades, staged_contributions
from directindex.construct.result import ActiveConstraint, Alert, ConstructionResult, Diagnosis, Relaxation, Trade
from directindex.construct.universe import Universe, build_universe, zscore

__all__ = [
    "ActiveConstraint",
    "Alert",
    "ConstructionResult",
    "Diagnosis",
    "Exclusions",
    "Holdings",
    "LotColumns",
    "LotSale",
    "Policy",
    "Relaxation",
    "SectorBounds",
    "SolverConfig",
    "TaxRates",
    "Tilt",
    "TrackingErrorOptimizer",
    "Trade",
    "Universe",
    "apply_trades",
    "build_universe",
    "order_lots_for_sale",
    "select_lots",
    "staged_contributions",
    "zscore",
]
