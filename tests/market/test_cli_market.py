"""`directindex market generate/check/stats` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from directindex.cli import app

runner = CliRunner()


def test_generate_stats_check(tmp_path: Path) -> None:
    out = tmp_path / "m"
    res = runner.invoke(
        app, ["market", "generate", "--universe", "textbook", "--years", "2", "--seed", "3", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} == {"prices.parquet", "securities.csv", "benchmark.csv", "membership.csv"}
    res = runner.invoke(app, ["market", "stats", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    figures = json.loads(res.stdout)
    assert 0.25 < figures["avg_stock_vol"] < 0.35 and figures["n_names"] == 300
    assert isinstance(figures["n_names"], int)
    # the calibration figures issue 3 names: index vol, stock vol, dispersion, pairwise correlation
    assert {"index_vol", "avg_stock_vol", "avg_dispersion", "avg_pairwise_corr", "top10_weight"} <= set(figures)
    res = runner.invoke(app, ["market", "check", str(out), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"summary": [], "findings": []}
    res = runner.invoke(app, ["market", "check", str(out / "prices.parquet"), "--format", "json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["findings"] == []


def test_check_reports_findings_and_bad_input(tmp_path: Path) -> None:
    p = tmp_path / "prices.csv"
    rows = ["date,symbol,close"] + [f"2020-01-{d:02d},A,10" for d in range(1, 10)]
    p.write_text("\n".join(rows) + "\n")
    res = runner.invoke(app, ["market", "check", str(p), "--format", "json"])
    assert res.exit_code == 0
    assert [f["check"] for f in json.loads(res.stdout)["findings"]] == ["stale_run"]
    p.write_text("date,symbol,close\n2020-01-01,A,ten\n")
    res = runner.invoke(app, ["market", "check", str(p)])
    assert res.exit_code == 2
