"""Build or rebalance one account's portfolio: as close to its benchmark as its policy allows.

``TrackingErrorOptimizer`` is the scikit-learn-like surface: the constructor stores the risk model,
universe, policy and solver config; :meth:`~TrackingErrorOptimizer.fit` solves for one account and sets
``result_`` and ``weights_``. Compiled problems are kept per structure, so the next account (another
policy, other lots, a no-buy list from the harvest engine) only sets parameter values.

How each solve goes:

1. Minimize ``TE^2`` (plus, when rebalancing, the tax cost of the lots sold times ``tax_aversion`` and a
   linear transaction cost) subject to the policy. When rebalancing, ``TE <= budget`` is a constraint:
   tax is only saved inside the budget. If that is infeasible while the rest of the policy is not, the
   solve falls back to minimum tracking error (tax ignored) and raises ``tracking_error_over_budget``.
   Building from cash the objective is TE alone, so an optimum above the budget is reported by the
   same alert rather than treated as infeasible.
2. Heuristics that need integer decisions, each a re-solve with tightened bounds: names bought and sold
   in the same rebalance (a wash-sale round trip) are pinned to one direction; beyond ``max_names``,
   every name outside the top N by weight is excluded; positions under ``min_position`` are excluded;
   trades under ``min_trade`` are cancelled (the name is pinned at its current weight). If a re-solve
   turns infeasible, the previous solution stands and an alert says which heuristic gave way.
3. Sells become lot-level trades chosen by tax (see :mod:`directindex.construct.lots`); buys are whole
   shares rounded down. Tracking error before and after is recomputed with numpy from the risk model on
   the final, rounded weights.
4. An infeasible policy never raises: the result carries a :class:`~directindex.construct.result.Diagnosis`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from directindex.construct.config import Exclusions, Policy, SolverConfig
from directindex.construct.diagnose import diagnose
from directindex.construct.direct import DirectProblem
from directindex.construct.lots import (
    EMPTY_LOTS,
    LotColumns,
    PricedLots,
    lot_segments,
    price_columns,
    price_holdings,
    select_priced,
)
from directindex.construct.problem import ParametrizedProblem, SolveOutcome, Structure
from directindex.construct.result import (
    ActiveConstraint,
    Alert,
    ConstructionResult,
    Diagnosis,
    Relaxation,
    Trade,
)
from directindex.construct.terms import OFF, SolveInputs
from directindex.construct.universe import Universe
from directindex.errors import InputError
from directindex.ledger.records import Lot, Term
from directindex.market.risk import FactorRiskModel, FloatArray

DUST = 1e-6  # weights below this are solver noise, not positions
ACTIVE_TOL = 1e-6
ROUND_TRIP_TOL = 2e-5  # of account value: $20 per $1M bought and sold in one name
SEGMENT_STEPS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Holdings:
    """An account's starting point: its open lots (in kind) and cash, on ``as_of``.

    ``lots``: ``Lot`` records (a tuple), or a :class:`~directindex.construct.lots.LotColumns` when the
    caller keeps them in arrays (priced without a record per lot; the same result).
    """

    account: str
    lots: Sequence[Lot] = ()
    cash: float = 0.0
    as_of: date = field(default_factory=date.today)


@dataclass
class _Case:
    """One account's data aligned to the universe (internal)."""

    account: str
    b: FloatArray
    h: FloatArray
    value: float
    outside: float
    prices: FloatArray
    lots: PricedLots
    segments: int
    caps: FloatArray
    tax: FloatArray
    gain: FloatArray
    merged: npt.NDArray[np.int64]  # n x K: the lots each segment merges
    alerts: list[Alert]
    as_of: date | None


@dataclass
class _Bounds:
    lower: FloatArray
    upper: FloatArray
    upper_reasons: dict[int, str]
    lower_reasons: dict[int, str]
    no_buy: set[int] = field(default_factory=set)  # names that may not be bought at all (not just net)
    no_sell: set[int] = field(default_factory=set)  # names none of whose lots may be sold

    def copy(self) -> _Bounds:
        return _Bounds(
            self.lower.copy(),
            self.upper.copy(),
            dict(self.upper_reasons),
            dict(self.lower_reasons),
            set(self.no_buy),
            set(self.no_sell),
        )

    def cap(self, i: int, value: float, reason: str) -> None:
        if value < self.upper[i] - 1e-15:
            self.upper[i] = value
            self.upper_reasons[i] = reason

    def floor(self, i: int, value: float, reason: str) -> None:
        if value > self.lower[i] + 1e-15:
            self.lower[i] = value
            self.lower_reasons[i] = reason


class TrackingErrorOptimizer:
    """Tracking-error-budget optimizer over one risk model and universe.

    ``fit(benchmark)`` builds from nothing (weights only); ``fit(benchmark, holdings, prices=...)``
    rebalances an account (cash and/or lots) into lot-level trades. ``policy=`` on ``fit`` overrides the
    constructor's policy for that account only.
    """

    def __init__(
        self,
        risk_model: FactorRiskModel,
        universe: Universe,
        policy: Policy | None = None,
        solver: SolverConfig | None = None,
    ):
        if tuple(universe.symbols) != tuple(risk_model.symbols):
            risk_model = risk_model.restrict(list(universe.symbols))
        self.universe = universe
        self.policy = policy or Policy()
        self.solver = solver or SolverConfig()
        self.problems: dict[Structure, ParametrizedProblem | DirectProblem] = {}
        # the last solve's lot records as floats (see lots.price_holdings): a backtest passes the same records again
        self._lot_floats: dict[int, tuple[Lot, float, float, int, int]] = {}
        self._column_codes: tuple[tuple[str, ...], npt.NDArray[np.int64]] | None = None  # LotColumns symbols
        self._membership = universe.sector_matrix()
        self._sector_names = universe.sector_names()
        self._index = {s: i for i, s in enumerate(universe.symbols)}
        self.set_risk_model(risk_model)

    def set_risk_model(self, risk_model: FactorRiskModel) -> None:
        """A new day's model over the same symbols: parameter values change, nothing recompiles."""
        if tuple(risk_model.symbols) != tuple(self.universe.symbols):
            risk_model = risk_model.restrict(list(self.universe.symbols))
        self.risk_model = risk_model
        self._root = risk_model.factor_chol()
        self._exposures = np.asarray(risk_model.exposures, dtype=float)
        self._loadings = (self._exposures @ self._root).T.copy()
        self._sd = np.sqrt(np.clip(risk_model.specific_var, 0.0, None))

    # ------------------------------------------------------------------ public surface

    def fit(
        self,
        benchmark: Mapping[str, float] | pd.Series,
        holdings: Holdings | None = None,
        *,
        prices: Mapping[str, float] | pd.Series | None = None,
        policy: Policy | None = None,
    ) -> TrackingErrorOptimizer:
        self.result_ = self.solve(benchmark, holdings, prices=prices, policy=policy)
        self.weights_ = pd.Series(dict(self.result_.weights), dtype=float)
        return self

    def solve(
        self,
        benchmark: Mapping[str, float] | pd.Series,
        holdings: Holdings | None = None,
        *,
        prices: Mapping[str, float] | pd.Series | None = None,
        policy: Policy | None = None,
    ) -> ConstructionResult:
        policy = policy or self.policy
        t0 = time.perf_counter()
        case = self._prepare(benchmark, holdings, prices, policy)
        bounds = self._bounds(case, policy, policy.exclusions)
        structure = self._structure(policy, case.segments)
        problem = self.problem_for(structure)
        solves = 0

        working = policy  # the policy the solves see: the TE budget may be relaxed below

        def run(bd: _Bounds, tax_on: bool, te_on: bool) -> tuple[SolveOutcome, SolveInputs]:
            nonlocal solves
            d = self._inputs(case, working, bd, tax_on=tax_on, te_on=te_on)
            solves += 1
            out = problem.solve(d, self.solver.solver, self.solver.tolerance, self.solver.max_iter)
            return out, d

        tax_on, te_on, status = True, case.segments > 0, "optimal"
        relax = te_on and self.solver.over_budget == "relax"
        # ``relax``: whether the budget can be met at all is the floor's question (minimum TE without tax or
        # costs, a third of the problem on the direct backend, see DirectProblem); within budget, the ordinary
        # solve follows. An account whose current weights are near the budget is almost always within it
        # (measured: every rebalance of a 10-year backtest below 1.3x the budget was), so it tries the ordinary
        # solve first and needs the floor only if that is infeasible. Either order gives the same answer: the
        # ordinary solution where it exists, else the tax objective just above the floor (they could differ
        # only for a floor within a millionth of the budget, which the floor-first order treats as over it).
        floor = None
        if relax and not self._likely_within(case, policy):
            floor = run(bounds, False, False)
        within = (floor is not None and floor[0].status == "optimal"
                  and floor[0].te_sq <= policy.te_budget**2 * (1 - 1e-6))
        if floor is None or within:
            out, d = run(bounds, tax_on, te_on)
        if relax and floor is None and out.status != "optimal":
            floor = run(bounds, False, False)  # the ordinary solve failed: relax from the floor (within stays False)
        if floor is not None and (not within or out.status != "optimal"):
            # the least TE the rest of the policy allows, then the tax objective within a little of it
            out, d = floor
            if floor[0].status == "optimal":
                te_floor = math.sqrt(max(floor[0].te_sq, 0.0))
                working = replace(policy, te_budget=te_floor * (1 + self.solver.relax_slack) + 1e-6)
                out, d = run(bounds, tax_on, te_on)
                if out.status != "optimal":
                    working, (out, d), tax_on, te_on = policy, floor, False, False
                status = "fallback_relaxed_te" if tax_on else "fallback_min_te"
                kept_under = working.te_budget if tax_on else None
                case.alerts.append(_over_budget_alert(policy.te_budget, te_floor, kept_under))
        elif out.status != "optimal" and te_on:
            out2, d2 = run(bounds, tax_on, False)
            if out2.status == "optimal":
                tax_on, te_on, status = False, False, "fallback_min_te"
                out, d = run(bounds, tax_on, te_on)
                te_min = math.sqrt(max(out.te_sq, 0.0)) if out.status == "optimal" else None
                case.alerts.append(_over_budget_alert(policy.te_budget, te_min, None))
            else:
                out, d = out2, d2
        if out.status != "optimal":
            return self._infeasible(case, policy, bounds, d, out, structure, solves, time.perf_counter() - t0)

        out, d, bounds, refined_tax = self._refine(case, working, bounds, out, d, run, tax_on, te_on)
        if refined_tax != tax_on:
            tax_on, status = refined_tax, "fallback_min_te"
        result = self._finish(case, policy, bounds, out, d, status, tax_on, solves, time.perf_counter() - t0)
        if result.ex_ante_tracking_error > policy.te_budget + 1e-7:
            result = self._over_budget(case, policy, result, out, run, lambda x: problem.solve(
                x, self.solver.solver, self.solver.tolerance, self.solver.max_iter))
        return result

    def _likely_within(self, case: _Case, policy: Policy) -> bool:
        """Whether the ordinary solve should go first (``SolverConfig.ordinary_first``).

        That is when the current weights, idle cash spread like the benchmark, are near enough the budget.
        """
        if self.solver.ordinary_first <= 0 or case.segments <= 0:
            return False
        invested = max(0.0, 1.0 - policy.cash_target - case.outside)
        te = float(self.risk_model.tracking_error(case.h + (invested - case.h.sum()) * case.b, case.b)[0])
        return te <= self.solver.ordinary_first * policy.te_budget

    def problem_for(self, structure: Structure) -> ParametrizedProblem | DirectProblem:
        """The problem for a structure, built on first use and reused after (see ``SolverConfig.backend``)."""
        if structure not in self.problems:
            if self.solver.backend == "direct" and structure.segments > 0 and self.solver.solver == "CLARABEL":
                self.problems[structure] = DirectProblem(structure, self._membership, self.solver.linear_solver)
            else:
                self.problems[structure] = ParametrizedProblem(structure, self._membership)
        return self.problems[structure]

    # ------------------------------------------------------------------ preparation

    def _structure(self, policy: Policy, segments: int) -> Structure:
        return Structure(
            n=self.universe.n,
            k=self._loadings.shape[0],
            sectors=len(self._sector_names) if policy.sector_bounds is not None else 0,
            tilts=len(policy.tilts),
            segments=segments,
        )

    def _prepare(
        self,
        benchmark: Mapping[str, float] | pd.Series,
        holdings: Holdings | None,
        prices: Mapping[str, float] | pd.Series | None,
        policy: Policy,
    ) -> _Case:
        n = self.universe.n
        alerts: list[Alert] = []
        bench = {str(k): float(v) for k, v in dict(benchmark).items() if float(v) != 0.0}
        b = np.zeros(n)
        missing = 0.0
        for s, v in bench.items():
            if s in self._index:
                b[self._index[s]] = v
            else:
                missing += v
        if b.sum() <= 0:
            raise InputError.single("benchmark", None, None, "no benchmark constituent is in the risk model")
        if missing > 1e-9:
            alerts.append(
                Alert(
                    "benchmark_outside_universe",
                    "benchmark weight without risk-model coverage was spread over the covered names",
                    missing,
                    None,
                )
            )
        b = b / b.sum()
        price = np.full(n, np.nan)
        if prices is not None:
            for s, p in dict(prices).items():
                if str(s) in self._index and p is not None and math.isfinite(float(p)):
                    price[self._index[str(s)]] = float(p)
        if holdings is None:
            z = np.zeros((n, 0))
            return _Case("", b, np.zeros(n), 0.0, 0.0, price, EMPTY_LOTS, 0, z, z, z, z.astype(np.int64), alerts, None)

        if isinstance(holdings.lots, LotColumns):
            priced, outside_value = self._price_columns(holdings.lots, holdings, price, prices, policy)
        else:
            priced, outside_value = self._price_records(holdings, price, prices, policy)
        held_value = priced.value(n)
        value = float(holdings.cash) + float(held_value.sum()) + outside_value
        if value <= 0:
            raise InputError.single("holdings", None, None, f"account {holdings.account} has no value to invest")
        if outside_value > 0:
            alerts.append(
                Alert(
                    "holdings_outside_universe",
                    "held names without risk-model coverage are kept unchanged and count against the budget",
                    outside_value / value,
                    None,
                )
            )
        most = max(priced.count.values(), default=1)
        most = max(most, self.solver.min_segments)  # a fixed structure: one compile for a whole backtest
        steps = [k for k in SEGMENT_STEPS if k <= max(1, self.solver.max_segments)]
        segments = next((k for k in steps if k >= most), steps[-1])
        caps, tax, gain, merged = lot_segments(priced, n, segments, value)
        return _Case(
            holdings.account,
            b,
            held_value / value,
            value,
            outside_value / value,
            price,
            priced,
            segments,
            caps,
            tax,
            gain,
            merged,
            alerts,
            holdings.as_of,
        )

    def _price_records(self, holdings: Holdings, price: FloatArray, prices: Mapping[str, float] | pd.Series | None,
                       policy: Policy) -> tuple[PricedLots, float]:
        """The account's lots priced in sale order, and the value of the held names outside the universe."""
        by_symbol: dict[str, list[Lot]] = {}
        for lot in holdings.lots:
            if lot.account == holdings.account and lot.quantity > 0:
                by_symbol.setdefault(lot.symbol, []).append(lot)
        outside_value = 0.0
        inside: dict[int, list[Lot]] = {}
        for sym, lots in by_symbol.items():
            i = self._index.get(sym)
            if i is None or not math.isfinite(price[i]):
                outside_value += float(sum(lot.quantity for lot in lots)) * _outside_price(sym, prices, holdings)
                continue
            inside[i] = lots
        return price_holdings(inside, price, holdings.as_of, policy.rates, self._lot_floats), outside_value

    def _price_columns(self, cols: LotColumns, holdings: Holdings, price: FloatArray,
                       prices: Mapping[str, float] | pd.Series | None, policy: Policy) -> tuple[PricedLots, float]:
        """:meth:`_price_records` on lots given as columns: the same figures without a record per lot.

        A held name outside the universe (or without a price in it) is rare: then the records path prices
        the account, outside value and errors included.
        """
        if cols.account != holdings.account:
            return EMPTY_LOTS, 0.0
        hit = self._column_codes
        if hit is None or hit[0] is not cols.symbols:
            hit = (cols.symbols, np.array([self._index.get(s, -1) for s in cols.symbols], dtype=np.int64))
            self._column_codes = hit
        rows = np.flatnonzero(cols.quantity > 0)
        name = hit[1][cols.symbol[rows]]
        if np.any(name < 0) or not np.isfinite(price[name]).all():
            return self._price_records(holdings, price, prices, policy)
        return price_columns(cols, rows, name, price, holdings.as_of, policy.rates), 0.0

    def _bounds(self, case: _Case, policy: Policy, exclusions: Exclusions) -> _Bounds:
        n = self.universe.n
        bd = _Bounds(np.zeros(n), np.full(n, float(policy.max_weight)), {}, {})
        for i in range(n):
            bd.upper_reasons[i] = "max_weight"
        for sym, rules in self.universe.excluded(exclusions).items():
            bd.cap(self._index[sym], 0.0, "exclusion:" + rules[0])
        for name, reason in ((policy.no_buy, "no_buy"), (policy.hold_only, "hold_only")):
            for sym in name:
                j = self._index.get(sym)
                if j is not None:
                    bd.cap(j, float(case.h[j]), reason)
                    bd.no_buy.add(j)
        return bd

    def _inputs(self, case: _Case, policy: Policy, bd: _Bounds, *, tax_on: bool, te_on: bool) -> SolveInputs:
        n = self.universe.n
        if policy.sector_bounds is not None:
            bsec = self._membership @ case.b
            below = np.array([policy.sector_bounds.band_for(s)[0] for s in self._sector_names])
            above = np.array([policy.sector_bounds.band_for(s)[1] for s in self._sector_names])
            slo, shi = np.clip(bsec - below, 0.0, None), bsec + above
        else:
            slo = shi = np.zeros(0)
        scores = np.array([self.universe.score(t.factor) for t in policy.tilts]).reshape(len(policy.tilts), n)
        tlo = np.array([t.lo for t in policy.tilts], dtype=float)
        thi = np.array([t.hi for t in policy.tilts], dtype=float)
        value = case.value if case.value > 0 else 1.0
        caps = case.caps
        if bd.no_sell and caps.size:
            caps = caps.copy()
            caps[sorted(bd.no_sell), :] = 0.0
        buy_caps = np.full(n, OFF)
        buy_caps[sorted(bd.no_buy)] = 0.0
        return SolveInputs(
            benchmark=case.b,
            holdings=case.h,
            lower=np.minimum(bd.lower, bd.upper),
            upper=bd.upper,
            invested=max(0.0, 1.0 - policy.cash_target - case.outside),
            factor_loadings=self._loadings,
            factor_exposures=self._exposures,
            factor_root=self._root,
            specific_sd=self._sd,
            sector_lower=slo,
            sector_upper=shi,
            tilt_scores=scores,
            tilt_lower=tlo,
            tilt_upper=thi,
            lot_caps=caps,
            lot_tax=(case.tax if policy.loss_credit else np.clip(case.tax, 0.0, None))
            * (policy.tax_aversion if tax_on else 0.0),
            lot_gain=case.gain,
            # a minimum-TE rebalance (the floor of the budget) is the least TE the policy allows: costs aside
            transaction_cost=np.full(n, float(policy.transaction_cost) if tax_on or te_on or not case.segments
                                     else 0.0),
            max_turnover=OFF if policy.max_turnover is None else float(policy.max_turnover),
            gain_budget=OFF if policy.gain_budget is None else float(policy.gain_budget) / value,
            te_budget_sq=policy.te_budget**2 if te_on else OFF,
            buy_caps=buy_caps,
        )

    # ------------------------------------------------------------------ heuristics

    def _refine(
        self,
        case: _Case,
        policy: Policy,
        bounds: _Bounds,
        out: SolveOutcome,
        d: SolveInputs,
        run: Callable[[_Bounds, bool, bool], tuple[SolveOutcome, SolveInputs]],
        tax_on: bool,
        te_on: bool,
    ) -> tuple[SolveOutcome, SolveInputs, _Bounds, bool]:
        def attempt(bd: _Bounds, what: str) -> bool:
            nonlocal out, d, bounds
            nonlocal tax_on, te_on
            o2, d2 = run(bd, tax_on, te_on)
            if o2.status != "optimal" and te_on:
                # the heuristic costs tracking error: keep it, fall back to minimum TE, and say so
                o2, d2 = run(bd, False, False)
                if o2.status == "optimal":
                    tax_on, te_on = False, False
                    case.alerts.append(
                        Alert(
                            "tracking_error_over_budget",
                            f"{what}: cannot be met within the tracking-error budget together with the tax "
                            "objective; fell back to minimum tracking error",
                            math.sqrt(max(o2.te_sq, 0.0)),
                            policy.te_budget,
                        )
                    )
            if o2.status == "optimal":
                out, d, bounds = o2, d2, bd
                return True
            case.alerts.append(
                Alert(f"{what}_not_applied", f"{what}: the re-solve was infeasible; kept the previous solution")
            )
            return False

        def pin_round_trips() -> None:
            # a name both sold and bought is a wash-sale round trip (and books a loss the netted trades
            # never realize): keep the net direction, forbid the other
            sold = out.sell.sum(axis=1)
            # an interior-point solution leaves both legs at a few 1e-6 where one is really zero: only
            # a round trip bigger than that noise is worth a re-solve (the trades are netted either way)
            both = np.flatnonzero(np.minimum(out.buy, sold) > ROUND_TRIP_TOL)
            if both.size:
                bd = bounds.copy()
                for i in both.tolist():
                    if out.w[i] < case.h[i]:
                        bd.cap(i, float(case.h[i]), "wash_sale_round_trip")
                        bd.no_buy.add(i)
                    else:
                        bd.floor(i, float(case.h[i]), "wash_sale_round_trip")
                        bd.no_sell.add(i)
                attempt(bd, "wash_sale_round_trip")

        if case.segments:
            pin_round_trips()
        if policy.max_names is not None:
            held = np.flatnonzero(out.w > DUST)
            if held.size > policy.max_names:
                keep = set(held[np.argsort(-out.w[held], kind="stable")[: policy.max_names]].tolist())
                bd = bounds.copy()
                for j in range(self.universe.n):
                    if j not in keep:
                        bd.cap(j, 0.0, "max_names")
                bd.lower = np.minimum(bd.lower, bd.upper)
                attempt(bd, "max_names")
        if policy.min_position > 0:
            for _ in range(3):
                small = np.flatnonzero((out.w > DUST) & (out.w < policy.min_position - 1e-9))
                if not small.size:
                    break
                bd = bounds.copy()
                for i in small:
                    bd.cap(int(i), 0.0, "min_position")
                bd.lower = np.minimum(bd.lower, bd.upper)
                if not attempt(bd, "min_position"):
                    break
        if case.segments and policy.min_trade > 0:
            delta = np.abs(out.w - case.h)
            tiny = np.flatnonzero((delta > DUST) & (delta < policy.min_trade))
            if tiny.size:
                bd = bounds.copy()
                for j in tiny.tolist():
                    bd.upper_reasons[j] = "min_trade"
                    bd.floor(j, float(case.h[j]), "min_trade")
                    bd.upper[j] = case.h[j]
                    bd.no_buy.add(j)
                    bd.no_sell.add(j)
                attempt(bd, "min_trade")
        if case.segments:
            pin_round_trips()  # a later heuristic's re-solve may have made a new one
        return out, d, bounds, tax_on

    # ------------------------------------------------------------------ results

    def _over_budget(
        self,
        case: _Case,
        policy: Policy,
        result: ConstructionResult,
        out: SolveOutcome,
        run: Callable[[_Bounds, bool, bool], tuple[SolveOutcome, SolveInputs]],
        solve_inputs: Callable[[SolveInputs], SolveOutcome],
    ) -> ConstructionResult:
        """Feasible but over the TE budget: the budget that would be needed, and the exclusions to drop.

        Rebalancing under a gain budget, the gain budget that would let the TE budget be met is the
        least net gain of any portfolio within it: the same problem with gain as the objective.

        The exclusion search (``SolverConfig.diagnose_budget``) re-solves minimum TE from cash with one more
        rule dropped at a time, greedily, then keeps only the rules whose drop is needed; it ignores the
        integer heuristics (``max_names``, ``min_position``) and is skipped when rebalancing from lots.
        """
        te = result.ex_ante_tracking_error
        solver_te = math.sqrt(max(out.te_sq, 0.0))
        rounding = solver_te <= policy.te_budget * (1 + 1e-6)
        drops: list[str] = []
        rules = list(policy.exclusions.rules())
        if self.solver.diagnose_budget and not rounding and case.segments == 0 and rules:
            budget_sq = policy.te_budget**2 * (1 - 1e-9)

            def te_sq(drop: Sequence[str]) -> float:
                ex = policy.exclusions
                for r in drop:
                    ex = ex.without(r)
                o, _ = run(self._bounds(case, policy, ex), False, False)
                return o.te_sq if o.status == "optimal" else math.inf

            drops = _fewest_drops(rules, te_sq, budget_sq, self.solver.diagnose_budget_steps)
        needed_gain = None
        if not rounding and case.segments and policy.gain_budget is not None:
            d0 = self._inputs(case, policy, self._bounds(case, policy, policy.exclusions), tax_on=False, te_on=True)
            o = solve_inputs(replace(d0, lot_tax=case.gain, transaction_cost=np.zeros(self.universe.n),
                                     gain_budget=OFF))
            if o.status == "optimal":
                g = float((case.gain * o.sell).sum()) * case.value
                needed_gain = g if g > policy.gain_budget else None
        if rounding:
            message = (
                f"whole-share rounding puts the ex-ante tracking error at {te:.4%}, above the budget "
                f"{policy.te_budget:.4%} (the solver's portfolio, {solver_te:.4%}, is within it)"
            )
        else:
            message = (
                f"the best feasible portfolio's ex-ante tracking error {te:.4%} exceeds the budget "
                f"{policy.te_budget:.4%}; a budget of {te:.4%} would be needed"
            )
            if drops:
                message += f", or dropping exclusion(s) {', '.join(drops)} would bring it within the budget"
            if needed_gain is not None:
                message += f", or a gain budget of ${needed_gain:,.0f} would bring it within the budget"
        alerts = list(result.alerts)
        for k, a in enumerate(alerts):
            if a.code == "tracking_error_over_budget" and (rounding or case.segments == 0):
                alerts[k] = Alert(a.code, message, te, policy.te_budget)
        relax = [Relaxation("te_budget", "", policy.te_budget, te)]
        if needed_gain is not None and policy.gain_budget is not None:
            relax.append(Relaxation("gain_budget", "dollars", policy.gain_budget, needed_gain))
        diag = Diagnosis(
            True,
            message,
            tuple(relax),
            tuple(drops),
            needed_gain,
            te,
        )
        return replace(result, alerts=tuple(alerts), diagnosis=diag)

    def _infeasible(
        self,
        case: _Case,
        policy: Policy,
        bounds: _Bounds,
        d: SolveInputs,
        out: SolveOutcome,
        structure: Structure,
        solves: int,
        seconds: float,
    ) -> ConstructionResult:
        diag: Diagnosis
        if self.solver.diagnose:
            rules = list(policy.exclusions.rules())

            def without(drop: Sequence[str]) -> SolveInputs:
                ex = policy.exclusions
                for r in drop:
                    ex = ex.without(r)
                return self._inputs(case, policy, self._bounds(case, policy, ex), tax_on=False, te_on=False)

            diag = diagnose(
                d,
                self._membership if structure.sectors else np.zeros((0, self.universe.n)),
                structure.segments,
                symbols=self.universe.symbols,
                upper_reasons=bounds.upper_reasons,
                lower_reasons=bounds.lower_reasons,
                sector_names=self._sector_names,
                tilt_names=[t.factor for t in policy.tilts],
                exclusion_rules=rules,
                inputs_without=without,
                account_value=case.value,
            )
        else:
            diag = Diagnosis(False, out.message or out.status)
        if out.status == "solver_error" and diag.feasible:
            diag = replace(diag, message=f"solver failed: {out.message}")
        weights = {s: float(case.h[i]) for i, s in enumerate(self.universe.symbols) if case.h[i] > 0}
        te = float(self.risk_model.tracking_error(case.h, case.b)[0])
        alerts = [*case.alerts, Alert("infeasible", diag.message)]
        return ConstructionResult(
            account=case.account,
            status="infeasible" if not diag.feasible else "solver_error",
            weights=weights,
            cash_weight=float(1.0 - case.h.sum() - case.outside) if case.value else 1.0,
            trades=(),
            tracking_error_before=te,
            ex_ante_tracking_error=te,
            solver_tracking_error=float("nan"),
            te_budget=policy.te_budget,
            tax_cost=0.0,
            realized_gain=0.0,
            short_term_gain=0.0,
            long_term_gain=0.0,
            transaction_cost=0.0,
            turnover=0.0,
            account_value=case.value,
            alerts=tuple(alerts),
            diagnosis=diag,
            solves=solves,
            solve_seconds=seconds,
        )

    def _finish(
        self,
        case: _Case,
        policy: Policy,
        bounds: _Bounds,
        out: SolveOutcome,
        d: SolveInputs,
        status: str,
        tax_on: bool,
        solves: int,
        seconds: float,
    ) -> ConstructionResult:
        syms = self.universe.symbols
        w_opt = np.where(out.w > DUST, out.w, 0.0)
        alerts = list(case.alerts)
        trades: list[Trade] = []
        tax = gain = st = lt = tc = 0.0
        if case.segments == 0:
            w_final = w_opt * (d.invested / w_opt.sum()) if w_opt.sum() > 0 else w_opt
        else:
            trades, w_final, (tax, gain, st, lt, tc) = self._trades(case, policy, out, w_opt, tax_on)
        te_before = float(self.risk_model.tracking_error(case.h, case.b)[0])
        te_after = float(self.risk_model.tracking_error(w_final, case.b)[0])
        if te_after > policy.te_budget + 1e-7 and not any(a.code == "tracking_error_over_budget" for a in alerts):
            # the message is made specific (rounding, or the budget needed) by _over_budget
            alerts.append(
                Alert(
                    "tracking_error_over_budget",
                    f"the ex-ante tracking error {te_after:.4%} exceeds the budget {policy.te_budget:.4%}",
                    te_after,
                    policy.te_budget,
                )
            )
        if policy.gain_budget is not None and gain > policy.gain_budget + 1.0:
            alerts.append(
                Alert(
                    "gain_budget_exceeded",
                    "whole-share rounding of the sells realizes more gain than the budget allows",
                    gain,
                    policy.gain_budget,
                )
            )
        if out.message:
            alerts.append(Alert("solver_warning", out.message))
        turnover = float(np.abs(w_final - case.h).sum() / 2)
        return ConstructionResult(
            account=case.account,
            status=status,
            weights={syms[i]: float(w_final[i]) for i in np.flatnonzero(w_final > 0)},
            cash_weight=float(1.0 - w_final.sum() - case.outside),
            trades=tuple(trades),
            tracking_error_before=te_before,
            ex_ante_tracking_error=te_after,
            solver_tracking_error=math.sqrt(max(out.te_sq, 0.0)),
            te_budget=policy.te_budget,
            tax_cost=tax,
            realized_gain=gain,
            short_term_gain=st,
            long_term_gain=lt,
            transaction_cost=tc,
            turnover=turnover,
            account_value=case.value,
            active_constraints=tuple(self._active(case, policy, bounds, d, out)),
            alerts=tuple(alerts),
            diagnosis=None,
            solves=solves,
            solve_seconds=seconds,
            meta={"objective": out.objective, "solver": self.solver.solver},
        )

    def _trades(
        self, case: _Case, policy: Policy, out: SolveOutcome, w_opt: FloatArray, tax_on: bool
    ) -> tuple[list[Trade], FloatArray, tuple[float, float, float, float, float]]:
        assert case.as_of is not None
        syms = self.universe.symbols
        held_value = case.h * case.value
        new_value = held_value.copy()
        trades: list[Trade] = []
        tax = gain = st = lt = tc = 0.0
        for i in range(self.universe.n):
            delta = float(w_opt[i] - case.h[i])
            if abs(delta) <= DUST:
                continue
            price = float(case.prices[i])
            if delta > 0:
                if not math.isfinite(price) or price <= 0:
                    raise InputError.single(
                        "prices", None, syms[i], f"no price for {syms[i]}, which the portfolio buys"
                    )
                q = (Decimal(repr(delta * case.value / price))).to_integral_value(rounding=ROUND_FLOOR)
                if q > 0:
                    trades.append(Trade(case.account, syms[i], "buy", q, price))
                    new_value[i] += float(q) * price
                    tc += float(q) * price * policy.transaction_cost
                continue
            want = -delta * case.value / price
            views = case.lots.views(i)
            total_q = sum((v.lot.quantity for v in views), Decimal(0))
            q = total_q if float(total_q) - want < 0.5 else Decimal(int(round(want)))
            amounts = None
            one_to_one = bool((case.merged[i] <= 1).all()) if case.merged.size else False
            # the solver's split across lots: when it priced the tax, or when a gain budget made it choose
            if (tax_on or policy.gain_budget is not None) and one_to_one and out.sell.size:
                amounts = [out.sell[i, k] * case.value / price for k in range(len(views))]
            within = amounts is not None and policy.gain_budget is not None
            for sale in select_priced(views, q, price, policy.rates, amounts=amounts, within_gain=within):
                trades.append(
                    Trade(
                        case.account,
                        syms[i],
                        "sell",
                        sale.quantity,
                        price,
                        sale.lot.lot,
                        sale.gain,
                        sale.term.value,
                        sale.tax,
                    )
                )
                new_value[i] -= float(sale.quantity) * price
                tc += float(sale.quantity) * price * policy.transaction_cost
                tax += sale.tax
                gain += sale.gain
                if sale.term is Term.SHORT:
                    st += sale.gain
                else:
                    lt += sale.gain
        # whole shares were rounded down: spend what that left, one share at a time, where the
        # shortfall against the target is largest
        target = w_opt * case.value
        spare = (1.0 - policy.cash_target - case.outside) * case.value - new_value.sum() - tc
        short = {t.symbol: k for k, t in enumerate(trades) if t.side == "buy"}
        order = sorted(short, key=lambda sym: -(target[self._index[sym]] - new_value[self._index[sym]]))
        for sym in order:
            i = self._index[sym]
            price = float(case.prices[i])
            cost = price * (1 + policy.transaction_cost)
            if cost <= spare and target[i] - new_value[i] > 0.5 * price:
                k = short[sym]
                trades[k] = replace(trades[k], quantity=trades[k].quantity + 1)
                new_value[i] += price
                tc += price * policy.transaction_cost
                spare -= cost
        w_final = np.clip(new_value / case.value, 0.0, None)
        return trades, w_final, (tax, gain, st, lt, tc)

    def _active(
        self, case: _Case, policy: Policy, bd: _Bounds, d: SolveInputs, out: SolveOutcome
    ) -> list[ActiveConstraint]:
        syms = self.universe.symbols
        w = out.w
        act: list[ActiveConstraint] = []
        for i in range(self.universe.n):
            # a per-name cap is active when it holds the name below where it would otherwise sit
            if w[i] >= d.upper[i] - ACTIVE_TOL and d.upper[i] < case.b[i] - ACTIVE_TOL:
                act.append(
                    ActiveConstraint(bd.upper_reasons.get(i, "max_weight"), syms[i], float(w[i]), float(d.upper[i]))
                )
            elif i in bd.lower_reasons and w[i] <= d.lower[i] + ACTIVE_TOL and d.lower[i] > 0:
                act.append(ActiveConstraint(bd.lower_reasons[i], syms[i], float(w[i]), float(d.lower[i])))
        if d.sector_lower.size:
            s = self._membership @ w
            for j, name in enumerate(self._sector_names):
                if s[j] <= d.sector_lower[j] + ACTIVE_TOL and d.sector_lower[j] > 0:
                    act.append(ActiveConstraint("sector_lower", name, float(s[j]), float(d.sector_lower[j])))
                elif s[j] >= d.sector_upper[j] - ACTIVE_TOL:
                    act.append(ActiveConstraint("sector_upper", name, float(s[j]), float(d.sector_upper[j])))
        if d.tilt_scores.size:
            e = d.tilt_scores @ (w - case.b)
            for j, t in enumerate(policy.tilts):
                if e[j] <= d.tilt_lower[j] + ACTIVE_TOL:
                    act.append(ActiveConstraint("tilt_lower", t.factor, float(e[j]), float(d.tilt_lower[j])))
                elif e[j] >= d.tilt_upper[j] - ACTIVE_TOL:
                    act.append(ActiveConstraint("tilt_upper", t.factor, float(e[j]), float(d.tilt_upper[j])))
        if case.segments:
            sold = out.sell.sum(axis=1)
            tov = float((out.buy.sum() + sold.sum()) / 2)
            if d.max_turnover < OFF and tov >= d.max_turnover - ACTIVE_TOL:
                act.append(ActiveConstraint("max_turnover", "", tov, d.max_turnover))
            g = float((d.lot_gain * out.sell).sum())
            if d.gain_budget < OFF and g >= d.gain_budget - ACTIVE_TOL:
                act.append(ActiveConstraint("gain_budget", "dollars", g * case.value, d.gain_budget * case.value))
            if d.te_budget_sq < OFF and out.te_sq >= d.te_budget_sq * (1 - 1e-4):
                act.append(ActiveConstraint("te_budget", "", math.sqrt(max(out.te_sq, 0.0)), policy.te_budget))
        return act


def _over_budget_alert(budget: float, te_floor: float | None, kept_under: float | None) -> Alert:
    """No portfolio meeting the rest of the policy is within the TE budget: say what was done instead."""
    return Alert(
        "tracking_error_over_budget",
        f"no portfolio that meets the rest of the policy is within the tracking-error budget {budget:.4%}"
        + (f"; the minimum, {te_floor:.4%}, is the budget that would be needed" if te_floor else "")
        + (f"; rebalanced with the tax objective kept under {kept_under:.4%}" if kept_under is not None
           else "; rebalanced to minimum tracking error (tax cost not traded against it)"),
        te_floor,
        budget,
    )


def _fewest_drops(
    rules: Sequence[str], te_sq: Callable[[Sequence[str]], float], budget_sq: float, steps: int
) -> list[str]:
    """Exclusion rules whose removal brings minimum TE^2 within ``budget_sq``: greedy, then pruned.

    Greedy adds the rule whose drop lowers TE most; pruning then restores every rule the others make
    unnecessary, so no rule in the answer can be kept. ``[]``: not reachable within ``steps`` drops.
    """
    dropped: list[str] = []
    for _ in range(steps):
        trials = [(te_sq([*dropped, r]), r) for r in rules if r not in dropped]
        if not trials:
            return []
        best_te, best = min(trials, key=lambda t: t[0])
        dropped.append(best)
        if best_te <= budget_sq:
            break
    else:
        return []
    for r in list(dropped):
        if len(dropped) > 1 and te_sq([x for x in dropped if x != r]) <= budget_sq:
            dropped.remove(r)
    return dropped


# ---------------------------------------------------------------------- funding helpers


def apply_trades(holdings: Holdings, trades: Sequence[Trade], on: date, cash_flow: float = 0.0) -> Holdings:
    """The holdings after the trades fill at their prices on ``on`` (buys become new lots)."""
    sold: dict[str, Decimal] = {}
    for t in trades:
        if t.side == "sell" and t.lot is not None:
            sold[t.lot] = sold.get(t.lot, Decimal(0)) + t.quantity
    lots: list[Lot] = []
    for lot in holdings.lots:
        q = sold.get(lot.lot, Decimal(0))
        if q <= 0:
            lots.append(lot)
            continue
        left = lot.quantity - q
        if left > 0:
            frac = left / lot.quantity
            lots.append(
                replace(
                    lot,
                    quantity=left,
                    cost=(lot.cost * frac).quantize(Decimal("0.01")),
                    wash_sale_adjustment=(lot.wash_sale_adjustment * frac).quantize(Decimal("0.01")),
                )
            )
    cash = holdings.cash + cash_flow
    for k, t in enumerate(trades):
        if t.side == "sell":
            cash += t.value
        else:
            cash -= t.value
            cost = Decimal(repr(t.price)) * t.quantity
            lots.append(
                Lot(
                    account=holdings.account,
                    lot=f"{holdings.account}-{on.isoformat()}-{t.symbol}-{k}",
                    symbol=t.symbol,
                    quantity=t.quantity,
                    acquired=on,
                    cost=cost.quantize(Decimal("0.01")),
                    wash_sale_adjustment=Decimal(0),
                    holding_start=on,
                    long_term_on=_long_term_on(on),
                )
            )
    return Holdings(holdings.account, tuple(lots), cash, on)


def _outside_price(sym: str, prices: Mapping[str, float] | pd.Series | None, holdings: Holdings) -> float:
    """The price of a held name outside the universe (or without one in it): its value counts, it is not traded."""
    p = prices.get(sym) if prices is not None else None
    if p is None or not math.isfinite(float(p)):
        raise InputError.single("prices", None, sym, f"no price for held symbol {sym} on {holdings.as_of}")
    return float(p)


def _long_term_on(acquired: date) -> date:
    """Held more than one year: long-term from the day after the anniversary."""
    try:
        anniversary = acquired.replace(year=acquired.year + 1)
    except ValueError:  # Feb 29
        anniversary = date(acquired.year + 1, 3, 1) - timedelta(days=1)
    return anniversary + timedelta(days=1)


def staged_contributions(
    optimizer: TrackingErrorOptimizer,
    benchmark: Mapping[str, float] | pd.Series,
    holdings: Holdings,
    schedule: Sequence[tuple[date, float]],
    prices: Mapping[str, float] | Callable[[date], Mapping[str, float]],
    *,
    policy: Policy | None = None,
) -> list[ConstructionResult]:
    """Fund an account in stages: each ``(date, amount)`` adds cash, re-solves, and fills the trades.

    Each stage starts from the lots the previous stages bought, so later stages are tax-aware about them.
    """
    results: list[ConstructionResult] = []
    current = holdings
    for on, amount in schedule:
        current = Holdings(current.account, current.lots, current.cash + amount, on)
        px = prices(on) if callable(prices) else prices
        res = optimizer.solve(benchmark, current, prices=px, policy=policy)
        results.append(res)
        current = apply_trades(current, res.trades, on)
    return results


def result_frame(result: ConstructionResult) -> dict[str, Any]:
    """The result as plain JSON-ready data (an alias of ``as_dict`` kept for the facade)."""
    return result.as_dict()
