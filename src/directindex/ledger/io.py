"""Reading the ledger's CSV inputs into records, with every bad field reported by file, line and name.

``accounts.csv``: ``account,household,owner,type``. ``securities.csv``: ``symbol,name,sector,industry,
identical_group`` (extra columns are allowed and ignored here). ``transactions.csv``: ``id,date,account,
action,symbol,quantity,price,fees,lot`` plus ``acquired,basis,ratio`` where an action needs them.
Loaders collect every issue in a file before raising, so a user fixes a file in one pass.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from directindex.errors import InputError, InputIssue
from directindex.ledger.records import Account, AccountType, Action, Security, Source, Transaction

ACCOUNT_COLUMNS = ("account", "household", "owner", "type")
SECURITY_COLUMNS = ("symbol", "name", "sector", "industry", "identical_group")
TRANSACTION_COLUMNS = ("id", "date", "account", "action", "symbol", "quantity", "price", "fees", "lot")
TRANSACTION_OPTIONAL = ("fees", "lot", "acquired", "basis", "ratio")


def _read(path: Path, required: Iterable[str]) -> tuple[list[tuple[int, dict[str, str]]], str]:
    name = str(path)
    if not path.exists():
        raise InputError.single(name, None, None, "file not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError.single(name, 1, missing[0], f"missing column(s): {', '.join(missing)}")
        reader.fieldnames = header
        rows = []
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            clean = {k: (v or "").strip() if isinstance(v, str) else "" for k, v in row.items() if k}
            rows.append((reader.line_num, clean))
    return rows, name


def parse_date(text: str) -> date:
    return date.fromisoformat(text)


# Far beyond any real quantity, price or basis. Past it a quantity times a price would no longer fit
# exact, to the cent, in Decimal's 28 digits; such figures are typos (or a unit mix-up) in any case.
MAX_MAGNITUDE = Decimal("1e12")


def parse_decimal(text: str) -> Decimal:
    """A finite number of sensible size; raises ``InvalidOperation`` (unparseable) or ``ValueError`` (too big)."""
    d = Decimal(text.replace(",", "")) if text else Decimal(0)
    if not d.is_finite():
        raise InvalidOperation(text)
    if abs(d) >= MAX_MAGNITUDE:
        raise ValueError(f"{text} is out of range (under {MAX_MAGNITUDE:,.0f})")
    return d


def load_accounts(path: Path | str) -> dict[str, Account]:
    rows, name = _read(Path(path), ACCOUNT_COLUMNS)
    issues: list[InputIssue] = []
    out: dict[str, Account] = {}
    for line, r in rows:
        acct = r["account"]
        if not acct:
            issues.append(InputIssue(name, line, "account", "account id is empty"))
            continue
        if acct in out:
            issues.append(InputIssue(name, line, "account", f"duplicate account '{acct}'"))
            continue
        if not r["household"]:
            issues.append(InputIssue(name, line, "household", "household is empty"))
            continue
        try:
            typ = AccountType(r["type"])
        except ValueError:
            allowed = ", ".join(t.value for t in AccountType)
            issues.append(InputIssue(name, line, "type", f"unknown account type '{r['type']}' (one of {allowed})"))
            continue
        out[acct] = Account(acct, r["household"], r["owner"] or acct, typ)
    if issues:
        raise InputError(issues)
    return out


def load_securities(path: Path | str | None) -> dict[str, Security]:
    """The security master; ``None`` or a missing optional file means every symbol is its own group."""
    if path is None:
        return {}
    rows, name = _read(Path(path), ("symbol",))
    issues: list[InputIssue] = []
    out: dict[str, Security] = {}
    for line, r in rows:
        sym = r["symbol"]
        if not sym:
            issues.append(InputIssue(name, line, "symbol", "symbol is empty"))
            continue
        if sym in out:
            issues.append(InputIssue(name, line, "symbol", f"duplicate symbol '{sym}'"))
            continue
        out[sym] = Security(
            sym, r.get("name", ""), r.get("sector", ""), r.get("industry", ""), r.get("identical_group", "")
        )
    if issues:
        raise InputError(issues)
    return out


def parse_transaction_row(
    r: Mapping[str, str], source: Source, accounts: Mapping[str, Account] | None
) -> tuple[Transaction | None, list[InputIssue]]:
    """One ``transactions.csv`` row to a record, or the issues that stop it."""
    name, line = source.file, source.line
    issues: list[InputIssue] = []

    def bad(field: str, message: str) -> None:
        issues.append(InputIssue(name, line, field, message))

    tid = r.get("id", "")
    if not tid:
        bad("id", "id is empty")
    try:
        day = parse_date(r.get("date", ""))
    except ValueError:
        bad("date", f"cannot parse date '{r.get('date', '')}' (expected YYYY-MM-DD)")
        day = date.min
    acct = r.get("account", "")
    try:
        action = Action(r.get("action", "").lower())
    except ValueError:
        bad("action", f"unknown action '{r.get('action', '')}' (one of {', '.join(a.value for a in Action)})")
        return None, issues
    if accounts is not None and not (action is Action.SPLIT and not acct) and acct not in accounts:
        bad("account", f"unknown account '{acct}'")
    symbol = r.get("symbol", "")
    if not symbol:
        bad("symbol", "symbol is empty")

    def number(field: str, required: bool) -> Decimal | None:
        text = r.get(field, "")
        if not text:
            if required:
                bad(field, f"{field} is required for action '{action.value}'")
            return None
        try:
            value = parse_decimal(text)
        except InvalidOperation:
            bad(field, f"cannot parse number '{text}'")
            return None
        except ValueError as e:
            bad(field, f"number {e}")
            return None
        if value < 0:
            bad(field, f"{field} is negative ({text})")
            return None
        return value

    needs_qty = action is not Action.SPLIT
    quantity = number("quantity", needs_qty)
    if needs_qty and quantity is not None and quantity == 0:
        bad("quantity", "quantity must be positive")
    price = number("price", action in (Action.BUY, Action.SELL, Action.REINVEST))
    fees = number("fees", False)
    ratio = number("ratio", action is Action.SPLIT)
    if action is Action.SPLIT and ratio is not None and ratio == 0:
        bad("ratio", "split ratio must be positive")
    basis = number("basis", action is Action.TRANSFER_IN)
    acquired: date | None = None
    if r.get("acquired"):
        try:
            acquired = parse_date(r["acquired"])
        except ValueError:
            bad("acquired", f"cannot parse date '{r['acquired']}' (expected YYYY-MM-DD)")
    elif action is Action.TRANSFER_IN:
        bad("acquired", "acquired date is required for transfer_in")
    if acquired is not None and day != date.min and acquired > day:
        bad("acquired", f"acquired date {acquired} is after the transaction date {day}")
    if issues:
        return None, issues
    tx = Transaction(
        id=tid,
        date=day,
        account=acct,
        action=action,
        symbol=symbol,
        quantity=quantity or Decimal(0),
        price=price or Decimal(0),
        fees=fees or Decimal(0),
        lot=r.get("lot") or None,
        acquired=acquired,
        basis=basis,
        ratio=ratio,
        source=source,
    )
    return tx, issues


def load_transactions(path: Path | str, accounts: Mapping[str, Account] | None = None) -> list[Transaction]:
    """Rows in file order; raises ``InputError`` with every malformed field if any."""
    rows, name = _read(Path(path), ("id", "date", "account", "action", "symbol", "quantity", "price"))
    issues: list[InputIssue] = []
    out: list[Transaction] = []
    seen: dict[str, int] = {}
    for line, r in rows:
        tx, errs = parse_transaction_row(r, Source(name, line), accounts)
        issues.extend(errs)
        tid = r.get("id", "")
        if tid and tid in seen:
            issues.append(InputIssue(name, line, "id", f"duplicate id '{tid}' (first on line {seen[tid]})"))
            continue
        if tid:
            seen[tid] = line
        if tx is not None:
            out.append(tx)
    if issues:
        raise InputError(issues)
    return out
