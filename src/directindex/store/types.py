"""Exact numbers in the database: money and quantities never pass through a float.

PostgreSQL keeps them as unconstrained ``NUMERIC`` (exact, any scale). SQLite has no exact decimal
type (its NUMERIC affinity turns ``10.10`` into a binary float), so there the value is stored as its
decimal text and read back as a ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class Exact(TypeDecorator[Decimal]):
    """A ``Decimal`` stored exactly on every backend."""

    impl = String(64)
    cache_ok = True

    @staticmethod
    def stored_as_text(dialect: Dialect) -> bool:
        """Whether the values are kept as decimal text: on every backend but PostgreSQL.

        PostgreSQL's driver reads ``NUMERIC`` as ``Decimal``; elsewhere a reader that skips
        ``process_result_value`` must convert the text itself.
        """
        return dialect.name != "postgresql"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if not self.stored_as_text(dialect):
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("refusing to store a float as an exact number; pass a Decimal")
        d = value if isinstance(value, Decimal) else Decimal(value)
        return str(d) if self.stored_as_text(dialect) else d

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))
