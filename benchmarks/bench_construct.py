"""Warm re-solve time of the tracking-error optimizer for a new account, and skfolio side by side.

500 names, a 20-factor model, 50 exclusions (a different 50 for each account), 11 sector bounds
(benchmark +- 5%). Prints the median warm re-solve time with Clarabel and OSQP, each one's objective
error against a tight reference solve, and skfolio's ``BenchmarkTracker`` on the same covariance (fed as
returns simulated from the factor model, since it estimates covariance from returns) as a ratio.

Run: ``.venv/bin/python benchmarks/bench_construct.py`` (pin one core with ``taskset -c 0``).
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from directindex.construct import Exclusions, Policy, SolverConfig, TrackingErrorOptimizer, build_universe  # noqa: E402
from directindex.market.risk import FactorRiskModel  # noqa: E402

N, K, SECTORS, EXCLUDED, ACCOUNTS = 500, 20, 11, 50, 30


def market(seed: int = 0):
    rng = np.random.default_rng(seed)
    syms = tuple(f"S{i:03d}" for i in range(N))
    b = rng.normal(size=(N, K)) * 0.3
    b[:, 0] = 1.0 + 0.2 * rng.normal(size=N)
    a = rng.normal(size=(K, K)) * 0.04
    f = a @ a.T + np.diag(np.r_[0.03, np.full(K - 1, 0.002)])
    d = rng.uniform(0.15, 0.45, N) ** 2
    rm = FactorRiskModel(syms, tuple(f"f{j}" for j in range(K)), b, f, d)
    sm = pd.DataFrame({"sector": [f"Sector{i % SECTORS}" for i in range(N)], "industry": "x"}, index=list(syms))
    bw = rng.lognormal(sigma=1.2, size=N)
    bench = dict(zip(syms, bw / bw.sum(), strict=True))
    return rm, build_universe(syms, sm, benchmark=bench), bench, rng


def accounts(rng, syms):
    return [
        Policy(exclusions=Exclusions(symbols=tuple(rng.choice(syms, EXCLUDED, replace=False)))) for _ in range(ACCOUNTS)
    ]


def time_solver(rm, uni, bench, policies, solver, tol):
    opt = TrackingErrorOptimizer(rm, uni, solver=SolverConfig(solver=solver, tolerance=tol))
    opt.solve(bench, policy=policies[0])  # compile
    times, objs, res = [], [], []
    for p in policies:
        r = opt.solve(bench, policy=p)
        times.append(r.solve_seconds)
        objs.append(r.meta["objective"])
        res.append(r)
    return statistics.median(times), np.array(objs), res


def peer_returns(rm, uni, bench, rng, days: int = 2000):
    """Daily returns simulated from the factor model: the peers estimate covariance from returns."""
    syms = list(uni.symbols)
    x = rng.multivariate_normal(np.zeros(N), rm.covariance() / 252, size=days, method="cholesky")
    b = np.array([bench[s] for s in syms])
    return pd.DataFrame(x, columns=syms), pd.Series(x @ b, name="bench"), b


def sector_limits(uni, b):
    bsec = uni.sector_matrix() @ b
    return [(name, max(w - 0.05, 0.0), w + 0.05) for name, w in zip(uni.sector_names(), bsec, strict=True)]


def skfolio_times(rm, uni, bench, policies, rng, limit=5):
    """skfolio ``BenchmarkTracker`` on the same constraints: median fit seconds and the fitted weights."""
    import warnings

    from skfolio.optimization import BenchmarkTracker

    X, y, b = peer_returns(rm, uni, bench, rng)
    syms = list(uni.symbols)
    cons = []
    for name, lo, hi in sector_limits(uni, b):
        cons += [f"{name} >= {lo:.6f}", f"{name} <= {hi:.6f}"]
    times, weights = [], []
    for p in policies[:limit]:
        maxw = np.where(np.isin(syms, p.exclusions.symbols), 0.0, 1.0)
        model = BenchmarkTracker(max_weights=maxw, groups=[list(uni.sectors)], linear_constraints=cons)
        t0 = time.perf_counter()
        with warnings.catch_warnings():  # its covariance-repair warning on simulated returns
            warnings.simplefilter("ignore", UserWarning)
            model.fit(X, y)
        times.append(time.perf_counter() - t0)
        weights.append(np.asarray(model.weights_, dtype=float))
    return "skfolio BenchmarkTracker", statistics.median(times), weights


def peer(rm, uni, bench, policies, rng):
    try:
        return skfolio_times(rm, uni, bench, policies, rng)
    except ImportError:
        return None


def model_te(rm, w, bench) -> float:
    b = np.array([bench[s] for s in rm.symbols])
    return float(rm.tracking_error(w, b)[0])


def main() -> None:
    rm, uni, bench, rng = market()
    policies = accounts(rng, list(uni.symbols))
    _, ref, _ = time_solver(rm, uni, bench, policies, "CLARABEL", 1e-11)
    print(f"universe {N} names, {K} factors, {EXCLUDED} exclusions per account, {SECTORS} sector bounds; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    best = None
    for solver, tol in (("CLARABEL", 1e-8), ("OSQP", 1e-7)):
        med, objs, res = time_solver(rm, uni, bench, policies, solver, tol)
        err = float(np.max(np.abs(objs - ref)))
        te_err = max(abs(r.ex_ante_tracking_error - r.solver_tracking_error) for r in res)
        ok = err <= 1e-6
        print(
            f"{solver:9s} warm re-solve median {med * 1e3:7.2f} ms   max |objective - reference| {err:.1e}"
            f"   accurate to 1e-6: {ok}   max |numpy TE - solver TE| {te_err:.1e}"
        )
        if ok and (best is None or med < best[1]):
            best = (solver, med, res)
    found = peer(rm, uni, bench, policies, rng)
    if found is None:
        print("peer: skfolio is not installed (pip install -r requirements-bench.lock)")
        return
    name, sk, weights = found
    print(f"{name} fit median {sk * 1e3:7.2f} ms (returns-based, rebuilt each fit)")
    if best is not None:
        ours = [r.ex_ante_tracking_error for r in best[2][: len(weights)]]
        theirs = [model_te(rm, w, bench) for w in weights]
        print(f"ratio {name} / directindex ({best[0]}): {sk / best[1]:.1f}x   ex-ante TE under the model: "
              f"directindex {statistics.mean(ours):.4%}, peer {statistics.mean(theirs):.4%} "
              "(the peer fits a sample covariance)")


if __name__ == "__main__":
    main()
