"""Database fixtures shared by the store and workflow suites: every test runs on SQLite and PostgreSQL.

PostgreSQL: one fresh database per test session (``directindex_test_<pid>_<random>``, dropped at the
end) and one schema per test inside it, so parallel sessions (``pytest -n 2``) never collide. When the
server is unreachable every PostgreSQL case *fails* with the reason (never skips): a storage suite that
quietly ran on SQLite only would hide exactly the bugs it exists to catch. Point
``DIRECTINDEX_TEST_PG`` at another server, or deselect explicitly with ``-k "not postgresql"``.
"""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
import pytest

from directindex.store import engine_for, migrate

PG_ADMIN = os.environ.get("DIRECTINDEX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {e}".strip() + " (the storage tests must run on "
                    "PostgreSQL too: start the server or set DIRECTINDEX_TEST_PG; they never skip)", pytrace=False)
    name = f"directindex_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'book.db'}"
    else:
        pg = request.getfixturevalue("pg_database")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(pg, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{pg}?options=-csearch_path%3D{schema}"
    migrate(url)
    yield url
    engine_for(url).dispose()


ACCOUNTS = [
    ("TAX-1", "H1", "alice", "taxable"),
    ("IRA-2", "H1", "bob", "traditional_ira"),
    ("TAX-3", "H2", "carol", "taxable"),
]
SECURITIES = [
    ("AAA", "Aaa Corp", "Tech", "Software", ""),
    ("BBB", "Bbb Inc", "Energy", "Oil", ""),
    ("GOOG", "Alphabet C", "Tech", "Internet", "ALPHABET"),
    ("GOOGL", "Alphabet A", "Tech", "Internet", "ALPHABET"),
    ("CCC", "Ccc Ltd", "Health", "Pharma", ""),
]
TX_COLUMNS = ("id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot")
TRANSACTIONS = [
    ("t1", "2024-01-10", "TAX-1", "buy", "AAA", "100", "50.00", "0", ""),
    ("t2", "2024-02-10", "TAX-1", "buy", "BBB", "10", "200.10", "1.00", ""),
    ("t3", "2024-03-01", "TAX-3", "buy", "GOOG", "20", "150", "0", ""),
    ("t4", "2024-03-01", "IRA-2", "buy", "BBB", "5", "190", "0", ""),
    ("t5", "2024-04-01", "TAX-1", "buy", "CCC", "1000", "100", "0", ""),
    ("t6", "2024-04-01", "TAX-3", "buy", "CCC", "1000", "100", "0", ""),
]
PRICES = {"AAA": "49", "BBB": "210", "GOOG": "120", "GOOGL": "121", "CCC": "101"}


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_book(root: Path, transactions: Sequence[Sequence[str]] = TRANSACTIONS, policy: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_csv(root / "accounts.csv", ("account", "household", "owner", "type"), ACCOUNTS)
    write_csv(root / "securities.csv", ("symbol", "name", "sector", "industry", "identical_group"), SECURITIES)
    write_csv(root / "transactions.csv", TX_COLUMNS, transactions)
    if policy is not None:
        (root / "policy.toml").write_text(policy)
    return root


def write_prices(path: Path, prices: dict[str, str] = PRICES) -> Path:
    return write_csv(path, ("symbol", "price"), sorted(prices.items()))
