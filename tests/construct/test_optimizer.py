"""The optimizer end to end on random markets: constraints hold in the result, tracking error is
recomputed independently, budgets are respected, and infeasible policies come back diagnosed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from directindex.construct import (
    Exclusions,
    Holdings,
    Policy,
    SectorBounds,
    SolverConfig,
    Tilt,
    TrackingErrorOptimizer,
    Trade,
    staged_contributions,
)
from directindex.construct.lots import LotColumns
from directindex.construct.problem import ParametrizedProblem
from directindex.errors import InputError

from .construct_fixtures import make_lot, random_lots

AS_OF = date(2026, 6, 30)


def numpy_te(rm, weights: dict[str, float], bench: dict[str, float]) -> float:
    w = np.array([weights.get(s, 0.0) for s in rm.symbols])
    b = np.array([bench.get(s, 0.0) for s in rm.symbols])
    b = b / b.sum()
    a = w - b
    cov = rm.exposures @ rm.factor_cov @ rm.exposures.T + np.diag(rm.specific_var)
    return float(np.sqrt(a @ cov @ a))


@pytest.fixture(scope="module", params=["cvxpy", "direct"])
def backend(request) -> str:
    """Every test runs on both backends: the compiled cvxpy problem and the direct Clarabel matrices."""
    return str(request.param)


@pytest.fixture(scope="module")
def opt(market, backend):
    rm, uni, _, _ = market
    return TrackingErrorOptimizer(rm, uni, solver=SolverConfig(backend=backend))


def sector_weight(uni, weights, sector):
    return sum(w for s, w in weights.items() if uni.sectors[uni.symbols.index(s)] == sector)


def test_construct_respects_exclusions_sectors_tilts_and_reports_te(market, opt) -> None:
    rm, uni, bench, _ = market
    policy = Policy(
        te_budget=0.05,
        cash_target=0.01,
        exclusions=Exclusions(symbols=("S000", "S001"), industries=("Ind3",), predicates=("esg_tobacco=true",)),
        sector_bounds=SectorBounds(band=0.02, per_sector=(("Sector2", 0.01, 0.01),)),
        tilts=(Tilt("value", 0.1, 0.3), Tilt("quality", -0.05, 0.05)),
    )
    r = opt.solve(bench, policy=policy)
    assert r.status == "optimal"
    excluded = set(uni.excluded(policy.exclusions))
    assert {"S000", "S001", "S003"} <= excluded  # S003: Ind3 and the tobacco flag
    assert all(r.weights.get(s, 0.0) == 0.0 for s in excluded)
    assert sum(r.weights.values()) == pytest.approx(0.99, abs=1e-9)
    assert min(r.weights.values()) >= 0
    for sector in uni.sector_names():
        bw = sector_weight(uni, bench, sector)
        band = 0.01 if sector == "Sector2" else 0.02
        assert bw - band - 1e-7 <= sector_weight(uni, r.weights, sector) <= bw + band + 1e-7
    w = np.array([r.weights.get(s, 0.0) for s in uni.symbols])
    b = np.array([bench[s] for s in uni.symbols])
    value_exposure = uni.score("value") @ (w - b)
    assert 0.1 - 1e-6 <= value_exposure <= 0.3 + 1e-6
    assert r.ex_ante_tracking_error == pytest.approx(numpy_te(rm, dict(r.weights), bench), rel=1e-9)
    assert r.solver_tracking_error == pytest.approx(r.ex_ante_tracking_error, rel=1e-5, abs=1e-7)
    at_bound = abs(value_exposure - 0.1) < 1e-6 or abs(value_exposure - 0.3) < 1e-6
    assert at_bound == any(c.name.startswith("tilt_") and c.detail == "value" for c in r.active_constraints)
    assert any(c.name.startswith("exclusion") for c in r.active_constraints)


def test_over_budget_is_an_alert_with_the_figure(market, opt) -> None:
    _, _, bench, _ = market
    r = opt.solve(
        bench, policy=Policy(te_budget=0.001, exclusions=Exclusions(sectors=("Sector1",)), sector_bounds=None)
    )
    assert r.status == "optimal"
    alert = next(a for a in r.alerts if a.code == "tracking_error_over_budget")
    assert alert.value == pytest.approx(r.ex_ante_tracking_error)
    assert alert.limit == 0.001


def test_max_names_and_min_position(market, opt) -> None:
    _, _, bench, _ = market
    r = opt.solve(bench, policy=Policy(max_names=25, min_position=0.01, sector_bounds=None))
    assert len(r.weights) <= 25
    assert min(r.weights.values()) >= 0.01 - 1e-9
    assert sum(r.weights.values()) == pytest.approx(1.0, abs=1e-9)


def test_infeasible_policy_is_diagnosed_not_raised(market, opt) -> None:
    _, _, bench, _ = market
    policy = Policy(
        exclusions=Exclusions(symbols=("S005",), sectors=("Sector0",)), sector_bounds=SectorBounds(band=0.01)
    )
    r = opt.solve(bench, policy=policy)
    assert r.status == "infeasible"
    assert r.diagnosis is not None and not r.diagnosis.feasible
    assert r.diagnosis.drop_exclusions == ("sector:Sector0",)
    kinds = {x.constraint for x in r.diagnosis.relaxations}
    assert "exclusion:sector:Sector0" in kinds or "sector_lower" in kinds
    assert any(a.code == "infeasible" for a in r.alerts)


def test_infeasible_tilt_names_the_tilt(market, opt) -> None:
    _, _, bench, _ = market
    r = opt.solve(bench, policy=Policy(tilts=(Tilt("value", 5.0, 6.0),)))
    assert r.status == "infeasible"
    assert any(x.constraint == "tilt_lower" and x.detail == "value" for x in r.diagnosis.relaxations)


@pytest.fixture(scope="module")
def account(market):
    _, _, _, prices = market
    return Holdings("A", random_lots(prices), 20_000.0, AS_OF)


def test_rebalance_trades_lots_and_recomputes_te(market, opt, account) -> None:
    rm, uni, bench, prices = market
    policy = Policy(te_budget=0.02, exclusions=Exclusions(symbols=("S002",)), no_buy=frozenset({"S004"}))
    r = opt.solve(bench, account, prices=prices, policy=policy)
    assert r.status in ("optimal", "fallback_min_te")
    held = {lot.lot: lot for lot in account.lots}
    for t in r.trades:
        if t.side == "sell":
            assert t.lot in held and t.quantity <= held[t.lot].quantity
        assert not (t.side == "buy" and t.symbol in ("S002", "S004"))
    assert r.weights.get("S002", 0.0) == 0.0  # the excluded holding is sold in full
    # weights are what the trades leave, TE recomputed from them
    value = {s: 0.0 for s in uni.symbols}
    for lot in account.lots:
        value[lot.symbol] += float(lot.quantity) * prices[lot.symbol]
    for t in r.trades:
        value[t.symbol] += float(t.quantity) * t.price * (1 if t.side == "buy" else -1)
    w = {s: v / r.account_value for s, v in value.items() if v > 1e-9}
    assert dict(r.weights) == pytest.approx(w, abs=1e-12)
    assert r.ex_ante_tracking_error == pytest.approx(numpy_te(rm, w, bench), rel=1e-9)
    assert r.ex_ante_tracking_error < r.tracking_error_before
    by_lot = sum(t.estimated_gain for t in r.trades if t.side == "sell")
    assert r.realized_gain == pytest.approx(by_lot)
    # no name is both bought and sold (a wash-sale round trip)
    assert not ({t.symbol for t in r.trades if t.side == "buy"} & {t.symbol for t in r.trades if t.side == "sell"})


def test_gain_budget_and_turnover_are_respected(market, opt, account) -> None:
    _, _, bench, prices = market
    free = opt.solve(bench, account, prices=prices, policy=Policy(te_budget=0.001, tax_aversion=0.0))
    gains_free = sum(t.estimated_gain for t in free.trades if t.side == "sell" and t.estimated_gain > 0)
    assert gains_free > 1000  # the unconstrained rebalance would realize gains
    policy = Policy(te_budget=0.5, gain_budget=0.0, max_turnover=0.2)
    r = opt.solve(bench, account, prices=prices, policy=policy)
    assert r.status == "optimal"
    assert r.realized_gain <= 1.0  # whole-share rounding tolerance
    assert r.turnover <= 0.2 + 0.01
    assert any(c.name in ("gain_budget", "max_turnover") for c in r.active_constraints)


def test_gain_budget_too_small_for_a_forced_sale_is_diagnosed(market, opt) -> None:
    _, _, bench, prices = market
    lots = (make_lot("S010", "big-gain", 500, prices["S010"] * 0.2, date(2015, 1, 2)),)
    h = Holdings("A", lots, 10_000.0, AS_OF)
    r = opt.solve(
        bench,
        h,
        prices=prices,
        policy=Policy(exclusions=Exclusions(symbols=("S010",)), gain_budget=100.0, sector_bounds=None),
    )
    assert r.status == "infeasible"
    needed = r.diagnosis.needed_gain_budget
    assert needed == pytest.approx(500 * prices["S010"] * 0.8, rel=1e-4)
    assert r.diagnosis.drop_exclusions == ("symbol:S010",)


def test_te_budget_unreachable_with_tax_falls_back_to_min_te(market, opt, account) -> None:
    _, _, bench, prices = market
    r = opt.solve(
        bench, account, prices=prices, policy=Policy(te_budget=1e-5, exclusions=Exclusions(symbols=("S003", "S020")))
    )
    assert r.status == "fallback_min_te"
    assert any(a.code == "tracking_error_over_budget" for a in r.alerts)


def trade_key(t: Trade) -> tuple[str, str, str | None, Decimal]:
    return t.symbol, t.side, t.lot, t.quantity


def test_relax_keeps_the_tax_objective_just_above_the_least_te_and_starts_from_the_floor_every_time(
    market, account, backend
) -> None:
    """``over_budget="relax"``: an unreachable budget gets the least TE the rest of the policy allows, then
    the tax objective under a budget 10% above it (so less tax than minimum TE with tax ignored). Every
    rebalance finds the floor first, so the same account gets the same answer from the same number of solves
    (no history of earlier rebalances changes what is solved)."""
    rm, uni, bench, prices = market
    policy = Policy(te_budget=1e-5, exclusions=Exclusions(symbols=("S003", "S020")))
    plain = TrackingErrorOptimizer(rm, uni).solve(bench, account, prices=prices, policy=policy)
    relaxed_opt = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(over_budget="relax", backend=backend))
    first = relaxed_opt.solve(bench, account, prices=prices, policy=policy)
    assert plain.status == "fallback_min_te" and first.status == "fallback_relaxed_te"
    alert = next(a for a in first.alerts if a.code == "tracking_error_over_budget")
    floor = alert.value
    assert floor is not None and floor > policy.te_budget
    assert first.solver_tracking_error <= floor * 1.10 + 1e-5
    assert first.tax_cost <= plain.tax_cost + 1e-9
    assert first.solves >= 2  # the floor, then the tax objective under the relaxed budget (and any refinement)
    again = relaxed_opt.solve(bench, account, prices=prices, policy=policy)
    assert again.status == "fallback_relaxed_te" and again.solves == first.solves
    assert [trade_key(t) for t in again.trades] == [trade_key(t) for t in first.trades]


def test_the_direct_floor_matches_the_cvxpy_floor(market, account) -> None:
    """The direct backend's minimum-TE floor (weight changes only, see ``DirectProblem._min_te``) is the same
    optimum as the cvxpy lot-segment formulation with tax and costs off: the same least TE, reported in the
    over-budget alert."""
    rm, uni, bench, prices = market
    policy = Policy(te_budget=1e-5, exclusions=Exclusions(symbols=("S003", "S020")), transaction_cost=0.001)
    floors = []
    for backend in ("cvxpy", "direct"):
        opt = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(over_budget="relax", backend=backend))
        r = opt.solve(bench, account, prices=prices, policy=policy)
        floors.append(next(a for a in r.alerts if a.code == "tracking_error_over_budget").value)
    assert floors[0] is not None and floors[1] is not None and floors[0] > 0
    assert floors[1] == pytest.approx(floors[0], rel=1e-4)


def test_relax_within_budget_gets_the_ordinary_solution_whichever_solve_comes_first(market, account, backend) -> None:
    """A budget the floor meets: the ordinary tax-aware solve under the budget as given, with the same trades
    as the raise-mode optimizer (which solves once). The account's weights are near the budget, so by default
    the ordinary solve goes first and the floor is not needed (``ordinary_first``); with the floor first
    (``ordinary_first=0``) it is one solve more and the same answer."""
    rm, uni, bench, prices = market
    policy = Policy(te_budget=0.05)
    plain = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(backend=backend)).solve(
        bench, account, prices=prices, policy=policy
    )
    relaxed = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(over_budget="relax", backend=backend)).solve(
        bench, account, prices=prices, policy=policy
    )
    floor_first = TrackingErrorOptimizer(
        rm, uni, solver=SolverConfig(over_budget="relax", backend=backend, ordinary_first=0.0)
    ).solve(bench, account, prices=prices, policy=policy)
    assert relaxed.status == floor_first.status == plain.status == "optimal"
    assert relaxed.solves == plain.solves
    assert floor_first.solves == plain.solves + 1
    for r in (relaxed, floor_first):
        assert r.solver_tracking_error == pytest.approx(plain.solver_tracking_error, rel=1e-6, abs=1e-8)
        assert [trade_key(t) for t in r.trades] == [trade_key(t) for t in plain.trades]


def test_relax_over_budget_gets_the_same_answer_when_the_ordinary_solve_comes_first(market, account, backend) -> None:
    """An unreachable budget tried ordinary solve first (``ordinary_first`` set so high that every account
    qualifies): that solve is infeasible, then the floor and the relaxed solve give what the floor-first
    order gives, at one solve more."""
    rm, uni, bench, prices = market
    policy = Policy(te_budget=1e-5, exclusions=Exclusions(symbols=("S003", "S020")))
    runs = [
        TrackingErrorOptimizer(
            rm, uni, solver=SolverConfig(over_budget="relax", backend=backend, ordinary_first=first)
        ).solve(bench, account, prices=prices, policy=policy)
        for first in (0.0, 1e12)
    ]
    floor_first, ordinary_first = runs
    assert floor_first.status == ordinary_first.status == "fallback_relaxed_te"
    assert ordinary_first.solves == floor_first.solves + 1
    assert [trade_key(t) for t in ordinary_first.trades] == [trade_key(t) for t in floor_first.trades]
    alerts = [next(a for a in r.alerts if a.code == "tracking_error_over_budget").value for r in runs]
    # the direct backend builds every problem afresh; the compiled cvxpy problem solves with ``warm_start``,
    # which reuses the Clarabel instance of its last solve (``update``), so its floor moves within the
    # solver's tolerance with what was solved before it
    assert alerts[0] == pytest.approx(alerts[1], rel=1e-12 if backend == "direct" else 1e-4)


def test_hold_only_names_are_not_bought(market, opt, account) -> None:
    _, _, bench, prices = market
    held = sorted({lot.symbol for lot in account.lots})[:5]
    r = opt.solve(bench, account, prices=prices, policy=Policy(hold_only=frozenset(held), te_budget=0.05))
    assert not any(t.side == "buy" and t.symbol in held for t in r.trades)


def test_new_account_reuses_the_compiled_problem(market, opt, account) -> None:
    _, _, bench, prices = market
    opt.solve(bench, account, prices=prices)
    before = dict(opt.problems)
    other = Holdings(
        "B", tuple(replace(lot, account="B") for lot in random_lots(prices, seed=9, account="B")), 5e4, AS_OF
    )
    other_policy = Policy(exclusions=Exclusions(symbols=("S007",)), no_buy=frozenset({"S008"}))
    for s, p in before.items():
        if not isinstance(p, ParametrizedProblem):
            continue  # the direct backend compiles nothing
        compiled = p.problem._cache.param_prog
        if s.segments:
            opt.solve(bench, other, prices=prices, policy=other_policy)
            if opt.problems.get(s) is p:
                assert p.problem._cache.param_prog is compiled


def test_staged_contributions_fund_in_steps(market, opt) -> None:
    _, _, bench, prices = market
    start = Holdings("C", (), 0.0, date(2026, 1, 5))
    schedule = [(date(2026, 1, 5), 50_000.0), (date(2026, 2, 5), 50_000.0), (date(2026, 3, 5), 100_000.0)]
    results = staged_contributions(opt, bench, start, schedule, prices, policy=Policy(te_budget=0.03))
    assert [round(r.account_value) for r in results][0] == 50_000
    assert results[-1].account_value == pytest.approx(200_000, rel=0.01)
    assert results[-1].cash_weight < 0.02
    assert results[-1].ex_ante_tracking_error <= results[0].ex_ante_tracking_error + 1e-9


def test_a_loss_lot_is_not_sold_and_bought_back_to_meet_the_gain_budget(market, opt) -> None:
    """Selling a name's loss lot and rebuying the shares (IRC 1091: a wash sale) would offset the gain of
    a forced trim on paper; the trades net it away, so the plan must not count on it."""
    _, _, bench, prices = market
    value = 50_000.0 + 2000 * prices["S012"]
    largest = sorted(bench, key=lambda s: -bench[s])[:3]
    # short-term loss lots of about benchmark size in the three largest names, and a concentrated LT gain
    lots = tuple(
        make_lot(s, f"loss-{s}", int(bench[s] * value / prices[s]), prices[s] * 1.3, date(2026, 3, 2))
        for s in largest
    ) + (make_lot("S012", "gain", 2000, prices["S012"] * 0.5, date(2019, 3, 2)),)
    h = Holdings("A", lots, 50_000.0, AS_OF)
    budget = 2_000.0  # before the fix: sold and rebought the loss lots on paper and realized $12,926
    r = opt.solve(bench, h, prices=prices, policy=Policy(te_budget=0.01, gain_budget=budget, sector_bounds=None))
    assert r.status in ("optimal", "fallback_min_te")
    assert not ({t.symbol for t in r.trades if t.side == "buy"} & {t.symbol for t in r.trades if t.side == "sell"})
    assert r.realized_gain <= budget + 1e-6  # whole shares never push past the budget
    assert not any(a.code == "gain_budget_exceeded" for a in r.alerts)
    assert any(t.symbol == "S012" and t.side == "sell" for t in r.trades)


def test_no_buy_name_is_never_bought_back_inside_the_plan(market) -> None:
    """The wash-sale restricted list bounds buys, not just the net weight (``w <= h`` would allow a rebuy)."""
    rm, uni, bench, prices = market
    opt = TrackingErrorOptimizer(rm, uni)
    value = 50_000.0 + 2000 * prices["S012"]
    largest = sorted(bench, key=lambda s: -bench[s])[:3]
    lots = tuple(
        make_lot(s, f"loss-{s}", int(bench[s] * value / prices[s]), prices[s] * 1.3, date(2026, 3, 2))
        for s in largest
    ) + (make_lot("S012", "gain", 2000, prices["S012"] * 0.5, date(2019, 3, 2)),)
    policy = Policy(te_budget=0.01, gain_budget=2_000.0, sector_bounds=None, no_buy=frozenset(largest))
    r = opt.solve(bench, Holdings("A", lots, 50_000.0, AS_OF), prices=prices, policy=policy)
    assert not any(t.side == "buy" and t.symbol in largest for t in r.trades)
    (problem,) = [p for s, p in opt.problems.items() if s.segments]
    assert problem.vars.buy is not None
    idx = [opt.universe.symbols.index(s) for s in largest]
    assert float(np.max(problem.vars.buy.value[idx])) <= 1e-7
    assert r.realized_gain <= 2_000.0 + 1e-6


def test_over_budget_names_the_budget_needed_and_the_exclusions_to_drop(market, backend) -> None:
    rm, uni, bench, _ = market
    opt = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(diagnose_budget=True, backend=backend))
    base = Policy(te_budget=0.004, sector_bounds=None)
    sector_te = opt.solve(bench, policy=replace(base, exclusions=Exclusions(sectors=("Sector1",))))
    assert sector_te.ex_ante_tracking_error > 0.004
    policy = replace(base, exclusions=Exclusions(symbols=("S005", "S030"), sectors=("Sector1",)))
    r = opt.solve(bench, policy=policy)
    assert r.status == "optimal" and r.diagnosis is not None and r.diagnosis.feasible
    assert r.diagnosis.needed_te_budget == pytest.approx(r.ex_ante_tracking_error)
    alert = next(a for a in r.alerts if a.code == "tracking_error_over_budget")
    assert f"a budget of {r.ex_ante_tracking_error:.4%} would be needed" in alert.message
    assert r.diagnosis.drop_exclusions == ("sector:Sector1",)  # the symbol exclusions alone fit the budget
    ex = policy.exclusions
    for rule in r.diagnosis.drop_exclusions:
        ex = ex.without(rule)
    assert opt.solve(bench, policy=replace(policy, exclusions=ex)).ex_ante_tracking_error <= 0.004 + 1e-7


def test_infeasible_needs_two_drops_and_names_only_those(market, opt) -> None:
    _, _, bench, _ = market
    policy = Policy(
        exclusions=Exclusions(symbols=("S007", "S013"), sectors=("Sector0", "Sector3")),
        sector_bounds=SectorBounds(band=0.01),
    )
    r = opt.solve(bench, policy=policy)
    assert r.status == "infeasible"
    assert set(r.diagnosis.drop_exclusions) == {"sector:Sector0", "sector:Sector3"}


def test_over_budget_rebalance_names_the_gain_budget_that_would_meet_it(market, opt) -> None:
    _, _, bench, prices = market
    lots = (make_lot("S012", "gain", 2000, prices["S012"] * 0.5, date(2019, 3, 2)),)
    h = Holdings("A", lots, 50_000.0, AS_OF)
    policy = Policy(te_budget=0.01, gain_budget=2_000.0, sector_bounds=None)
    r = opt.solve(bench, h, prices=prices, policy=policy)
    assert r.status == "fallback_min_te" and r.diagnosis is not None and r.diagnosis.feasible
    needed = r.diagnosis.needed_gain_budget
    assert needed is not None and needed > 2_000.0
    assert any(x.constraint == "gain_budget" and x.needed == needed for x in r.diagnosis.relaxations)
    within = opt.solve(bench, h, prices=prices, policy=replace(policy, gain_budget=needed * 1.001))
    assert within.status == "optimal"
    assert within.solver_tracking_error <= 0.01 * (1 + 1e-6)


def _as_columns(lots, symbols: tuple[str, ...], account: str = "A") -> LotColumns:
    code = {s: k for k, s in enumerate(symbols)}
    return LotColumns(
        account, symbols, np.array([code[lot.symbol] for lot in lots], dtype=np.int64),
        np.array([float(lot.quantity) for lot in lots]),
        np.array([float(lot.cost + lot.wash_sale_adjustment) for lot in lots]),
        np.array([lot.long_term_on.toordinal() for lot in lots], dtype=np.int64),
        np.array([lot.holding_start.toordinal() for lot in lots], dtype=np.int64),
        [lot.lot for lot in lots], lambda k: lots[k])


def test_lots_given_as_columns_rebalance_exactly_as_their_records(market, backend, account) -> None:
    """The column path (the backtest's) and the record path give the same result, trade for trade, with a
    name outside the universe counted at its price and a zero-share lot skipped; a held name without a
    price is the same error either way."""
    rm, uni, bench, prices = market
    outside = make_lot("ZZZ", "outside-1", 30, 10.0, date(2024, 2, 1))
    empty = replace(account.lots[0], lot="empty", quantity=Decimal(0), cost=Decimal(0))
    lots = (*account.lots, outside, empty)
    symbols = tuple(dict.fromkeys(lot.symbol for lot in lots))
    policy = Policy(te_budget=0.02, exclusions=Exclusions(symbols=("S002",)), no_buy=frozenset({"S004"}))
    px = {**prices, "ZZZ": 12.5}
    results = []
    for given in (lots, _as_columns(lots, symbols)):
        opt = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(backend=backend))
        results.append(opt.solve(bench, Holdings("A", given, 20_000.0, AS_OF), prices=px, policy=policy))
    by_records, by_columns = results
    assert by_columns.trades == by_records.trades and by_columns.trades
    assert by_columns.weights == by_records.weights
    assert by_columns.account_value == by_records.account_value
    assert any(a.code == "holdings_outside_universe" for a in by_columns.alerts)
    for given in (lots, _as_columns(lots, symbols)):
        with pytest.raises(InputError, match="no price for held symbol ZZZ"):
            TrackingErrorOptimizer(rm, uni, solver=SolverConfig(backend=backend)).solve(
                bench, Holdings("A", given, 20_000.0, AS_OF), prices=prices, policy=policy)
    # prices as a Series (the held name outside the universe is read from it too)
    by_series = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(backend=backend)).solve(
        bench, Holdings("A", _as_columns(lots, symbols), 20_000.0, AS_OF), prices=pd.Series(px), policy=policy)
    assert by_series.trades == by_records.trades
    # another account's columns hold nothing for this one
    other = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(backend=backend)).solve(
        bench, Holdings("A", _as_columns(lots, symbols, account="B"), 20_000.0, AS_OF), prices=px, policy=policy)
    assert not [t for t in other.trades if t.side == "sell"] and other.account_value == pytest.approx(20_000.0)
