"""`directindex lots` and `directindex realized` through the real Typer app: the issue-2 columns and bad input."""

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from directindex.cli import app

EX = Path(__file__).resolve().parents[2] / "examples" / "household"
runner = CliRunner()


def _args(*extra):
    return [str(EX / "accounts.csv"), str(EX / "transactions.csv"), "--securities", str(EX / "securities.csv"), *extra]


def test_lots_csv_has_contract_columns_and_parts():
    res = runner.invoke(app, ["lots", *_args("--format", "csv")])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0])[:9] == ["account", "lot", "symbol", "quantity", "acquired", "cost", "basis",
                                 "wash_sale_adjustment", "long_term_on"]
    cvx = next(r for r in rows if r["lot"] == "T15.1")
    # Sold 40 CVX at a $480 loss; the spouse bought 25 within 30 days: 25/40 of the loss moves.
    assert cvx["wash_sale_adjustment"] == "300.00" and cvx["basis"] == "3825.00"


def test_realized_json_form_8949_rows_and_year_filter():
    res = runner.invoke(app, ["realized", *_args("--format", "json", "--year", "2024")])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert {r["date_sold"][:4] for r in rows} == {"2024"}
    goog = next(r for r in rows if r["symbol"] == "GOOG")
    assert goog["code"] == "W" and goog["adjustment"] == 205 and goog["disallowed_permanently"] == 205
    for r in rows:
        assert round(r["proceeds"] - r["cost_basis"] + r["adjustment"], 2) == r["gain_loss"]


def test_bad_row_names_file_line_field_and_writes_nothing(tmp_path):
    bad = tmp_path / "transactions.csv"
    text = (EX / "transactions.csv").read_text().splitlines()
    text[3] = text[3].replace("2023-02-15", "2023-02-31")
    bad.write_text("\n".join(text) + "\n")
    res = runner.invoke(app, ["realized", str(EX / "accounts.csv"), str(bad), "--format", "csv"])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert "transactions.csv, line 4, field 'date'" in res.stderr


def test_selling_more_than_held_is_an_error(tmp_path):
    bad = tmp_path / "transactions.csv"
    bad.write_text((EX / "transactions.csv").read_text().replace("T6,2023-10-02,JOINT,sell,JPM,60",
                                                                 "T6,2023-10-02,JOINT,sell,JPM,61"))
    res = runner.invoke(app, ["lots", str(EX / "accounts.csv"), str(bad)])
    assert res.exit_code == 2 and "field 'quantity'" in res.stderr and "line 7" in res.stderr


HEADER = "id,date,account,action,symbol,quantity,price,fees,lot,acquired,basis,ratio"
OPENING = "A,2024-01-02,JOINT,buy,X,10,100,,,,,"


@pytest.mark.parametrize(("row", "field", "says"), [
    ("B,2024-01-03,NOBODY,buy,X,1,1,,,,,", "account", "unknown account 'NOBODY'"),
    ("B,2024-01-03,JOINT,teleport,X,1,1,,,,,", "action", "unknown action 'teleport'"),
    ("B,2024-02-30,JOINT,buy,X,1,1,,,,,", "date", "cannot parse date '2024-02-30'"),
    ("B,2024-01-03,JOINT,buy,X,1,1O.5,,,,,", "price", "cannot parse number '1O.5'"),
    ("B,2024-01-03,JOINT,buy,X,1,1e400,,,,,", "price", "out of range"),
    ("B,2024-01-03,JOINT,buy,X,-5,1,,,,,", "quantity", "quantity is negative"),
    ("B,2024-01-03,JOINT,sell,X,11,1,,,,,", "quantity", "holds only 10"),
    ("B,2024-01-03,JOINT,sell,X,1,1,,NOPE,,,", "lot", "lot 'NOPE' does not exist"),
    ("A,2024-01-03,JOINT,buy,X,1,1,,,,,", "id", "duplicate id 'A'"),
])
def test_every_kind_of_bad_row_names_file_line_field_exits_2_and_prints_nothing(tmp_path, row, field, says):
    """Issue 2, 'Bad input': the message names the file, line and field; non-zero exit; no output."""
    bad = tmp_path / "transactions.csv"
    bad.write_text(f"{HEADER}\n{OPENING}\n{row}\n")
    for command in ("lots", "realized"):
        res = runner.invoke(app, [command, str(EX / "accounts.csv"), str(bad), "--format", "csv"])
        assert res.exit_code == 2, res.output
        assert res.stdout == ""
        assert f"transactions.csv, line 3, field '{field}'" in res.stderr and says in res.stderr, res.stderr


def test_bad_account_type_and_bad_as_of_are_reported(tmp_path):
    accts = tmp_path / "accounts.csv"
    accts.write_text("account,household,owner,type\nJOINT,h,alex,taxable\nIRA,h,alex,hsa\n")
    res = runner.invoke(app, ["lots", str(accts), str(EX / "transactions.csv")])
    assert res.exit_code == 2 and res.stdout == ""
    assert "accounts.csv, line 3, field 'type'" in res.stderr
    res = runner.invoke(app, ["lots", *_args("--as-of", "2024-13-01")])
    assert res.exit_code == 2 and res.stdout == ""
    assert "field '--as-of'" in res.stderr


def test_as_of_books_only_the_history_up_to_that_date():
    res = runner.invoke(app, ["lots", *_args("--as-of", "2023-12-31", "--format", "json")])
    assert res.exit_code == 0, res.output
    lots = {(r["account"], r["lot"]) for r in json.loads(res.stdout)}
    assert lots == {("JOINT", "T1"), ("JOINT", "T2"), ("JOINT", "T3"), ("SPOUSE", "T4")}
