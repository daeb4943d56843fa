"""What the daily run asks for: a proposal of trades for one account, with the evidence behind each.

``Proposer`` is the interface the daily run calls; the harvest engine plugs in behind it. The
``LossHarvestProposer`` here is a small real proposer, not a stand-in: it sells every lot of a taxable
account whose unrealized loss passes the account's threshold, unless substantially identical stock was
acquired in any account of the household within the last 30 days (the sale would be a wash sale), and
reports the household's restricted list. A pending buy of the group in the household blocks the sale
too. It proposes no replacement purchases; the daily run's default is the harvest engine
(:mod:`directindex.workflow.harvest_engine`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol

from directindex.ledger.records import Account, Lot, Relief, Security, Term, Transaction
from directindex.workflow.guard import WASH_DAYS, excluding, index_acquisitions, lot_roots

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    account: str
    side: str
    symbol: str
    quantity: Decimal
    lot: str | None
    reason: str
    price: Decimal | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def notional(self) -> Decimal:
        return self.quantity * (self.price or ZERO)


@dataclass(frozen=True, slots=True)
class Blocked:
    account: str
    symbol: str
    lot: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Restricted:
    household: str
    symbol: str
    sold_on: date
    expires: date


@dataclass(frozen=True, slots=True)
class ProposalDraft:
    trades: tuple[Trade, ...] = ()
    blocked: tuple[Blocked, ...] = ()
    restricted: tuple[Restricted, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProposalContext:
    """Everything a proposer may look at for one account on one day (read-only)."""

    as_of: date
    account: Account
    household: tuple[Account, ...]
    lots: tuple[Lot, ...]
    household_lots: tuple[Lot, ...]
    household_transactions: tuple[Transaction, ...]
    household_reliefs: tuple[Relief, ...]
    securities: Mapping[str, Security]
    prices: Mapping[str, Decimal]
    policy: Mapping[str, Any]
    pending: tuple[Mapping[str, Any], ...] = ()  # the household's pending orders (``pending.csv`` rows)

    def group(self, symbol: str) -> str:
        sec = self.securities.get(symbol)
        return sec.group if sec else symbol

    def account_policy(self, section: str) -> dict[str, Any]:
        """A policy section for this account: firm-wide ``[section]`` overridden by ``[accounts.X.section]``."""
        merged: dict[str, Any] = dict(self.policy.get(section, {}) or {})
        acct = ((self.policy.get("accounts") or {}).get(self.account.account) or {})
        merged.update(acct.get(section, {}) or {})
        return merged


class Proposer(Protocol):
    """Proposes trades for one account; must not write anything (the run stores what it returns).

    A proposer that works on the whole book at once (the harvest engine) also has
    ``prepare(view, prices)``, which the daily run calls once before asking account by account.
    """

    @property
    def name(self) -> str: ...

    def __call__(self, ctx: ProposalContext) -> ProposalDraft: ...


def pending_buys(ctx: ProposalContext, group: str) -> list[Mapping[str, Any]]:
    """Pending buys of ``group`` anywhere in the household: each would wash a loss sale made now."""
    return [o for o in ctx.pending if o.get("side") == "buy" and ctx.group(str(o.get("symbol"))) == group]


def restricted_list(ctx: ProposalContext) -> tuple[Restricted, ...]:
    """Groups sold at a loss in the household in the last 30 days: not to be bought until expiry."""
    out: dict[str, Restricted] = {}
    for r in ctx.household_reliefs:
        if r.donated or r.gain_loss >= 0:
            continue
        expires = r.date_sold + timedelta(days=WASH_DAYS + 1)
        if r.date_sold <= ctx.as_of < expires:
            g = ctx.group(r.symbol)
            if g not in out or out[g].expires < expires:
                out[g] = Restricted(ctx.account.household, g, r.date_sold, expires)
    return tuple(sorted(out.values(), key=lambda e: (e.expires, e.symbol)))


@dataclass(frozen=True, slots=True)
class LossHarvestProposer:
    """Sell lots down more than the threshold, unless a recent household purchase would wash the loss.

    Settings come from ``[harvest]`` / ``[accounts.X.harvest]``: ``loss_threshold`` (fraction of basis,
    default 0.02), ``min_loss`` (dollars, default 0) and ``min_days`` (days since purchase, default 0).
    """

    name: str = "loss-threshold"

    def __call__(self, ctx: ProposalContext) -> ProposalDraft:
        restricted = restricted_list(ctx)
        if not ctx.account.taxable:
            return ProposalDraft(restricted=restricted, summary={"note": "tax-advantaged account: no harvest"})
        settings = ctx.account_policy("harvest")
        threshold = Decimal(str(settings.get("loss_threshold", "0.02")))
        min_loss = Decimal(str(settings.get("min_loss", "0")))
        min_days = int(settings.get("min_days", 0))
        window = (ctx.as_of - timedelta(days=WASH_DAYS), ctx.as_of)
        household_ids = [a.account for a in ctx.household]
        recent = index_acquisitions(ctx.household_transactions, ctx.household, ctx.securities, window)
        trades: list[Trade] = []
        blocked: list[Blocked] = []
        short = long = ZERO
        for lot in sorted(ctx.lots, key=lambda x: (x.symbol, x.lot)):
            price = ctx.prices.get(lot.symbol)
            if price is None:
                continue
            value = lot.quantity * price
            loss = lot.basis - value
            if loss <= 0 or loss < threshold * lot.basis or loss < min_loss:
                continue
            acct = ctx.account.account
            if (ctx.as_of - lot.acquired).days < min_days:
                blocked.append(Blocked(acct, lot.symbol, lot.lot, f"held {(ctx.as_of - lot.acquired).days} days, "
                                                                 f"policy minimum is {min_days}"))
                continue
            hits = excluding(recent.get(ctx.group(lot.symbol), ()), (acct, lot_roots(lot.lot)))
            waiting = pending_buys(ctx, ctx.group(lot.symbol))
            if waiting:
                o = waiting[0]
                blocked.append(Blocked(acct, lot.symbol, lot.lot,
                                       f"pending buy order {o.get('id')} of {o.get('quantity')} shares of "
                                       f"{o.get('symbol')} in account {o.get('account')}"))
                continue
            if hits:
                t = hits[0]
                blocked.append(Blocked(acct, lot.symbol, lot.lot,
                                       f"bought {t.quantity} shares of {t.symbol} in account {t.account} on "
                                       f"{t.date} ({t.action.value}) within 30 days before {ctx.as_of}"))
                continue
            term = Term.LONG if ctx.as_of >= lot.long_term_on else Term.SHORT
            if term is Term.LONG:
                long += loss
            else:
                short += loss
            trades.append(Trade(acct, "sell", lot.symbol, lot.quantity, lot.lot, "harvest", price, {
                "lot": lot.lot, "acquired": lot.acquired, "quantity": lot.quantity, "basis": lot.basis,
                "price": price, "value": value, "unrealized": -loss, "term": term.value,
                "long_term_on": lot.long_term_on,
                "wash_window": {"from": window[0], "to": window[1], "group": ctx.group(lot.symbol),
                                "accounts_checked": household_ids, "acquisitions_found": 0},
            }))
        account_value = sum((lot.quantity * ctx.prices.get(lot.symbol, ZERO) for lot in ctx.lots), ZERO)
        return ProposalDraft(tuple(trades), tuple(blocked), restricted, {
            "harvested_short_term": short, "harvested_long_term": long,
            "realized_gain": sum((max(ZERO, t.evidence.get("unrealized", ZERO)) for t in trades), ZERO),
            "notional": sum((t.notional for t in trades), ZERO), "account_value": account_value,
        })


def as_sequence(draft: ProposalDraft) -> Sequence[Trade]:
    return draft.trades
