"""The direct Clarabel problem against the compiled cvxpy problem: same status, same optimum, same weights.

The cvxpy problem (``ParametrizedProblem``) is the reference: each of its terms is checked against numpy
in ``test_terms.py``. The direct problem substitutes ``w`` and ``a`` and drops the variables that cannot
move, so it must agree with it on inputs where many names cannot trade at all.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from directindex.construct.direct import DirectProblem
from directindex.construct.problem import ParametrizedProblem, Structure
from directindex.construct.terms import OFF, SolveInputs

from .test_terms import SEG, G, K, M, N, random_inputs


def sparse_case(d: SolveInputs, rng: np.random.Generator) -> SolveInputs:
    """Like a real rebalance: empty lot segments, no-buy names, names with nothing held, excluded names."""
    caps = d.lot_caps * (rng.uniform(size=d.lot_caps.shape) < 0.5)
    held = caps.sum(axis=1)
    held[rng.uniform(size=N) < 0.3] = 0.0
    caps[held == 0] = 0.0
    assert d.buy_caps is not None
    buy_caps = np.where(rng.uniform(size=N) < 0.3, 0.0, OFF)
    upper = d.upper.copy()
    upper[(held == 0) & (rng.uniform(size=N) < 0.3)] = 0.0  # excluded, not held
    h = held * 0.9 / max(held.sum(), 1e-12)
    caps = caps * (h / np.where(held > 0, held, 1.0))[:, None]
    return replace(d, holdings=h, lot_caps=caps, buy_caps=buy_caps, upper=np.maximum(upper, 0.0),
                   lower=np.zeros(N))


def both(d: SolveInputs, membership: np.ndarray, sectors: int = G, tilts: int = M):
    s = Structure(N, K, sectors, tilts, SEG)
    ref = ParametrizedProblem(s, membership).solve(d, "CLARABEL", 1e-9, 300)
    new = DirectProblem(s, membership).solve(d, "CLARABEL", 1e-9, 300)
    return ref, new


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("limits", ["all", "none", "te_only", "floor", "bounds"])
def test_direct_matches_cvxpy(seed: int, limits: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``floor``: minimum TE with no tax, no costs and no limits, which the direct problem solves in the
    weight changes alone (``DirectProblem._min_te``). ``bounds``: per-name floors above zero and caps
    below the holding on some held names (the direct problem writes a bound only where it can bind), and
    finite buy caps on others."""
    rng = np.random.default_rng(100 + seed)
    d, membership, cov = random_inputs(rng)
    d = sparse_case(d, rng)
    d = replace(d, sector_lower=np.zeros(G), sector_upper=np.ones(G), te_budget_sq=0.06**2)
    if limits in ("none", "floor"):
        d = replace(d, te_budget_sq=OFF, gain_budget=OFF, max_turnover=OFF)
    elif limits == "te_only":
        d = replace(d, gain_budget=OFF, max_turnover=OFF)
    if limits == "floor":
        d = replace(d, lot_tax=np.zeros_like(d.lot_tax), transaction_cost=np.zeros_like(d.transaction_cost))
    if limits == "bounds":
        held = np.flatnonzero(d.holdings > 0)
        pick = rng.permutation(held)
        lower, upper = d.lower.copy(), d.upper.copy()
        lower[pick[: len(pick) // 4]] = 0.6 * d.holdings[pick[: len(pick) // 4]]
        upper[pick[len(pick) // 4: len(pick) // 2]] = 0.5 * d.holdings[pick[len(pick) // 4: len(pick) // 2]]
        assert d.buy_caps is not None
        buy_caps = np.where((d.buy_caps > 0) & (rng.uniform(size=N) < 0.4), rng.uniform(0.0, 0.01, N), d.buy_caps)
        d = replace(d, lower=lower, upper=upper, buy_caps=buy_caps, te_budget_sq=OFF)
    floors: list[bool] = []
    min_te = DirectProblem._min_te
    monkeypatch.setattr(DirectProblem, "_min_te", lambda self, *a, **k: floors.append(True) or min_te(self, *a, **k))
    ref, new = both(d, membership)
    assert bool(floors) == (limits == "floor")
    assert ref.status == new.status
    if ref.status != "optimal":
        return
    assert new.objective == pytest.approx(ref.objective, abs=1e-7)
    np.testing.assert_allclose(new.w, ref.w, atol=2e-4)
    a = new.w - d.benchmark
    assert new.te_sq == pytest.approx(a @ cov @ a, rel=1e-9)
    # the direct solution satisfies the problem's own constraints
    assert new.w.sum() == pytest.approx(d.invested, abs=1e-7)
    np.testing.assert_allclose(new.w, d.holdings + new.buy - new.sell.sum(axis=1), atol=1e-12)
    assert np.all(new.sell <= d.lot_caps + 1e-7) and np.all(new.w <= d.upper + 1e-7)
    assert np.all(new.w >= d.lower - 1e-7) and np.all(new.buy <= d.buy_caps + 1e-7)
    assert d.buy_caps is not None and np.all(new.buy[d.buy_caps == 0] == 0.0)
    if d.te_budget_sq < OFF:
        assert new.te_sq <= d.te_budget_sq * (1 + 1e-6)


def test_direct_reports_infeasible_like_cvxpy() -> None:
    rng = np.random.default_rng(5)
    d, membership, _ = random_inputs(rng)
    d = replace(sparse_case(d, rng), te_budget_sq=1e-10)  # no-buy names and lots make this unreachable
    ref, new = both(d, membership)
    assert ref.status == new.status == "infeasible"


def test_a_name_that_cannot_trade_outside_its_bounds_is_infeasible() -> None:
    rng = np.random.default_rng(6)
    d, membership, _ = random_inputs(rng)
    d = sparse_case(d, rng)
    i = int(np.flatnonzero(d.holdings > 0)[0])
    caps = d.lot_caps.copy()
    caps[i] = 0.0
    upper = d.upper.copy()
    upper[i] = d.holdings[i] / 2
    assert d.buy_caps is not None
    buy_caps = d.buy_caps.copy()
    buy_caps[i] = 0.0
    d = replace(d, lot_caps=caps, upper=upper, buy_caps=buy_caps)
    ref, new = both(d, membership)
    assert ref.status == new.status == "infeasible"


def test_direct_models_rebalances_only() -> None:
    with pytest.raises(ValueError, match="rebalances"):
        DirectProblem(Structure(N, K, G, M, 0), np.zeros((G, N)))


def test_a_solve_that_stalls_without_iterative_refinement_is_solved_again_with_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Clarabel runs without iterative refinement first; a stall (InsufficientProgress) is retried with it."""
    import clarabel

    from directindex.construct import direct

    rng = np.random.default_rng(3)
    d, membership, _ = random_inputs(rng)
    d = replace(sparse_case(d, rng), sector_lower=np.zeros(G), sector_upper=np.ones(G), te_budget_sq=0.06**2,
                gain_budget=OFF, max_turnover=OFF)
    s = Structure(N, K, G, M, SEG)
    expected = DirectProblem(s, membership, refine=True).solve(d, "CLARABEL", 1e-9, 300)
    seen: list[bool] = []
    real = clarabel.DefaultSolver

    class Stalled:
        status = "SolverStatus.InsufficientProgress"

    class Recording:
        def __init__(self, *args: object) -> None:
            self.refine = bool(args[-1].iterative_refinement_enable)  # type: ignore[attr-defined]
            assert args[-1].static_regularization_constant == direct.STATIC_REGULARIZATION  # type: ignore[attr-defined]
            self.inner = real(*args)

        def solve(self) -> object:
            seen.append(self.refine)
            return self.inner.solve() if self.refine else Stalled()

    monkeypatch.setattr(direct.clarabel, "DefaultSolver", Recording)
    out = DirectProblem(s, membership).solve(d, "CLARABEL", 1e-9, 300)
    assert seen == [False, True]
    assert out.status == expected.status == "optimal"
    np.testing.assert_allclose(out.w, expected.w, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("limits", ["all", "floor"])
def test_factor_rows_through_sparse_exposures_give_the_same_optimum(seed: int, limits: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A risk model of a market factor and sector dummies: ``X = L'B'`` written as ``z = B'a, y = L'z`` (``k``
    more rows, the dense rows as short as the exposures' non-zeros) is the same problem as ``y = X a``, and
    both agree with the cvxpy problem."""
    from directindex.construct import direct

    rng = np.random.default_rng(300 + seed)
    d, membership, _ = random_inputs(rng)
    d = sparse_case(d, rng)
    exposures = np.zeros((N, K))
    exposures[:, 0] = rng.uniform(0.5, 1.5, N)  # the market
    exposures[np.arange(N), 1 + rng.integers(0, K - 1, N)] = 1.0  # one sector each
    root = np.tril(rng.normal(0, 0.03, (K, K))) + np.diag(np.full(K, 0.05))
    d = replace(d, factor_loadings=(exposures @ root).T, factor_exposures=exposures, factor_root=root,
                sector_lower=np.zeros(G), sector_upper=np.ones(G), te_budget_sq=0.08**2)
    if limits == "floor":
        d = replace(d, te_budget_sq=OFF, gain_budget=OFF, max_turnover=OFF, lot_tax=np.zeros_like(d.lot_tax),
                    transaction_cost=np.zeros_like(d.transaction_cost))
    forms: list[bool] = []
    rows = direct._factor_rows
    monkeypatch.setattr(direct, "_factor_rows", lambda *a: forms.append(a[-1]) or rows(*a))
    ref, through = both(d, membership)
    plain = both(replace(d, factor_exposures=None, factor_root=None), membership)[1]
    assert forms == [True, False]  # the direct problem wrote the factor rows each way once
    assert ref.status == through.status == plain.status
    if ref.status != "optimal":
        return
    for new in (through, plain):
        assert new.objective == pytest.approx(ref.objective, abs=1e-7)
        np.testing.assert_allclose(new.w, ref.w, atol=2e-4)
    assert through.te_sq == pytest.approx(plain.te_sq, rel=1e-3, abs=1e-8)
