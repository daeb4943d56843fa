"""Market inputs for a pass: the prices on the pass date and a risk model estimated from the history.

Kept apart from the planner so the planner stays pure records-in, records-out; the CLI and the daily run
call this with a prices frame from ``directindex.market.io.load_prices``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

import pandas as pd

from directindex.errors import InputError
from directindex.ledger.records import Security
from directindex.market.returns import total_returns
from directindex.market.risk import FactorRiskModel
from directindex.market.riskmodel import estimate_factor_model

MIN_DAYS_FOR_MODEL = 60


def prices_on(prices: pd.DataFrame, as_of: date, source: str = "prices") -> dict[str, Decimal]:
    """Each symbol's last close on or before ``as_of`` (a symbol not quoted then is left out)."""
    upto = prices[prices["date"] <= pd.Timestamp(as_of)]
    if upto.empty:
        raise InputError.single(source, None, "date", f"no prices on or before {as_of}")
    last = upto.sort_values("date").groupby("symbol")["close"].last()
    return {str(s): Decimal(repr(float(p))) for s, p in last.items() if p > 0}


def risk_model_for(prices: pd.DataFrame, securities: Mapping[str, Security], as_of: date,
                   n_statistical: int = 2) -> FactorRiskModel | None:
    """A market + sector + statistical model from the history; ``None`` with under 60 days of returns."""
    returns = total_returns(prices[prices["date"] <= pd.Timestamp(as_of)])
    if returns.shape[0] < MIN_DAYS_FOR_MODEL:
        return None
    sectors = pd.Series({s: (securities[s].sector if s in securities and securities[s].sector else "Unknown")
                         for s in returns.columns})
    k = max(0, min(n_statistical, returns.shape[1] - 2))
    return estimate_factor_model(returns, sectors, n_statistical=k, as_of=pd.Timestamp(as_of))
