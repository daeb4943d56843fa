from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from directindex.construct import build_universe
from directindex.construct.optimizer import _long_term_on
from directindex.ledger.records import Lot
from directindex.market.risk import FactorRiskModel

N, K, SECTORS = 60, 5, 6


def random_model(seed: int = 0, n: int = N, k: int = K) -> FactorRiskModel:
    rng = np.random.default_rng(seed)
    syms = tuple(f"S{i:03d}" for i in range(n))
    b = rng.normal(size=(n, k)) * 0.4
    b[:, 0] = 1.0 + 0.2 * rng.normal(size=n)
    a = rng.normal(size=(k, k)) * 0.08
    f = a @ a.T + np.eye(k) * 0.002
    d = rng.uniform(0.15, 0.4, n) ** 2 / 4
    return FactorRiskModel(syms, tuple(f"f{j}" for j in range(k)), b, f, d)


def random_market():
    rm = random_model()
    rng = np.random.default_rng(1)
    syms = rm.symbols
    sm = pd.DataFrame(
        {
            "sector": [f"Sector{i % SECTORS}" for i in range(N)],
            "industry": [f"Ind{i % 15}" for i in range(N)],
            "value": rng.normal(size=N),
            "quality": rng.normal(size=N),
            "esg_tobacco": [i % 17 == 3 for i in range(N)],
        },
        index=list(syms),
    )
    bw = rng.lognormal(size=N)
    bench = dict(zip(syms, bw / bw.sum(), strict=True))
    uni = build_universe(syms, sm, benchmark=bench)
    prices = {s: float(p) for s, p in zip(syms, rng.uniform(20, 200, N), strict=True)}
    return rm, uni, bench, prices


def make_lot(symbol: str, lot: str, qty: int, basis_per_share: float, acquired: date, account: str = "A") -> Lot:
    return Lot(
        account=account,
        lot=lot,
        symbol=symbol,
        quantity=Decimal(qty),
        acquired=acquired,
        cost=(Decimal(str(basis_per_share)) * qty).quantize(Decimal("0.01")),
        wash_sale_adjustment=Decimal(0),
        holding_start=acquired,
        long_term_on=_long_term_on(acquired),
    )


def random_lots(prices: dict[str, float], seed: int = 2, names: int = 40, account: str = "A") -> tuple[Lot, ...]:
    rng = np.random.default_rng(seed)
    lots = []
    for s in list(prices)[:names]:
        for j in range(int(rng.integers(1, 4))):
            acq = date(2024, 1, 15) + timedelta(days=int(rng.integers(0, 800)))
            lots.append(
                make_lot(s, f"{s}-{j}", int(rng.integers(20, 120)), prices[s] * rng.uniform(0.5, 1.5), acq, account)
            )
    return tuple(lots)
