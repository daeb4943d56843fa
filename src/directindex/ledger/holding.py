"""Holding periods: when a lot turns long-term, counted by the calendar.

A gain or loss is long-term when the asset was held *more than one year* (IRC 1222). The holding
period starts the day after acquisition (Rev. Rul. 66-7; Pub 550, "Holding Period"), so shares bought on
5 February are short-term if sold on 5 February of the next year and long-term from 6 February. A
lot bought on 29 February has its one-year anniversary on 28 February of the next year, so it turns
long-term on 1 March.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from directindex.ledger.records import Term


def anniversary(start: date) -> date:
    """The same calendar day one year later (28 February for a 29 February start)."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return date(start.year + 1, 2, 28)


@lru_cache(maxsize=65536)
def long_term_on(holding_start: date) -> date:
    """The first sale date on which shares held since ``holding_start`` are long-term."""
    return anniversary(holding_start) + timedelta(days=1)


def term(holding_start: date, sold: date) -> Term:
    return Term.LONG if sold >= long_term_on(holding_start) else Term.SHORT


def tacked_start(replacement_acquired: date, sold_holding_start: date, sold: date) -> date:
    """Holding-period start of a wash-sale replacement (IRC 1223(3); Treas. Reg. 1.1091-1(h) Ex. 3).

    The replacement's holding period includes the period the sold shares were held, so its start is
    moved back by that many days: ``replacement_acquired - (sold - sold_holding_start)``.
    """
    return replacement_acquired - (sold - sold_holding_start)
