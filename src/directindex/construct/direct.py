"""The rebalance problem handed to Clarabel directly, as sparse matrices, without cvxpy in between.

The same problem as :class:`~directindex.construct.problem.ParametrizedProblem` with lot segments (see
:mod:`directindex.construct.terms` for each term), written in the variables that can move:

* ``buy_i`` only for names that may be bought (``buy_caps > 0`` and ``upper > 0``),
* ``sell_ik`` only for lot segments that hold something (``lot_caps > 0``),
* ``y = X a``, the factor part of the active weights (``k`` variables).

``w = h + M x`` and ``a = w - b`` are affine in those, so they are substituted rather than carried as
variables and equality rows; a name with nothing to buy or sell is a constant. A rebalance in a
backtest or a daily run holds a few hundred names in one to four segments each and has a third of its
names on a no-buy list, so the problem Clarabel factorizes is about a quarter of the cvxpy one, and there
is no compile step (cvxpy's DPP compile of the factor-loading parameter took 5-7 s for 500 names).

Clarabel's form: minimize ``x'Px/2 + q'x`` subject to ``A x + s = b``, ``s`` in a product of cones
(zero, nonnegative, second-order). Tested against the cvxpy problem in ``tests/construct/test_direct.py``.
"""

from __future__ import annotations

import time

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

    def __init__(self, structure: Structure, sector_membership: FloatArray, linear_solver: str = "faer"):
        if structure.segments <= 0:
            raise ValueError("DirectProblem models rebalances (lot segments); build from cash with cvxpy")
        self.structure = structure
        self.membership = np.asarray(sector_membership, dtype=float)
        self.linear_solver = linear_solver
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

        ib = np.flatnonzero((buy_caps > 0) & (upper > 0))
        is_, ks = np.nonzero(caps > 0)
        nb, ns = len(ib), len(is_)
        X = np.asarray(d.factor_loadings, float)
        k = X.shape[0]
        nt = nb + ns  # trade variables; then y (k)
        nx = nt + k
        cols = np.arange(nt)
        names = np.concatenate([ib, is_])
        signs = np.concatenate([np.ones(nb), -np.ones(ns)])
        M = sp.csr_matrix((signs, (names, cols)), shape=(n, nt))  # w - h = M x_trades
        moving = np.zeros(n, dtype=bool)
        moving[names] = True

        fixed = ~moving
        if np.any(h[fixed] > upper[fixed] + FIXED_TOL) or np.any(h[fixed] < lower[fixed] - FIXED_TOL):
            return SolveOutcome.failed(n, kseg, "infeasible", "a name that cannot trade is outside its bounds",
                                          time.perf_counter() - t0)

        ab = h - b  # a = ab + M x
        sd = np.asarray(d.specific_sd, float)
        dvar = sd**2

        # objective: y'y + a'Da + tax.sell + cost.(buy + sold)
        Mv = M.tocsc()
        P_trades = (Mv.T @ sp.diags(dvar) @ Mv) * 2.0
        P = sp.block_diag([P_trades, 2.0 * sp.identity(k)], format="csc")
        P = sp.triu(P, format="csc")
        tax = np.asarray(d.lot_tax, float).reshape(n, kseg)[is_, ks]
        cost = np.asarray(d.transaction_cost, float)
        q = np.concatenate([cost[ib], tax + cost[is_], np.zeros(k)])
        q[:nt] += 2.0 * (Mv.T @ (dvar * ab))
        constant = float(ab @ (dvar * ab))

        A = _Rows(nx)
        # zero cone: y - X M x = X ab ; sum(M x) = invested - sum(h)
        A.dense(np.hstack([-(X[:, names] * signs), np.eye(k)]), 0, X @ ab)
        A.dense(signs[None, :], 0, np.array([d.invested - h.sum()]))
        n_zero = A.n
        # nonnegative cone, each row r: (A x)_r <= rhs_r
        mv = np.flatnonzero(moving)
        up = mv[upper[mv] < NEVER]
        A.names(up, names, signs, upper[up] - h[up])
        sellable = np.zeros(n)
        np.add.at(sellable, is_, caps[is_, ks])
        lo = mv[lower[mv] > h[mv] - sellable[mv] - FIXED_TOL]  # only where the floor can bind
        A.names(lo, names, -signs, h[lo] - lower[lo])
        A.extend(np.arange(nt), np.arange(nt), -np.ones(nt), np.zeros(nt))  # buy >= 0, sell >= 0
        A.extend(np.arange(ns), nb + np.arange(ns), np.ones(ns), caps[is_, ks])  # sell <= caps
        capped = np.flatnonzero(buy_caps[ib] < NEVER)
        A.extend(np.arange(len(capped)), capped, np.ones(len(capped)), buy_caps[ib][capped])  # buy <= caps
        if self.structure.sectors:
            sec = self.membership @ h
            SM = self.membership[:, names] * signs
            A.dense(SM, 0, np.asarray(d.sector_upper, float) - sec)
            A.dense(-SM, 0, sec - np.asarray(d.sector_lower, float))
        if self.structure.tilts:
            Z = np.asarray(d.tilt_scores, float)
            za = Z @ ab
            ZM = Z[:, names] * signs
            A.dense(ZM, 0, np.asarray(d.tilt_upper, float) - za)
            A.dense(-ZM, 0, za - np.asarray(d.tilt_lower, float))
        if d.max_turnover < NEVER:
            A.dense(np.full((1, nt), 0.5), 0, np.array([d.max_turnover]))
        if d.gain_budget < NEVER:
            gain = np.asarray(d.lot_gain, float).reshape(n, kseg)[is_, ks]
            A.dense(gain[None, :], nb, np.array([d.gain_budget]))
        cones: list[object] = [clarabel.ZeroConeT(n_zero), clarabel.NonnegativeConeT(A.n - n_zero)]
        if d.te_budget_sq < NEVER:
            # ||(y, sd*a)|| <= sqrt(budget): the names that cannot trade are one constant entry
            first = A.n
            A.extend(np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.array([np.sqrt(d.te_budget_sq)]))
            A.extend(np.arange(k), nt + np.arange(k), -np.ones(k), np.zeros(k))
            A.names(mv, names, -sd[names] * signs, sd[mv] * ab[mv])
            A.extend(np.zeros(0, int), np.zeros(0, int), np.zeros(0),
                     np.array([float(np.sqrt(np.sum((sd[fixed] * ab[fixed]) ** 2)))]))
            cones.append(clarabel.SecondOrderConeT(A.n - first))
        Amat, bvec = A.build()

        settings = clarabel.DefaultSettings()
        settings.verbose = False
        for name, value in solver_options("CLARABEL", tolerance, max_iter).items():  # as through cvxpy
            setattr(settings, name, value)
        settings.direct_solve_method = self.linear_solver
        sol = clarabel.DefaultSolver(P, q, Amat, bvec, cones, settings).solve()
        status, message = _status(sol.status)
        if status != "optimal":
            return SolveOutcome.failed(n, kseg, status, message, time.perf_counter() - t0)
        x = np.asarray(sol.x, dtype=float)
        buy = np.zeros(n)
        buy[ib] = x[:nb]
        sell = np.zeros((n, kseg))
        sell[is_, ks] = x[nb:nt]
        w = h + M @ x[:nt]
        a = w - b
        te_sq = float(np.sum((X @ a) ** 2) + np.sum((sd * a) ** 2))
        objective = float(sol.obj_val) + constant
        return SolveOutcome(
            status,
            w,
            np.clip(buy, 0.0, None),
            np.clip(sell, 0.0, None),
            objective,
            te_sq,
            time.perf_counter() - t0,
            message,
        )


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

    def names(self, rows: np.ndarray, names: np.ndarray, values: np.ndarray, rhs: np.ndarray) -> None:
        """One row per name in ``rows``: ``values[j]`` on each trade variable ``j`` of that name."""
        pos = np.full(int(names.max(initial=-1)) + 1 if len(names) else 0, -1, dtype=np.int64)
        keep = rows[rows < len(pos)]
        pos[keep] = np.searchsorted(rows, keep)
        j = np.flatnonzero(pos[names] >= 0) if len(names) else np.zeros(0, dtype=np.int64)
        self.extend(pos[names[j]], j, values[j], rhs)

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
