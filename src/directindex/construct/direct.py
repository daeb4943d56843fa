"""The rebalance problem handed to Clarabel directly, as sparse matrices, without cvxpy in between.

The same problem as :class:`~directindex.construct.problem.ParametrizedProblem` with lot segments (see
:mod:`directindex.construct.terms` for each term), written in the variables that can move:

* ``sell_ik`` only for lot segments that hold something (``lot_caps > 0``); the segments of one name that
  cost the same per unit sold are one variable (with taxes off, as in the minimum-TE floor, all of them),
* ``c_i``, the change in the weight of each name that trades; a buy is not a variable but what the change
  leaves after the sales, ``buy_i = c_i + sold_i`` (kept ``>= 0`` and under its cap where the name may be
  bought, ``buy_caps > 0`` and ``upper > 0``; ``c_i = -sold_i`` where it may not),
* ``y = X a``, the factor part of the active weights (``k`` variables), and when the exposures are sparse
  ``z = B'a`` (``k`` more, with ``y = L'z``; ``X = L'B'``).

``a = h - b + c`` on the names that trade; a name with nothing to buy or sell is a constant. With the buys
substituted out the problem has one variable and one equality row fewer per buyable name (on the 10-year
backtest's 218 solves, replayed: 462k rows against 516k, Clarabel 1.89 s against 1.99 s, weights within
2.7e-4). A bound on ``c`` is written only where it can bind (beyond what the trades allow on their own).
The factor rows ``y = X c`` are the problem's only dense rows, so they run over the names (one column each)
rather than over every trade variable: each dense row costs the factorization about as much as its length,
and there are two to three times as many trade variables as names. For the same reason they go through the exposures
when those are sparse (a market factor, one sector dummy a name, a few statistical factors: 7 non-zeros of
17 a name in the backtest's model): ``z = B'c`` rows as long as the non-zeros and a ``k x k`` block for
``y = L'z``; on the 10-year backtest's 223 solves, Clarabel took 4.3 s this way against 5.0 s through ``X``,
weights within 3.5e-4 of each other (the solver tolerance's reach). A rebalance in a backtest or a daily run holds a few
hundred names in one to four segments each and has a third of its names on a no-buy list, so the problem
Clarabel factorizes is about a quarter of the cvxpy one, and there is no compile step (cvxpy's DPP compile
of the factor-loading parameter took 5-7 s for 500 names).

Clarabel's form: minimize ``x'Px/2 + q'x`` subject to ``A x + s = b``, ``s`` in a product of cones
(zero, nonnegative, second-order). Tested against the cvxpy problem in ``tests/construct/test_direct.py``.
"""

from __future__ import annotations

import time
from typing import Any

import clarabel
import numpy as np
import scipy.sparse as sp

from directindex.construct.problem import SolveOutcome, Structure, solver_options
from directindex.construct.terms import OFF, SolveInputs
from directindex.market.risk import FloatArray

NEVER = OFF / 2  # a limit at or above this cannot bind (weights and fractions lie within [-2, 2])
FIXED_TOL = 1e-9  # a name that cannot trade must already sit within its bounds by this much


class DirectProblem:
    """A rebalance (``structure.segments > 0``) solved by Clarabel on matrices built per solve."""

    def __init__(self, structure: Structure, sector_membership: FloatArray, linear_solver: str = "faer",
                 refine: bool = False):
        if structure.segments <= 0:
            raise ValueError("DirectProblem models rebalances (lot segments); build from cash with cvxpy")
        self.structure = structure
        self.membership = np.asarray(sector_membership, dtype=float)
        self.linear_solver = linear_solver
        self.refine = refine
        self.solves = 0

    def solve(
        self, d: SolveInputs, solver: str = "CLARABEL", tolerance: float = 1e-8, max_iter: int = 200
    ) -> SolveOutcome:
        if solver != "CLARABEL":
            raise ValueError(f"DirectProblem solves with Clarabel, not {solver}")
        t0 = time.perf_counter()
        self.solves += 1
        n, kseg = self.structure.n, self.structure.segments
        h, b = np.asarray(d.holdings, float), np.asarray(d.benchmark, float)
        caps = np.asarray(d.lot_caps, float).reshape(n, kseg)
        buy_caps = np.full(n, OFF) if d.buy_caps is None else np.asarray(d.buy_caps, float)
        upper, lower = np.asarray(d.upper, float), np.asarray(d.lower, float)
        tax_all = np.asarray(d.lot_tax, float).reshape(n, kseg)
        gain_on = d.gain_budget < NEVER
        gain_all = np.asarray(d.lot_gain, float).reshape(n, kseg)

        ib = np.flatnonzero((buy_caps > 0) & (upper > 0))
        is_, ks = np.nonzero(caps > 0)
        # segments of one name that cost the same per unit sold (all of them when taxes are off) are one
        # variable: which of them a sale relieves changes nothing the problem can see
        if len(is_):
            same = np.ones(len(is_), dtype=bool)
            same[1:] = (is_[1:] != is_[:-1]) | (tax_all[is_[1:], ks[1:]] != tax_all[is_[:-1], ks[:-1]])
            if gain_on:
                same[1:] |= gain_all[is_[1:], ks[1:]] != gain_all[is_[:-1], ks[:-1]]
        else:
            same = np.zeros(0, dtype=bool)
        var_of_seg = np.cumsum(same) - 1  # sell variable of each segment
        first = np.flatnonzero(same)  # each sell variable's first segment
        ns = len(first)
        s_name = is_[first]
        s_cap = np.bincount(var_of_seg, weights=caps[is_, ks], minlength=ns) if ns else np.zeros(0)
        s_tax = tax_all[is_[first], ks[first]] if ns else np.zeros(0)
        s_gain = gain_all[is_[first], ks[first]] if ns else np.zeros(0)
        cost = np.asarray(d.transaction_cost, float)
        sellable = np.asarray(np.bincount(s_name, weights=s_cap, minlength=n), dtype=float)  # per name
        buyable = np.zeros(n)  # per name, the weight that may be bought (NEVER: no cap)
        buyable[ib] = np.minimum(buy_caps[ib], NEVER)
        if (not np.any(tax_all) and not np.any(cost) and d.max_turnover >= NEVER and not gain_on
                and d.te_budget_sq >= NEVER):
            return self._min_te(d, t0, h, b, caps, sellable, buyable, upper, lower, tolerance, max_iter)
        # variables: the sells (ns), then c = the change in each moving name's weight (nm), then y = X a (k),
        # then (when the exposures are sparse) z = B'a (kz). A buy is not a variable: it is what the weight
        # change leaves after the sales, ``buy = c + sold`` (zero for a name that cannot be bought).
        moving = np.zeros(n, dtype=bool)
        moving[ib] = True
        moving[s_name] = True
        if _fixed_outside(moving, h, upper, lower):
            return SolveOutcome.failed(n, kseg, "infeasible", FIXED_OUTSIDE, time.perf_counter() - t0)
        mv, fixed = np.flatnonzero(moving), ~moving
        nm = len(mv)
        X = np.asarray(d.factor_loadings, float)
        k = X.shape[0]
        through = _through_exposures(d, mv)
        kz = k if through else 0
        c0, y0 = ns, ns + nm
        nx = ns + nm + k + kz
        slot = np.full(n, -1, dtype=np.int64)
        slot[mv] = np.arange(nm)
        can_buy = np.zeros(n, dtype=bool)
        can_buy[ib] = True
        ab = h - b  # a = ab + c on the moving names
        sd = np.asarray(d.specific_sd, float)
        dvar = sd**2

        # objective: y'y + a'Da + tax.sell + cost.(buy + sold), with buy = c + sold where a name can be bought
        P = _diagonal(np.concatenate([np.zeros(ns), 2.0 * dvar[mv], np.full(k, 2.0), np.zeros(kz)]))
        q = np.concatenate([s_tax + cost[s_name] * (1.0 + can_buy[s_name]),
                            2.0 * dvar[mv] * ab[mv] + np.where(can_buy[mv], cost[mv], 0.0), np.zeros(k + kz)])
        constant = float(ab @ (dvar * ab))

        def bought(which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """Entries of ``c_i + sold_i``, one row per name of ``which`` in its order: rows, columns."""
            row = np.full(n, -1, dtype=np.int64)
            row[which] = np.arange(len(which))
            on = row[s_name] >= 0
            return (np.concatenate([row[which], row[s_name[on]]]),
                    np.concatenate([c0 + slot[which], np.flatnonzero(on)]))

        A = _Rows(nx)
        # zero cone: c + sold = 0 where nothing can be bought ; y - X c = X ab ; sum(c) = invested - sum(h)
        no_buy = mv[~can_buy[mv]]
        r, c = bought(no_buy)
        A.extend(r, c, np.ones(len(r)), np.zeros(len(no_buy)))
        _factor_rows(A, d, X, mv, ab, c0, y0, through)
        A.extend(np.zeros(nm, dtype=np.int64), c0 + np.arange(nm), np.ones(nm), np.array([d.invested - h.sum()]))
        n_zero = A.n
        # nonnegative cone, each row r: (A x)_r <= rhs_r
        # a bound on c only where it can bind: above what the trades allow on their own (c <= buyable,
        # c >= -sellable). Selling a whole name already meets a floor of zero, so the row for it would be
        # a second constraint active at the same point (degenerate), not a limit.
        up = np.flatnonzero(upper[mv] - h[mv] < buyable[mv] - FIXED_TOL)
        A.extend(np.arange(len(up)), c0 + up, np.ones(len(up)), upper[mv][up] - h[mv][up])
        lo = np.flatnonzero(lower[mv] - h[mv] > -sellable[mv] + FIXED_TOL)
        A.extend(np.arange(len(lo)), c0 + lo, -np.ones(len(lo)), h[mv][lo] - lower[mv][lo])
        r, c = bought(ib)
        A.extend(r, c, -np.ones(len(r)), np.zeros(len(ib)))  # buy >= 0
        A.extend(np.arange(ns), np.arange(ns), -np.ones(ns), np.zeros(ns))  # sell >= 0
        A.extend(np.arange(ns), np.arange(ns), np.ones(ns), s_cap)  # sell <= caps
        capped = ib[buy_caps[ib] < NEVER]
        r, c = bought(capped)
        A.extend(r, c, np.ones(len(r)), buy_caps[capped])  # buy <= caps
        self._policy_rows(A, d, h, ab, mv, c0)
        if d.max_turnover < NEVER:
            # (buy + sold) / 2 = (c + 2 sold) / 2 where a name can be bought, sold / 2 where not
            A.dense(np.concatenate([0.5 * (1.0 + can_buy[s_name]), 0.5 * can_buy[mv]])[None, :], 0,
                    np.array([d.max_turnover]))
        if gain_on:
            A.dense(s_gain[None, :], 0, np.array([d.gain_budget]))
        cones: list[object] = [clarabel.ZeroConeT(n_zero), clarabel.NonnegativeConeT(A.n - n_zero)]
        if d.te_budget_sq < NEVER:
            # ||(y, sd*a)|| <= sqrt(budget): the names that cannot trade are one constant entry
            soc = A.n
            A.extend(np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.array([np.sqrt(d.te_budget_sq)]))
            A.extend(np.arange(k), y0 + np.arange(k), -np.ones(k), np.zeros(k))
            A.extend(np.arange(nm), c0 + np.arange(nm), -sd[mv], sd[mv] * ab[mv])
            A.extend(np.zeros(0, int), np.zeros(0, int), np.zeros(0),
                     np.array([float(np.sqrt(np.sum((sd[fixed] * ab[fixed]) ** 2)))]))
            cones.append(clarabel.SecondOrderConeT(A.n - soc))
        Amat, bvec = A.build()
        sol, status, message = self._clarabel(P, q, Amat, bvec, cones, tolerance, max_iter)
        if status != "optimal":
            return SolveOutcome.failed(n, kseg, status, message, time.perf_counter() - t0)
        xs = np.asarray(sol.x, dtype=float)
        x = np.clip(xs[:ns], 0.0, None)
        sold = np.bincount(s_name, weights=x, minlength=n) if ns else np.zeros(n)
        buy = np.zeros(n)
        buy[ib] = np.clip(xs[c0 + slot[ib]] + sold[ib], 0.0, None)
        # a merged variable relieves its segments in order, each up to its cap
        seg_cap = caps[is_, ks]
        before = np.cumsum(seg_cap) - seg_cap - (np.cumsum(s_cap) - s_cap)[var_of_seg] if ns else seg_cap
        sell = np.zeros((n, kseg))
        if ns:
            sell[is_, ks] = np.clip(x[var_of_seg] - before, 0.0, seg_cap)
        return _outcome(h, b, buy, sell, X, sd, float(sol.obj_val) + constant, t0, message)

    def _policy_rows(self, A: _Rows, d: SolveInputs, h: FloatArray, ab: FloatArray, mv: np.ndarray, c0: int) -> None:
        """Sector and tilt bands: dense rows over the moving names' weight changes (columns from ``c0``)."""
        if self.structure.sectors:
            sec = self.membership @ h
            SM = self.membership[:, mv]
            A.dense(SM, c0, np.asarray(d.sector_upper, float) - sec)
            A.dense(-SM, c0, sec - np.asarray(d.sector_lower, float))
        if self.structure.tilts:
            Z = np.asarray(d.tilt_scores, float)
            za = Z @ ab
            A.dense(Z[:, mv], c0, np.asarray(d.tilt_upper, float) - za)
            A.dense(-Z[:, mv], c0, za - np.asarray(d.tilt_lower, float))

    def _clarabel(self, P: sp.csc_matrix, q: FloatArray, A: sp.csc_matrix, b: FloatArray, cones: list[object],
                  tolerance: float, max_iter: int) -> tuple[Any, str, str]:
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        for name, value in solver_options("CLARABEL", tolerance, max_iter).items():  # as through cvxpy
            setattr(settings, name, value)
        settings.direct_solve_method = self.linear_solver
        # Without iterative refinement an iteration costs about a third less and the answers agree to the
        # tolerance; the few problems that then stall (InsufficientProgress) are solved again with it.
        settings.iterative_refinement_enable = self.refine
        # A static regularization of 1e-6 (Clarabel's default is 1e-8) on the KKT diagonal: on the 223 solves
        # of the 10-year backtest, none stalls (10 did, each solved again) and 1 ends AlmostSolved (13 did), for
        # 8% fewer iterations; the solutions stay as close to a 1e-10 reference (median 6e-5, max 4e-4).
        settings.static_regularization_constant = STATIC_REGULARIZATION
        sol = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
        status, message = _status(sol.status)
        if status == "solver_error" and not self.refine:
            settings.iterative_refinement_enable = True
            sol = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
            status, message = _status(sol.status)
        return sol, status, message

    def _min_te(self, d: SolveInputs, t0: float, h: FloatArray, b: FloatArray, caps: FloatArray,
                sellable: FloatArray, buyable: FloatArray, upper: FloatArray, lower: FloatArray,
                tolerance: float, max_iter: int) -> SolveOutcome:
        """Minimum tracking error with no tax and no costs (the floor of the budget), in the weight changes alone.

        Nothing then tells a buy from a sale but its sign, so each name that can trade is one variable
        ``c_i`` in ``[max(lower - h, -sellable), min(upper - h, buyable)]``: a third of the variables and
        rows of the full problem. A sale relieves the name's segments in order, as a merged variable does.
        """
        n, kseg = self.structure.n, self.structure.segments
        moving = (sellable > 0) | (buyable > 0)
        if _fixed_outside(moving, h, upper, lower):
            return SolveOutcome.failed(n, kseg, "infeasible", FIXED_OUTSIDE, time.perf_counter() - t0)
        mv = np.flatnonzero(moving)
        nm = len(mv)
        X = np.asarray(d.factor_loadings, float)
        k = X.shape[0]
        ab = h - b
        sd = np.asarray(d.specific_sd, float)
        dvar = sd**2
        through = _through_exposures(d, mv)
        kz = k if through else 0  # z = B'a after y when the exposures are sparse
        P = _diagonal(np.concatenate([2.0 * dvar[mv], np.full(k, 2.0), np.zeros(kz)]))
        q = np.concatenate([2.0 * dvar[mv] * ab[mv], np.zeros(k + kz)])
        A = _Rows(nm + k + kz)
        # zero cone: y - X c = X ab ; sum(c) = invested - sum(h)
        _factor_rows(A, d, X, mv, ab, 0, nm, through)
        A.extend(np.zeros(nm, dtype=np.int64), np.arange(nm), np.ones(nm), np.array([d.invested - h.sum()]))
        n_zero = A.n
        hi = np.minimum(upper[mv] - h[mv], buyable[mv])
        lo = np.maximum(lower[mv] - h[mv], -sellable[mv])
        A.extend(np.arange(nm), np.arange(nm), np.ones(nm), hi)
        A.extend(np.arange(nm), np.arange(nm), -np.ones(nm), -lo)
        self._policy_rows(A, d, h, ab, mv, 0)
        Amat, bvec = A.build()
        cones: list[object] = [clarabel.ZeroConeT(n_zero), clarabel.NonnegativeConeT(A.n - n_zero)]
        sol, status, message = self._clarabel(P, q, Amat, bvec, cones, tolerance, max_iter)
        if status != "optimal":
            return SolveOutcome.failed(n, kseg, status, message, time.perf_counter() - t0)
        c = np.zeros(n)
        c[mv] = np.clip(np.asarray(sol.x, dtype=float)[:nm], lo, hi)
        buy = np.clip(c, 0.0, None)
        sold = np.clip(-c, 0.0, None)
        before = np.cumsum(caps, axis=1) - caps  # each segment relieved after the ones before it
        sell = np.clip(sold[:, None] - before, 0.0, caps)
        return _outcome(h, b, buy, sell, X, sd, float(sol.obj_val) + float(ab @ (dvar * ab)), t0, message)


FIXED_OUTSIDE = "a name that cannot trade is outside its bounds"
STATIC_REGULARIZATION = 1e-6
SPARSE_EXPOSURES = 0.6  # write the factor rows through the exposures when at most this share of them is non-zero


def _through_exposures(d: SolveInputs, mv: np.ndarray) -> bool:
    """Whether to write ``y = X a`` as ``z = B'a, y = L'z`` (the moving names' exposures are sparse).

    That is ``k`` more variables and rows, and the dense rows only as long as the exposures' non-zeros
    (a market factor, one sector dummy per name and a few statistical factors: 7 of 17 in the backtest).
    """
    if d.factor_exposures is None or d.factor_root is None or not len(mv):
        return False
    return bool(np.count_nonzero(d.factor_exposures[mv]) <= SPARSE_EXPOSURES * d.factor_exposures[mv].size)


def _factor_rows(A: _Rows, d: SolveInputs, X: FloatArray, mv: np.ndarray, ab: FloatArray, c0: int, y0: int,
                 through: bool) -> None:
    """The zero-cone rows for ``y = X a``, ``a = ab + c`` (``c`` in the columns from ``c0``, ``y`` from ``y0``).

    Directly: ``y - X c = X ab``. Through the exposures (``X = L'B'``, ``z`` after ``y``): ``z - B'c = B'ab``
    and ``y - L'z = 0``.
    """
    k = X.shape[0]
    if not through:
        A.dense(np.hstack([-X[:, mv], np.eye(k)]), c0, X @ ab)
        return
    B = np.asarray(d.factor_exposures, float)
    L = np.asarray(d.factor_root, float)
    z0 = y0 + k
    Bt = B[mv].T
    rr, cc = np.nonzero(Bt)
    A.extend(np.concatenate([rr, np.arange(k)]), np.concatenate([c0 + cc, z0 + np.arange(k)]),
             np.concatenate([-Bt[rr, cc], np.ones(k)]), B.T @ ab)
    A.dense(np.hstack([np.eye(k), -L.T]), y0, np.zeros(k))


def _diagonal(diag: FloatArray) -> sp.csc_matrix:
    """A diagonal P without its zeros (as ``sp.diags`` builds it, five times faster)."""
    on = np.flatnonzero(diag)
    return sp.csc_matrix((diag[on], on, np.r_[0, np.cumsum(diag != 0)]), shape=(len(diag), len(diag)))


def _outcome(h: FloatArray, b: FloatArray, buy: FloatArray, sell: FloatArray, X: FloatArray, sd: FloatArray,
             objective: float, t0: float, message: str) -> SolveOutcome:
    """An optimal solve's weights and their TE, recomputed from the trades (not read off the solver)."""
    w = h + buy - sell.sum(axis=1)
    a = w - b
    te_sq = float(np.sum((X @ a) ** 2) + np.sum((sd * a) ** 2))
    return SolveOutcome("optimal", w, buy, sell, objective, te_sq, time.perf_counter() - t0, message)


def _fixed_outside(moving: np.ndarray, h: FloatArray, upper: FloatArray, lower: FloatArray) -> bool:
    """Whether a name that cannot trade holds a weight outside its bounds (then no portfolio is feasible)."""
    fixed = ~moving
    return bool(np.any(h[fixed] > upper[fixed] + FIXED_TOL) or np.any(h[fixed] < lower[fixed] - FIXED_TOL))


class _Rows:
    """Constraint rows ``A x (+ s) = b`` gathered as COO triplets, one block at a time."""

    def __init__(self, nx: int):
        self.nx = nx
        self.n = 0
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.b: list[np.ndarray] = []

    def extend(self, r: np.ndarray, c: np.ndarray, v: np.ndarray, rhs: np.ndarray) -> None:
        """A block of ``len(rhs)`` rows with entries ``(r, c, v)``, ``r`` counted from the block's first row."""
        self.r.append(np.asarray(r, dtype=np.int64) + self.n)
        self.c.append(np.asarray(c, dtype=np.int64))
        self.v.append(np.asarray(v, dtype=float))
        self.b.append(np.asarray(rhs, dtype=float))
        self.n += len(rhs)

    def dense(self, block: np.ndarray, col0: int, rhs: np.ndarray) -> None:
        """A dense block over columns ``col0 .. col0 + width``."""
        rr, cc = np.nonzero(block)
        self.extend(rr, cc + col0, block[rr, cc], rhs)

    def build(self) -> tuple[sp.csc_matrix, np.ndarray]:
        r, c, v = (np.concatenate(x) for x in (self.r, self.c, self.v))
        return sp.csc_matrix((v, (r, c)), shape=(self.n, self.nx)), np.concatenate(self.b)


def _status(s: object) -> tuple[str, str]:
    name = str(s).rsplit(".", 1)[-1]
    if name == "Solved":
        return "optimal", ""
    if name == "AlmostSolved":
        return "optimal", "solver reported optimal_inaccurate"
    if name in ("PrimalInfeasible", "AlmostPrimalInfeasible"):
        return "infeasible", ""
    return "solver_error", f"solver status {name}"
