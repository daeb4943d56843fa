"""The tax value of harvesting a loss for one household, as the pass adds loss after loss.

The value of a loss depends on what it nets against (short-term gains at ordinary rates first for a
short-term loss, then long-term gains, then the $3,000 ordinary-income allowance, the rest a discounted
carryforward). ``directindex.tax`` figures that by Schedule D netting; this module keeps the running
position of one household through a pass, so each lot is valued after the ones accepted before it.
The position's own tax is figured once per accepted loss (``PositionValuer``), not once per candidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from directindex.harvest.policy import HouseholdPolicy
from directindex.ledger.records import Relief, Term
from directindex.tax import CapitalPosition, TaxRates
from directindex.tax.value import PositionValuer

ZERO = Decimal(0)


class HouseholdTax:
    """A household's capital position for the year, updated as losses are harvested."""

    def __init__(self, policy: HouseholdPolicy, realized: Iterable[Relief], year: int):
        short = long = ZERO
        for r in realized:
            if r.term is Term.SHORT:
                short += r.gain_loss
            else:
                long += r.gain_loss
        self.rates: TaxRates = policy.rates(year)
        self.discount = policy.carryforward_discount
        self.position = CapitalPosition(
            policy.filing_status, short, long, policy.carryover_short, policy.carryover_long,
            policy.outside_short_term, policy.outside_long_term,
        )
        self._valuer: PositionValuer | None = None

    def net_gains(self) -> tuple[Decimal, Decimal]:
        """Short- and long-term gains realized this year so far (book plus outside), before this pass."""
        p = self.position
        return p.short_term + p.outside_short_term, p.long_term + p.outside_long_term

    def value(self, term: Term, loss: Decimal) -> Decimal:
        """Tax saved by harvesting ``loss`` (positive) now, given the losses accepted so far."""
        if self._valuer is None:
            self._valuer = PositionValuer(self.position, self.rates, self.discount)
        return self._valuer.loss_value(term, loss)

    def accept(self, term: Term, loss: Decimal) -> None:
        self.position = self.position.plus(term, -loss)
        self._valuer = None
