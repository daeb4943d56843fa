"""The ``harvest`` command: JSON contract, table output, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from directindex.cli import app
from directindex.harvest import load_book_dir
from directindex.ledger import book
from tests.harvest.test_plan import BOOK

runner = CliRunner()
ARGS = [str(BOOK), "--prices", str(BOOK / "prices.csv"), "--as-of", "2025-06-16"]


def test_json_keys_and_replay():
    res = runner.invoke(app, ["harvest", *ARGS, "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out) == ["trades", "blocked", "restricted", "summary"]
    for key in ("harvested_short_term", "harvested_long_term", "estimated_tax_value", "tracking_error_before",
                "tracking_error_after"):
        assert key in out["summary"]
    assert {t["reason"] for t in out["trades"]} <= {"harvest", "replacement", "swap_back"}
    assert any("dividend reinvestment" in b["reason"] for b in out["blocked"])
    # The JSON trades, booked after the history, wash nothing.
    from decimal import Decimal

    from directindex.ledger import Action, Transaction

    b = load_book_dir(BOOK)
    txs = [Transaction(f"J{i}", __import__("datetime").date(2025, 6, 16), t["account"], Action(t["side"]),
                       t["symbol"], Decimal(str(t["quantity"])), Decimal(str(t["price"])), Decimal(0), t["lot"])
           for i, t in enumerate(out["trades"])]
    assert book([*b.transactions, *txs], b.accounts, b.securities).raise_errors().wash_sales == ()


def test_table_output():
    res = runner.invoke(app, ["harvest", *ARGS])
    assert res.exit_code == 0, res.output
    assert "Harvest proposal" in res.stdout and "Restricted" in res.stdout


def test_bad_policy_names_file_and_key(tmp_path: Path):
    d = tmp_path / "book"
    shutil.copytree(BOOK, d)
    (d / "policy.toml").write_text('[harvest]\nloss_threshold = "lots"\n')
    res = runner.invoke(app, ["harvest", str(d), "--prices", str(BOOK / "prices.csv"), "--as-of", "2025-06-16"])
    assert res.exit_code == 2
    assert "policy.toml" in res.stderr and "harvest.loss_threshold" in res.stderr
