"""Schedule D netting and the Capital Loss Carryover Worksheet.

A year's sales net within their character first: short-term gains and losses plus any short-term loss
carried in give line 7, long-term ones plus the long-term carryover give line 15, and the two combine on
line 16. A net loss is deductible against other income only up to $3,000 ($1,500 married filing separately) on line 21
(IRC 1211(b)); what is left carries to next year and keeps its character (IRC 1212(b)). How much is left is
not simply "line 16 minus line 21": the Capital Loss Carryover Worksheet in the Schedule D instructions first
uses the loss against a negative taxable income (the allowance only carries forward to the extent it produced
no tax benefit), and uses short-term loss before long-term. The worksheet is figured next year from this
year's return; here it is figured from this year's figures straight away, line for line, so the carryover out
of this call is the carryover in of next year's.

Sources: 2024 Schedule D (Form 1040) lines 1-21 and its instructions ("Capital Loss Carryover Worksheet--
Lines 6 and 14"); Pub. 550, "Capital Losses"; IRC 1211(b), 1212(b).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from directindex.tax.status import FilingStatus

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class CarryoverWorksheet:
    """The Capital Loss Carryover Worksheet, lines 1-13; ``None`` marks a line the worksheet says to skip.

    Line 1 is ``None`` (and line 3 with it) when taxable income was not given: it is then taken to be large
    enough not to limit anything, so line 4 equals line 2.
    """

    line_1: Decimal | None  # taxable income (Form 1040 line 15), may be negative
    line_2: Decimal  # the line 21 loss as a positive amount
    line_3: Decimal | None  # line 1 + line 2, not below zero
    line_4: Decimal  # smaller of line 2 and line 3: the allowance that actually offset income
    line_5: Decimal  # the line 7 loss as a positive amount (zero when line 7 is not a loss)
    line_6: Decimal | None  # any gain on line 15
    line_7: Decimal | None  # line 4 + line 6
    line_8: Decimal | None  # short-term carryover: line 5 - line 7, not below zero
    line_9: Decimal | None  # the line 15 loss as a positive amount
    line_10: Decimal | None  # any gain on line 7
    line_11: Decimal | None  # line 4 - line 5, not below zero
    line_12: Decimal | None  # line 10 + line 11
    line_13: Decimal | None  # long-term carryover: line 9 - line 12, not below zero

    @property
    def short_term_carryover(self) -> Decimal:
        return self.line_8 or ZERO

    @property
    def long_term_carryover(self) -> Decimal:
        return self.line_13 or ZERO

    def lines(self) -> dict[str, Decimal | None]:
        """``{"line_1": ..., "line_13": ...}`` in order, for reports."""
        return {f"line_{i}": getattr(self, f"line_{i}") for i in range(1, 14)}


def carryover_worksheet(
    net_short_term: Decimal, net_long_term: Decimal, allowed_loss: Decimal, taxable_income: Decimal | None
) -> CarryoverWorksheet:
    """Figure next year's carryovers from this year's Schedule D lines 7, 15 and 21 and taxable income."""
    if allowed_loss > 0:
        raise ValueError(f"allowed loss (line 21) must be zero or negative, not {allowed_loss}")
    line_1 = taxable_income
    line_2 = -allowed_loss
    line_3 = None if line_1 is None else max(line_1 + line_2, ZERO)
    line_4 = line_2 if line_3 is None else min(line_2, line_3)
    line_6 = line_7 = line_8 = None
    if net_short_term < 0:
        line_5 = -net_short_term
        line_6 = max(net_long_term, ZERO)
        line_7 = line_4 + line_6
        line_8 = max(line_5 - line_7, ZERO)
    else:
        line_5 = ZERO
    line_9 = line_10 = line_11 = line_12 = line_13 = None
    if net_long_term < 0:
        line_9 = -net_long_term
        line_10 = max(net_short_term, ZERO)
        line_11 = max(line_4 - line_5, ZERO)
        line_12 = line_10 + line_11
        line_13 = max(line_9 - line_12, ZERO)
    return CarryoverWorksheet(
        line_1, line_2, line_3, line_4, line_5, line_6, line_7, line_8, line_9, line_10, line_11, line_12, line_13
    )


@dataclass(frozen=True, slots=True)
class ScheduleD:
    """One year's netting. Gains positive, losses negative; carryovers positive amounts."""

    filing_status: FilingStatus
    short_term_gain_loss: Decimal  # lines 1a-5
    carryover_short_in: Decimal  # line 6 (entered as a loss)
    net_short_term: Decimal  # line 7
    long_term_gain_loss: Decimal  # lines 8a-13
    carryover_long_in: Decimal  # line 14 (entered as a loss)
    net_long_term: Decimal  # line 15
    total: Decimal  # line 16
    allowed_loss: Decimal  # line 21: zero or negative
    worksheet: CarryoverWorksheet  # next year's worksheet, from this year's figures
    taxable_income: Decimal | None = None

    @property
    def carryover_short_term(self) -> Decimal:
        """Short-term capital loss carried to next year (its Schedule D line 6), a positive amount."""
        return self.worksheet.short_term_carryover

    @property
    def carryover_long_term(self) -> Decimal:
        """Long-term capital loss carried to next year (its Schedule D line 14), a positive amount."""
        return self.worksheet.long_term_carryover

    @property
    def net_capital_gain(self) -> Decimal:
        """The part of a gain taxed at long-term rates: the smaller of lines 15 and 16 when both are gains."""
        return max(min(self.net_long_term, self.total), ZERO)


def _total(amounts: Decimal | Iterable[Decimal]) -> Decimal:
    if isinstance(amounts, Decimal):
        return amounts
    return sum(amounts, ZERO)


def schedule_d(
    short_term: Decimal | Iterable[Decimal],
    long_term: Decimal | Iterable[Decimal],
    filing_status: FilingStatus | str,
    *,
    carryover_short: Decimal = ZERO,
    carryover_long: Decimal = ZERO,
    taxable_income: Decimal | None = None,
) -> ScheduleD:
    """Net a year's short- and long-term gains and losses the Schedule D way.

    ``short_term`` and ``long_term`` are the year's gains and losses (one total or one amount per sale),
    ``carryover_short``/``carryover_long`` the losses carried in (positive amounts). ``taxable_income``
    is this year's Form 1040 line 15 figured with the allowed loss (negative if deductions exceed income); ``None``
    takes it as large enough that the worksheet's taxable-income lines do not limit the carryover.
    """
    status = FilingStatus(filing_status)
    if carryover_short < 0 or carryover_long < 0:
        raise ValueError("carryovers are positive amounts of loss")
    st = _total(short_term)
    lt = _total(long_term)
    line_7 = st - carryover_short
    line_15 = lt - carryover_long
    line_16 = line_7 + line_15
    line_21 = max(line_16, -status.capital_loss_limit) if line_16 < 0 else ZERO
    return ScheduleD(
        filing_status=status,
        short_term_gain_loss=st,
        carryover_short_in=carryover_short,
        net_short_term=line_7,
        long_term_gain_loss=lt,
        carryover_long_in=carryover_long,
        net_long_term=line_15,
        total=line_16,
        allowed_loss=line_21,
        worksheet=carryover_worksheet(line_7, line_15, line_21, taxable_income),
        taxable_income=taxable_income,
    )
