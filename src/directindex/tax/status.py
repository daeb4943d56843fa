"""Filing status: the one fact about a household that every federal table is keyed by.

Brackets, the long-term capital-gains thresholds, the net investment income tax threshold and the $3,000
capital-loss allowance all depend on how the return is filed. Married couples filing separately get half
of most of them, which is why the allowance is $1,500 for them (IRC 1211(b)).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class FilingStatus(StrEnum):
    SINGLE = "single"
    MARRIED_FILING_JOINTLY = "married_filing_jointly"
    MARRIED_FILING_SEPARATELY = "married_filing_separately"
    HEAD_OF_HOUSEHOLD = "head_of_household"

    @property
    def capital_loss_limit(self) -> Decimal:
        """The most net capital loss deductible against other income in a year (IRC 1211(b), line 21)."""
        return Decimal(1500) if self is FilingStatus.MARRIED_FILING_SEPARATELY else Decimal(3000)
