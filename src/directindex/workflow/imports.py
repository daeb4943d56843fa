"""Importing a book directory or a file of new transactions into the stored book.

An import is one database transaction: everything in it is written, or nothing is. It is idempotent
(a row already stored with the same content is skipped, so importing a file twice changes nothing),
a row whose id is stored with different content is an error naming both places, and the whole history
(stored plus new) is replayed through the ledger before anything is committed, so a sale of more
shares than are held never reaches the book. Transactions whose id is a released order's id are that
order's fill: booking them moves the proposal to ``executed``.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert

from directindex.errors import InputError, InputIssue
from directindex.harvest.policy import load_pending_csv
from directindex.ledger import Method
from directindex.ledger.io import load_accounts, load_securities, load_transactions
from directindex.ledger.records import Account, Security, Source, Transaction
from directindex.store.db import write_tx
from directindex.store.models import (
    AccountRow,
    ImportRow,
    PendingOrderRow,
    PolicyRow,
    SecurityRow,
    TransactionRow,
)
from directindex.store.repo import (
    account_fingerprint,
    account_values,
    content_digests,
    fetch_account_sources,
    fetch_accounts,
    fetch_pending_rows,
    fetch_policy_text,
    fetch_securities,
    fetch_security_sources,
    fetch_transactions,
    fetch_transactions_by_id,
    now_iso,
    pending_fingerprint,
    security_fingerprint,
    security_values,
    sha256_text,
    transaction_fingerprint,
    transaction_values,
)
from directindex.workflow import audit
from directindex.workflow.derive import derive
from directindex.workflow.execution import book_fills
from directindex.workflow.faults import crash_point


@dataclass(frozen=True, slots=True)
class ImportReport:
    path: str
    kind: str
    import_id: int | None
    accounts_added: int
    securities_added: int
    transactions_added: int
    transactions_unchanged: int
    policy_updated: bool
    executed: tuple[str, ...] = ()
    pending_updated: bool = False

    @property
    def changed(self) -> bool:
        return self.import_id is not None


def _key_lines(path: Path, column: str) -> dict[str, int]:
    """Line of each key in a CSV (the loaders return records; conflicts need the line too)."""
    out: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [h.strip() for h in (reader.fieldnames or [])]
        for row in reader:
            key = (row.get(column) or "").strip()
            if key and key not in out:
                out[key] = reader.line_num
    return out


def _describe(values: tuple[Any, ...], names: tuple[str, ...]) -> str:
    return ", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True) if v != "")


_TX_FIELDS = ("id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot", "acquired",
              "basis", "ratio")


def import_path(engine: Engine, path: Path | str, method: Method = Method.FIFO) -> ImportReport:
    """Import a book directory or a transactions CSV (new trades, broker fills).

    A book directory holds ``accounts.csv`` and ``transactions.csv``, and optionally ``securities.csv``,
    ``policy.toml`` and ``pending.csv`` (the harvest engine's book format). ``pending.csv`` is a snapshot
    of the orders pending now: when it differs from the stored set it replaces it.
    """
    path = Path(path)
    if path.is_dir():
        kind = "book"
        accounts_file: Path | None = path / "accounts.csv"
        securities_file: Path | None = path / "securities.csv"
        transactions_file: Path | None = path / "transactions.csv"
        policy_file: Path | None = path / "policy.toml"
        pending_file: Path | None = path / "pending.csv"
        if not (accounts_file and accounts_file.exists()):
            raise InputError.single(str(accounts_file), None, None, "a book directory needs accounts.csv")
        if not (transactions_file and transactions_file.exists()):
            raise InputError.single(str(transactions_file), None, None, "a book directory needs transactions.csv")
    elif path.exists():
        kind = "transactions"
        accounts_file = securities_file = policy_file = pending_file = None
        transactions_file = path
    else:
        raise InputError.single(str(path), None, None, "no such file or directory")

    new_accounts = load_accounts(accounts_file) if accounts_file else {}
    new_securities = load_securities(securities_file) if securities_file and securities_file.exists() else {}
    policy_text: str | None = None
    if policy_file is not None and policy_file.exists():
        policy_text = policy_file.read_text(encoding="utf-8")
        try:
            tomllib.loads(policy_text)
        except tomllib.TOMLDecodeError as e:
            raise InputError.single(str(policy_file), getattr(e, "lineno", None), None, f"invalid TOML: {e}") from e
    new_pending = load_pending_csv(pending_file) if pending_file is not None and pending_file.exists() else None
    digest = sha256_text(b"".join(p.read_bytes() for p in (accounts_file, securities_file, transactions_file,
                                                            policy_file, pending_file) if p is not None and p.exists()))

    with write_tx(engine) as conn:
        issues: list[InputIssue] = []
        stored_accounts = fetch_accounts(conn)
        account_lines = _key_lines(accounts_file, "account") if accounts_file else {}
        account_sources = fetch_account_sources(conn, [a for a in new_accounts if a in stored_accounts])
        added_accounts: list[Account] = []
        for a in new_accounts.values():
            old = stored_accounts.get(a.account)
            if old is None:
                added_accounts.append(a)
            elif account_fingerprint(old) != account_fingerprint(a):
                src = account_sources[a.account]
                names = ("account", "household", "owner", "type")
                issues.append(InputIssue(str(accounts_file), account_lines.get(a.account), "account",
                                         f"account '{a.account}' differs from the stored one imported from "
                                         f"{src.file}, line {src.line} (stored: "
                                         f"{_describe(account_fingerprint(old), names)}; new: "
                                         f"{_describe(account_fingerprint(a), names)})"))
        stored_securities = fetch_securities(conn)
        security_lines = _key_lines(securities_file, "symbol") if new_securities and securities_file else {}
        security_sources = fetch_security_sources(conn) if new_securities else {}
        added_securities: list[Security] = []
        for s in new_securities.values():
            olds = stored_securities.get(s.symbol)
            if olds is None:
                added_securities.append(s)
            elif security_fingerprint(olds) != security_fingerprint(s):
                src = security_sources[s.symbol]
                issues.append(InputIssue(str(securities_file), security_lines.get(s.symbol), "symbol",
                                         f"security '{s.symbol}' differs from the stored one imported from "
                                         f"{src.file}, line {src.line}"))
        all_accounts = {**stored_accounts, **{a.account: a for a in added_accounts}}
        all_securities = {**stored_securities, **{s.symbol: s for s in added_securities}}

        assert transactions_file is not None
        txs = load_transactions(transactions_file, all_accounts)
        stored_same = fetch_transactions_by_id(conn, [t.id for t in txs])
        added: list[Transaction] = []
        unchanged = 0
        for t in txs:
            old_t = stored_same.get(t.id)
            if old_t is None:
                added.append(t)
            elif transaction_fingerprint(old_t) == transaction_fingerprint(t):
                unchanged += 1
            else:
                src = old_t.source or Source("?", 0)
                new_src = t.source or Source(str(transactions_file), 0)
                diff = [f"{n}: stored {a!s}, new {b!s}" for n, a, b in zip(
                    _TX_FIELDS, transaction_fingerprint(old_t), transaction_fingerprint(t), strict=True) if a != b]
                issues.append(InputIssue(new_src.file, new_src.line, "id",
                                         f"transaction '{t.id}' differs from the stored one imported from "
                                         f"{src.file}, line {src.line} ({'; '.join(diff)})"))
        pending_rows: list[dict[str, Any]] = []
        if new_pending is not None:
            assert pending_file is not None
            for n, o in enumerate(new_pending, start=2):
                if o.account not in all_accounts:
                    issues.append(InputIssue(str(pending_file), n, "account", f"unknown account '{o.account}'"))
                pending_rows.append({"id": o.id, "account": o.account, "symbol": o.symbol, "side": o.side,
                                     "quantity": o.quantity, "date": o.date})
        if issues:
            raise InputError(issues)
        policy_changed = policy_text is not None and fetch_policy_text(conn) != policy_text
        pending_changed = new_pending is not None and pending_fingerprint(pending_rows) != pending_fingerprint(
            fetch_pending_rows(conn, include_booked=True))
        if not (added_accounts or added_securities or added or policy_changed or pending_changed):
            return ImportReport(str(path), kind, None, 0, 0, 0, unchanged, False)

        # The whole history must book cleanly before any of it is written.
        history = fetch_transactions(conn) + added
        derive(history, all_accounts, all_securities, method=method)

        import_id = conn.execute(insert(ImportRow).values(
            kind=kind, path=str(path), sha256=digest, at=now_iso(), accounts_added=len(added_accounts),
            securities_added=len(added_securities), transactions_added=len(added),
        ).returning(ImportRow.id)).scalar_one()
        if added_accounts:
            conn.execute(insert(AccountRow), [
                account_values(a, Source(str(accounts_file), account_lines.get(a.account, 0)), import_id)
                for a in added_accounts])
        if added_securities:
            conn.execute(insert(SecurityRow), [
                security_values(s, Source(str(securities_file), security_lines.get(s.symbol, 0)), import_id)
                for s in added_securities])
        crash_point("import:mid-write")
        if added:
            for i in range(0, len(added), 5000):
                conn.execute(insert(TransactionRow), [transaction_values(t, import_id) for t in added[i : i + 5000]])
        if policy_changed:
            assert policy_text is not None
            conn.execute(insert(PolicyRow).values(text=policy_text, sha256=sha256_text(policy_text),
                                                  source_file=str(policy_file), import_id=import_id))
        if pending_changed:
            conn.execute(delete(PendingOrderRow))
            if pending_rows:
                conn.execute(insert(PendingOrderRow), [
                    {"order_id": r["id"], "account": r["account"], "symbol": r["symbol"], "side": r["side"],
                     "quantity": r["quantity"], "date": r["date"], "source_file": str(pending_file),
                     "import_id": import_id} for r in pending_rows])
        audit.append(conn, "import", f"import:{import_id}", {
            "path": str(path), "kind": kind, "sha256": digest, "accounts_added": [a.account for a in added_accounts],
            "securities_added": len(added_securities), "transactions_added": len(added),
            "transactions_unchanged": unchanged, "first_id": added[0].id if added else None,
            "last_id": added[-1].id if added else None, "policy_updated": policy_changed,
            "pending_orders": pending_rows if pending_changed else None,
            "content_sha256": content_digests(added_accounts, added_securities, added),
        })
        executed = book_fills(conn, {t.id: t for t in added}, import_id)
        crash_point("import:before-commit")
        return ImportReport(str(path), kind, import_id, len(added_accounts), len(added_securities), len(added),
                            unchanged, policy_changed, tuple(executed), pending_changed)
