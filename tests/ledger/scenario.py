"""Tax scenarios written the way the rules write their examples: accounts, trades as CSV text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from directindex.errors import InputError
from directindex.ledger import Account, AccountType, LedgerConfig, LedgerResult, Method, Security, book
from directindex.ledger.io import parse_transaction_row
from directindex.ledger.records import Source

HOUSEHOLD = """
account,household,owner,type
JOINT,H,alice,taxable
SPOUSE,H,bob,taxable
IRA,H,alice,traditional_ira
ROTH,H,bob,roth_ira
OTHER,H2,carol,taxable
"""


def accounts(text: str = HOUSEHOLD) -> dict[str, Account]:
    rows = csv.DictReader(io.StringIO(text.strip()))
    return {r["account"]: Account(r["account"], r["household"], r["owner"], AccountType(r["type"])) for r in rows}


def transactions(text: str, accts: dict[str, Account]) -> list:
    header = "id,date,account,action,symbol,quantity,price,fees,lot,acquired,basis,ratio"
    body = "\n".join(line.strip() for line in text.strip().splitlines())
    reader = csv.DictReader(io.StringIO(header + "\n" + body))
    out, issues = [], []
    for i, r in enumerate(reader, start=2):
        clean = {k: (v or "").strip() for k, v in r.items() if k}
        tx, errs = parse_transaction_row(clean, Source("scenario.csv", i), accts)
        issues += errs
        if tx:
            out.append(tx)
    if issues:
        raise InputError(issues)
    return out


def run(text: str, *, accts: str = HOUSEHOLD, groups: dict[str, str] | None = None,
        method: Method = Method.FIFO) -> LedgerResult:
    a = accounts(accts)
    secs = {s: Security(s, identical_group=g) for s, g in (groups or {}).items()}
    return book(transactions(text, a), a, secs, LedgerConfig(method=method)).raise_errors()


def D(x: str | int) -> Decimal:
    return Decimal(str(x))


def lot(result: LedgerResult, lot_id: str):
    found = [x for x in result.lots if x.lot == lot_id]
    assert len(found) == 1, f"lot {lot_id} not open: {[x.lot for x in result.lots]}"
    return found[0]
