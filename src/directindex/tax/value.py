"""The tax value of realizing a gain or a loss, given what the household has already realized this year.

A harvested loss is not worth "loss x rate": what it saves depends on what it nets against. A short-term loss
first cancels short-term gains (taxed at ordinary rates), then long-term gains (taxed at the lower long-term
rate), then up to $3,000 of ordinary income, and anything left is a carryforward whose benefit comes in a
later year and is discounted. A long-term loss goes to long-term gains first, then short-term gains, then the same
allowance and carryforward. Rather than re-implement that order, the value here is the difference between the
year's capital-gains tax with and without the sale, each figured by the Schedule D netting in
``directindex.tax.schedule_d``, so the two can never disagree.

The taxable-income lines of the carryover worksheet are not applied (taxable income is taken as large),
and the figures are the federal-plus-state marginal rates passed in: a linear model around the household's bracket.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations

import numpy as np
import numpy.typing as npt

from directindex.ledger.records import Term
from directindex.tax.rates import TaxRates
from directindex.tax.schedule_d import ScheduleD, schedule_d
from directindex.tax.status import FilingStatus

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class CapitalPosition:
    """A household's capital figures for the year so far, before the sale being valued.

    ``short_term``/``long_term`` are gains (positive) and losses (negative) realized in the book;
    ``outside_*`` those realized elsewhere (other accounts, fund distributions); carryovers are positive
    amounts of loss carried in from last year.
    """

    filing_status: FilingStatus
    short_term: Decimal = ZERO
    long_term: Decimal = ZERO
    carryover_short: Decimal = ZERO
    carryover_long: Decimal = ZERO
    outside_short_term: Decimal = ZERO
    outside_long_term: Decimal = ZERO

    def __post_init__(self) -> None:
        if not isinstance(self.filing_status, FilingStatus):
            object.__setattr__(self, "filing_status", FilingStatus(self.filing_status))
        if self.carryover_short < 0 or self.carryover_long < 0:
            raise ValueError("carryovers are positive amounts of loss")

    def plus(self, term: Term, gain_loss: Decimal) -> CapitalPosition:
        """The position after realizing ``gain_loss`` of character ``term``."""
        # Built directly rather than by ``dataclasses.replace``: a pass moves the position once per lot.
        short, long = self.short_term, self.long_term
        if Term(term) is Term.SHORT:
            short = short + gain_loss
        else:
            long = long + gain_loss
        return CapitalPosition(self.filing_status, short, long, self.carryover_short, self.carryover_long,
                               self.outside_short_term, self.outside_long_term)

    def schedule_d(self) -> ScheduleD:
        return schedule_d(
            self.short_term + self.outside_short_term,
            self.long_term + self.outside_long_term,
            self.filing_status,
            carryover_short=self.carryover_short,
            carryover_long=self.carryover_long,
        )


def _check(rates: TaxRates, carryforward_discount: Decimal, carryforward_rate: Decimal | None) -> None:
    if not ZERO <= carryforward_discount <= ONE:
        raise ValueError(f"carryforward discount {carryforward_discount} is not in [0, 1]")
    if carryforward_rate is not None and not ZERO <= carryforward_rate < ONE:
        raise ValueError(f"carryforward rate {carryforward_rate} is not a fraction in [0, 1)")


def capital_tax(
    position: CapitalPosition,
    rates: TaxRates,
    carryforward_discount: Decimal,
    *,
    carryforward_rate: Decimal | None = None,
) -> Decimal:
    """The year's tax on its net capital gain, less the value of a net loss (so it can be negative).

    A gain: the net capital gain (smaller of lines 15 and 16) at the long-term rate, the rest of line 16
    at the short-term rate. A loss: the line 21 allowance at the ordinary rate, plus the carryovers out at
    ``carryforward_rate`` (default: each at the rate of its own character) times ``carryforward_discount``.
    """
    _check(rates, carryforward_discount, carryforward_rate)
    d = position.schedule_d()
    if d.total > 0:
        long_part = d.net_capital_gain
        return (d.total - long_part) * rates.short_term + long_part * rates.long_term
    st_rate = rates.short_term if carryforward_rate is None else carryforward_rate
    lt_rate = rates.long_term if carryforward_rate is None else carryforward_rate
    carried = d.carryover_short_term * st_rate + d.carryover_long_term * lt_rate
    return d.allowed_loss * rates.ordinary - carryforward_discount * carried


def _net_tax(
    short_term: Decimal, long_term: Decimal, position: CapitalPosition, rates: TaxRates,
    carryforward_discount: Decimal, carryforward_rate: Decimal | None,
) -> Decimal:
    """``capital_tax`` of ``position`` with its book figures replaced by ``short_term``/``long_term``.

    The same Decimal operations as ``schedule_d`` (taxable income not given) followed by ``capital_tax``,
    line for line and in the same order, without building the two records: the harvest pass values one
    candidate lot after another against a changing position, and the records were most of its time. A
    property test holds it equal (value and exponent) to the ``schedule_d`` route.
    """
    line_7 = (short_term + position.outside_short_term) - position.carryover_short
    line_15 = (long_term + position.outside_long_term) - position.carryover_long
    line_16 = line_7 + line_15
    if line_16 > 0:
        long_part = max(min(line_15, line_16), ZERO)
        return (line_16 - long_part) * rates.short_term + long_part * rates.long_term
    line_21 = max(line_16, -position.filing_status.capital_loss_limit) if line_16 < 0 else ZERO
    line_4 = -line_21  # worksheet line 2; line 4 equals it when taxable income is not given
    line_5 = ZERO
    carry_short = carry_long = ZERO
    if line_7 < 0:
        line_5 = -line_7
        line_8 = max(line_5 - (line_4 + max(line_15, ZERO)), ZERO)
        carry_short = line_8 or ZERO
    if line_15 < 0:
        line_13 = max(-line_15 - (max(line_7, ZERO) + max(line_4 - line_5, ZERO)), ZERO)
        carry_long = line_13 or ZERO
    st_rate = rates.short_term if carryforward_rate is None else carryforward_rate
    lt_rate = rates.long_term if carryforward_rate is None else carryforward_rate
    carried = carry_short * st_rate + carry_long * lt_rate
    return line_21 * rates.ordinary - carryforward_discount * carried


class PositionValuer:
    """``tax_value`` of many candidate sales against one position: its own tax figured once.

    ``value(term, gain_loss)`` equals ``tax_value(position, term, gain_loss, rates, discount, ...)``
    exactly (same Decimal, same exponent); the pass makes a new valuer when it accepts a loss.
    """

    __slots__ = ("position", "rates", "discount", "carryforward_rate", "base")

    def __init__(self, position: CapitalPosition, rates: TaxRates, carryforward_discount: Decimal, *,
                 carryforward_rate: Decimal | None = None):
        _check(rates, carryforward_discount, carryforward_rate)
        self.position = position
        self.rates = rates
        self.discount = carryforward_discount
        self.carryforward_rate = carryforward_rate
        self.base = _net_tax(position.short_term, position.long_term, position, rates, carryforward_discount,
                             carryforward_rate)

    def value(self, term: Term, gain_loss: Decimal) -> Decimal:
        """Tax saved by realizing ``gain_loss`` (signed) of character ``term``; see ``tax_value``."""
        p = self.position
        if Term(term) is Term.SHORT:
            st, lt = p.short_term + gain_loss, p.long_term
        else:
            st, lt = p.short_term, p.long_term + gain_loss
        return self.base - _net_tax(st, lt, p, self.rates, self.discount, self.carryforward_rate)

    def loss_value(self, term: Term, loss: Decimal) -> Decimal:
        """Tax saved by harvesting ``loss`` (a positive amount); see ``loss_tax_value``."""
        if loss < 0:
            raise ValueError(f"a loss is a positive amount here, not {loss}")
        return self.value(term, -loss)


def tax_value(
    position: CapitalPosition,
    term: Term,
    gain_loss: Decimal,
    rates: TaxRates,
    carryforward_discount: Decimal,
    *,
    carryforward_rate: Decimal | None = None,
) -> Decimal:
    """Tax saved by realizing ``gain_loss`` (signed, as on Form 8949) of character ``term`` now.

    Positive for a loss that saves tax; negative for a gain, whose tax cost it is.
    """
    without = capital_tax(position, rates, carryforward_discount, carryforward_rate=carryforward_rate)
    with_sale = capital_tax(
        position.plus(term, gain_loss), rates, carryforward_discount, carryforward_rate=carryforward_rate
    )
    return without - with_sale


def loss_tax_value(
    position: CapitalPosition,
    term: Term,
    loss: Decimal,
    rates: TaxRates,
    carryforward_discount: Decimal,
    *,
    carryforward_rate: Decimal | None = None,
) -> Decimal:
    """Tax saved by harvesting a loss of ``loss`` (a positive amount) of character ``term``."""
    if loss < 0:
        raise ValueError(f"a loss is a positive amount here, not {loss}")
    return tax_value(position, term, -loss, rates, carryforward_discount, carryforward_rate=carryforward_rate)


def tax_values(
    position: CapitalPosition,
    term: Term,
    gain_losses: npt.ArrayLike,
    rates: TaxRates,
    carryforward_discount: Decimal,
    *,
    carryforward_rate: Decimal | None = None,
) -> npt.NDArray[np.float64]:
    """``tax_value`` for many candidate sales at once, as floats, for scans over every lot.

    The tax is continuous and piecewise linear in the amount realized, with kinks only where line 7,
    line 15, line 16 or a worksheet line crosses zero or the loss limit. It is figured exactly (in
    Decimal) at those kinks and at the ends of the range, and interpolated linearly between them, which is
    exact.
    """
    x = np.asarray(gain_losses, dtype=np.float64)
    if x.size == 0:
        return np.zeros(x.shape)
    d = position.schedule_d()
    short = Term(term) is Term.SHORT
    own, other = (d.net_short_term, d.net_long_term) if short else (d.net_long_term, d.net_short_term)
    limit = position.filing_status.capital_loss_limit
    # The worksheet's lines are max/min of sums of these parts, so every kink in the sale's own net figure
    # lies at minus a subset sum of them; extra points are harmless to an exact interpolation.
    parts = (other, max(other, ZERO), min(other, ZERO), limit)
    sums = {sum(c, ZERO) for r in range(len(parts) + 1) for c in combinations(parts, r)}
    kinks = {-s - own for s in sums}
    lo = Decimal(repr(float(x.min()))) - ONE
    hi = Decimal(repr(float(x.max()))) + ONE
    points = sorted({lo, hi, ZERO, *(k for k in kinks if lo < k < hi)})

    def value(a: Decimal) -> float:
        return float(tax_value(position, term, a, rates, carryforward_discount, carryforward_rate=carryforward_rate))

    return np.interp(x, [float(p) for p in points], [value(p) for p in points])
