"""Figures of a run: per year and in total, from the ledger's realized rows and the daily values.

Taxes by year: the household's capital-gains tax with the account's realized gains and losses (from the
real ledger) on top of its outside gains, against the same household without the account's sales; both
are netted the Schedule D way (``directindex.tax``) with their own carryforwards kept year to year. The
difference is the tax saved; tax alpha is that over the year's average value. A carryforward is worth
nothing in the year it arises and counts when it is used; what is left at the end shows in the
end-of-horizon view.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from directindex.backtest.config import HouseholdTax
from directindex.backtest.engine import RunResult
from directindex.ledger.records import Term
from directindex.tax import CapitalPosition, FilingStatus, capital_tax
from directindex.tax import TaxRates as TaxRateSet

YEAR_KEYS = ("year", "harvested_short_term_pct", "harvested_long_term_pct", "tax_alpha", "active_return",
             "tracking_error", "turnover", "trades", "wash_sales")


@dataclass
class _Carry:
    short: Decimal
    long: Decimal


def _rates(tax: HouseholdTax) -> TaxRateSet:
    return TaxRateSet(Decimal(str(tax.short_term_rate)), Decimal(str(tax.long_term_rate)),
                      Decimal(str(tax.ordinary_rate)))


def _year_tax(tax: HouseholdTax, st: Decimal, lt: Decimal, carry: _Carry) -> tuple[Decimal, _Carry]:
    pos = CapitalPosition(FilingStatus(tax.filing_status), st, lt, carry.short, carry.long,
                          Decimal(str(tax.outside_short_term)), Decimal(str(tax.outside_long_term)))
    d = pos.schedule_d()
    return capital_tax(pos, _rates(tax), Decimal(0)), _Carry(d.carryover_short_term, d.carryover_long_term)


def yearly(run: RunResult) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The per-year rows and the extra run-level figures (tax saved, carryforward left, 8949 lines)."""
    tax = run.config.tax
    years = sorted({d.year for d in run.dates})
    year_of = np.array([d.year for d in run.dates])
    rows: list[dict[str, Any]] = []
    carry_with = _Carry(Decimal(str(tax.carryover_short)), Decimal(str(tax.carryover_long)))
    carry_without = _Carry(carry_with.short, carry_with.long)
    prev_value = run.value[0]
    # daily returns net of external flows
    v_prev = np.concatenate([[np.nan], run.value[:-1]])
    port_r = np.where(np.isfinite(v_prev) & (v_prev > 0), (run.value - run.flows) / np.where(v_prev > 0, v_prev, 1.0) - 1.0, 0.0)  # noqa: E501
    port_r[0] = run.value[0] / max(run.flows[0], 1.0) - 1.0 if run.flows[0] > 0 else 0.0
    extra: dict[str, Any] = {"tax_saved": 0.0, "form_8949_lines": 0, "realized_short_term": 0.0,
                             "realized_long_term": 0.0, "by_year": {}}
    harvest_ids = {k for k, v in run.reasons.items() if v == "harvest"}
    trade_reasons = {k for k, v in run.reasons.items() if v in ("harvest", "replacement", "rebalance", "delisting", "funding")}  # noqa: E501
    tx_year = {t.id: t.date.year for t in run.transactions}
    for y in years:
        m = year_of == y
        idx = np.flatnonzero(m)
        start_value = float(prev_value if idx[0] > 0 else run.flows[idx[0]])
        avg_value = float(run.value[m].mean())
        reliefs = [r for r in run.ledger.reliefs if r.date_sold.year == y and r.taxable and not r.donated]
        st = sum((r.gain_loss for r in reliefs if r.term is Term.SHORT), Decimal(0))
        lt = sum((r.gain_loss for r in reliefs if r.term is Term.LONG), Decimal(0))
        h_st = -sum((r.gain_loss for r in reliefs if r.transaction in harvest_ids and r.term is Term.SHORT
                     and r.gain_loss < 0), Decimal(0))
        h_lt = -sum((r.gain_loss for r in reliefs if r.transaction in harvest_ids and r.term is Term.LONG
                     and r.gain_loss < 0), Decimal(0))
        tax_with, carry_with = _year_tax(tax, st, lt, carry_with)
        tax_without, carry_without = _year_tax(tax, Decimal(0), Decimal(0), carry_without)
        saved = float(tax_without - tax_with)
        active = float(np.prod(1 + port_r[m]) - np.prod(1 + run.benchmark_return[m]))
        diff = port_r[m] - run.benchmark_return[m]
        te = float(np.std(diff[1:] if idx[0] == 0 else diff, ddof=1) * np.sqrt(252)) if m.sum() > 2 else 0.0
        turnover = float((run.bought[m].sum() + run.sold_value[m].sum()) / 2 / avg_value) if avg_value > 0 else 0.0
        trades = sum(1 for k in trade_reasons if tx_year[k] == y)
        washes = sum(1 for w in run.ledger.wash_sales if w.sale_date.year == y)
        rows.append({
            "year": int(y),
            "harvested_short_term_pct": float(h_st) / start_value if start_value > 0 else 0.0,
            "harvested_long_term_pct": float(h_lt) / start_value if start_value > 0 else 0.0,
            "tax_alpha": saved / avg_value if avg_value > 0 else 0.0,
            "active_return": active,
            "tracking_error": te,
            "turnover": turnover,
            "trades": int(trades),
            "wash_sales": int(washes),
        })
        extra["by_year"][int(y)] = {
            "tax_saved": saved, "start_value": start_value, "average_value": avg_value,
            "realized_short_term": float(st), "realized_long_term": float(lt), "form_8949_lines": len(reliefs),
            "harvested_short_term": float(h_st), "harvested_long_term": float(h_lt),
        }
        extra["tax_saved"] += saved
        extra["form_8949_lines"] += len(reliefs)
        extra["realized_short_term"] += float(st)
        extra["realized_long_term"] += float(lt)
        prev_value = float(run.value[idx[-1]])
    extra["carryforward_short_term"] = float(carry_with.short)
    extra["carryforward_long_term"] = float(carry_with.long)
    extra["baseline_carryforward"] = float(carry_without.short + carry_without.long)
    return rows, extra


def total(rows: list[dict[str, Any]], run: RunResult) -> dict[str, Any]:
    """The whole run: rates averaged per year, counts summed; TE from every day."""
    if not rows:
        return dict.fromkeys(YEAR_KEYS, 0)
    out: dict[str, Any] = {"year": f"{rows[0]['year']}-{rows[-1]['year']}"}
    for k in ("harvested_short_term_pct", "harvested_long_term_pct", "tax_alpha", "turnover"):
        out[k] = float(np.mean([r[k] for r in rows]))
    n_years = len(run.dates) / 252.0
    v_prev = np.concatenate([[run.value[0]], run.value[:-1]])
    port_r = (run.value - run.flows) / np.where(v_prev > 0, v_prev, 1.0) - 1.0
    port_r[0] = 0.0
    cum_p = float(np.prod(1 + port_r))
    cum_b = float(np.prod(1 + run.benchmark_return[1:]))
    out["active_return"] = cum_p ** (1 / n_years) - cum_b ** (1 / n_years)
    out["tracking_error"] = float(np.std(port_r[1:] - run.benchmark_return[1:], ddof=1) * np.sqrt(252))
    out["trades"] = int(sum(r["trades"] for r in rows))
    out["wash_sales"] = int(sum(r["wash_sales"] for r in rows))
    return out


def end_of_horizon(run: RunResult, extra: dict[str, Any]) -> dict[str, float]:
    """After-tax value at the end: held to death (step-up), donated, or liquidated (the deferred tax due)."""
    tax = run.config.tax
    value = float(run.value[-1])
    end = run.dates[-1].date().toordinal()
    st_gain = lt_gain = 0.0
    lt_value = st_basis = 0.0
    for lot in run.ledger.lots:
        p = run.final_prices.get(lot.symbol, 0.0)
        mv = float(lot.quantity) * p
        g = mv - float(lot.basis)
        if lot.long_term_on.toordinal() <= end:
            lt_gain += g
            lt_value += mv
        else:
            st_gain += g
            st_basis += float(lot.basis)
    carry = _Carry(Decimal(str(extra["carryforward_short_term"])), Decimal(str(extra["carryforward_long_term"])))
    no_outside = HouseholdTax(tax.filing_status, tax.short_term_rate, tax.long_term_rate, tax.ordinary_rate, 0.0, 0.0)
    liq_tax, _ = _year_tax(no_outside, Decimal(str(round(st_gain, 2))), Decimal(str(round(lt_gain, 2))), carry)
    saved = float(extra["tax_saved"])
    return {
        "final_value": value,
        "embedded_gain": st_gain + lt_gain,
        "embedded_gain_pct": (st_gain + lt_gain) / value if value > 0 else 0.0,
        "cumulative_tax_saved": saved,
        "after_tax_if_held": value + saved,
        "after_tax_if_donated": value + saved,
        "donation_deduction_value": (lt_value + st_basis) * tax.ordinary_rate,
        "after_tax_if_liquidated": value + saved - float(liq_tax),
        "liquidation_tax": float(liq_tax),
    }
