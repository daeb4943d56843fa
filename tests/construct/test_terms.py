"""Each objective and constraint term against a plain numpy formula on random inputs."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from directindex.construct.problem import ParametrizedProblem, Structure
from directindex.construct.terms import SolveInputs

from .construct_fixtures import random_model

N, K, G, M, SEG = 30, 4, 3, 2, 3


def random_inputs(rng: np.random.Generator) -> tuple[SolveInputs, np.ndarray, np.ndarray]:
    rm = random_model(int(rng.integers(1000)), N, K)
    loadings = (rm.exposures @ rm.factor_chol()).T
    b = rng.dirichlet(np.ones(N))
    membership = np.zeros((G, N))
    membership[rng.integers(0, G, N), np.arange(N)] = 1.0
    d = SolveInputs(
        benchmark=b,
        holdings=rng.dirichlet(np.ones(N)) * 0.9,
        lower=np.zeros(N),
        upper=rng.uniform(0.02, 0.2, N),
        invested=0.97,
        factor_loadings=loadings,
        specific_sd=np.sqrt(rm.specific_var),
        sector_lower=rng.uniform(0, 0.2, G),
        sector_upper=rng.uniform(0.3, 0.6, G),
        tilt_scores=rng.normal(size=(M, N)),
        tilt_lower=rng.uniform(-0.3, 0, M),
        tilt_upper=rng.uniform(0, 0.3, M),
        lot_caps=rng.uniform(0, 0.02, (N, SEG)),
        lot_tax=rng.normal(0, 0.05, (N, SEG)),
        lot_gain=rng.normal(0, 0.2, (N, SEG)),
        transaction_cost=rng.uniform(0, 0.002, N),
        max_turnover=0.3,
        gain_budget=0.01,
        te_budget_sq=0.02**2,
        buy_caps=rng.uniform(0, 0.01, N),
    )
    return d, membership, rm.covariance()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_term_matches_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d, membership, cov = random_inputs(rng)
    p = ParametrizedProblem(Structure(N, K, G, M, SEG), membership)
    p.update(d)
    v = p.vars
    w = rng.uniform(0, 0.1, N)
    a = w - d.benchmark
    buy = rng.uniform(0, 0.01, N)
    sell = rng.uniform(0, 0.02, (N, SEG))
    v.w.value, v.a.value, v.buy.value, v.sell.value = w, a, buy, sell  # type: ignore[union-attr]
    sold = sell.sum(axis=1)

    obj = p.objective_expressions
    assert obj["tracking_error"].value == pytest.approx(a @ cov @ a, rel=1e-9)
    assert obj["tax_cost"].value == pytest.approx((d.lot_tax * sell).sum(), rel=1e-9)
    assert obj["transaction_cost"].value == pytest.approx(d.transaction_cost @ (buy + sold), rel=1e-9)

    def viol(name: str) -> list[float]:
        return [float(np.max(np.atleast_1d(c.violation()))) for c in p.constraints_by_term[name]]

    pos = lambda x: float(np.max(np.clip(np.atleast_1d(x), 0, None)))  # noqa: E731
    np.testing.assert_allclose(viol("active_weights"), [0.0], atol=1e-12)
    np.testing.assert_allclose(viol("bounds"), [pos(d.lower - w), pos(w - d.upper)], atol=1e-12)
    np.testing.assert_allclose(viol("budget"), [abs(w.sum() - d.invested)], atol=1e-12)
    s = membership @ w
    np.testing.assert_allclose(viol("sector_bounds"), [pos(d.sector_lower - s), pos(s - d.sector_upper)], atol=1e-12)
    e = d.tilt_scores @ a
    np.testing.assert_allclose(viol("factor_tilts"), [pos(d.tilt_lower - e), pos(e - d.tilt_upper)], atol=1e-12)
    trades = viol("trades")
    assert trades[0] == pytest.approx(np.max(np.abs(w - (d.holdings + buy - sold))), abs=1e-12)
    assert trades[3] == pytest.approx(pos(sell - d.lot_caps), abs=1e-12)
    assert d.buy_caps is not None
    assert trades[4] == pytest.approx(pos(buy - d.buy_caps), abs=1e-12)
    assert viol("max_turnover")[0] == pytest.approx(pos((buy.sum() + sold.sum()) / 2 - d.max_turnover), abs=1e-12)
    assert viol("gain_budget")[0] == pytest.approx(pos((d.lot_gain * sell).sum() - d.gain_budget), abs=1e-12)
    assert viol("te_budget")[0] == pytest.approx(pos(a @ cov @ a - d.te_budget_sq), abs=1e-12)


def test_min_te_matches_dense_covariance_solve() -> None:
    """The factor-form optimum equals an independent dense-covariance solve, to 1e-6 in objective."""
    rng = np.random.default_rng(7)
    d, membership, cov = random_inputs(rng)
    p = ParametrizedProblem(Structure(N, K, G, M, 0), membership)
    out = p.solve(d)
    assert out.status == "optimal"
    w = cp.Variable(N)
    a = w - d.benchmark
    cons = [w >= d.lower, w <= d.upper, cp.sum(w) == d.invested]
    cons += [membership @ w >= d.sector_lower, membership @ w <= d.sector_upper]
    cons += [d.tilt_scores @ a >= d.tilt_lower, d.tilt_scores @ a <= d.tilt_upper]
    ref = cp.Problem(cp.Minimize(cp.quad_form(a, cp.psd_wrap(cov))), cons)
    ref.solve(solver="CLARABEL")
    assert out.objective == pytest.approx(ref.value, abs=1e-6)
    a_np = out.w - d.benchmark
    assert out.te_sq == pytest.approx(a_np @ cov @ a_np, abs=1e-9)


def test_second_solve_reuses_the_compiled_problem() -> None:
    rng = np.random.default_rng(3)
    d1, membership, _ = random_inputs(rng)
    d2, _, _ = random_inputs(rng)
    p = ParametrizedProblem(Structure(N, K, G, M, SEG), membership)
    problem = p.problem
    p.solve(d1)
    compiled = problem._cache.param_prog
    chain = problem._cache.solving_chain
    p.solve(d2)
    assert p.problem is problem
    assert problem._cache.param_prog is compiled and compiled is not None
    assert problem._cache.solving_chain is chain
