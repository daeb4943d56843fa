"""Estimating the risk model that prices tracking error: market, sector and statistical factors.

A time-series factor model, estimated in one vectorized pass over a dates x symbols return matrix:

1. *Market* factor: the equal-weighted mean return of the names quoted that day. *Sector* factors: each
   GICS sector's equal-weighted mean return in excess of the market.
2. Each name's exposures (beta to the market, beta to its own sector's excess return) come from an
   exponentially weighted least-squares regression over the days it traded, shrunk toward 1 (Blume /
   Vasicek-style: raw betas over-predict dispersion), fully so for names with little history.
3. *Statistical* factors: the leading principal components of the exponentially weighted residuals
   capture structure the sectors miss (styles, industries, rates).
4. Factor covariance: exponentially weighted second moments of the factor returns. Specific variance:
   each name's weighted residual variance, shrunk in volatility toward its sector's mean (Bayesian:
   estimates from a few hundred noisy days regress toward the group).

All figures are annualized with 252 days a year. Also here: a Ledoit-Wolf shrunk sample covariance for
comparison, and ex-post tracking error from realized returns.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse.linalg

from directindex.market.risk import FactorRiskModel, FloatArray

TRADING_DAYS = 252


def ew_weights(n_days: int, halflife: float) -> FloatArray:
    """Exponential weights for ``n_days`` observations, oldest first, summing to 1."""
    decay = 0.5 ** (1.0 / halflife)
    w = decay ** np.arange(n_days - 1, -1, -1, dtype=float)
    return w / w.sum()


def _leading_eigh(gram: FloatArray, k: int) -> tuple[FloatArray, FloatArray]:
    """The ``k`` largest eigenpairs of a symmetric PSD matrix, ascending (as ``eigh`` returns them).

    A few leading pairs of a few-hundred-square Gram matrix: Lanczos (ARPACK) from a fixed start vector
    is deterministic and much cheaper than a dense decomposition; dense ``eigh`` where Lanczos does not apply.
    """
    m = gram.shape[0]
    if 3 * k < m:
        try:
            vals, vecs = scipy.sparse.linalg.eigsh(gram, k=k, which="LA", v0=np.ones(m), tol=1e-12)
            order = np.argsort(vals)
            return vals[order], vecs[:, order]
        except scipy.sparse.linalg.ArpackNoConvergence:
            pass
    vals, vecs = scipy.linalg.eigh(gram, subset_by_index=[m - k, m - 1])
    return vals, vecs


def _top_components(y: FloatArray, k: int) -> FloatArray:
    """The ``k`` leading right singular vectors (n x k) of ``y`` (T x n), via the smaller Gram matrix."""
    t, n = y.shape
    k = min(k, t, n)
    if k <= 0:
        return np.zeros((n, 0))
    if n <= t:
        gram = y.T @ y
        _, vecs = _leading_eigh(gram, k)
        v = vecs[:, ::-1]
    else:
        gram = y @ y.T
        vals, u = _leading_eigh(gram, k)
        vals, u = vals[::-1], u[:, ::-1]
        v = (y.T @ u) / np.sqrt(np.clip(vals, 1e-300, None))
    # A deterministic sign: the largest-magnitude loading is positive.
    signs = np.sign(v[np.abs(v).argmax(axis=0), np.arange(v.shape[1])])
    return np.asarray(v * np.where(signs == 0, 1.0, signs), dtype=float)


def estimate_factor_model(
    returns: pd.DataFrame,
    sectors: pd.Series,
    n_statistical: int = 5,
    halflife: int = 126,
    as_of: date | str | pd.Timestamp | None = None,
    lookback: int | None = 756,
    min_obs: int = 60,
    beta_shrinkage: float = 0.2,
    specific_shrinkage: float = 0.3,
    annualization: int = TRADING_DAYS,
) -> FactorRiskModel:
    """Estimate a market + sector + statistical factor model from daily returns (dates x symbols).

    ``sectors`` maps symbol -> sector (names without one share an ``Unknown`` sector). Only returns dated
    on or before ``as_of`` are used, at most the last ``lookback`` days, weighted with ``halflife`` days.
    Every column of ``returns`` is in the model; a name with fewer than ``min_obs`` returns leans on its
    sector (betas toward 1, specific risk toward the sector mean) in proportion to what it lacks.
    """
    r = returns.sort_index()
    if as_of is not None:
        r = r.loc[: pd.Timestamp(as_of)]
    if lookback is not None:
        r = r.iloc[-lookback:]
    symbols = [str(c) for c in r.columns]
    if r.shape[0] < 2 or not symbols:
        raise ValueError("need at least two days of returns for at least one symbol")
    x = r.to_numpy(dtype=float)
    mask = np.isfinite(x)
    x0 = np.where(mask, x, 0.0)
    t, n = x.shape
    w = ew_weights(t, halflife)

    # 1. market and sector factor returns (equal-weighted means of the names quoted that day)
    count = mask.sum(axis=1)
    f_mkt = x0.sum(axis=1) / np.maximum(count, 1)
    sec = sectors.reindex(symbols).fillna("Unknown").astype(str).replace("", "Unknown")
    codes, sector_names = pd.factorize(sec, sort=True)
    n_sec = len(sector_names)
    onehot = np.zeros((n, n_sec))
    onehot[np.arange(n), codes] = 1.0
    sec_count = mask.astype(float) @ onehot
    f_sec = np.where(sec_count > 0, (x0 @ onehot) / np.maximum(sec_count, 1.0), 0.0) - f_mkt[:, None]
    f_sec = np.where(sec_count > 0, f_sec, 0.0)

    # 2. exposures: weighted two-regressor least squares per name, in closed form
    g = w[:, None] * mask
    x2 = f_sec[:, codes]  # T x n: each name's own sector factor
    a11 = f_mkt**2 @ g
    a12 = np.einsum("t,tn,tn->n", f_mkt, g, x2)
    a22 = np.einsum("tn,tn->n", g, x2 * x2)
    c1 = f_mkt @ (g * x0)
    c2 = np.einsum("tn,tn->n", g * x2, x0)
    det = a11 * a22 - a12 * a12
    ok = det > 1e-12 * np.maximum(a11 * a22, 1e-300)
    safe = np.where(ok, det, 1.0)
    b_mkt = np.where(ok, (a22 * c1 - a12 * c2) / safe, 1.0)
    b_sec = np.where(ok, (a11 * c2 - a12 * c1) / safe, 1.0)
    n_obs = mask.sum(axis=0)
    lack = np.clip((min_obs - n_obs) / max(min_obs, 1), 0.0, 1.0)
    s_beta = beta_shrinkage + (1.0 - beta_shrinkage) * lack
    b_mkt = (1.0 - s_beta) * b_mkt + s_beta
    b_sec = (1.0 - s_beta) * b_sec + s_beta

    # 3. statistical factors from the residuals
    resid = np.where(mask, x0 - b_mkt * f_mkt[:, None] - b_sec * x2, 0.0)
    v = _top_components(np.sqrt(w)[:, None] * resid, n_statistical)
    k_stat = v.shape[1]
    scale = np.sqrt(n)
    b_stat = v * scale  # unit cross-sectional scale of exposures
    f_stat = resid @ v / scale
    resid2 = np.where(mask, resid - f_stat @ b_stat.T, 0.0)

    # 4. factor covariance and shrunk specific variance
    factors = np.column_stack([f_mkt, f_sec, f_stat])
    fw = factors * w[:, None]
    factor_cov = fw.T @ factors
    wsum = g.sum(axis=0)
    spec = np.where(wsum > 0, (g * resid2 * resid2).sum(axis=0) / np.where(wsum > 0, wsum, 1.0), np.nan)
    spec = np.where(n_obs >= 2, spec, np.nan)
    vol = np.sqrt(spec)
    good = np.isfinite(vol) & (n_obs >= min_obs)
    pool = good if good.any() else np.isfinite(vol)
    overall = float(np.nanmedian(vol[pool])) if pool.any() else 0.02
    sec_sum = np.bincount(codes[pool], weights=vol[pool], minlength=n_sec)
    sec_n = np.bincount(codes[pool], minlength=n_sec)
    sec_mean = np.where(sec_n > 0, sec_sum / np.maximum(sec_n, 1), overall)[codes]
    s_spec = specific_shrinkage + (1.0 - specific_shrinkage) * lack
    vol = np.where(np.isfinite(vol), (1.0 - s_spec) * vol + s_spec * sec_mean, sec_mean)

    exposures = np.column_stack([b_mkt, onehot * b_sec[:, None], b_stat])
    factor_names = (
        ("market",) + tuple(f"sector:{s}" for s in sector_names) + tuple(f"stat_{i + 1}" for i in range(k_stat))
    )
    last = r.index[-1]
    return FactorRiskModel(
        symbols=tuple(symbols),
        factor_names=factor_names,
        exposures=np.ascontiguousarray(exposures, dtype=float),
        factor_cov=0.5 * (factor_cov + factor_cov.T) * annualization,
        specific_var=vol**2 * annualization,
        as_of=pd.Timestamp(last).date().isoformat() if isinstance(last, (pd.Timestamp, date)) else str(last),
        meta={
            "method": "market+sector+pca",
            "halflife": halflife,
            "days": t,
            "start": str(pd.Timestamp(r.index[0]).date()) if isinstance(r.index[0], (pd.Timestamp, date)) else "",
            "n_statistical": k_stat,
            "beta_shrinkage": beta_shrinkage,
            "specific_shrinkage": specific_shrinkage,
            "annualization": annualization,
        },
    )


def ledoit_wolf_covariance(returns: pd.DataFrame, annualization: int = TRADING_DAYS) -> pd.DataFrame:
    """Ledoit-Wolf shrunk sample covariance (scikit-learn), annualized; missing returns count as 0."""
    from sklearn.covariance import LedoitWolf

    x = returns.to_numpy(dtype=float)
    x = np.where(np.isfinite(x), x, 0.0)
    cov = LedoitWolf().fit(x).covariance_ * annualization
    return pd.DataFrame(cov, index=returns.columns, columns=returns.columns)


def ex_post_tracking_error(
    portfolio_returns: pd.Series | pd.DataFrame | FloatArray,
    benchmark_returns: pd.Series | FloatArray,
    annualization: int = TRADING_DAYS,
) -> float | FloatArray:
    """Realized tracking error: the annualized standard deviation of daily active returns.

    ``portfolio_returns`` is one series (T) or many (T x m); the result is a float or an (m,) array.
    Days where either side is missing are skipped.
    """
    p = np.asarray(portfolio_returns, dtype=float)
    b = np.asarray(benchmark_returns, dtype=float)
    active = p - (b[:, None] if p.ndim == 2 else b)
    ok = np.isfinite(active)
    cnt = ok.sum(axis=0)
    a0 = np.where(ok, active, 0.0)
    mean = a0.sum(axis=0) / np.maximum(cnt, 1)
    var = (np.where(ok, active - mean, 0.0) ** 2).sum(axis=0) / np.maximum(cnt - 1, 1)
    te = np.sqrt(var * annualization)
    te = np.where(cnt >= 2, te, np.nan)
    return float(te) if p.ndim == 1 else np.asarray(te, dtype=float)
