"""Objective and constraint terms of the tracking-error optimizer, each a small object over cvxpy Parameters.

A term builds its cvxpy expression (or constraints) once, over Parameters, in :meth:`build`; every
re-solve for a new account or a new day only calls :meth:`update` with a frozen :class:`SolveInputs`,
so the compiled problem is reused (cvxpy's DPP). Risk is in factor form: with ``a = w - b`` a variable
of its own, ``TE^2 = ||X a||^2 + ||sqrt(d) * a||^2`` where ``X = (B L)'`` (``L L' = F``).

Trades, when rebalancing: ``w = h + buy - sum_k sell[:, k]``; ``sell[i, k]`` is the weight sold from
segment ``k`` of name ``i``'s lots (see :mod:`directindex.construct.lots`), so the tax cost of sells is
the linear ``sum(tax * sell)`` over a convex piecewise-linear schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cvxpy as cp
import numpy as np

from directindex.market.risk import FloatArray

OFF = 4.0  # a bound that can never bind: weights, turnover and gain fractions all lie within [-2, 2]


@dataclass(frozen=True)
class SolveInputs:
    """Everything one solve needs, as arrays in the universe's symbol order (weights of account value)."""

    benchmark: FloatArray  # n
    holdings: FloatArray  # n, current weights (zeros when building from cash)
    lower: FloatArray  # n
    upper: FloatArray  # n
    invested: float  # 1 - cash target - weight held outside the universe
    factor_loadings: FloatArray  # k x n, X = (B L)'
    specific_sd: FloatArray  # n
    sector_lower: FloatArray  # g
    sector_upper: FloatArray  # g
    tilt_scores: FloatArray  # m x n
    tilt_lower: FloatArray  # m
    tilt_upper: FloatArray  # m
    lot_caps: FloatArray  # n x K
    lot_tax: FloatArray  # n x K, tax per unit weight sold (already times tax aversion)
    lot_gain: FloatArray  # n x K, gain per unit weight sold
    transaction_cost: FloatArray  # n, cost per unit weight traded
    max_turnover: float = OFF
    gain_budget: float = OFF  # as a fraction of account value
    te_budget_sq: float = OFF
    buy_caps: FloatArray | None = None  # n, weight that may be bought (0: no-buy, hold-only); None: no cap
    # the factors of ``factor_loadings = root' exposures'`` (n x k exposures B, k x k root L with L L' = F):
    # the direct backend writes its factor rows through the exposures when they are sparse (sector
    # dummies), None: through the loadings
    factor_exposures: FloatArray | None = None
    factor_root: FloatArray | None = None


@dataclass(frozen=True)
class Variables:
    w: cp.Variable
    a: cp.Variable
    buy: cp.Variable | None = None
    sell: cp.Variable | None = None  # n x K

    def sold(self) -> cp.Expression:
        assert self.sell is not None
        return cp.sum(self.sell, axis=1)


class Term(Protocol):
    name: str

    def build(self, v: Variables) -> cp.Expression: ...

    def update(self, d: SolveInputs) -> None: ...


class Constraint(Protocol):
    name: str

    def build(self, v: Variables) -> list[cp.Constraint]: ...

    def update(self, d: SolveInputs) -> None: ...


def _set(p: cp.Parameter, value: FloatArray | float) -> None:
    p.value = np.asarray(value, dtype=float).reshape(p.shape) if p.shape else float(value)


# ---------------------------------------------------------------- objective terms


class TrackingErrorSquared:
    """Ex-ante active variance ``||X a||^2 + ||sd * a||^2`` (annualized)."""

    name = "tracking_error"

    def __init__(self, n: int, k: int):
        self.loadings = cp.Parameter((k, n), name="factor_loadings")
        self.sd = cp.Parameter(n, nonneg=True, name="specific_sd")
        self.expr: cp.Expression | None = None

    def build(self, v: Variables) -> cp.Expression:
        self.expr = cp.sum_squares(self.loadings @ v.a) + cp.sum_squares(cp.multiply(self.sd, v.a))
        return self.expr

    def update(self, d: SolveInputs) -> None:
        _set(self.loadings, d.factor_loadings)
        _set(self.sd, d.specific_sd)


class TaxCost:
    """Tax on the lots sold, as a fraction of account value (gain x rate; losses negative)."""

    name = "tax_cost"

    def __init__(self, n: int, segments: int):
        self.tax = cp.Parameter((n, segments), name="lot_tax")

    def build(self, v: Variables) -> cp.Expression:
        assert v.sell is not None
        return cp.sum(cp.multiply(self.tax, v.sell))

    def update(self, d: SolveInputs) -> None:
        _set(self.tax, d.lot_tax)


class TransactionCost:
    """Linear cost per unit weight bought or sold (spread plus commission)."""

    name = "transaction_cost"

    def __init__(self, n: int):
        self.cost = cp.Parameter(n, nonneg=True, name="transaction_cost")

    def build(self, v: Variables) -> cp.Expression:
        assert v.buy is not None
        return self.cost @ v.buy + self.cost @ v.sold()

    def update(self, d: SolveInputs) -> None:
        _set(self.cost, d.transaction_cost)


# ---------------------------------------------------------------- constraints


class ActiveWeights:
    """``a = w - b``: the active weight is its own variable so risk is written on it alone."""

    name = "active_weights"

    def __init__(self, n: int):
        self.benchmark = cp.Parameter(n, name="benchmark")

    def build(self, v: Variables) -> list[cp.Constraint]:
        return [v.a == v.w - self.benchmark]

    def update(self, d: SolveInputs) -> None:
        _set(self.benchmark, d.benchmark)


class Trades:
    """``w = h + buy - sold``, buys and sells non-negative, each lot segment sold at most down to zero.

    ``buy <= buy_caps`` is what keeps a no-buy or hold-only name from being sold and bought back in one
    rebalance: a bound on ``w`` alone (``w <= h``) would let the solver sell a loss lot and rebuy the
    shares, a wash sale that also books a loss the netted trades never realize.
    """

    name = "trades"

    def __init__(self, n: int, segments: int):
        self.holdings = cp.Parameter(n, nonneg=True, name="holdings")
        self.caps = cp.Parameter((n, segments), nonneg=True, name="lot_caps")
        self.buy_caps = cp.Parameter(n, nonneg=True, name="buy_caps")

    def build(self, v: Variables) -> list[cp.Constraint]:
        assert v.buy is not None and v.sell is not None
        return [
            v.w == self.holdings + v.buy - v.sold(),
            v.buy >= 0,
            v.sell >= 0,
            v.sell <= self.caps,
            v.buy <= self.buy_caps,
        ]

    def update(self, d: SolveInputs) -> None:
        _set(self.holdings, d.holdings)
        _set(self.caps, d.lot_caps)
        _set(self.buy_caps, np.full(self.buy_caps.shape, OFF) if d.buy_caps is None else d.buy_caps)


class Bounds:
    """Per-name ``lower <= w <= upper``: long only, exclusions (upper 0), no-buy and hold-only (upper = held)."""

    name = "bounds"

    def __init__(self, n: int):
        self.lower = cp.Parameter(n, name="lower")
        self.upper = cp.Parameter(n, name="upper")

    def build(self, v: Variables) -> list[cp.Constraint]:
        return [v.w >= self.lower, v.w <= self.upper]

    def update(self, d: SolveInputs) -> None:
        _set(self.lower, d.lower)
        _set(self.upper, d.upper)


class Budget:
    """Fully invested up to the cash target: ``sum(w) = invested``."""

    name = "budget"

    def __init__(self) -> None:
        self.invested = cp.Parameter(nonneg=True, name="invested")

    def build(self, v: Variables) -> list[cp.Constraint]:
        return [cp.sum(v.w) == self.invested]

    def update(self, d: SolveInputs) -> None:
        _set(self.invested, d.invested)


class SectorWeights:
    """Sector weights between parameter bounds (the benchmark's weight minus and plus a band)."""

    name = "sector_bounds"

    def __init__(self, membership: FloatArray):
        g = membership.shape[0]
        self.membership = membership
        self.lower = cp.Parameter(g, name="sector_lower")
        self.upper = cp.Parameter(g, name="sector_upper")

    def build(self, v: Variables) -> list[cp.Constraint]:
        s = self.membership @ v.w
        return [s >= self.lower, s <= self.upper]

    def update(self, d: SolveInputs) -> None:
        _set(self.lower, d.sector_lower)
        _set(self.upper, d.sector_upper)


class FactorTilts:
    """Active exposure to each tilted factor within its range: ``lo <= Z a <= hi``."""

    name = "factor_tilts"

    def __init__(self, n: int, m: int):
        self.scores = cp.Parameter((m, n), name="tilt_scores")
        self.lower = cp.Parameter(m, name="tilt_lower")
        self.upper = cp.Parameter(m, name="tilt_upper")

    def build(self, v: Variables) -> list[cp.Constraint]:
        e = self.scores @ v.a
        return [e >= self.lower, e <= self.upper]

    def update(self, d: SolveInputs) -> None:
        _set(self.scores, d.tilt_scores)
        _set(self.lower, d.tilt_lower)
        _set(self.upper, d.tilt_upper)


class Turnover:
    """One-sided turnover ``(sum buy + sum sold) / 2 <= max``."""

    name = "max_turnover"

    def __init__(self) -> None:
        self.limit = cp.Parameter(nonneg=True, name="max_turnover")

    def build(self, v: Variables) -> list[cp.Constraint]:
        assert v.buy is not None
        return [(cp.sum(v.buy) + cp.sum(v.sold())) / 2 <= self.limit]

    def update(self, d: SolveInputs) -> None:
        _set(self.limit, d.max_turnover)


class GainBudget:
    """Net realized gain of the lots sold, as a fraction of account value, at most the budget left."""

    name = "gain_budget"

    def __init__(self, n: int, segments: int):
        self.gain = cp.Parameter((n, segments), name="lot_gain")
        self.limit = cp.Parameter(name="gain_budget")

    def build(self, v: Variables) -> list[cp.Constraint]:
        assert v.sell is not None
        return [cp.sum(cp.multiply(self.gain, v.sell)) <= self.limit]

    def update(self, d: SolveInputs) -> None:
        _set(self.gain, d.lot_gain)
        _set(self.limit, d.gain_budget)


class TrackingErrorBudget:
    """``TE^2 <= budget^2``, used only when tax or trading costs are traded against tracking error."""

    name = "te_budget"

    def __init__(self, te: TrackingErrorSquared):
        self.te = te
        self.limit = cp.Parameter(nonneg=True, name="te_budget_sq")

    def build(self, v: Variables) -> list[cp.Constraint]:
        assert self.te.expr is not None
        return [self.te.expr <= self.limit]

    def update(self, d: SolveInputs) -> None:
        _set(self.limit, d.te_budget_sq)
