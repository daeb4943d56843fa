"""The persistent book: SQLAlchemy models, Alembic migrations and record mapping (no tax rules).

Transactions are the stored truth; lots are derived by the ledger whenever they are needed.
``load_book(url)`` gives read commands the same records the CSV loaders give.
"""

from directindex.store.db import (
    DEFAULT_DB,
    ENV_VAR,
    StoreError,
    engine_for,
    migrate,
    open_book,
    resolve_url,
    write_tx,
)
from directindex.store.repo import Book, canonical_json, load_book, read_book

__all__ = [
    "DEFAULT_DB",
    "ENV_VAR",
    "Book",
    "StoreError",
    "canonical_json",
    "engine_for",
    "load_book",
    "migrate",
    "open_book",
    "read_book",
    "resolve_url",
    "write_tx",
]
