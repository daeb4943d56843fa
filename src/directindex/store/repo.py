"""Mapping the ledger's records to rows and back; no tax rules live here.

``load_book(url)`` is what read commands use to work on a stored book instead of files: it returns the
same records the CSV loaders build, transactions in booking order with their original file and line.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Connection, select

from directindex.ledger.records import Account, AccountType, Action, Security, Source, Transaction
from directindex.store.db import open_book
from directindex.store.models import AccountRow, PendingOrderRow, PolicyRow, SecurityRow, TransactionRow

Book = tuple[dict[str, Account], dict[str, Security], list[Transaction], dict[str, Any] | None]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    # Exact-type fast paths first (a run serializes millions of plain values; ``isinstance`` against the
    # ``Mapping`` ABC is the slow part); subclasses (a ``str`` Enum) fall through to the full checks.
    # Scalars inside a dict or list are kept without a call: a heavy day's proposal holds tens of
    # thousands of them, and the walk spent most of its time calling itself on plain strings and numbers.
    t = type(value)
    if t in _SCALARS:
        return value
    if t is dict:
        return {(k if type(k) is str else str(k)): (v if type(v) in _SCALARS else _plain(v)) for k, v in value.items()}
    if t is list or t is tuple:
        return [v if type(v) in _SCALARS else _plain(v) for v in value]
    if isinstance(value, Decimal):
        # Normalized text, so 10.50 and 10.5 are the same number in a fingerprint or a hash.
        return format(value.normalize(), "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return value


def plain_json(value: Any) -> Any:
    """``value`` as JSON types only (str keys; decimals, dates and enums as text): what ``canonical_json`` encodes."""
    return _plain(value)


def canonical_json(value: Any, *, plain: bool = False) -> str:
    """One text per value: sorted keys, no spaces, exact decimals as text.

    ``plain=True``: ``value`` is already :func:`plain_json` output (JSON types, str keys), so the walk
    over it is skipped; the text is the same.
    """
    return json.dumps(value if plain else _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


# --- accounts and securities -------------------------------------------------------------------


def account_fingerprint(a: Account) -> tuple[str, ...]:
    return (a.account, a.household, a.owner, a.type.value)


def account_values(a: Account, source: Source, import_id: int) -> dict[str, Any]:
    return {
        "account": a.account,
        "household": a.household,
        "owner": a.owner,
        "type": a.type.value,
        "source_file": source.file,
        "source_line": source.line,
        "import_id": import_id,
    }


def security_fingerprint(s: Security) -> tuple[str, ...]:
    return (s.symbol, s.name, s.sector, s.industry, s.identical_group)


def security_values(s: Security, source: Source, import_id: int) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "name": s.name,
        "sector": s.sector,
        "industry": s.industry,
        "identical_group": s.identical_group,
        "source_file": source.file,
        "source_line": source.line,
        "import_id": import_id,
    }


def fetch_accounts(conn: Connection) -> dict[str, Account]:
    rows = conn.execute(select(AccountRow.account, AccountRow.household, AccountRow.owner, AccountRow.type))
    return {r[0]: Account(r[0], r[1], r[2], AccountType(r[3])) for r in rows}


def fetch_account_sources(conn: Connection, ids: Iterable[str]) -> dict[str, Source]:
    out: dict[str, Source] = {}
    for chunk in _chunks(list(ids)):
        q = select(AccountRow.account, AccountRow.source_file, AccountRow.source_line).where(
            AccountRow.account.in_(chunk)
        )
        out.update({r[0]: Source(r[1], r[2]) for r in conn.execute(q)})
    return out


def fetch_securities(conn: Connection) -> dict[str, Security]:
    q = select(
        SecurityRow.symbol,
        SecurityRow.name,
        SecurityRow.sector,
        SecurityRow.industry,
        SecurityRow.identical_group,
    )
    return {r[0]: Security(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(q)}


def fetch_security_sources(conn: Connection) -> dict[str, Source]:
    q = select(SecurityRow.symbol, SecurityRow.source_file, SecurityRow.source_line)
    return {r[0]: Source(r[1], r[2]) for r in conn.execute(q)}


# --- transactions --------------------------------------------------------------------------------


def transaction_fingerprint(t: Transaction) -> tuple[Any, ...]:
    """The content of a row, independent of where it came from and of how numbers were written."""
    return (
        t.id,
        t.date.isoformat(),
        t.account,
        t.action.value,
        t.symbol,
        _plain(t.quantity),
        _plain(t.price),
        _plain(t.fees),
        t.lot or "",
        t.acquired.isoformat() if t.acquired else "",
        _plain(t.basis) if t.basis is not None else "",
        _plain(t.ratio) if t.ratio is not None else "",
    )


def transaction_values(t: Transaction, import_id: int) -> dict[str, Any]:
    src = t.source or Source("<python>", 0)
    return {
        "id": t.id,
        "date": t.date,
        "account": t.account,
        "action": t.action.value,
        "symbol": t.symbol,
        "quantity": t.quantity,
        "price": t.price,
        "fees": t.fees,
        "lot": t.lot,
        "acquired": t.acquired,
        "basis": t.basis,
        "ratio": t.ratio,
        "source_file": src.file,
        "source_line": src.line,
        "import_id": import_id,
    }


_TX_COLUMNS = (
    TransactionRow.id,
    TransactionRow.date,
    TransactionRow.account,
    TransactionRow.action,
    TransactionRow.symbol,
    TransactionRow.quantity,
    TransactionRow.price,
    TransactionRow.fees,
    TransactionRow.lot,
    TransactionRow.acquired,
    TransactionRow.basis,
    TransactionRow.ratio,
    TransactionRow.source_file,
    TransactionRow.source_line,
)


def _row_to_transaction(r: Sequence[Any]) -> Transaction:
    return Transaction(
        id=r[0],
        date=r[1],
        account=r[2],
        action=Action(r[3]),
        symbol=r[4],
        quantity=r[5],
        price=r[6],
        fees=r[7],
        lot=r[8],
        acquired=r[9],
        basis=r[10],
        ratio=r[11],
        source=Source(r[12], r[13]),
    )


def fetch_transactions(conn: Connection, accounts: Iterable[str] | None = None) -> list[Transaction]:
    """Stored transactions in booking order, optionally only those of some accounts."""
    q = select(*_TX_COLUMNS).order_by(TransactionRow.seq)
    if accounts is not None:
        q = q.where(TransactionRow.account.in_(list(accounts)))
    return [_row_to_transaction(r) for r in conn.execute(q)]


def fetch_transactions_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, Transaction]:
    out: dict[str, Transaction] = {}
    for chunk in _chunks(list(ids)):
        for r in conn.execute(select(*_TX_COLUMNS).where(TransactionRow.id.in_(chunk))):
            out[r[0]] = _row_to_transaction(r)
    return out


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def import_digests(conn: Connection) -> dict[int, dict[str, str]]:
    """Per import, a digest of the accounts, securities and transactions it wrote, as stored now.

    The import's audit record keeps the same digests from the moment it was committed, so comparing the
    two finds a stored row that was edited, deleted or added behind the book's back.
    """
    rows: dict[int, dict[str, list[Any]]] = {}

    def bucket(import_id: int, table: str) -> list[Any]:
        return rows.setdefault(import_id, {"accounts": [], "securities": [], "transactions": []})[table]

    r: Any
    for r in conn.execute(select(AccountRow.import_id, AccountRow.account, AccountRow.household, AccountRow.owner,
                                 AccountRow.type).order_by(AccountRow.account)):
        bucket(r[0], "accounts").append(list(r[1:]))
    for r in conn.execute(select(SecurityRow.import_id, SecurityRow.symbol, SecurityRow.name, SecurityRow.sector,
                                 SecurityRow.industry, SecurityRow.identical_group).order_by(SecurityRow.symbol)):
        bucket(r[0], "securities").append(list(r[1:]))
    for r in conn.execute(select(TransactionRow.import_id, *_TX_COLUMNS).order_by(TransactionRow.seq)):
        bucket(r[0], "transactions").append(list(transaction_fingerprint(_row_to_transaction(r[1:]))))
    return {i: {k: sha256_text(canonical_json(v)) for k, v in tables.items()} for i, tables in rows.items()}


def content_digests(accounts: Iterable[Account], securities: Iterable[Security],
                    transactions: Iterable[Transaction]) -> dict[str, str]:
    """The digests :func:`import_digests` computes, for records about to be written by one import."""
    return {
        "accounts": sha256_text(canonical_json(sorted(list(account_fingerprint(a)) for a in accounts))),
        "securities": sha256_text(canonical_json(sorted(list(security_fingerprint(s)) for s in securities))),
        "transactions": sha256_text(canonical_json([list(transaction_fingerprint(t)) for t in transactions])),
    }


# --- policy --------------------------------------------------------------------------------------


def fetch_policy_text(conn: Connection) -> str | None:
    row = conn.execute(select(PolicyRow.text).order_by(PolicyRow.id.desc()).limit(1)).first()
    return None if row is None else str(row[0])


def fetch_policy(conn: Connection) -> dict[str, Any] | None:
    text = fetch_policy_text(conn)
    return None if text is None else tomllib.loads(text)


# --- pending orders ------------------------------------------------------------------------------


def pending_fingerprint(rows: Iterable[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """A pending-order set's content, independent of number spelling and row order."""
    return sorted((str(r["id"]), r["account"], r["symbol"], r["side"], _plain(Decimal(str(r["quantity"]))),
                   r["date"].isoformat() if r.get("date") else "") for r in rows)


def fetch_pending_rows(conn: Connection, *, include_booked: bool = False) -> list[dict[str, Any]]:
    """The stored pending orders, in the shape of ``policy.toml``'s ``[[pending]]`` tables.

    An order whose id has since been imported as a transaction is booked, so it is left out unless
    ``include_booked``.
    """
    q = select(PendingOrderRow.order_id, PendingOrderRow.account, PendingOrderRow.symbol, PendingOrderRow.side,
               PendingOrderRow.quantity, PendingOrderRow.date).order_by(PendingOrderRow.seq)
    rows: list[dict[str, Any]] = [
        {"id": r[0], "account": r[1], "symbol": r[2], "side": r[3], "quantity": format(r[4], "f"),
         **({"date": r[5]} if r[5] is not None else {})} for r in conn.execute(q)]
    if include_booked or not rows:
        return rows
    booked = set(fetch_transactions_by_id(conn, [str(r["id"]) for r in rows]))
    return [r for r in rows if r["id"] not in booked]


def read_book(conn: Connection) -> Book:
    policy = fetch_policy(conn)
    pending = fetch_pending_rows(conn)
    if pending:
        policy = dict(policy or {})
        policy["pending"] = [*(policy.get("pending") or []), *pending]
    return fetch_accounts(conn), fetch_securities(conn), fetch_transactions(conn), policy


def load_book(url: str | None = None) -> Book:
    """The stored book as records: ``(accounts, securities, transactions, policy)``.

    ``transactions`` are in booking order and carry their original ``Source``; ``policy`` is the newest
    imported ``policy.toml`` parsed as a dict (``None`` when none was imported), with the still-pending
    orders of the newest ``pending.csv`` appended to its ``pending`` array, as the harvest policy reads them.
    """
    engine = open_book(url)
    with engine.connect() as conn:
        return read_book(conn)
