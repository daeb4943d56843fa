"""``directindex tax schedule-d`` and ``directindex tax rates`` through the real Typer app.

The Schedule D figures follow the 2024 Schedule D instructions' Capital Loss Carryover Worksheet.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from directindex.cli import app

runner = CliRunner()
HEADER = (
    "account,symbol,lot,quantity,date_acquired,date_sold,proceeds,cost_basis,code,adjustment,gain_loss,term,"
    "disallowed_permanently\n"
)
KEYS = {"net_short_term", "net_long_term", "total", "allowed_loss", "carryover_short_term", "carryover_long_term"}


def run(*args: str):
    return runner.invoke(app, ["tax", *args])


def messages(result) -> str:
    text = result.output
    try:
        text += result.stderr
    except (ValueError, AttributeError):
        pass
    return text


def test_schedule_d_json_with_repeated_short():
    r = run("schedule-d", "--filing-status", "single", "--short=-9000", "--short", "1000", "--long=500")
    assert r.exit_code == 0, messages(r)
    out = json.loads(r.stdout)
    assert KEYS <= out.keys()
    assert (out["net_short_term"], out["net_long_term"], out["total"]) == (-8000, 500, -7500)
    assert out["allowed_loss"] == -3000
    assert (out["carryover_short_term"], out["carryover_long_term"]) == (4500, 0)
    assert list(out["worksheet"]) == [f"line_{i}" for i in range(1, 14)]
    assert out["worksheet"]["line_5"] == 8000 and out["worksheet"]["line_8"] == 4500


def test_schedule_d_carryovers_and_taxable_income():
    r = run(
        "schedule-d", "--filing-status", "married_filing_separately", "--long=-400",
        "--carryover-short", "1000", "--carryover-long", "2000", "--taxable-income=-700",
    )  # fmt: skip
    assert r.exit_code == 0, messages(r)
    out = json.loads(r.stdout)
    assert (out["net_short_term"], out["net_long_term"], out["allowed_loss"]) == (-1000, -2400, -1500)
    w = out["worksheet"]
    assert (w["line_1"], w["line_2"], w["line_3"], w["line_4"]) == (-700, 1500, 800, 800)
    # line 8 = 1,000 - 800; line 13 = 2,400 - (0 + max(800 - 1,000, 0))
    assert (out["carryover_short_term"], out["carryover_long_term"]) == (200, 2400)


def test_schedule_d_from_realized_file(tmp_path: Path):
    f = tmp_path / "realized.csv"
    f.write_text(
        HEADER
        + "A1,AAPL,L1,10,2024-01-02,2024-03-01,1000.00,3500.25,,0.00,-2500.25,short,0.00\n"
        + "A1,MSFT,L2,5,2022-01-02,2024-03-01,9000.00,8000.00,,0.00,1000.00,long,0.00\n"
        + "A2,XOM,L3,5,2024-01-02,2024-03-01,100.00,4100.00,W,500.00,-3500.00,short,0.00\n"
    )
    r = run("schedule-d", "--filing-status", "single", "--realized", str(f), "--short=250.25")
    assert r.exit_code == 0, messages(r)
    out = json.loads(r.stdout)
    assert (out["net_short_term"], out["net_long_term"], out["total"]) == (-5750, 1000, -4750)
    assert (out["allowed_loss"], out["carryover_short_term"]) == (-3000, 1750)


def test_schedule_d_csv_is_key_value_rows():
    r = run("schedule-d", "--filing-status", "head_of_household", "--short=-5000", "--format", "csv")
    assert r.exit_code == 0, messages(r)
    rows = dict(line.split(",", 1) for line in r.stdout.strip().splitlines()[1:])
    assert r.stdout.startswith("key,value\n")
    assert rows["allowed_loss"] == "-3000.00"
    assert rows["carryover_short_term"] == "2000.00"
    assert rows["worksheet.line_8"] == "2000.00"


def test_bad_realized_row_names_file_line_and_field(tmp_path: Path):
    f = tmp_path / "bad.csv"
    f.write_text(
        HEADER
        + "A1,AAPL,L1,10,2024-01-02,2024-03-01,1000.00,3500.00,,0.00,-2500.00,short,0.00\n"
        + "A1,MSFT,L2,5,2022-01-02,2024-03-01,9000.00,8000.00,,0.00,lots,long,0.00\n"
        + "A1,MSFT,L3,5,2022-01-02,2024-03-01,9000.00,8000.00,,0.00,1.00,medium,0.00\n"
    )
    r = run("schedule-d", "--filing-status", "single", "--realized", str(f))
    assert r.exit_code != 0
    text = messages(r)
    assert "bad.csv" in text
    assert "line 3" in text and "gain_loss" in text
    assert "line 4" in text and "term" in text
    assert r.stdout.strip() == "" or "{" not in r.stdout


def test_missing_column_and_missing_file(tmp_path: Path):
    f = tmp_path / "nocol.csv"
    f.write_text("account,gain_loss\nA1,5\n")
    r = run("schedule-d", "--filing-status", "single", "--realized", str(f))
    assert r.exit_code != 0 and "term" in messages(r)
    r = run("schedule-d", "--filing-status", "single", "--realized", str(tmp_path / "nope.csv"))
    assert r.exit_code != 0 and "nope.csv" in messages(r)


def test_bad_amount_and_status_on_command_line():
    r = run("schedule-d", "--filing-status", "single", "--short", "ten")
    assert r.exit_code != 0 and "--short" in messages(r)
    r = run("schedule-d", "--filing-status", "married")
    assert r.exit_code != 0
    r = run("schedule-d", "--filing-status", "single", "--carryover-long=-5")
    assert r.exit_code != 0 and "--carryover-long" in messages(r)


def test_rates_command():
    r = run("rates", "--year", "2024", "--filing-status", "single", "--income", "150000", "--state", "CA")
    assert r.exit_code == 0, messages(r)
    out = json.loads(r.stdout)
    assert (out["short_term"], out["long_term"]) == (0.373, 0.283)
    assert out["components"]["niit"] == 0

    r = run("rates", "--year", "2026", "--filing-status", "married_filing_jointly")
    out = json.loads(r.stdout)
    assert (out["short_term"], out["long_term"]) == (0.408, 0.238)

    r = run("rates", "--year", "2019", "--filing-status", "single")
    assert r.exit_code != 0 and "2024" in messages(r)
    r = run("rates", "--year", "2024", "--filing-status", "single", "--state", "XX")
    assert r.exit_code != 0 and "--state" in messages(r)


def test_out_of_range_amount_is_bad_input_not_a_crash():
    r = run("schedule-d", "--filing-status", "single", "--short", "1e400")
    assert r.exit_code == 2 and "--short" in messages(r) and "out of range" in messages(r)
    assert r.stdout.strip() == "" or "{" not in r.stdout
