"""Where the book lives: database URLs, engines, migrations and write transactions.

The default is an embedded SQLite file (``directindex.db`` in the working directory, or the
``DIRECTINDEX_DB`` environment variable); PostgreSQL is used by URL. Every write goes through
:func:`write_tx`, which serializes writers: SQLite begins with ``BEGIN IMMEDIATE`` and PostgreSQL
takes a transaction-scoped advisory lock, so the audit chain's "read the head, append" is never
interleaved between two processes. A killed process leaves no partial transaction behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text

DEFAULT_DB = "sqlite:///directindex.db"
ENV_VAR = "DIRECTINDEX_DB"
_WRITE_LOCK_KEY = 0x0D1EC7  # PostgreSQL advisory lock id for writers of one book


class StoreError(Exception):
    """A problem with the stored book that the user must act on (not initialized, locked, ...)."""


def resolve_url(url: str | None = None) -> str:
    """The URL to use: the given one, else ``DIRECTINDEX_DB``, else the SQLite default.

    ``postgresql://`` and ``postgres://`` select the psycopg 3 driver; a bare path means a SQLite file.
    """
    raw = url or os.environ.get(ENV_VAR) or DEFAULT_DB
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    if raw.startswith("postgresql://"):
        return "postgresql+psycopg://" + raw[len("postgresql://") :]
    if "://" not in raw:
        return f"sqlite:///{Path(raw)}"
    return raw


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=16)
def engine_for(url: str | None = None) -> Engine:
    """One engine per URL per process."""
    resolved = resolve_url(url)
    if resolved.startswith("sqlite"):
        engine = create_engine(resolved, connect_args={"timeout": 60})
        _sqlite_setup(engine)
    else:
        engine = create_engine(resolved, pool_pre_ping=True)
    return engine


def is_postgres(conn_or_engine: Connection | Engine) -> bool:
    return conn_or_engine.dialect.name == "postgresql"


@contextmanager
def write_tx(engine: Engine) -> Iterator[Connection]:
    """One atomic write transaction, serialized with every other writer of the same book."""
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK_KEY})
        yield conn


def _alembic_config(engine: Engine, conn: Connection) -> Any:
    from alembic.config import Config

    here = Path(__file__).parent
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(url: str | None = None) -> str:
    """Create the book or bring it to the newest schema; returns the revision now in place."""
    from alembic import command

    engine = engine_for(url)
    with write_tx(engine) as conn:
        command.upgrade(_alembic_config(engine, conn), "head")
    return current_revision(engine) or ""


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(__file__).parent / "migrations"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def open_book(url: str | None = None) -> Engine:
    """The engine of an initialized book at the newest schema, or a ``StoreError`` saying what to do."""
    engine = engine_for(url)
    try:
        rev = current_revision(engine)
    except Exception as e:  # connection refused, bad URL: say which database
        raise StoreError(f"cannot open the book at {engine.url.render_as_string()}: {e}") from e
    if rev is None:
        raise StoreError(
            f"no book at {engine.url.render_as_string()}: run `directindex init --db ...` first"
        )
    if rev != head_revision():
        raise StoreError(
            f"the book is at schema {rev}, this version needs {head_revision()}: run `directindex init`"
        )
    return engine
