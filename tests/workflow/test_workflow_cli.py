"""The book's commands end to end through the Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from directindex.cli import app
from tests.store.dbfixtures import TX_COLUMNS, write_book, write_csv, write_prices

runner = CliRunner()


def invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_cli_workflow(db_url: str, tmp_path: Path) -> None:
    db = ["--db", db_url]
    invoke("init", *db)
    book = write_book(tmp_path / "book", policy="[approval]\napprover = 'dana'\nauto_approve = false\n")
    assert "3 account(s), 5 securit(ies), 6 transaction(s) added" in invoke("import", str(book), *db)
    assert "nothing new" in invoke("import", str(book), *db)
    prices = write_prices(tmp_path / "p.csv", {"AAA": "45", "BBB": "210", "GOOG": "155", "CCC": "101"})
    out = invoke("run", "--as-of", "2025-01-15", "--prices", str(prices), *db)
    assert "1 proposal(s) (0 auto-approved, 1 pending approval)" in out
    listed = json.loads(invoke("proposals", "list", "--format", "json", *db))
    assert [(p["id"], p["state"], p["approver"]) for p in listed] == [
        ("P-20250115-TAX-1", "pending_approval", "dana")]
    pid = listed[0]["id"]
    invoke("proposals", "approve", pid, "--by", "dana", "--note", "checked the household", *db)
    orders = tmp_path / "orders.csv"
    invoke("proposals", "release", pid, "--by", "ops", "--on", "2025-01-16", "--orders", str(orders), *db)
    assert orders.read_text().splitlines()[1].startswith(f"{pid}-1,{pid},TAX-1,sell,AAA,100,t1")
    fills = tmp_path / "fills.csv"
    invoke("proposals", "fill", pid, "--prices", str(prices), "--out", str(fills), "--on", "2025-01-16", *db)
    assert f"proposal {pid} executed" in invoke("import", str(fills), *db)
    shown = json.loads(invoke("proposals", "show", pid, "--format", "json", *db))
    assert shown["state"] == "executed"
    assert [t["by"] for t in shown["transitions"]][:3] == ["policy", "dana", "ops"]
    story = invoke("audit", "show", pid, *db)
    for needle in ("routed to dana", "pending_approval -> approved by dana: checked the household",
                   "released by ops", "sell 100 AAA @ 45 on 2025-01-16", "released -> executed"):
        assert needle in " ".join(story.split())
    assert "audit trail intact" in invoke("audit", "verify", *db)
    lots = json.loads(invoke("book", "lots", "--as-of", "2025-01-16", "--account", "TAX-1", "--format", "json", *db))
    held = {r["symbol"] for r in lots}  # AAA harvested; the default harvest engine bought a peer replacement
    assert "AAA" not in held and {"BBB", "CCC"} < held
    bad = write_csv(tmp_path / "bad.csv", TX_COLUMNS, [("t2", "2024-02-10", "TAX-1", "buy", "BBB", "11", "200.10",
                                                       "1.00", "")])
    out = invoke("import", str(bad), *db, code=2)
    assert "transaction 't2' differs from the stored one" in " ".join(out.split())
    pos = write_csv(tmp_path / "pos.csv", ("account", "symbol", "quantity"), [("TAX-1", "BBB", "10")])
    out = invoke("reconcile", str(pos), "--as-of", "2025-01-16", "--format", "json", *db, code=1)
    assert {(b["account"], b["symbol"], b["kind"]) for b in json.loads(out[out.index("["):])} >= {
        ("TAX-1", "CCC", "missing")}


def test_read_commands_on_a_missing_book_say_what_to_do(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'none.db'}"]
    for args in (["lots"], ["realized"], ["harvest", "--as-of", "2025-01-15", "--prices", str(tmp_path / "p.csv")]):
        result = runner.invoke(app, [*args, *db])
        assert result.exit_code == 2, (args, result.output, result.exception)
        assert "run `directindex init --db ...` first" in " ".join(result.output.split())
