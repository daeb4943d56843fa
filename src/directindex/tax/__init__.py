"""Tax: rates kept as data, Schedule D netting with its carryover worksheet, the tax value of a gain or loss.

Call ``marginal_rates`` (or ``top_rates``) for a household's rates, ``schedule_d`` to net a year, and
``tax_value`` / ``loss_tax_value`` / ``tax_values`` to price a sale against what the year has realized.
"""

from directindex.tax.rates import (
    Bracket,
    MarginalRates,
    Niit,
    RateTableError,
    RateTables,
    Schedule,
    StateRate,
    TaxRates,
    load_rate_tables,
    marginal_rates,
    top_rates,
)
from directindex.tax.schedule_d import CarryoverWorksheet, ScheduleD, carryover_worksheet, schedule_d
from directindex.tax.status import FilingStatus
from directindex.tax.value import CapitalPosition, capital_tax, loss_tax_value, tax_value, tax_values

__all__ = [
    "Bracket",
    "CapitalPosition",
    "CarryoverWorksheet",
    "FilingStatus",
    "MarginalRates",
    "Niit",
    "RateTableError",
    "RateTables",
    "Schedule",
    "ScheduleD",
    "StateRate",
    "TaxRates",
    "capital_tax",
    "carryover_worksheet",
    "load_rate_tables",
    "loss_tax_value",
    "marginal_rates",
    "schedule_d",
    "tax_value",
    "tax_values",
    "top_rates",
]
