"""The parametrized problem: terms composed once per *structure*, re-solved by setting parameter values.

The structure is what changes the shape of the problem: the universe size, the number of factors,
sectors and tilts, and whether trades from existing lots are modelled (with ``K`` lot segments per
name). Everything an account or a day changes (benchmark, risk model values, bounds, lots, budgets) is
a Parameter, so a fleet of accounts with the same structure shares one compiled problem.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from directindex.construct.terms import (
    ActiveWeights,
    Bounds,
    Budget,
    Constraint,
    FactorTilts,
    GainBudget,
    SectorWeights,
    SolveInputs,
    TaxCost,
    Term,
    TrackingErrorBudget,
    TrackingErrorSquared,
    Trades,
    TransactionCost,
    Turnover,
    Variables,
)
from directindex.market.risk import FloatArray


@dataclass(frozen=True)
class Structure:
    n: int
    k: int
    sectors: int
    tilts: int
    segments: int  # 0: build from cash, no trade variables


@dataclass(frozen=True)
class SolveOutcome:
    status: str  # "optimal", "infeasible", "solver_error"
    w: FloatArray
    buy: FloatArray
    sell: FloatArray
    objective: float
    te_sq: float
    seconds: float
    message: str = ""

    @classmethod
    def failed(cls, n: int, segments: int, status: str, message: str, seconds: float) -> SolveOutcome:
        """An outcome without a solution (``infeasible`` or ``solver_error``): zero weights, NaN figures."""
        zeros = np.zeros(n)
        return cls(status, zeros, zeros, np.zeros((n, segments)), float("nan"), float("nan"), seconds, message)


def solver_options(solver: str, tolerance: float, max_iter: int) -> dict[str, Any]:
    if solver == "CLARABEL":
        return {"tol_gap_abs": tolerance, "tol_gap_rel": tolerance, "tol_feas": tolerance, "max_iter": max_iter}
    if solver == "OSQP":
        return {"eps_abs": tolerance, "eps_rel": tolerance, "max_iter": 200_000, "polish": True}
    return {}


class ParametrizedProblem:
    """One compiled cvxpy problem and its terms; :meth:`solve` only sets parameter values."""

    def __init__(self, structure: Structure, sector_membership: FloatArray):
        s = structure
        self.structure = s
        self.vars = Variables(
            w=cp.Variable(s.n, name="w"),
            a=cp.Variable(s.n, name="a"),
            buy=cp.Variable(s.n, name="buy") if s.segments else None,
            sell=cp.Variable((s.n, s.segments), name="sell") if s.segments else None,
        )
        self.te = TrackingErrorSquared(s.n, s.k)
        self.objective_terms: list[Term] = [self.te]
        self.constraint_terms: list[Constraint] = [ActiveWeights(s.n), Bounds(s.n), Budget()]
        if s.sectors:
            self.constraint_terms.append(SectorWeights(sector_membership))
        if s.tilts:
            self.constraint_terms.append(FactorTilts(s.n, s.tilts))
        if s.segments:
            self.objective_terms += [TaxCost(s.n, s.segments), TransactionCost(s.n)]
            self.constraint_terms += [Trades(s.n, s.segments), Turnover(), GainBudget(s.n, s.segments)]
        expressions = [t.build(self.vars) for t in self.objective_terms]
        constraints: list[cp.Constraint] = []
        self.constraints_by_term: dict[str, list[cp.Constraint]] = {}
        for c in self.constraint_terms:
            built = c.build(self.vars)
            self.constraints_by_term[c.name] = built
            constraints += built
        if s.segments:
            # built after the objective so it can share the risk expression
            budget = TrackingErrorBudget(self.te)
            self.constraint_terms.append(budget)
            self.constraints_by_term[budget.name] = budget.build(self.vars)
            constraints += self.constraints_by_term[budget.name]
        self.objective_expressions = dict(zip([t.name for t in self.objective_terms], expressions, strict=True))
        self.problem = cp.Problem(cp.Minimize(cp.sum(expressions)), constraints)
        assert self.problem.is_dpp()
        self.solves = 0

    def update(self, d: SolveInputs) -> None:
        for t in self.objective_terms:
            t.update(d)
        for c in self.constraint_terms:
            c.update(d)

    def solve(
        self, d: SolveInputs, solver: str = "CLARABEL", tolerance: float = 1e-8, max_iter: int = 200
    ) -> SolveOutcome:
        self.update(d)
        n, kseg = self.structure.n, self.structure.segments
        t0 = time.perf_counter()
        status, message = "optimal", ""
        try:
            with warnings.catch_warnings():  # an inaccurate solution is reported in the result's alerts
                warnings.simplefilter("ignore", UserWarning)
                self.problem.solve(solver=solver, warm_start=True, **solver_options(solver, tolerance, max_iter))
            raw = self.problem.status
        except cp.SolverError as e:  # numerical trouble: reported, never raised
            raw, message = "solver_error", str(e)
        seconds = time.perf_counter() - t0
        self.solves += 1
        if raw in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            status = "infeasible"
        elif raw in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and self.vars.w.value is not None:
            status = "optimal"
            if raw == cp.OPTIMAL_INACCURATE:
                message = "solver reported optimal_inaccurate"
        else:
            status, message = "solver_error", message or f"solver status {raw}"
        if status != "optimal":
            return SolveOutcome.failed(n, kseg, status, message, seconds)
        w = np.asarray(self.vars.w.value, dtype=float)
        buy = np.asarray(self.vars.buy.value, dtype=float) if self.vars.buy is not None else np.clip(w, 0, None)
        sell = (
            np.asarray(self.vars.sell.value, dtype=float).reshape(n, kseg)
            if self.vars.sell is not None
            else np.zeros((n, 0))
        )
        te_val = float(np.asarray(self.te.expr.value)) if self.te.expr is not None else float("nan")
        return SolveOutcome(
            status,
            w,
            np.clip(buy, 0.0, None),
            np.clip(sell, 0.0, None),
            float(self.problem.value),
            te_val,
            seconds,
            message,
        )
