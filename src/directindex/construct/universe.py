"""The investable universe one optimizer works over, and the factor scores its tilts use.

Symbols come in risk-model order with their sectors and industries, security-master attributes for
exclusion predicates, and z-scored factor scores for tilts.

Factor scores come from prices (momentum, low volatility), capitalizations (size, falling back to the
benchmark weight of a cap-weighted index) and any numeric security-master column (value, quality, a
user's own score). Every score is a cross-sectional z-score, winsorized at 3, so a tilt range such as
``value=0.1:0.3`` means the same thing for every factor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from directindex.construct.config import Exclusions
from directindex.market.risk import FloatArray

PRICE_FACTORS = ("momentum", "low_volatility")
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f", ""}


def zscore(values: Sequence[float] | FloatArray, winsor: float = 3.0) -> FloatArray:
    """Cross-sectional z-score; missing values score 0 (neutral), extremes clipped at ``winsor``."""
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    out = np.zeros_like(x)
    if ok.sum() < 2:
        return out
    mu, sd = x[ok].mean(), x[ok].std()
    if sd <= 0:
        return out
    out[ok] = np.clip((x[ok] - mu) / sd, -winsor, winsor)
    return out


def price_factor_scores(returns: pd.DataFrame, as_of: object | None = None) -> dict[str, pd.Series]:
    """Raw momentum (12-1 month total return) and low volatility (minus annualized 1-year volatility).

    ``returns`` is date x symbol simple daily total returns.
    """
    r = returns.sort_index()
    if as_of is not None:
        r = r.loc[: pd.Timestamp(str(as_of))]
    window = r.iloc[-252:]
    growth = (1.0 + window.fillna(0.0)).cumprod()
    if len(growth) > 21:
        mom = growth.iloc[-22] / growth.iloc[0] * (1.0 + window.iloc[0].fillna(0.0)) - 1.0
    else:
        mom = pd.Series(np.nan, index=r.columns)
    vol = window.std() * np.sqrt(252.0)
    return {"momentum": mom, "low_volatility": -vol}


@dataclass(frozen=True)
class Universe:
    """Symbols (in the risk model's order) and everything constraints need to know about them."""

    symbols: tuple[str, ...]
    sectors: tuple[str, ...]
    industries: tuple[str, ...]
    attributes: pd.DataFrame = field(default_factory=pd.DataFrame)
    scores: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.symbols)
        if len(self.sectors) != n or len(self.industries) != n:
            raise ValueError("sectors and industries must align with symbols")
        for name, s in self.scores.items():
            if np.shape(s) != (n,):
                raise ValueError(f"score {name} has shape {np.shape(s)}, expected ({n},)")

    @property
    def n(self) -> int:
        return len(self.symbols)

    def sector_names(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.sectors)))

    def sector_matrix(self) -> FloatArray:
        """Membership, one row per sector in :meth:`sector_names` order."""
        names = self.sector_names()
        pos = {s: i for i, s in enumerate(names)}
        m = np.zeros((len(names), self.n))
        for j, s in enumerate(self.sectors):
            m[pos[s], j] = 1.0
        return m

    def score(self, factor: str) -> FloatArray:
        """The z-scored factor, or a z-scored numeric security-master column as a user score."""
        if factor in self.scores:
            return np.asarray(self.scores[factor], dtype=float)
        if factor in self.attributes.columns:
            col = pd.to_numeric(self.attributes[factor].reindex(list(self.symbols)), errors="coerce")
            return zscore(col.to_numpy(dtype=float))
        raise KeyError(factor)

    def available_factors(self) -> tuple[str, ...]:
        numeric = [c for c in self.attributes.columns if pd.api.types.is_numeric_dtype(self.attributes[c])]
        return tuple(dict.fromkeys([*self.scores, *numeric]))

    def excluded(self, exclusions: Exclusions) -> dict[str, tuple[str, ...]]:
        """Symbol -> the rules that exclude it (symbols not in the universe are ignored)."""
        hits: dict[str, list[str]] = {}
        idx = {s: i for i, s in enumerate(self.symbols)}
        for sym in exclusions.symbols:
            if sym in idx:
                hits.setdefault(sym, []).append(f"symbol:{sym}")
        for sec in exclusions.sectors:
            for s, v in zip(self.symbols, self.sectors, strict=True):
                if v.casefold() == sec.casefold():
                    hits.setdefault(s, []).append(f"sector:{sec}")
        for ind in exclusions.industries:
            for s, v in zip(self.symbols, self.industries, strict=True):
                if v.casefold() == ind.casefold():
                    hits.setdefault(s, []).append(f"industry:{ind}")
        for pred in exclusions.predicates:
            for s in self.matching(pred):
                hits.setdefault(s, []).append(pred)
        return {s: tuple(r) for s, r in hits.items()}

    def matching(self, predicate: str) -> tuple[str, ...]:
        """Symbols whose security-master column matches ``column=value`` (a bare column means truthy)."""
        col, sep, want = predicate.partition("=")
        col = col.strip()
        if col in ("sector", "industry"):
            values = self.sectors if col == "sector" else self.industries
            return tuple(
                s for s, v in zip(self.symbols, values, strict=True) if v.casefold() == want.strip().casefold()
            )
        if col not in self.attributes.columns:
            raise KeyError(f"exclusion predicate '{predicate}': no security-master column '{col}'")
        series = self.attributes[col].reindex(list(self.symbols))
        want_l = want.strip().casefold() if sep else "true"
        out = []
        for s, v in zip(self.symbols, series.tolist(), strict=True):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            text = str(v).strip().casefold()
            if isinstance(v, (bool, np.bool_)) or want_l in TRUE_WORDS | FALSE_WORDS:
                truthy = text in TRUE_WORDS or (text not in FALSE_WORDS and text not in ("nan",))
                if isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)):
                    truthy = float(v) != 0.0
                if truthy == (want_l in TRUE_WORDS):
                    out.append(s)
            elif text == want_l:
                out.append(s)
        return tuple(out)


def build_universe(
    symbols: Sequence[str],
    securities: pd.DataFrame,
    *,
    returns: pd.DataFrame | None = None,
    benchmark: Mapping[str, float] | None = None,
    as_of: object | None = None,
) -> Universe:
    """A universe over ``symbols`` from a security master indexed by symbol (``sector``, ``industry``, ...).

    Factor scores: ``momentum`` and ``low_volatility`` from ``returns`` when given; ``size`` from a
    ``market_cap`` column, else from log benchmark weight (a cap-weighted index is proportional to cap);
    ``value``, ``quality`` and any other numeric column are scored on demand by :meth:`Universe.score`.
    Symbols missing from the security master get sector and industry ``"Unknown"``.
    """
    syms = list(symbols)
    sm = securities.reindex(syms)
    sectors = tuple(str(v) if isinstance(v, str) and v else "Unknown" for v in sm.get("sector", [None] * len(syms)))
    industries = tuple(
        str(v) if isinstance(v, str) and v else "Unknown" for v in sm.get("industry", [None] * len(syms))
    )
    scores: dict[str, FloatArray] = {}
    if returns is not None:
        for name, raw in price_factor_scores(returns.reindex(columns=syms), as_of).items():
            scores[name] = zscore(raw.reindex(syms).to_numpy(dtype=float))
    if "market_cap" in sm.columns:
        cap = pd.to_numeric(sm["market_cap"], errors="coerce").to_numpy(dtype=float)
        scores["size"] = zscore(np.log(np.where(cap > 0, cap, np.nan)))
    elif benchmark is not None:
        bw = np.array([float(benchmark.get(s, 0.0)) for s in syms])
        scores["size"] = zscore(np.log(np.where(bw > 0, bw, np.nan)))
    return Universe(tuple(syms), sectors, industries, sm, scores)
