"""What a construction or rebalance hands back: frozen records the CLI renders and the ledger can book."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Trade:
    """One order: a buy of a symbol, or a sale of shares of one named lot."""

    account: str
    symbol: str
    side: str  # "buy" or "sell"
    quantity: Decimal
    price: float
    lot: str | None = None
    estimated_gain: float = 0.0
    term: str | None = None
    estimated_tax: float = 0.0

    @property
    def value(self) -> float:
        return float(self.quantity) * self.price

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "price": self.price,
            "value": round(self.value, 2),
            "lot": self.lot,
            "estimated_gain": round(self.estimated_gain, 2),
            "term": self.term,
            "estimated_tax": round(self.estimated_tax, 2),
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the owner or adviser should see: a code, a sentence, and the figure against its limit."""

    code: str
    message: str
    value: float | None = None
    limit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "value": self.value, "limit": self.limit}


@dataclass(frozen=True, slots=True)
class ActiveConstraint:
    """A constraint the chosen portfolio sits on (so it is what keeps tracking error from falling)."""

    name: str  # e.g. "exclusion", "sector_upper", "tilt_lower", "max_turnover", "gain_budget"
    detail: str  # the symbol, sector or factor
    value: float
    bound: float

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "detail": self.detail, "value": self.value, "bound": self.bound}


def grouped_active(active: tuple[ActiveConstraint, ...]) -> list[dict[str, Any]]:
    """One entry per binding constraint, so reports stay readable.

    A per-name bound that binds many names (an exclusion list, ``max_names``) becomes a single entry with
    its ``count`` and ``symbols``.
    """
    by_name: dict[str, list[ActiveConstraint]] = {}
    for c in active:
        by_name.setdefault(c.name, []).append(c)
    out: list[dict[str, Any]] = []
    for name, items in by_name.items():
        if len(items) == 1:
            out.append(items[0].as_dict())
        else:
            out.append({"name": name, "detail": f"{len(items)} names", "count": len(items),
                        "symbols": [c.detail for c in items]})
    return out


@dataclass(frozen=True, slots=True)
class Relaxation:
    """How far one constraint must move for the problem to become feasible."""

    constraint: str
    detail: str
    current: float
    needed: float

    def as_dict(self) -> dict[str, Any]:
        return {"constraint": self.constraint, "detail": self.detail, "current": self.current, "needed": self.needed}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Why a problem is infeasible and what would fix it.

    ``relaxations`` come from an elastic re-solve (every constraint given a penalized slack);
    ``drop_exclusions`` is the fewest exclusion rules found by greedy re-solves whose removal makes the
    problem feasible; ``needed_gain_budget`` / ``needed_te_budget`` are the budgets that would suffice.
    """

    feasible: bool
    message: str
    relaxations: tuple[Relaxation, ...] = ()
    drop_exclusions: tuple[str, ...] = ()
    needed_gain_budget: float | None = None
    needed_te_budget: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "feasible": self.feasible,
            "message": self.message,
            "relaxations": [r.as_dict() for r in self.relaxations],
            "drop_exclusions": list(self.drop_exclusions),
            "needed_gain_budget": self.needed_gain_budget,
            "needed_te_budget": self.needed_te_budget,
        }


def _frozen(m: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(m))


@dataclass(frozen=True)
class ConstructionResult:
    """Target weights, lot-level trades, and the figures that justify them.

    ``ex_ante_tracking_error`` (after) and ``tracking_error_before`` are recomputed with numpy from the
    risk model on the final weights; ``solver_tracking_error`` is what the solver's objective claimed,
    kept for comparison. ``status`` is ``optimal``, ``fallback_min_te`` (the budget could not be met
    together with the tax objective) or ``infeasible`` (weights are then the current holdings, unchanged).
    """

    account: str
    status: str
    weights: Mapping[str, float]
    cash_weight: float
    trades: tuple[Trade, ...]
    tracking_error_before: float
    ex_ante_tracking_error: float
    solver_tracking_error: float
    te_budget: float
    tax_cost: float
    realized_gain: float
    short_term_gain: float
    long_term_gain: float
    transaction_cost: float
    turnover: float
    account_value: float
    active_constraints: tuple[ActiveConstraint, ...] = ()
    alerts: tuple[Alert, ...] = ()
    diagnosis: Diagnosis | None = None
    solves: int = 0
    solve_seconds: float = 0.0
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _frozen(self.weights))

    @property
    def feasible(self) -> bool:
        return self.status != "infeasible"

    def as_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "status": self.status,
            "weights": {k: round(v, 8) for k, v in self.weights.items()},
            "cash_weight": round(self.cash_weight, 8),
            "ex_ante_tracking_error": self.ex_ante_tracking_error,
            "tracking_error_before": self.tracking_error_before,
            "solver_tracking_error": None if math.isnan(self.solver_tracking_error) else self.solver_tracking_error,
            "te_budget": self.te_budget,
            "active_constraints": grouped_active(self.active_constraints),
            "alerts": [a.as_dict() for a in self.alerts],
            "diagnosis": self.diagnosis.as_dict() if self.diagnosis else None,
            "trades": [t.as_dict() for t in self.trades],
            "tax_cost": round(self.tax_cost, 2),
            "realized_gain": round(self.realized_gain, 2),
            "short_term_gain": round(self.short_term_gain, 2),
            "long_term_gain": round(self.long_term_gain, 2),
            "transaction_cost": round(self.transaction_cost, 2),
            "turnover": self.turnover,
            "account_value": round(self.account_value, 2),
            "names": sum(1 for v in self.weights.values() if v > 0),
            "solves": self.solves,
        }
