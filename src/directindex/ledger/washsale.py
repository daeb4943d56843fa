"""The wash-sale rule: which purchases replace a loss sale, and what they absorb.

IRC 1091 disallows a loss on stock sold when substantially identical stock is acquired within 30 days
before or after the sale (a 61-day window). How this module reads the rule, with its sources:

* Scope: acquisitions in *any* account of the household (the spouse included: Pub 550, "Wash Sales"),
  of any symbol in the sold symbol's identical group (GOOG/GOOGL, a policy group of S&P 500 funds).
  Purchases and dividend reinvestments count; a transfer of an existing lot is not an acquisition.
* Order: replacement shares are matched in the order they were acquired, beginning with the first
  (Pub 550, "More or less stock bought than sold"; Treas. Reg. 1.1091-1(c), (d)). A partial replacement
  washes only the matched shares (Treas. Reg. 1.1091-1(h), Example 2). A replacement share absorbs at
  most one loss (Treas. Reg. 1.1091-1(e)): loss sales are processed in the order sold, earliest
  first (Treas. Reg. 1.1091-1(b)).
* Never a replacement: shares of the very lot sold (Rev. Rul. 56-602: the rest of a lot bought within
  30 days does not wash the sale of part of it); and shares no longer held when the loss sale
  happens (sold or donated before it, or relieved by the same sale). Only shares still held after
  the sale, or bought after it, can carry the deferred loss forward; this keeps every disallowed loss
  attached to a lot that exists, and is how brokers report under Treas. Reg. 1.6045-1(d)(6)(iii).
* Effect: the disallowed loss is added to the replacement's basis (Treas. Reg. 1.1091-2(a)) and the
  sold shares' holding period is tacked onto the replacement's (IRC 1223(3)). When the replacement
  sits in an IRA, Roth IRA or 401(k) the loss is disallowed and no basis moves: it is gone for good
  (Rev. Rul. 2008-5). Gains are never washed.
* History: a later purchase can wash an earlier sale, so matching looks forward over the whole
  transaction history; a match against a purchase that has not been booked yet is held as *pending*
  and applied when the purchase is booked.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from directindex.ledger.records import Account, Action, Security, Transaction

WINDOW_DAYS = 30
_WINDOW = timedelta(days=WINDOW_DAYS)
_BUY, _REINVEST = Action.BUY, Action.REINVEST  # the acquisitions (Action.acquires), tested by identity
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class PendingMatch:
    """Shares of a not-yet-booked purchase already matched to an earlier loss sale."""

    part: str
    quantity: Decimal
    disallowed: Decimal
    holding_start: date
    permanent: bool


@dataclass(slots=True)
class Acquisition:
    """A purchase that may replace a loss sale: where, when, how many shares, in booking order."""

    date: date
    seq: int
    account: str
    tax_advantaged: bool
    lot: str
    quantity: Decimal
    transaction: str
    pending: list[PendingMatch] = field(default_factory=list)
    pending_quantity: Decimal = _ZERO


def index_maps(accounts: Mapping[str, Account],
               securities: Mapping[str, Security]) -> tuple[dict[str, str], dict[str, str], dict[str, bool]]:
    """What ``ReplacementIndex`` reads of the accounts and securities: households, groups, tax status."""
    return ({a: acct.household for a, acct in accounts.items()}, {s: sec.group for s, sec in securities.items()},
            {a: acct.type.tax_advantaged for a, acct in accounts.items()})


class ReplacementIndex:
    """Every purchase of the history, grouped by (household, identical group), in acquisition order.

    Built lazily: a group's purchases become ``Acquisition`` records only when a loss sale first looks
    at that group, so histories with few losses pay little for the index.
    """

    def __init__(
        self,
        ordered: Iterable[tuple[int, Transaction]],
        households: Mapping[str, str],
        groups: Mapping[str, str],
        tax_advantaged: Mapping[str, bool],
    ):
        """Index the purchases among ``ordered`` (rows in booking order).

        ``households``: account -> household; ``groups``: symbol -> identical group (a symbol not in
        it is its own group); ``tax_advantaged``: account -> whether it is (see ``index_maps``).
        """
        self._groups = groups
        self._households = households
        self._tax_advantaged = tax_advantaged
        raw: dict[tuple[str, str], list[tuple[int, Transaction]]] = {}
        buy, reinvest = _BUY, _REINVEST
        for item in ordered:
            tx = item[1]
            action = tx.action
            if action is buy or action is reinvest:
                household = households.get(tx.account)
                if household is not None:
                    key = (household, groups.get(tx.symbol, tx.symbol))
                    rows = raw.get(key)
                    if rows is None:
                        raw[key] = [item]
                    else:
                        rows.append(item)
        self._raw = raw
        self._built: dict[tuple[str, str], tuple[list[date], list[Acquisition]]] = {}
        self.pending: dict[tuple[str, str], Acquisition] = {}

    def group(self, symbol: str) -> str:
        return self._groups.get(symbol, symbol)

    def household(self, account: str) -> str:
        return self._households[account]

    def _entry(self, key: tuple[str, str]) -> tuple[list[date], list[Acquisition]] | None:
        entry = self._built.get(key)
        if entry is None:
            rows = self._raw.get(key)
            if rows is None:
                return None
            tax_advantaged = self._tax_advantaged
            acqs = [
                Acquisition(tx.date, seq, tx.account, tax_advantaged[tx.account], tx.lot or tx.id, tx.quantity, tx.id)
                for seq, tx in rows
            ]
            entry = ([a.date for a in acqs], acqs)
            self._built[key] = entry
        return entry

    def window(self, account: str, symbol: str, day: date) -> list[Acquisition]:
        """Purchases of the identical group in the household from 30 days before to 30 days after."""
        key = (self._households[account], self._groups.get(symbol, symbol))
        entry = self._built.get(key) or self._entry(key)
        if entry is None:
            return []
        dates, acqs = entry
        lo = bisect.bisect_left(dates, day - _WINDOW)
        hi = bisect.bisect_right(dates, day + _WINDOW)
        return acqs[lo:hi]

    def add_pending(self, acq: Acquisition, match: PendingMatch) -> None:
        """Hold a match against a purchase not booked yet; applied when that purchase is booked."""
        acq.pending.append(match)
        acq.pending_quantity += match.quantity
        self.pending[(acq.account, acq.lot)] = acq


def match_replacements(
    candidates: Iterable[Acquisition],
    quantity: Decimal,
    sale_seq: int,
    sold_account: str,
    sold_lot: str,
    held_unabsorbed: Callable[[Acquisition], Decimal],
) -> list[tuple[Acquisition, Decimal]]:
    """Match ``quantity`` loss shares to replacement shares, first acquired first.

    A purchase booked before the sale offers the shares of it still held and not yet a replacement
    (``held_unabsorbed``); a later purchase offers its shares not already matched to an earlier loss.
    """
    out: list[tuple[Acquisition, Decimal]] = []
    remaining = quantity
    for acq in candidates:
        if remaining <= 0:
            break
        if acq.account == sold_account and acq.lot == sold_lot:
            continue  # shares of the very lot sold never replace it
        available = held_unabsorbed(acq) if acq.seq < sale_seq else acq.quantity - acq.pending_quantity
        if available <= 0:
            continue
        m = min(available, remaining)
        out.append((acq, m))
        remaining -= m
    return out
