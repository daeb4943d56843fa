"""Replacements: what to buy with a harvest's proceeds so the account keeps its exposure.

A replacement must be close to what was sold but not substantially identical: never in a sold name's
identical group, never excluded by the owner, never on the household's restricted list. The planner
hands a replacer only the symbols it may buy (``ReplacementRequest.allowed``) and checks what comes back.

Two replacers:

* ``PeerReplacer``: for each sold name, the allowed names ranked by correlation with it (from the risk
  model), closeness of market beta, and same sector; a single peer (``basket_size=1``) or a small
  basket weighted by score. Without a risk model: names of the same sector, in symbol order.
* ``OptimizerReplacer``: the tracking-error optimizer (``directindex.construct``) re-solves the account
  with the proceeds as cash and every symbol it may not buy on the no-buy list; its buys, scaled to the
  proceeds, are the replacement (its sells are ignored: a harvest pass only sells what it harvests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import numpy as np
import pandas as pd

from directindex.ledger.records import Lot
from directindex.market.risk import FactorRiskModel, FloatArray


@dataclass(frozen=True)
class ReplacementRequest:
    """One account's harvest, for a replacer to fill: dollars sold by symbol, and what may be bought."""

    account: str
    as_of: date
    sold: Mapping[str, float]  # symbol -> dollars sold
    holdings: Mapping[str, float]  # symbol -> dollars still held after the sales
    lots: tuple[Lot, ...]  # the account's open lots after the sales
    allowed: tuple[str, ...]  # symbols that may be bought
    prices: Mapping[str, float]
    sectors: Mapping[str, str]
    benchmark: Mapping[str, float] | None = None  # None: the holdings before the sale
    risk_model: FactorRiskModel | None = None
    te_budget: float | None = None
    basket_size: int = 3
    extra: Mapping[str, object] = field(default_factory=dict)


class Replacer(Protocol):
    """Chooses replacement buys: symbol -> dollars (their sum at most the dollars sold)."""

    @property
    def name(self) -> str: ...

    def __call__(self, request: ReplacementRequest) -> Mapping[str, float]: ...


def _beta_column(model: FactorRiskModel) -> int:
    for i, f in enumerate(model.factor_names):
        if f.lower() in ("market", "mkt", "beta"):
            return i
    return 0


@dataclass(frozen=True)
class PeerReplacer:
    """Peers by correlation, beta and sector; ``basket_size`` of ``None`` takes the account's setting."""

    basket_size: int | None = None
    name: str = "peer"

    def scores(self, sold: str, request: ReplacementRequest) -> dict[str, float]:
        """Score of each allowed symbol as a replacement for ``sold`` (higher is closer).

        Correlation with it, less half the gap in market beta, plus 0.1 in the same sector; without a risk
        model (or a sold name outside it), the names of the same sector, all scored 1.
        """
        batch = self.score_matrix([sold], request)
        if batch is None:
            sector = request.sectors.get(sold, "")
            return {c: 1.0 for c in request.allowed if sector and request.sectors.get(c, "") == sector}
        cands, matrix = batch
        return {c: float(v) for c, v in zip(cands, matrix[0], strict=True)}

    def score_matrix(self, sold: list[str], request: ReplacementRequest) -> tuple[list[str], FloatArray] | None:
        """The scores of :meth:`scores` for many sold names at once: (candidates, sold x candidates).

        One pass over the risk model per harvest instead of one per sold name (a daily backtest asks
        thousands of times). ``None`` without a risk model or when a sold name is outside it.
        """
        model = request.risk_model
        if model is None:
            return None
        idx = model.index()
        if any(s not in idx for s in sold):
            return None
        cands = [c for c in request.allowed if c in idx]
        if not cands:
            return cands, np.zeros((len(sold), 0))
        rows = np.array([idx[c] for c in cands])
        srows = np.array([idx[s] for s in sold])
        b, f = model.exposures, model.factor_cov
        cov = (b[srows] @ f) @ b[rows].T
        total_var = model.total_var()
        var_c, var_s = total_var[rows], total_var[srows]
        corr = cov / np.sqrt(np.clip(var_s[:, None] * var_c[None, :], 1e-300, None))
        k = _beta_column(model)
        beta_gap = np.abs(b[rows, k][None, :] - b[srows, k][:, None])
        # sectors as integer codes ("" is code 0: no sector matches nothing)
        code: dict[str, int] = {"": 0}
        cand_sector = np.array([code.setdefault(request.sectors.get(c, ""), len(code)) for c in cands])
        sold_sector = np.array([code.setdefault(request.sectors.get(s, ""), len(code)) for s in sold])
        same = (cand_sector[None, :] == sold_sector[:, None]) & (sold_sector[:, None] != 0)
        return cands, corr - 0.5 * beta_gap + 0.1 * same.astype(float)

    def __call__(self, request: ReplacementRequest) -> Mapping[str, float]:
        size = self.basket_size or request.basket_size
        out: dict[str, float] = {}
        sold_names = sorted(request.sold)
        batch = self.score_matrix(sold_names, request)
        if batch is not None:
            cands, matrix = batch
            by_name = np.argsort(np.array(cands, dtype=object), kind="stable") if cands else np.zeros(0, int)
            rank = np.empty(len(cands), dtype=np.int64)
            rank[by_name] = np.arange(len(cands))
            # every sold name's ranking in one sort: highest score first, ties by symbol
            tops = np.lexsort((np.broadcast_to(rank, matrix.shape), -matrix), axis=-1)[:, :size]
        for r, sold in enumerate(sold_names):
            dollars = request.sold[sold]
            if batch is not None:
                row = matrix[r]
                ranked = [(cands[int(i)], float(row[i])) for i in tops[r]]
            else:
                scores = self.scores(sold, request)
                ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
            if not ranked:
                continue
            weights = np.array([max(v, 0.0) for _, v in ranked])
            if weights.sum() <= 0:
                weights = np.ones(len(ranked))
            weights = weights / weights.sum()
            for (sym, _), w in zip(ranked, weights, strict=True):
                out[sym] = out.get(sym, 0.0) + dollars * float(w)
        return out


@dataclass
class OptimizerReplacer:
    """Re-solve the account with ``directindex.construct`` with everything not allowed on the no-buy list."""

    securities: pd.DataFrame | None = None  # security master indexed by symbol (sector, industry, ...)
    name: str = "optimizer"

    def __call__(self, request: ReplacementRequest) -> Mapping[str, float]:
        from directindex.construct import Holdings, Policy, TrackingErrorOptimizer, build_universe

        model = request.risk_model
        if model is None:
            return PeerReplacer()(request)  # nothing to optimize against
        symbols = [s for s in model.symbols if s in request.prices and math.isfinite(request.prices[s])]
        bench = dict(request.benchmark) if request.benchmark else {
            s: v for s, v in {**request.holdings, **request.sold}.items() if v > 0}
        bench = {s: v for s, v in bench.items() if s in symbols}
        if not bench or not request.sold:
            return {}
        master = self.securities
        if master is None:
            master = pd.DataFrame({"sector": [request.sectors.get(s, "") for s in symbols]}, index=symbols)
        universe = build_universe(symbols, master)
        allowed = set(request.allowed)
        no_buy = frozenset(s for s in symbols if s not in allowed)
        cash = float(sum(request.sold.values()))
        policy = Policy(te_budget=request.te_budget or 0.05, no_buy=no_buy, sector_bounds=None)
        opt = TrackingErrorOptimizer(model.restrict(symbols), universe, policy)
        held = tuple(lot for lot in request.lots if lot.symbol in set(symbols))
        result = opt.solve(bench, Holdings(request.account, held, cash, request.as_of),
                           prices={s: request.prices[s] for s in symbols})
        buys = {t.symbol: t.value for t in result.trades if t.side == "buy" and t.symbol in allowed}
        total = sum(buys.values())
        if total <= 0:
            return {}
        scale = min(1.0, cash / total)
        return {s: v * scale for s, v in buys.items()}


def replacer_for(policy_name: str, basket_size: int, securities: pd.DataFrame | None = None) -> Replacer | None:
    """The replacer an account's ``replacement`` setting names (``none``: no replacement)."""
    if policy_name == "none":
        return None
    if policy_name == "optimizer":
        return OptimizerReplacer(securities)
    return PeerReplacer(1 if policy_name == "peer" else basket_size)
