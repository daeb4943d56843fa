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
        rows = _rows(sold, request)
        if rows is None:
            return None
        table, srows, crows, cands = rows
        return cands, table.scores(srows, crows) if cands else np.zeros((len(sold), 0))

    def __call__(self, request: ReplacementRequest) -> Mapping[str, float]:
        size = self.basket_size or request.basket_size
        sold_names = sorted(request.sold)
        rows = _rows(sold_names, request)
        if rows is not None:
            table, srows, crows, cands = rows
            dollars = table.baskets(srows, np.array([request.sold[s] for s in sold_names], float), crows, size)
            return {cands[j]: float(dollars[j]) for j in np.flatnonzero(dollars > 0)}
        out: dict[str, float] = {}
        for sold in sold_names:
            ranked = sorted(self.scores(sold, request).items(), key=lambda kv: (-kv[1], kv[0]))[:size]
            if not ranked:
                continue
            weights = np.array([max(v, 0.0) for _, v in ranked])
            if weights.sum() <= 0:
                weights = np.ones(len(ranked))
            weights = weights / weights.sum()
            for (sym, _), w in zip(ranked, weights, strict=True):
                out[sym] = out.get(sym, 0.0) + request.sold[sold] * float(w)
        return out


def _rows(sold: list[str], request: ReplacementRequest
          ) -> tuple[PeerTable, np.ndarray, np.ndarray, list[str]] | None:
    """The peer table, the rows of the sold names and of the allowed names the risk model covers, and those names.

    ``None`` without a risk model or when a sold name is outside it.
    """
    model = request.risk_model
    if model is None:
        return None
    idx = model.index()
    if any(s not in idx for s in sold):
        return None
    cands = [c for c in request.allowed if c in idx]
    return (PeerTable.of(model, request.sectors), np.array([idx[s] for s in sold], dtype=np.int64),
            np.array([idx[c] for c in cands], dtype=np.int64), cands)


@dataclass(frozen=True)
class PeerTable:
    """One risk model's peer data in its row order, built once per model and sector map.

    The index-space core of :class:`PeerReplacer`: the backtest's daily harvest calls :meth:`baskets` with
    rows, the name API maps names to rows and calls the same code.
    """

    exposures_cov: FloatArray  # B F (n x k)
    exposures: FloatArray  # B (n x k)
    total_var: FloatArray
    beta: FloatArray  # each name's market exposure
    sector: np.ndarray  # integer sector code per row (0: no sector, matches nothing)
    name_rank: np.ndarray  # each row's position in symbol order (ties go to the first symbol)
    by_name: np.ndarray  # the rows in symbol order

    @staticmethod
    def of(model: FactorRiskModel, sectors: Mapping[str, str]) -> PeerTable:
        cached = model.__dict__.get("_peer_table")
        if cached is not None and cached[0] is sectors:
            return cached[1]  # type: ignore[no-any-return]
        code: dict[str, int] = {"": 0}
        sector = np.array([code.setdefault(sectors.get(s, ""), len(code)) for s in model.symbols], dtype=np.int64)
        by_name = np.argsort(np.array(list(model.symbols), dtype=object), kind="stable")
        rank = np.empty(len(by_name), dtype=np.int64)
        rank[by_name] = np.arange(len(by_name))
        b = model.exposures
        table = PeerTable(b @ model.factor_cov, b, model.total_var(), b[:, _beta_column(model)].copy(), sector, rank,
                          by_name)
        object.__setattr__(model, "_peer_table", (sectors, table))
        return table

    def scores(self, sold: np.ndarray, cands: np.ndarray) -> FloatArray:
        """Correlation, less half the beta gap, plus 0.1 in the same sector: sold rows x candidate rows."""
        cov = self.exposures_cov[sold] @ self.exposures[cands].T
        corr = cov / np.sqrt(np.clip(self.total_var[sold][:, None] * self.total_var[cands][None, :], 1e-300, None))
        beta_gap = np.abs(self.beta[cands][None, :] - self.beta[sold][:, None])
        same = (self.sector[cands][None, :] == self.sector[sold][:, None]) & (self.sector[sold][:, None] != 0)
        return np.asarray(corr - 0.5 * beta_gap + 0.1 * same.astype(float), dtype=np.float64)

    def baskets(self, sold: np.ndarray, dollars: FloatArray, cands: np.ndarray, size: int) -> FloatArray:
        """Dollars to buy of each candidate: each sold row's ``size`` best peers, weighted by score.

        ``sold`` in symbol order (the sums add up in that order); ties go to the first symbol; a basket
        whose scores are all at or below zero is split evenly.
        """
        out = np.zeros(len(cands))
        if not len(cands) or not len(sold):
            return out
        matrix = self.scores(sold, cands)
        tops = _best(matrix, self.name_rank[cands], size)
        weights = np.clip(matrix[np.arange(len(sold))[:, None], tops], 0.0, None)
        total = weights.sum(axis=1, keepdims=True)
        weights = np.where(total > 0, weights / np.where(total > 0, total, 1.0), 1.0 / tops.shape[1])
        np.add.at(out, tops.ravel(), (dollars[:, None] * weights).ravel())
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


def _best(matrix: FloatArray, rank: np.ndarray, size: int) -> np.ndarray:
    """Per row, the columns of the ``size`` highest scores, ties to the lowest ``rank``, best first.

    The first ``size`` of each row's full sort by (-score, rank); with many columns only those scoring at
    least the row's ``size``-th highest are sorted (the same first ``size``, ties included).
    """
    k = min(size, matrix.shape[1])
    if matrix.shape[1] <= 4 * k or not np.isfinite(matrix).all():
        return np.lexsort((np.broadcast_to(rank, matrix.shape), -matrix), axis=-1)[:, :k]
    kth = -np.partition(-matrix, k - 1, axis=1)[:, k - 1]
    # every row's entries at or above its k-th highest (k of them, more on ties), sorted as one array by
    # (row, -score, rank): each row's first k are its best
    r, c = np.nonzero(matrix >= kth[:, None])
    o = np.lexsort((rank[c], -matrix[r, c], r))
    r, c = r[o], c[o]
    pos = np.arange(len(r)) - np.searchsorted(r, np.arange(matrix.shape[0]))[r]
    return c[pos < k].reshape(matrix.shape[0], k).astype(np.int64)
