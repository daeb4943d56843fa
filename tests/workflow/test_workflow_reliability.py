"""Killing the real CLI in the middle of an import or a run leaves a consistent, resumable book."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from directindex.store import engine_for
from directindex.store.models import ProposalRow, RunAccountRow, RunRow, TransactionRow
from directindex.workflow import audit
from tests.store.dbfixtures import ACCOUNTS, write_book, write_csv, write_prices

CLI = str(Path(sys.executable).with_name("directindex"))


def cli(*args: str, crash_at: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIRECTINDEX_CRASH_AT": crash_at or ""}
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def scalar(url: str, q: object) -> int:
    with engine_for(url).connect() as conn:
        return int(conn.execute(q).scalar_one())  # type: ignore[call-overload]


def test_import_killed_before_commit_writes_nothing_and_reruns(db_url: str, tmp_path: Path) -> None:
    book = write_book(tmp_path / "book")
    for point in ("import:mid-write", "import:before-commit"):
        proc = cli("import", str(book), "--db", db_url, crash_at=point, check=False)
        assert proc.returncode == -9, proc.stderr
        assert scalar(db_url, select(func.count()).select_from(TransactionRow)) == 0
    cli("import", str(book), "--db", db_url)
    assert scalar(db_url, select(func.count()).select_from(TransactionRow)) == 6
    assert "audit trail intact" in cli("audit", "verify", "--db", db_url).stdout


def test_import_killed_at_a_random_moment_is_all_or_nothing(db_url: str, tmp_path: Path) -> None:
    rows = [(f"b{i}", "2024-01-02", "TAX-1", "buy", "AAA", "1", "10", "0", "") for i in range(30000)]
    book = write_book(tmp_path / "book", rows)
    proc = subprocess.Popen([CLI, "import", str(book), "--db", db_url], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    proc.kill()
    proc.wait()
    n = scalar(db_url, select(func.count()).select_from(TransactionRow))
    assert n in (0, 30000)
    cli("import", str(book), "--db", db_url)
    assert scalar(db_url, select(func.count()).select_from(TransactionRow)) == 30000
    with engine_for(db_url).connect() as conn:
        assert audit.verify(conn) == []


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("point", ["run:account:0", "run:account:4"])
def test_run_killed_midway_resumes_without_duplicates(db_url: str, tmp_path: Path, point: str, workers: str) -> None:
    """``--workers 2``: households worked out in a forked worker too; the kill takes the writer down."""
    accounts = [(f"T{i}", f"H{i}", f"o{i}", "taxable") for i in range(6)]
    rows = [(f"x{i}", "2024-01-02", f"T{i}", "buy", "AAA", "10", "100", "0", "") for i in range(6)]
    book = write_book(tmp_path / "book", rows)
    write_csv(book / "accounts.csv", ("account", "household", "owner", "type"), accounts + ACCOUNTS)
    prices = write_prices(tmp_path / "prices.csv", {"AAA": "80"})
    cli("import", str(book), "--db", db_url)
    proc = cli("run", "--as-of", "2025-01-15", "--prices", str(prices), "--db", db_url, "--workers", workers,
               crash_at=point, check=False)
    assert proc.returncode == -9
    done = scalar(db_url, select(func.count()).select_from(RunAccountRow))
    # the run commits a chunk of households at a time: the kill lost the chunk it was writing
    n = int(point.rsplit(":", 1)[1])
    assert done <= n and scalar(db_url, select(func.count()).select_from(ProposalRow)) <= done
    with engine_for(db_url).connect() as conn:
        assert conn.execute(select(RunRow.status)).scalar_one() == "running"
        assert audit.verify(conn) == []
    out = cli("run", "--as-of", "2025-01-15", "--prices", str(prices), "--db", db_url, "--workers", workers).stdout
    assert f"{9 - done} account(s) processed, {done} already done" in out
    assert scalar(db_url, select(func.count()).select_from(ProposalRow)) == 6
    with engine_for(db_url).connect() as conn:
        assert conn.execute(select(RunRow.status)).scalar_one() == "complete"
        assert audit.verify(conn) == []


def test_second_run_on_a_busy_book_is_refused(db_url: str, tmp_path: Path) -> None:
    from directindex.workflow import lock

    cli("import", str(write_book(tmp_path / "book")), "--db", db_url)
    lock.acquire(engine_for(db_url), "run", "the 06:00 run")
    try:
        proc = cli("run", "--as-of", "2025-01-15", "--db", db_url, check=False)
    finally:
        lock.release(engine_for(db_url), "run")
    assert proc.returncode == 3
    assert "the book is busy: 'run' is held by the 06:00 run" in " ".join(proc.stderr.split())
    assert scalar(db_url, select(func.count()).select_from(RunRow)) == 0
