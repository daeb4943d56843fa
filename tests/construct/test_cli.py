"""The construct and rebalance commands on a small synthetic market: JSON contract and exclusions."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from directindex.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("mkt")
    r = runner.invoke(
        app, ["market", "generate", "--out", str(out), "--years", "2", "--seed", "3", "--prices-format", "csv"]
    )
    assert r.exit_code == 0, r.output
    (out / "accounts.csv").write_text("account,household,owner,type\nA1,H1,alice,taxable\n")
    return out


def test_construct_json_contract(data) -> None:
    args = [
        "construct",
        "--prices",
        str(data / "prices.csv"),
        "--securities",
        str(data / "securities.csv"),
        "--benchmark",
        str(data / "benchmark.csv"),
        "--exclude-sector",
        "Energy",
        "--exclude",
        "AAOS",
        "--tilt",
        "value=0.0:0.5",
        "--te-budget",
        "0.03",
        "--sector-band",
        "-1",
        "--format",
        "json",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {"weights", "ex_ante_tracking_error", "active_constraints", "alerts"} <= set(d)
    assert "AAOS" not in d["weights"]
    assert sum(d["weights"].values()) == pytest.approx(1.0, abs=1e-6)


def test_rebalance_json_has_lot_trades(data) -> None:
    sym = json.loads(
        runner.invoke(
            app,
            [
                "construct",
                "--prices",
                str(data / "prices.csv"),
                "--securities",
                str(data / "securities.csv"),
                "--benchmark",
                str(data / "benchmark.csv"),
                "--format",
                "json",
            ],
        ).stdout
    )["weights"]
    first = sorted(sym)[0]
    (data / "tx.csv").write_text(
        f"id,date,account,action,symbol,quantity,price,fees,lot\nt1,2011-03-01,A1,buy,{first},100,10,0,\n"
    )
    args = [
        "rebalance",
        str(data / "accounts.csv"),
        str(data / "tx.csv"),
        "--account",
        "A1",
        "--prices",
        str(data / "prices.csv"),
        "--securities",
        str(data / "securities.csv"),
        "--benchmark",
        str(data / "benchmark.csv"),
        "--exclude",
        first,
        "--cash",
        "50000",
        "--te-budget",
        "0.05",
        "--format",
        "json",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    sells = [t for t in d["trades"] if t["side"] == "sell"]
    assert sells and all(t["symbol"] == first and t["lot"] for t in sells)
    assert first not in d["weights"]


def test_rebalance_reads_the_stored_book(data, tmp_path) -> None:
    """Issue 7: read commands work on the stored book given --db instead of files."""
    weights = json.loads(runner.invoke(app, [
        "construct", "--prices", str(data / "prices.csv"), "--securities", str(data / "securities.csv"),
        "--benchmark", str(data / "benchmark.csv"), "--format", "json"]).stdout)["weights"]
    first = sorted(weights)[1]
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    (book_dir / "accounts.csv").write_text((data / "accounts.csv").read_text())
    (book_dir / "transactions.csv").write_text(
        f"id,date,account,action,symbol,quantity,price,fees,lot\nt1,2011-03-01,A1,buy,{first},100,10,0,\n")
    url = f"sqlite:///{tmp_path / 'book.db'}"
    for cmd in (["init", "--db", url], ["import", str(book_dir), "--db", url]):
        r = runner.invoke(app, cmd)
        assert r.exit_code == 0, r.output
    common = ["--account", "A1", "--prices", str(data / "prices.csv"), "--securities", str(data / "securities.csv"),
              "--benchmark", str(data / "benchmark.csv"), "--exclude", first, "--cash", "50000", "--te-budget", "0.05",
              "--format", "json"]
    from_db = runner.invoke(app, ["rebalance", *common, "--db", url])
    from_files = runner.invoke(app, ["rebalance", str(book_dir / "accounts.csv"), str(book_dir / "transactions.csv"),
                                     *common])
    assert from_db.exit_code == 0, from_db.output
    d_db, d_files = json.loads(from_db.stdout), json.loads(from_files.stdout)
    assert d_db["trades"] == d_files["trades"] and [t for t in d_db["trades"] if t["symbol"] == first]
