"""Say why a portfolio problem is infeasible and what relaxation would make it feasible.

The elastic re-solve keeps the definitional constraints hard (long only, fully invested, trades that
add up) and gives every policy constraint a non-negative slack with a unit penalty: per-name upper and
lower bounds, sector bounds, tilt ranges, turnover and the gain budget. The slacks of its solution
name the constraints that bind against each other and by how much each would have to move. For
exclusions, which a user thinks of as rules rather than numbers, greedy re-solves find a small set of
rules whose removal makes the problem feasible.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import cvxpy as cp
import numpy as np

from directindex.construct.result import Diagnosis, Relaxation
from directindex.construct.terms import SolveInputs
from directindex.market.risk import FloatArray

TOL = 1e-7


def elastic_slacks(d: SolveInputs, membership: FloatArray, segments: int) -> dict[str, FloatArray]:
    """Minimal total slack that makes ``d`` feasible, by constraint group (zeros: already feasible)."""
    n = d.benchmark.shape[0]
    w = cp.Variable(n)
    up, lo = cp.Variable(n, nonneg=True), cp.Variable(n, nonneg=True)
    cons = [w >= 0, cp.sum(w) == d.invested, w <= d.upper + up, w >= d.lower - lo]
    slack_terms = [cp.sum(up), cp.sum(lo)]
    out_vars: dict[str, cp.Variable] = {"upper": up, "lower": lo}
    g = membership.shape[0]
    if g:
        slo, shi = cp.Variable(g, nonneg=True), cp.Variable(g, nonneg=True)
        cons += [membership @ w >= d.sector_lower - slo, membership @ w <= d.sector_upper + shi]
        slack_terms += [cp.sum(slo), cp.sum(shi)]
        out_vars |= {"sector_lower": slo, "sector_upper": shi}
    m = d.tilt_scores.shape[0]
    if m:
        tlo, thi = cp.Variable(m, nonneg=True), cp.Variable(m, nonneg=True)
        e = d.tilt_scores @ (w - d.benchmark)
        cons += [e >= d.tilt_lower - tlo, e <= d.tilt_upper + thi]
        # tilt units are z-score exposure; weight them like a weight so neither swamps the other
        slack_terms += [cp.sum(tlo), cp.sum(thi)]
        out_vars |= {"tilt_lower": tlo, "tilt_upper": thi}
    if segments:
        buy, sell = cp.Variable(n, nonneg=True), cp.Variable((n, segments), nonneg=True)
        tov, gain = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
        sold = cp.sum(sell, axis=1)
        cons += [
            w == d.holdings + buy - sold,
            sell <= d.lot_caps,
            (cp.sum(buy) + cp.sum(sold)) / 2 <= d.max_turnover + tov,
            cp.sum(cp.multiply(d.lot_gain, sell)) <= d.gain_budget + gain,
        ]
        slack_terms += [tov, gain]
        out_vars |= {"max_turnover": tov, "gain_budget": gain}
    prob = cp.Problem(cp.Minimize(cp.sum(cp.hstack(slack_terms))), cons)
    try:
        prob.solve(solver="CLARABEL")
    except cp.SolverError:
        prob.solve(solver="OSQP", eps_abs=1e-9, eps_rel=1e-9, max_iter=200_000)
    return {k: np.atleast_1d(np.asarray(v.value, dtype=float)) for k, v in out_vars.items()}


def total(slacks: Mapping[str, FloatArray]) -> float:
    return float(sum(np.clip(v, 0, None).sum() for v in slacks.values()))


def diagnose(
    d: SolveInputs,
    membership: FloatArray,
    segments: int,
    *,
    symbols: Sequence[str],
    upper_reasons: Mapping[int, str],
    lower_reasons: Mapping[int, str],
    sector_names: Sequence[str],
    tilt_names: Sequence[str],
    exclusion_rules: Sequence[str] = (),
    inputs_without: Callable[[Sequence[str]], SolveInputs] | None = None,
    account_value: float = 0.0,
    max_greedy_steps: int = 10,
) -> Diagnosis:
    """Elastic re-solve, then greedy exclusion drops; see the module docstring."""
    slacks = elastic_slacks(d, membership, segments)
    if total(slacks) <= TOL:
        return Diagnosis(True, "the policy constraints are consistent; the solver failed numerically")
    rel: list[Relaxation] = []
    for side, reasons, default, bound, sign in (
        ("upper", upper_reasons, "max_weight", d.upper, 1.0),
        ("lower", lower_reasons, "min_weight", d.lower, -1.0),
    ):
        by_reason: dict[str, list[int]] = {}
        for hit in np.flatnonzero(slacks[side] > TOL).tolist():
            by_reason.setdefault(reasons.get(hit, default), []).append(hit)
        for reason, idx in by_reason.items():
            if len(idx) <= 3:
                for i in idx:
                    rel.append(
                        Relaxation(reason, symbols[i], float(bound[i]), float(bound[i] + sign * slacks[side][i]))
                    )
            else:  # many names under one rule (a sector exclusion): the total weight it must give up
                names = ",".join(symbols[i] for i in idx[:5]) + (",..." if len(idx) > 5 else "")
                rel.append(
                    Relaxation(
                        reason,
                        f"{len(idx)} names ({names}), total weight",
                        float(bound[idx].sum()),
                        float(bound[idx].sum() + sign * slacks[side][idx].sum()),
                    )
                )
    for key, bound, sign in (("sector_lower", d.sector_lower, -1), ("sector_upper", d.sector_upper, 1)):
        for j in np.flatnonzero(slacks.get(key, np.zeros(0)) > TOL):
            rel.append(Relaxation(key, sector_names[int(j)], float(bound[j]), float(bound[j] + sign * slacks[key][j])))
    for key, bound, sign in (("tilt_lower", d.tilt_lower, -1), ("tilt_upper", d.tilt_upper, 1)):
        for j in np.flatnonzero(slacks.get(key, np.zeros(0)) > TOL):
            rel.append(Relaxation(key, tilt_names[int(j)], float(bound[j]), float(bound[j] + sign * slacks[key][j])))
    needed_gain = None
    if "max_turnover" in slacks and slacks["max_turnover"][0] > TOL:
        rel.append(Relaxation("max_turnover", "", d.max_turnover, d.max_turnover + float(slacks["max_turnover"][0])))
    if "gain_budget" in slacks and slacks["gain_budget"][0] > TOL:
        needed_gain = (d.gain_budget + float(slacks["gain_budget"][0])) * account_value
        rel.append(Relaxation("gain_budget", "dollars", d.gain_budget * account_value, needed_gain))

    drops: list[str] = []
    if inputs_without is not None and exclusion_rules:
        drops = _greedy_drops(d, membership, segments, list(exclusion_rules), inputs_without, max_greedy_steps)
    parts = [
        f"{r.constraint} ${r.current:,.0f} -> ${r.needed:,.0f}"
        if r.detail == "dollars"
        else f"{r.constraint} {r.detail}".strip() + f" {r.current:.4g} -> {r.needed:.4g}"
        for r in rel[:8]
    ]
    msg = "infeasible: " + "; ".join(parts) + (" ..." if len(rel) > 8 else "")
    if drops:
        msg += f"; dropping exclusion(s) {', '.join(drops)} would make it feasible"
    return Diagnosis(False, msg, tuple(rel), tuple(drops), needed_gain, None)


def _greedy_drops(
    d: SolveInputs,
    membership: FloatArray,
    segments: int,
    rules: list[str],
    inputs_without: Callable[[Sequence[str]], SolveInputs],
    steps: int,
) -> list[str]:
    """Drop, one at a time, the exclusion rule whose removal leaves the least total slack; then prune.

    Pruning restores each dropped rule the others make unnecessary (an early greedy pick that a later
    one covers), so every rule in the answer is needed: the set is irreducible, and for one or two rules
    (the usual case) the fewest.
    """

    def left(drop: Sequence[str]) -> float:
        return total(elastic_slacks(inputs_without(drop), membership, segments))

    dropped: list[str] = []
    for _ in range(steps):
        best: tuple[float, str] | None = None
        for r in rules:
            if r in dropped:
                continue
            slack = left([*dropped, r])
            if best is None or slack < best[0] - 1e-12:
                best = (slack, r)
            if slack <= TOL:
                break
        if best is None:
            return []
        dropped.append(best[1])
        if best[0] <= TOL:
            break
    else:
        return []  # no small set of exclusions is enough: other constraints bind too
    for r in list(dropped):
        if len(dropped) > 1 and left([x for x in dropped if x != r]) <= TOL:
            dropped.remove(r)
    return dropped
