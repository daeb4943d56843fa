"""Time the factor risk model (500 names x 1,250 days) and ex-ante TE for 10,000 accounts.

Run: .venv/bin/python benchmarks/bench_market.py. Uses the synthetic sp500 market (seeded), so it needs no data.
Peers: scikit-learn's Ledoit-Wolf covariance on the same returns, and a dense covariance on the same weights.
A driver may import this module and call ``main(argv)``; it returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence

import numpy as np

from directindex.market.returns import total_returns
from directindex.market.riskmodel import estimate_factor_model, ledoit_wolf_covariance
from directindex.market.synthetic import generate_market


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000, help="weight vectors for the ex-ante TE timing")
    args = ap.parse_args(argv)
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
    w = np.where(rng.random((args.accounts, model.n)) < 0.9, b, 0.0)
    w /= w.sum(axis=1, keepdims=True)
    te_time = best_of(lambda: model.tracking_error(w, b))
    cov = model.covariance()
    a = w - b
    dense = best_of(lambda: np.sqrt(np.einsum("ij,ij->i", a @ cov, a)), repeat=3)
    te = model.tracking_error(w, b)
    print(f"ex-ante TE, {args.accounts:,} accounts: {te_time * 1e3:.1f} ms (goal < 1000 ms); "
          f"median TE {np.median(te):.4f}")
    print(f"dense covariance on the same weights: {dense * 1e3:.1f} ms; ratio dense / factor = {dense / te_time:.1f}x")
    return {"names": float(r.shape[1]), "days": float(r.shape[0]), "factor_model_seconds": fit,
            "ledoit_wolf_seconds": lw, "ledoit_wolf_over_factor_model": lw / fit,
            "accounts": float(args.accounts), "ex_ante_te_seconds": te_time, "dense_te_seconds": dense,
            "dense_over_factor_te": dense / te_time}


if __name__ == "__main__":
    main()
