"""End to end on a small synthetic market: the summary contract, zero wash sales by the real ledger, the fast
lot state against the ledger, tax alpha in a falling market, the baselines, and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from directindex.backtest import BASELINES, YEAR_KEYS, BacktestConfig, BacktestMarket, run_backtest, synthetic_market
from directindex.backtest.engine import cadence_days
from directindex.cli import app


def _small(market: BacktestMarket, n: int) -> BacktestMarket:
    """The ``n`` largest names of the synthetic market (keeps the optimizer quick in tests)."""
    t = len(market.dates) // 2
    keep = np.sort(np.argsort(-np.nan_to_num(market.shares * market.close[t]))[:n])
    syms = tuple(market.symbols[j] for j in keep)
    return replace(
        market, symbols=syms, close=market.close[:, keep], alive=market.alive[:, keep],
        dividend=market.dividend[:, keep], split=market.split[:, keep], returns=market.returns[:, keep],
        member=market.member[:, keep], shares=market.shares[keep], returns_frame=market.returns_frame[list(syms)],
    )


@pytest.fixture(scope="module")
def small() -> tuple[BacktestMarket, BacktestConfig]:
    market, start, end = synthetic_market("sp500", years=2, seed=11)
    return _small(market, 80), BacktestConfig(start=start, end=end, harvest_cadence="weekly")


@pytest.fixture(scope="module")
def result(small: tuple[BacktestMarket, BacktestConfig]):  # type: ignore[no-untyped-def]
    market, config = small
    return run_backtest(market, config)


def test_summary_contract(result) -> None:  # type: ignore[no-untyped-def]
    summary, _ = result
    assert summary["years"] and all(set(r) == set(YEAR_KEYS) for r in summary["years"])
    assert set(summary["total"]) == set(YEAR_KEYS)
    assert set(summary["baselines"]) == set(BASELINES)
    assert all(set(b["total"]) == set(YEAR_KEYS) for b in summary["baselines"].values())
    for r in summary["years"]:
        assert abs(r["tax_alpha"]) < 0.5 and 0 <= r["harvested_short_term_pct"] < 1  # fractions, not percents
    json.dumps(summary)  # JSON-safe


def test_real_ledger_finds_no_wash_sales_and_agrees_with_fast_state(result) -> None:  # type: ignore[no-untyped-def]
    summary, runs = result
    main = runs[summary["strategy"]]
    assert any(reason == "harvest" for reason in main.reasons.values())  # the strategy harvested
    assert len(main.ledger.wash_sales) == 0
    assert summary["total"]["wash_sales"] == 0
    assert main.checks and all(c.agrees for c in main.checks)
    assert all(c.quantity_mismatches == 0 and c.max_basis_diff <= 0.01 for c in main.checks)
    for name in ("annual_december", "monthly_any_loss"):
        assert len(runs[name].ledger.wash_sales) == 0


def test_tax_alpha_positive_in_a_falling_market(small: tuple[BacktestMarket, BacktestConfig]) -> None:
    market, config = small
    down = replace(market, close=market.close.copy(), returns=market.returns.copy())
    t0 = market.day_index(config.start)
    t1 = t0 + 130
    # every name loses 0.15% a day on top of its own moves for half a year: losses to harvest
    drift = np.cumprod(np.full(t1 - t0, 0.9985))
    down.close[t0:t1] *= drift[:, None]
    down.close[t1:] *= drift[-1]
    down.returns[t0 + 1:t1] = (1 + down.returns[t0 + 1:t1]) * 0.9985 - 1
    cfg = replace(config, end=market.dates[t1 + 5].date())
    summary, _ = run_backtest(down, cfg, baselines=("index_fund",))
    assert summary["total"]["tax_alpha"] > 0
    assert summary["total"]["harvested_short_term_pct"] > 0
    assert summary["baselines"]["index_fund"]["total"]["tax_alpha"] == 0


def test_cadence_days(small: tuple[BacktestMarket, BacktestConfig]) -> None:
    market, _ = small
    d = market.dates[:300]
    assert cadence_days(d, "daily").all()
    months = cadence_days(d, "monthly")
    assert months.sum() == len({(x.year, x.month) for x in d})
    assert cadence_days(d, "december").sum() == len({x.year for x in d if x.month == 12})


def test_cli_backtest_json_and_files(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(app, ["backtest", "--synthetic", "sp500", "--years", "1", "--cadence", "monthly",
                              "--baselines", "index_fund,index_fund_harvest", "--out", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert set(summary["total"]) == set(YEAR_KEYS)
    assert set(summary["baselines"]) == {"index_fund", "index_fund_harvest"}
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "trades.csv").read_text().startswith("id,date,account,action")
    page = (out / "report.html").read_text()
    assert "<svg" in page and 'src="http' not in page and 'href="http' not in page  # nothing fetched


def test_cli_bad_input() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["backtest", "--start", "2010-01-01", "--end", "2011-01-01", "--cadence", "daily"])
    assert res.exit_code != 0
    res = runner.invoke(app, ["backtest", "--synthetic", "sp500", "--cadence", "hourly"])
    assert res.exit_code != 0
