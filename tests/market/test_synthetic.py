"""The synthetic market hits its published calibration targets and writes the files a user would bring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from directindex.market.io import load_data_dir
from directindex.market.synthetic import calibration_stats, generate_market, write_market


@pytest.fixture(scope="module")
def sp500() -> object:
    return generate_market("sp500", years=10, seed=0)


def test_sp500_calibration(sp500) -> None:  # type: ignore[no-untyped-def]
    s = calibration_stats(sp500.prices, sp500.benchmark)
    print("sp500 calibration:", {k: round(v, 3) for k, v in s.items()})
    assert 0.15 <= s["index_vol"] <= 0.18
    assert 0.25 <= s["avg_stock_vol"] <= 0.35
    assert 0.24 <= s["avg_dispersion"] <= 0.32  # near 28%
    assert 0.2 <= s["avg_pairwise_corr"] <= 0.4
    assert 0.22 <= s["top10_weight"] <= 0.28
    assert s["avg_excess_kurtosis"] > 1.0  # fat tails
    assert s["index_max_drawdown"] < -0.2  # the crash


def test_structure(sp500) -> None:  # type: ignore[no-untyped-def]
    sec = sp500.securities
    assert sec["sector"].nunique() == 11 and len(sp500.benchmark) == 500
    assert sp500.benchmark.sum() == pytest.approx(1)
    pairs = sec.groupby("identical_group").size()
    assert (pairs == 2).sum() == 1
    assert {"esg_tobacco", "esg_fossil_fuels", "esg_weapons", "value", "quality"} <= set(sec.columns)
    assert sec["esg_fossil_fuels"].any() and sec["esg_tobacco"].any()
    p = sp500.prices
    assert (p["split"] != 1).sum() >= 3 and (p["dividend"] > 0).sum() > 1000
    assert sp500.membership["end_date"].notna().sum() == 6


def test_deterministic_and_seeded() -> None:
    a = generate_market("textbook", years=1, seed=5)
    b = generate_market("textbook", years=1, seed=5)
    c = generate_market("textbook", years=1, seed=6)
    pd.testing.assert_frame_equal(a.prices, b.prices)
    assert not np.allclose(a.prices["close"], c.prices["close"])


def test_textbook_variant() -> None:
    m = generate_market("textbook", years=10, seed=0)
    s = calibration_stats(m.prices, m.benchmark)
    print("textbook calibration:", {k: round(v, 3) for k, v in s.items()})
    assert len(m.benchmark) == 300 and np.allclose(m.benchmark, 1 / 300)
    assert 0.28 <= s["avg_stock_vol"] <= 0.32


def test_r3000_variant() -> None:
    m = generate_market("r3000", years=3, seed=0)
    s = calibration_stats(m.prices, m.benchmark)
    print("r3000 calibration:", {k: round(v, 3) for k, v in s.items()})
    assert len(m.benchmark) == 3000
    assert 0.13 <= s["index_vol"] <= 0.2 and 0.25 <= s["avg_stock_vol"] <= 0.4


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_written_layout_round_trips(tmp_path: Path, fmt: str) -> None:
    m = generate_market("sp500", years=1, seed=1)
    write_market(m, tmp_path, prices_format=fmt)  # type: ignore[arg-type]
    d = load_data_dir(tmp_path)
    assert d.membership is not None and len(d.membership) == len(m.membership)
    np.testing.assert_allclose(d.benchmark.sort_index(), m.benchmark.sort_index(), rtol=1e-8)
    assert d.securities["esg_tobacco"].dtype == bool
    np.testing.assert_allclose(d.prices["close"], m.prices["close"])
