"""Replaying a proposal through the exact ledger: the proof that it washes nothing, not the planner's word."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal

from directindex.harvest import HarvestProposal
from directindex.ledger import Account, Action, LedgerResult, Security, Transaction, WashSale, book


def replay(accounts: Mapping[str, Account], securities: Mapping[str, Security], history: Sequence[Transaction],
           proposal: HarvestProposal, extra: Sequence[Transaction] = ()) -> tuple[LedgerResult, list[WashSale]]:
    """Book history + the proposal's trades (at the as-of date and prices) + ``extra``; the new wash sales."""
    before = book(history, accounts, securities).raise_errors()
    new = proposal.transactions() + list(extra)
    after = book([*history, *new], accounts, securities).raise_errors()
    old = {(w.sale_transaction, w.replacement_transaction, w.quantity) for w in before.wash_sales}
    fresh = [w for w in after.wash_sales if (w.sale_transaction, w.replacement_transaction, w.quantity) not in old]
    return after, fresh


def honour_restricted(accounts: Mapping[str, Account], proposal: HarvestProposal, prices: Mapping[str, Decimal],
                      pending: Sequence[tuple[str, str, Decimal]] = (), days: int = 30) -> list[Transaction]:
    """The next ``days`` days of buying everything the restricted list allows in every household account.

    Each day, every account buys one share of every priced symbol not restricted that day (a restricted
    symbol is bought on its expiry date, the first safe day), and dividend reinvestments of unrestricted
    names; pending orders fill on day 1.
    """
    out: list[Transaction] = []
    n = 0
    start = proposal.as_of
    restricted = {(e.household, s): e.expires for e in proposal.restricted for s in e.symbols}
    for acct, sym, qty in pending:
        n += 1
        out.append(Transaction(f"P{n}", start + timedelta(days=1), acct, Action.BUY, sym, qty, prices[sym]))
    for d in range(1, days + 2):
        day = start + timedelta(days=d)
        for a in sorted(accounts):
            hh = accounts[a].household
            for sym in sorted(prices):
                expires = restricted.get((hh, sym))
                if expires is not None:
                    if day != expires:
                        continue  # restricted until its expiry; bought on the first safe day
                elif d not in (1, 15, 29):
                    continue
                n += 1
                action = Action.REINVEST if d == 15 else Action.BUY
                out.append(Transaction(f"F{n}", day, a, action, sym, Decimal(1), prices[sym]))
    return out


def after_days(d: date, n: int) -> date:
    return d + timedelta(days=n)
