"""``directindex tax``: Schedule D netting and marginal rates from the command line.

A thin shell: it reads amounts (from options or a Form 8949 CSV written by ``directindex realized``), calls
``directindex.tax``, and prints the result. Bad input stops with a message naming the file, line and field.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from directindex.cli._app import tax_app
from directindex.cli.common import Format, emit_json, emit_rows, handle_errors
from directindex.errors import InputError, InputIssue
from directindex.ledger.records import Term
from directindex.tax import FilingStatus, RateTableError, ScheduleD, marginal_rates, schedule_d

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e15")  # sums of such amounts stay exact to the cent in Decimal's 28 digits
_REALIZED_REQUIRED = ("gain_loss", "term")


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT)


def _amount(text: str, where: str, field: str, line: int | None = None) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise InputError.single(where, line, field, f"not a number: {text!r}") from None
    if not value.is_finite():
        raise InputError.single(where, line, field, f"not a finite amount: {text!r}")
    if abs(value) >= MAX_AMOUNT:
        raise InputError.single(where, line, field, f"amount {text!r} is out of range (under {MAX_AMOUNT:,.0f})")
    return value


def read_realized(path: Path) -> tuple[list[Decimal], list[Decimal]]:
    """Short- and long-term gains and losses from a Form 8949 CSV (``gain_loss`` and ``term`` columns)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise InputError.single(name, None, None, f"cannot read file: {e.strerror or e}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in _REALIZED_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError.single(name, 1, missing[0], f"missing column(s): {', '.join(missing)}")
    short: list[Decimal] = []
    long: list[Decimal] = []
    issues: list[InputIssue] = []
    for row in reader:
        line = reader.line_num
        if not any((v or "").strip() for v in row.values()):
            continue
        term_text = (row.get("term") or "").strip().lower()
        try:
            term = Term(term_text)
        except ValueError:
            issues.append(InputIssue(name, line, "term", f"must be 'short' or 'long', not {row.get('term')!r}"))
            term = None
        try:
            amount = _amount(row.get("gain_loss") or "", name, "gain_loss", line)
        except InputError as e:
            issues.extend(e.issues)
            continue
        if term is Term.SHORT:
            short.append(amount)
        elif term is Term.LONG:
            long.append(amount)
    if issues:
        raise InputError(issues)
    return short, long


def schedule_d_payload(d: ScheduleD) -> dict[str, Any]:
    """The JSON shape of ``tax schedule-d``: line figures in cents, the worksheet as a nested object."""
    return {
        "filing_status": d.filing_status,
        "short_term_gain_loss": _cents(d.short_term_gain_loss),
        "carryover_short_in": _cents(d.carryover_short_in),
        "net_short_term": _cents(d.net_short_term),
        "long_term_gain_loss": _cents(d.long_term_gain_loss),
        "carryover_long_in": _cents(d.carryover_long_in),
        "net_long_term": _cents(d.net_long_term),
        "total": _cents(d.total),
        "allowed_loss": _cents(d.allowed_loss),
        "carryover_short_term": _cents(d.carryover_short_term),
        "carryover_long_term": _cents(d.carryover_long_term),
        "worksheet": {k: _cents(v) for k, v in d.worksheet.lines().items()},
    }


def _flatten(payload: dict[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k, v in payload.items():
        if isinstance(v, dict):
            rows.extend(_flatten(v, f"{prefix}{k}."))
        else:
            rows.append({"key": f"{prefix}{k}", "value": v})
    return rows


def _emit(payload: dict[str, Any], fmt: Format, title: str) -> None:
    if fmt is Format.json:
        emit_json(payload)
    else:
        emit_rows(_flatten(payload), ("key", "value"), fmt, title)


def _amounts(values: Sequence[str] | None, option: str) -> list[Decimal]:
    return [_amount(v, "command line", option) for v in values or ()]


@tax_app.command("schedule-d")
@handle_errors
def schedule_d_command(
    filing_status: FilingStatus = typer.Option(..., "--filing-status", help="Filing status of the return."),
    realized: Path | None = typer.Option(
        None, "--realized", help="Form 8949 CSV from `directindex realized` (uses gain_loss and term)."
    ),
    short: list[str] | None = typer.Option(
        None, "--short", help="A short-term gain or loss (repeat; a loss is negative, e.g. --short=-9000)."
    ),
    long: list[str] | None = typer.Option(
        None, "--long", help="A long-term gain or loss (repeat; a loss is negative, e.g. --long=-2500)."
    ),
    carryover_short: str = typer.Option("0", "--carryover-short", help="Short-term loss carried in (positive)."),
    carryover_long: str = typer.Option("0", "--carryover-long", help="Long-term loss carried in (positive)."),
    taxable_income: str | None = typer.Option(
        None, "--taxable-income", help="Form 1040 line 15 (may be negative); omit to take it as large."
    ),
    fmt: Format = typer.Option(Format.json, "--format", help="json (default), csv (key,value rows) or table."),
) -> None:
    """Net gains and losses the Schedule D way, with the Capital Loss Carryover Worksheet for next year."""
    st = _amounts(short, "--short")
    lt = _amounts(long, "--long")
    if realized is not None:
        file_st, file_lt = read_realized(realized)
        st += file_st
        lt += file_lt
    co_s = _amount(carryover_short, "command line", "--carryover-short")
    co_l = _amount(carryover_long, "command line", "--carryover-long")
    for value, option in ((co_s, "--carryover-short"), (co_l, "--carryover-long")):
        if value < 0:
            raise InputError.single("command line", None, option, "a carryover is a positive amount of loss")
    income = None if taxable_income is None else _amount(taxable_income, "command line", "--taxable-income")
    d = schedule_d(st, lt, filing_status, carryover_short=co_s, carryover_long=co_l, taxable_income=income)
    _emit(schedule_d_payload(d), fmt, "Schedule D")


@tax_app.command("rates")
@handle_errors
def rates_command(
    year: int = typer.Option(..., "--year", help="Tax year (the tables cover 2024-2026)."),
    filing_status: FilingStatus = typer.Option(..., "--filing-status", help="Filing status of the return."),
    income: str | None = typer.Option(None, "--income", help="Taxable income; omit for the top brackets."),
    state: str | None = typer.Option(None, "--state", help="Two-letter state code for the state top rate."),
    fmt: Format = typer.Option(Format.json, "--format", help="json (default), csv (key,value rows) or table."),
) -> None:
    """Marginal short- and long-term rates (federal + NIIT + state) for one household-year."""
    amount = None if income is None else _amount(income, "command line", "--income")
    try:
        m = marginal_rates(year, filing_status, amount, state)
    except RateTableError as e:
        field = "--state" if state and "state" in str(e) else "--year"
        raise InputError.single("command line", None, field, str(e)) from None
    payload = {
        "year": m.year,
        "filing_status": m.filing_status,
        "income": m.taxable_income,
        "state": m.state,
        "short_term": m.short_term,
        "long_term": m.long_term,
        "ordinary": m.ordinary,
        "components": {
            "federal_ordinary": m.federal_ordinary,
            "federal_long_term": m.federal_long_term,
            "niit": m.niit,
            "state_ordinary": m.state_ordinary,
            "state_short_term": m.state_short_term,
            "state_long_term": m.state_long_term,
        },
    }
    _emit(payload, fmt, "Marginal rates")
