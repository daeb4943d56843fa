"""One derived view of the stored book as of a date, indexed by account and household.

Pending orders (the newest ``pending.csv``, less those since booked) come with the policy, as the
harvest engine reads them, and are also indexed by household for the workflow's own checks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from directindex.ledger import LedgerResult
from directindex.ledger.records import Account, Lot, Relief, Security, Transaction
from directindex.store.repo import read_book
from directindex.workflow.derive import derive
from directindex.workflow.proposer import ProposalContext


@dataclass(frozen=True)
class BookView:
    as_of: date
    accounts: dict[str, Account]
    securities: dict[str, Security]
    transactions: list[Transaction]
    policy: dict[str, Any]
    ledger: LedgerResult
    lots_by_account: dict[str, tuple[Lot, ...]]
    households: dict[str, tuple[Account, ...]]
    tx_by_household: dict[str, tuple[Transaction, ...]]
    reliefs_by_household: dict[str, tuple[Relief, ...]]
    pending_by_household: dict[str, tuple[dict[str, Any], ...]]

    @classmethod
    def build(cls, conn: Connection, as_of: date) -> BookView:
        accounts, securities, transactions, policy = read_book(conn)
        known = [t for t in transactions if t.date <= as_of]
        ledger = derive(known, accounts, securities, as_of=as_of)
        lots: dict[str, list[Lot]] = defaultdict(list)
        for lot in ledger.lots:
            lots[lot.account].append(lot)
        households: dict[str, list[Account]] = defaultdict(list)
        for a in accounts.values():
            households[a.household].append(a)
        hh_of = {a.account: a.household for a in accounts.values()}
        txs: dict[str, list[Transaction]] = defaultdict(list)
        for t in known:
            if t.account in hh_of:
                txs[hh_of[t.account]].append(t)
        reliefs: dict[str, list[Relief]] = defaultdict(list)
        for r in ledger.reliefs:
            reliefs[hh_of.get(r.account, "")].append(r)
        pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for o in (policy or {}).get("pending") or []:
            if o.get("account") in hh_of:
                pending[hh_of[o["account"]]].append(dict(o))
        return cls(as_of, accounts, securities, known, policy or {}, ledger,
                   {k: tuple(v) for k, v in lots.items()}, {k: tuple(v) for k, v in households.items()},
                   {k: tuple(v) for k, v in txs.items()}, {k: tuple(v) for k, v in reliefs.items()},
                   {k: tuple(v) for k, v in pending.items()})

    def context(self, account: str, prices: Mapping[str, Decimal]) -> ProposalContext:
        a = self.accounts[account]
        hh = self.households[a.household]
        return ProposalContext(
            as_of=self.as_of, account=a, household=hh, lots=self.lots_by_account.get(account, ()),
            household_lots=tuple(lot for h in hh for lot in self.lots_by_account.get(h.account, ())),
            household_transactions=self.tx_by_household.get(a.household, ()),
            household_reliefs=self.reliefs_by_household.get(a.household, ()),
            securities=self.securities, prices=prices, policy=self.policy,
            pending=self.pending_by_household.get(a.household, ()))
