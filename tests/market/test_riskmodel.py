"""The factor risk model: recovers a planted structure, agrees with numpy, predicts out of sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from directindex.market.io import load_membership
from directindex.market.returns import total_returns
from directindex.market.riskmodel import estimate_factor_model, ex_post_tracking_error, ledoit_wolf_covariance
from directindex.market.synthetic import generate_market


@pytest.fixture(scope="module")
def synthetic_returns() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    m = generate_market("sp500", years=5, seed=11)
    return total_returns(m.prices).iloc[1:], m.securities["sector"], m.benchmark


def test_model_shape_and_te_matches_numpy(synthetic_returns: tuple[pd.DataFrame, pd.Series, pd.Series]) -> None:
    r, sectors, bench = synthetic_returns
    # equal weights over the whole sample, so the model and the sample figures see the same days
    model = estimate_factor_model(r, sectors, n_statistical=5, halflife=10**6, lookback=None)
    assert model.n == r.shape[1] and len(model.factor_names) == 1 + 11 + 5
    assert np.all(np.linalg.eigvalsh(model.factor_cov) > -1e-12) and np.all(model.specific_var > 0)
    b = bench.reindex(model.symbols).fillna(0).to_numpy()
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(model.n), size=50)
    te = model.tracking_error(w, b)
    cov = model.covariance()
    plain = np.sqrt(np.einsum("ij,jk,ik->i", w - b, cov, w - b))
    np.testing.assert_allclose(te, plain, rtol=1e-10)
    # single-name volatility near the generator's (about 30% a year on average)
    vol = np.sqrt(np.diag(cov))
    realized = r.std().to_numpy() * np.sqrt(252)
    assert abs(np.mean(vol) / np.mean(realized) - 1) < 0.1
    assert np.corrcoef(vol, realized)[0, 1] > 0.8


def test_as_of_uses_only_past(synthetic_returns: tuple[pd.DataFrame, pd.Series, pd.Series]) -> None:
    r, sectors, _ = synthetic_returns
    cut = r.index[400]
    a = estimate_factor_model(r, sectors, as_of=cut)
    b = estimate_factor_model(r.loc[:cut], sectors)
    assert a.as_of == pd.Timestamp(cut).date().isoformat()
    np.testing.assert_allclose(a.factor_cov, b.factor_cov)


def test_short_history_leans_on_sector(synthetic_returns: tuple[pd.DataFrame, pd.Series, pd.Series]) -> None:
    r, sectors, _ = synthetic_returns
    r = r.copy()
    r.iloc[:-5, 0] = np.nan  # five days of history
    m = estimate_factor_model(r, sectors)
    assert np.isfinite(m.specific_var).all() and np.isfinite(m.exposures).all()


def test_ledoit_wolf_and_ex_post(synthetic_returns: tuple[pd.DataFrame, pd.Series, pd.Series]) -> None:
    r, sectors, _ = synthetic_returns
    sub = r.iloc[:, :60]
    lw = ledoit_wolf_covariance(sub)
    model = estimate_factor_model(sub, sectors, halflife=10**6, lookback=None)
    ratio = np.sqrt(np.diag(lw.to_numpy())) / np.sqrt(np.diag(model.covariance()))
    assert 0.9 < np.median(ratio) < 1.1
    rng = np.random.default_rng(1)
    p = rng.normal(0, 0.01, 500)
    bm = rng.normal(0, 0.01, 500)
    assert ex_post_tracking_error(p, bm) == pytest.approx(np.std(p - bm, ddof=1) * np.sqrt(252))
    many = ex_post_tracking_error(np.column_stack([p, bm]), bm)
    assert many.shape == (2,) and many[1] == 0  # type: ignore[union-attr]


@pytest.mark.slow
def test_out_of_sample_tracking_error_real_data(
    real_prices: pd.DataFrame, real_securities: pd.DataFrame, shared_dir: Path
) -> None:
    """Ex-ante TE at the start of each year vs ex-post TE over the year, 2005-2020 (issue 3).

    Cap weights: each name's 2018-02-08 share count (market_caps.csv ``market_cap_dedup / price``, so a
    multi-class issuer counts once) held constant, times the close on the last day of the prior year.
    Universe: index members on the first trading day of the year (point-in-time membership) with a share
    count, a price that day, and at least a year of history. Portfolios: 20 per year, each the cap-weighted
    benchmark without a random 10% of its names. Names delisted within the year earn 0 from then on.
    """
    r = total_returns(real_prices)
    closes = real_prices.pivot(index="date", columns="symbol", values="close")
    caps = pd.read_csv(shared_dir / "market_caps.csv")
    caps = caps[caps["asof_date"] == "2018-02-08"].dropna(subset=["market_cap_dedup", "price"])
    shares = (caps.set_index("symbol")["market_cap_dedup"] / caps.set_index("symbol")["price"]).groupby(level=0).first()
    membership = load_membership(shared_dir / "sp500_membership_intervals.csv")
    rng = np.random.default_rng(2024)
    ratios = {}
    for year in range(2005, 2021):
        year_days = r.index[r.index.year == year]
        start = year_days[0]
        prev = r.index[r.index < start][-1]
        members = membership[
            (membership.start_date <= start) & (membership.end_date.isna() | (membership.end_date >= start))
        ]
        hist = r.loc[:prev].iloc[-252:]
        names = [
            s
            for s in sorted(set(members.symbol) & set(shares.index) & set(r.columns))
            if np.isfinite(closes.at[prev, s]) and hist[s].notna().sum() >= 240
        ]
        model = estimate_factor_model(r[names], real_securities["sector"], as_of=prev)
        cap = shares[names].to_numpy() * closes.loc[prev, names].to_numpy()
        b = cap / cap.sum()
        keep = rng.random((20, len(names))) >= 0.10
        w = np.where(keep, b, 0.0)
        w /= w.sum(axis=1, keepdims=True)
        predicted = model.tracking_error(w, b)
        ry = r.loc[year_days, names].fillna(0.0).to_numpy()
        realized = ex_post_tracking_error(ry @ w.T, ry @ b)
        ratios[year] = float(np.mean(realized / predicted))
    print("ex-post / ex-ante TE by year:", {y: round(v, 2) for y, v in ratios.items()})
    mean_ratio = float(np.mean(list(ratios.values())))
    print(f"mean ratio 2005-2020: {mean_ratio:.3f}")
    assert 1 / 1.5 < mean_ratio < 1.5
