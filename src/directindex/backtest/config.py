"""What a backtest simulates: the account, its funding, the cadences, the household's taxes, the costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Cadence = Literal["daily", "weekly", "monthly", "quarterly", "annual", "december", "never"]


@dataclass(frozen=True, slots=True)
class HouseholdTax:
    """The household's rates and what it realizes outside the account each year (dollars, + gains)."""

    filing_status: str = "married_filing_jointly"
    short_term_rate: float = 0.408  # 37% + 3.8% NIIT
    long_term_rate: float = 0.238  # 20% + 3.8% NIIT
    ordinary_rate: float = 0.37  # what the $3,000 allowance offsets
    outside_short_term: float = 0.0
    outside_long_term: float = 100_000.0
    carryover_short: float = 0.0
    carryover_long: float = 0.0


@dataclass(frozen=True, slots=True)
class InKindLot:
    """A lot transferred in at the start (e.g. a concentrated, low-basis position)."""

    symbol: str
    quantity: float
    basis: float
    acquired: date


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """One strategy run. Rates are fractions; ``fee`` is the annual management fee.

    ``harvest_cadence`` is when the harvest pass runs, ``rebalance_cadence`` when the account is re-solved
    under its tracking-error budget (also whenever ex-ante tracking error drifts past ``te_trigger`` times
    the budget on a harvest day). ``threshold`` is the loss, as a fraction of basis, a lot must show.
    """

    start: date
    end: date
    harvest_cadence: Cadence = "daily"
    rebalance_cadence: Cadence = "monthly"
    te_budget: float = 0.01
    threshold: float = 0.02
    min_loss: float = 0.0
    initial: float = 1_000_000.0
    fee: float = 0.002
    index_fund_fee: float = 0.0003
    trading_cost: float = 0.0005  # of traded value, booked as fees
    funding: Literal["cash", "in_kind", "staged"] = "cash"
    stages: int = 1
    in_kind: tuple[InKindLot, ...] = ()
    exclusions: tuple[str, ...] = ()
    exclude_sectors: tuple[str, ...] = ()
    tax: HouseholdTax = field(default_factory=HouseholdTax)
    basket_size: int = 3
    min_trade: float = 0.0
    # net realized gain the rebalances may add each calendar year, in dollars (None: no limit): a
    # concentrated low-basis position is then unwound over several years instead of on the first day
    gain_budget: float | None = None
    te_trigger: float = 2.0
    risk_refresh_days: int = 63
    ledger_check: Literal["yearly", "end"] = "yearly"
    account: str = "JOINT-TAXABLE"
    household: str = "HH-1"
    name: str = "direct_index"

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.te_budget <= 0:
            raise ValueError("te_budget must be positive")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError("threshold must be in [0, 1)")
        if self.initial <= 0 and self.funding != "in_kind":
            raise ValueError("initial must be positive")
