"""Pending orders: the ``pending.csv`` of a book directory (orders placed or proposed, not yet booked).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from directindex.store.types import Exact

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_orders",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(length=140), nullable=False),
        sa.Column("account", sa.String(length=100), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("quantity", Exact(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], name=op.f("fk_pending_orders_import_id_imports")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_pending_orders")),
    )


def downgrade() -> None:
    op.drop_table("pending_orders")
