"""What a harvest pass hands back: a proposal of trades with their evidence, nothing executed.

Every record is frozen and slotted. Money on trades is ``Decimal`` (the ledger books them); figures that
come from float analytics (tax value, tracking error) are floats. ``HarvestProposal.transactions`` turns
the trades into ledger ``Transaction`` rows so a backtest, a test or the daily run can book them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from directindex.ledger.records import Action, Term, Transaction

ZERO = Decimal(0)


class Reason(StrEnum):
    HARVEST = "harvest"
    REPLACEMENT = "replacement"
    SWAP_BACK = "swap_back"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class WashCheck:
    """One wash-sale check a trade passed, with the window and the scope looked at.

    ``rule`` is one of ``recent_purchase`` (no substantially identical shares acquired in
    ``window_from..window_to`` and still held, in any household account), ``pending_order`` (no pending
    buy of the group in the household), ``restricted`` (a buy: the group was not sold at a loss in the
    household in ``window_from..window_to``).
    """

    rule: str
    group: str
    window_from: date
    window_to: date
    accounts: tuple[str, ...]
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "group": self.group, "window_from": self.window_from,
                "window_to": self.window_to, "accounts": list(self.accounts), "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why a trade is proposed: the lot, its unrealized loss and term, the tax value, the checks, TE."""

    lot: str | None = None
    acquired: date | None = None
    basis: Decimal | None = None
    market_value: Decimal | None = None
    unrealized: Decimal | None = None  # negative: a loss
    term: Term | None = None
    tax_value: float | None = None
    wash_checks: tuple[WashCheck, ...] = ()
    tracking_error_before: float | None = None
    tracking_error_after: float | None = None
    replaces: tuple[str, ...] = ()  # for a replacement: the symbols sold; for a harvest: its replacements
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "lot": self.lot, "acquired": self.acquired, "basis": self.basis, "market_value": self.market_value,
            "unrealized": self.unrealized, "term": self.term.value if self.term else None,
            "tax_value": None if self.tax_value is None else round(self.tax_value, 2),
            "wash_checks": [c.as_dict() for c in self.wash_checks],
            "tracking_error_before": self.tracking_error_before,
            "tracking_error_after": self.tracking_error_after,
            "replaces": list(self.replaces), "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class HarvestTrade:
    """One proposed order. Sells name their lot; trades are to execute in the proposal's order."""

    account: str
    side: Side
    symbol: str
    quantity: Decimal
    price: Decimal
    reason: Reason
    lot: str | None = None
    evidence: Evidence = field(default_factory=Evidence)

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"trade quantity must be positive, not {self.quantity}")
        if self.side is Side.SELL and not self.lot:
            raise ValueError("a harvest sell names its lot")

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "side": self.side.value, "symbol": self.symbol,
                "quantity": self.quantity, "price": self.price, "lot": self.lot, "reason": self.reason.value,
                "notional": self.notional.quantize(Decimal("0.01")), "evidence": self.evidence.as_dict()}


@dataclass(frozen=True, slots=True)
class Blocked:
    """A candidate lot the pass did not harvest, and why, in words a client reads."""

    account: str
    lot: str
    symbol: str
    unrealized: Decimal
    term: Term
    cause: str  # recent_purchase | pending_order | min_days | not_worth_it | target_met
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "lot": self.lot, "symbol": self.symbol, "unrealized": self.unrealized,
                "term": self.term.value, "cause": self.cause, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RestrictedEntry:
    """Do not buy ``group`` (any of ``symbols``) in any account of ``household`` before ``expires``.

    ``sold_on`` is the latest loss sale of the group in the household (from the book, or proposed now);
    ``expires = sold_on + 31 days`` is the first day a purchase is outside the 30-day window.
    """

    household: str
    group: str
    symbols: tuple[str, ...]
    sold_on: date
    expires: date
    source: str  # "book" (a loss sale already booked) or "proposal" (a sale proposed in this pass)

    def as_dict(self) -> dict[str, Any]:
        return {"household": self.household, "group": self.group, "symbols": list(self.symbols),
                "sold_on": self.sold_on, "expires": self.expires, "source": self.source}


@dataclass(frozen=True, slots=True)
class Warning:
    """Something to act on outside the proposal (turn off dividend reinvestment, ...)."""

    code: str
    household: str
    account: str
    symbol: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "household": self.household, "account": self.account, "symbol": self.symbol,
                "message": self.message}


@dataclass(frozen=True, slots=True)
class HarvestSummary:
    harvested_short_term: Decimal = ZERO  # positive amounts of loss
    harvested_long_term: Decimal = ZERO
    estimated_tax_value: float = 0.0
    tracking_error_before: float | None = None  # value-weighted mean over the accounts traded
    tracking_error_after: float | None = None
    candidates: int = 0
    lots_scanned: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"harvested_short_term": self.harvested_short_term, "harvested_long_term": self.harvested_long_term,
                "estimated_tax_value": round(self.estimated_tax_value, 2),
                "tracking_error_before": self.tracking_error_before,
                "tracking_error_after": self.tracking_error_after,
                "candidates": self.candidates, "lots_scanned": self.lots_scanned}


@dataclass(frozen=True)
class HarvestProposal:
    """One pass's result, as of a date: trades in execution order, blocked candidates, restricted list."""

    as_of: date
    trades: tuple[HarvestTrade, ...]
    blocked: tuple[Blocked, ...]
    restricted: tuple[RestrictedEntry, ...]
    warnings: tuple[Warning, ...]
    summary: HarvestSummary
    tracking_error: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def transactions(self, prefix: str = "H", on: date | None = None) -> list[Transaction]:
        """The trades as ledger rows (ids ``{prefix}{as_of}-{n}``), dated ``on`` (default ``as_of``).

        Buys get lot id = the row id, so a later swap-back or sale can name it.
        """
        day = on or self.as_of
        out = []
        for n, t in enumerate(self.trades, start=1):
            tid = f"{prefix}{day.isoformat()}-{n}"
            action = Action.BUY if t.side is Side.BUY else Action.SELL
            out.append(Transaction(tid, day, t.account, action, t.symbol, t.quantity, t.price, ZERO,
                                   t.lot if t.side is Side.SELL else None))
        return out

    def as_dict(self) -> dict[str, Any]:
        """The JSON contract: exactly ``trades``, ``blocked``, ``restricted``, ``summary`` (warnings inside it)."""
        summary = self.summary.as_dict()
        summary["warnings"] = [w.as_dict() for w in self.warnings]
        summary["tracking_error_by_account"] = {
            a: {"before": b, "after": x} for a, (b, x) in self.tracking_error.items()
        }
        return {
            "trades": [t.as_dict() for t in self.trades],
            "blocked": [b.as_dict() for b in self.blocked],
            "restricted": [r.as_dict() for r in self.restricted],
            "summary": summary,
        }
