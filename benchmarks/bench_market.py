"""Time the factor risk model (500 names x 1,250 days) and ex-ante TE for 10,000 accounts.

Run: .venv/bin/python benchmarks/bench_market.py. Uses the synthetic sp500 market (seeded), so it needs no data.
"""

from __future__ import annotations

import time

import numpy as np

from directindex.market.returns import total_returns
from directindex.market.riskmodel import estimate_factor_model, ledoit_wolf_covariance
from directindex.market.synthetic import generate_market


def best_of(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    t = time.perf_counter()
    market = generate_market("sp500", years=5, seed=0)
    print(f"generate sp500 5y: {time.perf_counter() - t:.2f} s")
    r = total_returns(market.prices).iloc[1:]
    r = r[market.benchmark.index[:500]].iloc[-1250:]
    sectors = market.securities["sector"]
    print(f"returns: {r.shape[1]} names x {r.shape[0]} days")

    fit = best_of(lambda: estimate_factor_model(r, sectors, lookback=None))
    lw = best_of(lambda: ledoit_wolf_covariance(r), repeat=3)
    print(f"factor model estimate: {fit * 1e3:.1f} ms (goal < 1000 ms)")
    print(f"sklearn LedoitWolf on the same returns: {lw * 1e3:.1f} ms; ratio LW / factor model = {lw / fit:.1f}x")

    model = estimate_factor_model(r, sectors, lookback=None)
    b = market.benchmark.reindex(list(model.symbols)).fillna(0).to_numpy(copy=True)
    b /= b.sum()
    rng = np.random.default_rng(0)
    w = np.where(rng.random((10_000, model.n)) < 0.9, b, 0.0)
    w /= w.sum(axis=1, keepdims=True)
    te_time = best_of(lambda: model.tracking_error(w, b))
    cov = model.covariance()
    a = w - b
    dense = best_of(lambda: np.sqrt(np.einsum("ij,ij->i", a @ cov, a)), repeat=3)
    te = model.tracking_error(w, b)
    print(f"ex-ante TE, 10,000 accounts: {te_time * 1e3:.1f} ms (goal < 1000 ms); median TE {np.median(te):.4f}")
    print(f"dense covariance on the same weights: {dense * 1e3:.1f} ms; ratio dense / factor = {dense / te_time:.1f}x")


if __name__ == "__main__":
    main()
