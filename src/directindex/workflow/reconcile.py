"""Custodian reconciliation: checking that the book holds what the custodian says the client holds.

The custodian file is ``account,symbol,quantity[,lot,acquired,basis]``. Where it gives lots for a
position, lots are compared (a book lot split into wash-sale parts ``L4``, ``L4.1`` is compared as the
one lot ``L4``); otherwise only the position's quantity is. Every difference is a *break*:

* ``missing``: the book holds it, the custodian does not show it;
* ``extra``: the custodian shows it, the book does not hold it;
* ``quantity``, ``basis`` (more than a cent apart), ``acquired``: both hold it, but differently.

The file is a full statement: every account in it or holding anything in the book is compared. A
reconciliation resolves the earlier breaks of the accounts it covers and records its own; an open break
blocks proposals for its account until a later reconciliation no longer finds it.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from directindex.errors import InputError, InputIssue
from directindex.store.db import write_tx
from directindex.store.models import BreakRow, ReconciliationRow
from directindex.store.repo import now_iso, sha256_text
from directindex.workflow import audit
from directindex.workflow.context import BookView
from directindex.workflow.guard import lot_roots

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Break:
    account: str
    symbol: str
    lot: str | None
    kind: str
    book: str
    custodian: str

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "symbol": self.symbol, "lot": self.lot or "", "kind": self.kind,
                "book": self.book, "custodian": self.custodian}


@dataclass(frozen=True, slots=True)
class CustodianRow:
    line: int
    account: str
    symbol: str
    quantity: Decimal
    lot: str | None
    acquired: date | None
    basis: Decimal | None


def load_positions(path: Path | str) -> list[CustodianRow]:
    path = Path(path)
    if not path.exists():
        raise InputError.single(str(path), None, None, "positions file not found")
    issues: list[InputIssue] = []
    out: list[CustodianRow] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        reader.fieldnames = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in ("account", "symbol", "quantity") if c not in reader.fieldnames]
        if missing:
            raise InputError.single(str(path), 1, missing[0], f"missing column(s): {', '.join(missing)}")
        for row in reader:
            r = {k: (v or "").strip() for k, v in row.items() if k}
            if not any(r.values()):
                continue
            line = reader.line_num

            def num(field: str, text: str, line: int = line) -> Decimal | None:
                if not text:
                    return None
                try:
                    return Decimal(text.replace(",", ""))
                except InvalidOperation:
                    issues.append(InputIssue(str(path), line, field, f"cannot parse number '{text}'"))
                    return None

            qty = num("quantity", r["quantity"])
            if qty is None:
                if not r["quantity"]:
                    issues.append(InputIssue(str(path), line, "quantity", "quantity is empty"))
                continue
            acquired = None
            if r.get("acquired"):
                try:
                    acquired = date.fromisoformat(r["acquired"])
                except ValueError:
                    issues.append(InputIssue(str(path), line, "acquired", f"cannot parse date '{r['acquired']}'"))
                    continue
            if not r["account"] or not r["symbol"]:
                issues.append(InputIssue(str(path), line, "account" if not r["account"] else "symbol", "empty"))
                continue
            out.append(CustodianRow(line, r["account"], r["symbol"], qty, r.get("lot") or None, acquired,
                                    num("basis", r.get("basis", ""))))
    if issues:
        raise InputError(issues)
    return out


def compare(view: BookView, rows: list[CustodianRow]) -> list[Break]:
    """Every break between the book's open lots and the custodian's rows."""
    book_pos: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    book_lots: dict[tuple[str, str, str], list[Any]] = {}
    for lot in view.ledger.lots:
        book_pos[(lot.account, lot.symbol)] += lot.quantity
        roots = lot_roots(lot.lot)
        root = min(roots, key=len)
        key = (lot.account, lot.symbol, root)
        agg = book_lots.setdefault(key, [ZERO, ZERO, lot.acquired])
        agg[0] += lot.quantity
        agg[1] += lot.basis
        agg[2] = min(agg[2], lot.acquired)
    cust_pos: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    cust_lots: dict[tuple[str, str], list[CustodianRow]] = defaultdict(list)
    for r in rows:
        cust_pos[(r.account, r.symbol)] += r.quantity
        if r.lot:
            cust_lots[(r.account, r.symbol)].append(r)
    breaks: list[Break] = []
    for pos in sorted(set(book_pos) | set(cust_pos)):
        acct, sym = pos
        bq, cq = book_pos.get(pos, ZERO), cust_pos.get(pos, ZERO)
        if pos in cust_lots:
            seen = set()
            for r in cust_lots[pos]:
                assert r.lot is not None
                seen.add(r.lot)
                b = book_lots.get((acct, sym, r.lot))
                if b is None:
                    breaks.append(Break(acct, sym, r.lot, "extra", "", f"{r.quantity}"))
                    continue
                if b[0] != r.quantity:
                    breaks.append(Break(acct, sym, r.lot, "quantity", f"{b[0]}", f"{r.quantity}"))
                if r.basis is not None and abs(b[1] - r.basis) > CENT:
                    breaks.append(Break(acct, sym, r.lot, "basis", f"{b[1]}", f"{r.basis}"))
                if r.acquired is not None and b[2] != r.acquired:
                    breaks.append(Break(acct, sym, r.lot, "acquired", b[2].isoformat(), r.acquired.isoformat()))
            for (a2, s2, lot_id), b in sorted(book_lots.items()):
                if (a2, s2) == pos and lot_id not in seen:
                    breaks.append(Break(acct, sym, lot_id, "missing", f"{b[0]}", ""))
        elif bq == 0 and cq != 0:
            breaks.append(Break(acct, sym, None, "extra", "", f"{cq}"))
        elif cq == 0 and bq != 0:
            breaks.append(Break(acct, sym, None, "missing", f"{bq}", ""))
        elif bq != cq:
            breaks.append(Break(acct, sym, None, "quantity", f"{bq}", f"{cq}"))
    return breaks


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    reconciliation: int
    as_of: date
    accounts: tuple[str, ...]
    breaks: tuple[Break, ...]
    resolved: int


def reconcile(engine: Engine, path: Path | str, as_of: date) -> ReconcileReport:
    rows = load_positions(path)
    digest = sha256_text(Path(path).read_bytes())
    with write_tx(engine) as conn:
        view = BookView.build(conn, as_of)
        breaks = compare(view, rows)
        covered = sorted({r.account for r in rows} | {lot.account for lot in view.ledger.lots})
        rid = conn.execute(insert(ReconciliationRow).values(
            path=str(path), sha256=digest, as_of=as_of, at=now_iso(), breaks=len(breaks)
        ).returning(ReconciliationRow.id)).scalar_one()
        resolved = 0
        for i in range(0, len(covered), 500):
            resolved += conn.execute(update(BreakRow).where(BreakRow.account.in_(covered[i : i + 500]),
                                                            BreakRow.resolved_by.is_(None))
                                     .values(resolved_by=rid)).rowcount or 0
        if breaks:
            conn.execute(insert(BreakRow), [
                {"reconciliation_id": rid, "account": b.account, "symbol": b.symbol, "lot": b.lot, "kind": b.kind,
                 "book_value": b.book, "custodian_value": b.custodian, "resolved_by": None} for b in breaks])
        audit.append(conn, "reconcile", f"reconciliation:{rid}", {
            "path": str(path), "sha256": digest, "as_of": as_of, "accounts": len(covered),
            "breaks": [b.as_dict() for b in breaks], "resolved_earlier_breaks": resolved})
        return ReconcileReport(rid, as_of, tuple(covered), tuple(breaks), resolved)


def open_breaks(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    q = select(BreakRow).where(BreakRow.resolved_by.is_(None)).order_by(BreakRow.id)
    for b in conn.execute(q):
        out[b.account].append({"symbol": b.symbol, "lot": b.lot or "", "kind": b.kind, "book": b.book_value,
                               "custodian": b.custodian_value, "reconciliation": b.reconciliation_id})
    return dict(out)
