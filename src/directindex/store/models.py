"""The stored book: tables for what was imported, what the daily runs proposed and who decided what.

Transactions are the source of truth; lots are never stored as truth but derived by the ledger on
read. Everything the workflow decides (proposals, transitions, orders, reconciliation breaks) is kept
with its evidence, and every change is also appended to the hash-chained ``audit`` table.
Timestamps are ISO-8601 UTC text so they hash and compare the same on every backend; JSON is kept as
canonical text for the same reason.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from directindex.store.types import Exact

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ImportRow(Base):
    __tablename__ = "imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    accounts_added: Mapped[int] = mapped_column(Integer, default=0)
    securities_added: Mapped[int] = mapped_column(Integer, default=0)
    transactions_added: Mapped[int] = mapped_column(Integer, default=0)


class AccountRow(Base):
    __tablename__ = "accounts"
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    household: Mapped[str] = mapped_column(String(100), index=True)
    owner: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    source_file: Mapped[str] = mapped_column(Text)
    source_line: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))


class SecurityRow(Base):
    __tablename__ = "securities"
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(Text, default="")
    sector: Mapped[str] = mapped_column(String(100), default="")
    industry: Mapped[str] = mapped_column(String(100), default="")
    identical_group: Mapped[str] = mapped_column(String(100), default="")
    source_file: Mapped[str] = mapped_column(Text)
    source_line: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))


class TransactionRow(Base):
    """One transaction; ``seq`` is the booking order (file order within an import, imports in order)."""

    __tablename__ = "transactions"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(100), unique=True)
    date: Mapped[dt.date] = mapped_column(Date)
    account: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(20))
    symbol: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[Decimal] = mapped_column(Exact())
    price: Mapped[Decimal] = mapped_column(Exact())
    fees: Mapped[Decimal] = mapped_column(Exact())
    lot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acquired: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    basis: Mapped[Decimal | None] = mapped_column(Exact(), nullable=True)
    ratio: Mapped[Decimal | None] = mapped_column(Exact(), nullable=True)
    source_file: Mapped[str] = mapped_column(Text)
    source_line: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))


class PolicyRow(Base):
    """A version of ``policy.toml``; the newest one applies."""

    __tablename__ = "policies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(Text)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))


class PendingOrderRow(Base):
    """An order of the newest imported ``pending.csv``: placed or proposed, not yet in the book.

    The file is a snapshot, so a book import whose ``pending.csv`` differs replaces the whole set; an
    order whose id later arrives as a transaction is booked and no longer pending.
    """

    __tablename__ = "pending_orders"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(140))
    account: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(10))
    quantity: Mapped[Decimal] = mapped_column(Exact())
    date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    source_file: Mapped[str] = mapped_column(Text)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"))


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[str] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40), nullable=True)
    owner: Mapped[str] = mapped_column(String(200))
    prices: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="{}")


class RunAccountRow(Base):
    """What one run saw and did for one account; its existence makes a re-run skip the account."""

    __tablename__ = "run_accounts"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    account: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(30))
    snapshot: Mapped[str] = mapped_column(Text)
    changes: Mapped[str] = mapped_column(Text)
    proposal_id: Mapped[str | None] = mapped_column(String(120), nullable=True)


class ProposalRow(Base):
    __tablename__ = "proposals"
    __table_args__ = (UniqueConstraint("as_of", "account"),)
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    account: Mapped[str] = mapped_column(String(100), index=True)
    household: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20), index=True)
    proposer: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))
    trades: Mapped[str] = mapped_column(Text)
    blocked: Mapped[str] = mapped_column(Text)
    restricted: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    policy: Mapped[str] = mapped_column(Text)
    routing: Mapped[str] = mapped_column(Text)
    approver: Mapped[str | None] = mapped_column(String(200), nullable=True)


class TransitionRow(Base):
    __tablename__ = "transitions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    by: Mapped[str] = mapped_column(String(200))
    at: Mapped[str] = mapped_column(String(40))
    why: Mapped[str] = mapped_column(Text)


class OrderRow(Base):
    """An order released to a broker; its fill is the transaction whose id is the order id."""

    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(140), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id"), index=True)
    account: Mapped[str] = mapped_column(String(100))
    side: Mapped[str] = mapped_column(String(10))
    symbol: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[Decimal] = mapped_column(Exact())
    lot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(20))


class ReconciliationRow(Base):
    __tablename__ = "reconciliations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[dt.date] = mapped_column(Date)
    at: Mapped[str] = mapped_column(String(40))
    breaks: Mapped[int] = mapped_column(Integer)


class BreakRow(Base):
    """A difference between the book and a custodian; open (unresolved) breaks block proposals."""

    __tablename__ = "breaks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reconciliation_id: Mapped[int] = mapped_column(ForeignKey("reconciliations.id"))
    account: Mapped[str] = mapped_column(String(100), index=True)
    symbol: Mapped[str] = mapped_column(String(40))
    lot: Mapped[str | None] = mapped_column(String(100), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    book_value: Mapped[str] = mapped_column(Text)
    custodian_value: Mapped[str] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AuditRow(Base):
    """Append-only, hash-chained: ``hash = sha256(canonical(record) + prev_hash)``."""

    __tablename__ = "audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str] = mapped_column(String(200), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's last sequence number and hash, so deleting the newest records is detected too."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class LockRow(Base):
    """A named lock held by one process; stale when its process is gone or it is too old."""

    __tablename__ = "locks"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[str] = mapped_column(String(40))


Index("ix_transactions_date", TransactionRow.date)
Index("ix_breaks_open", BreakRow.account, BreakRow.resolved_by)
