"""Rebalancing in the daily run: when an account is due, re-solve it toward its benchmark, tax-aware.

An operations team does not re-optimize every account every day. An account is rebalanced when one of
its triggers fires (``[rebalance]`` / ``[accounts.<id>.rebalance]`` in ``policy.toml``):

* ``tracking_error``: its ex-ante tracking error against its benchmark, on the holdings it has now, is
  past its alert level (``[risk] tracking_error_alert``) or its budget (``te_budget``);
* ``new_cash``: cash arrived since the previous run (sale proceeds less purchase cost) above
  ``max(min_cash, cash_fraction x account value)``;
* ``cadence``: the first run in a new period (``weekly``, ``monthly``, ``quarterly``, ``annual``) since
  the previous run (``none`` or ``daily`` switch the calendar trigger off or on every run).

One :class:`~directindex.construct.TrackingErrorOptimizer` is compiled per run over the priced universe
of the run's risk model; each account only sets its parameters (benchmark, lots, cash, budget,
exclusions, no-buy list, tax rates). The solve starts from the account as it will be after the day's
harvest: harvested lots are gone and their proceeds are cash, which the optimizer reinvests with the
household's restricted list (today's harvested groups included) on its no-buy list, so the harvest's own
replacement buys give way to the optimizer's. Losses stay the harvest pass's business
(``loss_credit=False``): the tax cost counts gains only.

The household wash-sale guard applies to what the optimizer hands back, because the optimizer sees one
account: a loss sale in a taxable account is dropped (and the buys cut to the cash left) when the
household acquired the group in the last 30 days, has a pending buy of it, or buys it today in any
account (harvest replacements, other accounts' rebalances, this rebalance's own buys of a substantially
identical name); a group sold at a loss today in the household goes on the no-buy list of every
account rebalanced after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from directindex.cadence import period
from directindex.errors import InputError
from directindex.harvest import HarvestPolicy, policy_from_mapping
from directindex.ledger.records import Action, Lot, Term
from directindex.workflow.approval import policy_for
from directindex.workflow.guard import WASH_DAYS
from directindex.workflow.harvest_engine import harvest_mapping
from directindex.workflow.proposer import ProposalContext, ProposalDraft, Restricted, Trade

if TYPE_CHECKING:
    import pandas as pd

    from directindex.construct import TrackingErrorOptimizer
    from directindex.market.risk import FactorRiskModel
    from directindex.workflow.context import BookView

ZERO = Decimal(0)
CADENCES = ("none", "daily", "weekly", "monthly", "quarterly", "annual")
DEFAULT_TE_BUDGET = 0.02


@dataclass(frozen=True, slots=True)
class RebalanceSettings:
    """When an account is rebalanced; from ``[rebalance]`` overridden by ``[accounts.<id>.rebalance]``."""

    enabled: bool = True
    cadence: str = "quarterly"
    min_cash: Decimal = Decimal(1000)
    cash_fraction: float = 0.005
    min_trade: float = 0.001  # of account value: smaller trades are not worth an order

    @classmethod
    def of(cls, ctx: ProposalContext) -> RebalanceSettings:
        raw = ctx.account_policy("rebalance")
        where = f"policy.toml [accounts.{ctx.account.account}.rebalance] / [rebalance]"
        known = {"enabled", "cadence", "min_cash", "cash_fraction", "min_trade"}
        for k in raw:
            if k not in known:
                raise InputError.single(where, None, k, f"unknown key (expected one of: {', '.join(sorted(known))})")
        base = cls()
        cadence = str(raw.get("cadence", base.cadence))
        if cadence not in CADENCES:
            raise InputError.single(where, None, "cadence", f"'{cadence}' is not one of {', '.join(CADENCES)}")
        try:
            out = cls(bool(raw.get("enabled", True)), cadence, Decimal(str(raw.get("min_cash", base.min_cash))),
                      float(raw.get("cash_fraction", base.cash_fraction)),
                      float(raw.get("min_trade", base.min_trade)))
        except (ArithmeticError, ValueError, TypeError) as e:
            raise InputError.single(where, None, None, f"bad value: {e}") from None
        if out.min_cash < 0 or not 0 <= out.cash_fraction < 1 or not 0 <= out.min_trade < 1:
            raise InputError.single(where, None, None, "min_cash must be >= 0; cash_fraction and min_trade in [0, 1)")
        return out




def cadence_due(cadence: str, as_of: date, previous_run: date | None) -> bool:
    """The first run of a new period since the previous run (no previous run: not a cadence day)."""
    now = period(as_of, cadence)
    return now is not None and previous_run is not None and period(previous_run, cadence) != now


def triggers(settings: RebalanceSettings, *, tracking_error: float | None, alert: float | None, budget: float,
             new_cash: Decimal, account_value: Decimal, as_of: date, previous_run: date | None) -> list[dict[str, Any]]:
    """Every reason the account is due for a rebalance today (empty: it is not)."""
    out: list[dict[str, Any]] = []
    if not settings.enabled:
        return out
    if tracking_error is not None:
        level = min(x for x in (alert, budget) if x is not None)
        if tracking_error > level + 1e-12:
            out.append({"trigger": "tracking_error", "tracking_error": round(tracking_error, 6),
                        "alert": alert, "budget": budget})
    threshold = max(settings.min_cash, Decimal(repr(settings.cash_fraction)) * account_value)
    if new_cash > threshold:
        out.append({"trigger": "new_cash", "new_cash": new_cash, "threshold": threshold.quantize(Decimal("0.01"))})
    if cadence_due(settings.cadence, as_of, previous_run):
        out.append({"trigger": "cadence", "cadence": settings.cadence, "previous_run": previous_run})
    return out


@dataclass
class HouseholdDay:
    """What the household's proposals of the day buy and sell at a loss, account by account."""

    trades: dict[str, tuple[Trade, ...]] = field(default_factory=dict)

    def others(self, account: str) -> list[Trade]:
        return [t for a, ts in self.trades.items() if a != account for t in ts]


def _unrealized(t: Trade) -> Decimal:
    return Decimal(str(t.evidence.get("unrealized", 0) or 0))


@dataclass
class Rebalancer:
    """Rebalance the accounts whose triggers fire, with one compiled optimizer per run.

    The risk model is the harvest proposer's when it estimated one (``model_``), else ``risk_model``,
    else one estimated from ``prices_history``; without any, no account is rebalanced (the reason is
    noted in the run's changes).
    """

    prices_history: pd.DataFrame | None = None
    risk_model: FactorRiskModel | None = None
    tolerance: float = 1e-6
    name: str = "rebalance"
    _opt: TrackingErrorOptimizer | None = field(default=None, repr=False)
    _policy: HarvestPolicy = field(default_factory=HarvestPolicy, repr=False)
    _model: FactorRiskModel | None = field(default=None, repr=False)
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _view: BookView | None = field(default=None, repr=False)

    def prepare(self, view: BookView, prices: Mapping[str, Decimal], risk_model: FactorRiskModel | None = None) -> None:
        """Once per run: the policy, the risk model and the compiled optimizer over the priced universe."""
        import pandas as pd

        from directindex.construct import Policy, SolverConfig, TrackingErrorOptimizer, build_universe

        self._view = view
        self._policy = policy_from_mapping(harvest_mapping(view.policy), "policy.toml (stored book)")
        model = self.risk_model or risk_model
        if model is None and self.prices_history is not None:
            from directindex.harvest.inputs import risk_model_for

            model = risk_model_for(self.prices_history, view.securities, view.as_of)
        self._opt, self._model = None, None
        if model is None:
            return
        symbols = [s for s in model.symbols if s in prices and prices[s] > 0]
        if not symbols:
            return
        model = model.restrict(symbols)
        master = pd.DataFrame({
            "sector": [view.securities[s].sector if s in view.securities else "" for s in symbols],
            "industry": [view.securities[s].industry if s in view.securities else "" for s in symbols]},
            index=symbols)
        # min_segments: every account has the same problem structure, so it compiles once per run; the
        # book's largest lot count in one name (over every account, before the day's sales) is enough for
        # all of them, and a book of one lot per name then solves a problem an eighth the size. The direct
        # backend compiles nothing and leaves out empty segments and names that cannot trade.
        solver = SolverConfig(tolerance=self.tolerance, diagnose=False, over_budget="relax",
                              min_segments=lots_per_name(view), backend="direct")
        self._opt = TrackingErrorOptimizer(model, build_universe(symbols, master), Policy(), solver)
        self._model = model
        self._index = model.index()

    # ------------------------------------------------------------------ tracking error

    def _benchmark(self, ctx: ProposalContext, lots: Iterable[Lot]) -> dict[str, float] | None:
        ap = self._policy.account(ctx.account.account)
        if ap.benchmark is not None:
            return {s: float(w) for s, w in ap.benchmark.items() if s in self._index and w > 0}
        held = self._values(ctx, lots)
        return {s: v for s, v in held.items() if v > 0} or None

    def _values(self, ctx: ProposalContext, lots: Iterable[Lot]) -> dict[str, float]:
        out: dict[str, float] = {}
        for lot in lots:
            p = ctx.prices.get(lot.symbol)
            if p is not None:
                out[lot.symbol] = out.get(lot.symbol, 0.0) + float(lot.quantity * p)
        return out

    def _te(self, values: Mapping[str, float], cash: float, bench: Mapping[str, float]) -> float | None:
        model = self._model
        if model is None:
            return None
        total = sum(values.values()) + max(cash, 0.0)
        if total <= 0 or any(s not in self._index for s, v in values.items() if v > 0):
            return None
        w = np.zeros(model.n)
        for s, v in values.items():
            w[self._index[s]] += v / total
        b = np.zeros(model.n)
        for s, v in bench.items():
            b[self._index[s]] += v
        if b.sum() <= 0:
            return None
        return float(model.tracking_error(w, b / b.sum())[0])

    def budget(self, ctx: ProposalContext) -> float:
        ap = self._policy.account(ctx.account.account)
        if ap.te_budget is not None:
            return float(ap.te_budget)
        approval = policy_for(ctx.policy, ctx.account.account).tracking_error_budget
        return float(approval) if approval is not None else DEFAULT_TE_BUDGET

    # ------------------------------------------------------------------ the day's step

    def __call__(self, ctx: ProposalContext, draft: ProposalDraft, changes: dict[str, Any],
                 previous_run: date | None, day: HouseholdDay) -> ProposalDraft:
        """The account's proposal with rebalance trades added when a trigger fires (else ``draft``)."""
        if self._opt is None or self._model is None:
            if self._view is not None:
                changes["rebalance"] = {"skipped": "no risk model: give --prices as a date,symbol,close history"}
            return draft
        settings = RebalanceSettings.of(ctx)
        if not settings.enabled:
            return draft
        bench = self._benchmark(ctx, ctx.lots)
        value = sum((lot.quantity * ctx.prices.get(lot.symbol, ZERO) for lot in ctx.lots), ZERO)
        if bench is None or value <= 0:
            return draft
        budget = self.budget(ctx)
        alert_raw = ctx.account_policy("risk").get("tracking_error_alert")
        alert = float(alert_raw) if alert_raw is not None else None
        new_cash = Decimal(str(changes.get("new_cash", 0) or 0))
        te_now = self._te(self._values(ctx, ctx.lots), 0.0, bench)
        if te_now is not None and alert is not None and te_now > alert and "tracking_error_drift" not in changes:
            changes["tracking_error_drift"] = {"tracking_error": round(te_now, 6), "alert": alert}
        fired = triggers(settings, tracking_error=te_now, alert=alert, budget=budget, new_cash=new_cash,
                         account_value=value, as_of=ctx.as_of, previous_run=previous_run)
        if not fired:
            return draft
        if any(t.reason == "swap_back" for t in draft.trades):
            changes["rebalance"] = {"triggers": fired, "skipped": "swap-back today: rebalanced at the next run"}
            return draft
        if any(ctx.prices.get(lot.symbol) is None for lot in ctx.lots):
            missing = sorted({lot.symbol for lot in ctx.lots if ctx.prices.get(lot.symbol) is None})
            changes["rebalance"] = {"triggers": fired, "skipped": f"no price for {', '.join(missing[:5])}"}
            return draft
        return self._rebalance(ctx, draft, changes, fired, bench, budget, te_now, max(new_cash, ZERO), day,
                               settings)

    def _rebalance(self, ctx: ProposalContext, draft: ProposalDraft, changes: dict[str, Any],
                   fired: list[dict[str, Any]], bench: dict[str, float], budget: float, te_now: float | None,
                   new_cash: Decimal, day: HouseholdDay, settings: RebalanceSettings) -> ProposalDraft:
        from directindex.construct import Exclusions, Holdings, Policy, TaxRates

        assert self._opt is not None
        acct = ctx.account.account
        ap = self._policy.account(acct)
        # The account as it will be after the day's harvest: sold lots gone, proceeds as cash; the
        # harvest's replacement buys give way to this solve's buys.
        harvest = [t for t in draft.trades if t.reason != "replacement"]
        sold: dict[str, Decimal] = {}
        proceeds = ZERO
        for t in harvest:
            if t.side == "sell" and t.lot:
                sold[t.lot] = sold.get(t.lot, ZERO) + t.quantity
                proceeds += t.notional
        lots: list[Lot] = []
        for lot in ctx.lots:
            q = lot.quantity - sold.get(lot.lot, ZERO)
            if q <= 0:
                continue
            if q != lot.quantity:
                f = q / lot.quantity
                lot = replace(lot, quantity=q, cost=lot.cost * f, wash_sale_adjustment=lot.wash_sale_adjustment * f)
            lots.append(lot)
        cash = proceeds + new_cash
        hh_others = day.others(acct)
        group = ctx.group
        # no-buy: the restricted list (booked loss sales in the window and today's harvest), pending
        # sells (a loss sale in the window), and loss sales proposed today elsewhere in the household
        blocked = {r.symbol for r in draft.restricted}
        blocked |= {group(str(o.get("symbol"))) for o in ctx.pending if o.get("side") == "sell"}
        taxable = {a.account for a in ctx.household if a.taxable}
        blocked |= {group(t.symbol) for t in [*hh_others, *harvest] if t.side == "sell" and _unrealized(t) < 0
                    and t.account in taxable}
        no_buy = frozenset(s for s in self._index if group(s) in blocked)
        if ctx.account.taxable:
            hp = self._policy.household(ctx.account.household).rates(ctx.as_of.year)
            rates = TaxRates(float(hp.short_term), float(hp.long_term))
        else:
            rates = TaxRates(0.0, 0.0)  # a tax-advantaged account realizes nothing
        policy = Policy(
            te_budget=budget,
            exclusions=Exclusions(symbols=tuple(ap.exclusions), sectors=tuple(ap.exclude_sectors)),
            no_buy=no_buy, min_trade=settings.min_trade, transaction_cost=ap.harvest.trading_cost,
            rates=rates, loss_credit=False)
        prices = {s: float(ctx.prices[s]) for s in self._index}
        result = self._opt.solve(bench, Holdings(acct, tuple(lots), float(cash), ctx.as_of), prices=prices,
                                 policy=policy)
        info: dict[str, Any] = {"triggers": fired, "status": result.status, "te_budget": budget,
                                "tracking_error_before": te_now, "no_buy": len(no_buy)}
        if result.status == "infeasible":
            info["diagnosis"] = result.diagnosis.message if result.diagnosis is not None else "infeasible"
            changes["rebalance"] = info
            return draft
        buys = [c for c in result.trades if c.side == "buy" and c.quantity > 0]
        # the household guard on what one account's solve cannot see
        buy_groups = {group(c.symbol) for c in buys}
        window = ctx.as_of - timedelta(days=WASH_DAYS)
        bought = {group(t.symbol) for t in ctx.household_transactions
                  if t.action in (Action.BUY, Action.REINVEST) and window <= t.date <= ctx.as_of}
        bought |= {group(str(o.get("symbol"))) for o in ctx.pending if o.get("side") == "buy"}
        bought |= {group(t.symbol) for t in [*hh_others, *harvest] if t.side == "buy"}
        by_lot = {lot.lot: lot for lot in lots}
        sells: list[Trade] = []
        dropped: list[str] = []
        for c in result.trades:
            if c.side != "sell" or c.quantity <= 0 or c.lot not in by_lot:
                continue
            lot = by_lot[c.lot]
            price = ctx.prices[c.symbol]
            basis = lot.basis * c.quantity / lot.quantity
            gain = c.quantity * price - basis
            g = group(c.symbol)
            if gain < 0 and ctx.account.taxable and (g in bought or g in buy_groups):
                dropped.append(f"{c.symbol} lot {lot.lot} ({gain:.2f}): the household buys {g} within 30 days")
                continue
            term = Term.LONG if ctx.as_of >= lot.long_term_on else Term.SHORT
            sells.append(Trade(acct, "sell", c.symbol, c.quantity, lot.lot, "rebalance", price, {
                "lot": lot.lot, "acquired": lot.acquired, "quantity": c.quantity,
                "basis": basis.quantize(Decimal("0.01")),
                "price": price, "value": (c.quantity * price).quantize(Decimal("0.01")),
                "unrealized": gain.quantize(Decimal("0.01")), "term": term.value, "long_term_on": lot.long_term_on,
                "estimated_tax": round(float(c.estimated_tax), 2),
                "wash_window": {"from": window, "to": ctx.as_of, "group": g,
                                "accounts_checked": [a.account for a in ctx.household],
                                "rule": "no household purchase of the group in the window, today or pending"
                                if gain < 0 else "a gain: no wash sale"}}))
        available = cash + sum((t.notional for t in sells), ZERO)
        wanted = sum((c.quantity * ctx.prices[c.symbol] for c in buys), ZERO)
        scale = min(Decimal(1), available / wanted) if wanted > 0 else Decimal(1)
        out_buys: list[Trade] = []
        for c in buys:
            q = (c.quantity * scale).to_integral_value(rounding=ROUND_FLOOR)
            if q <= 0:
                continue
            price = ctx.prices[c.symbol]
            out_buys.append(Trade(acct, "buy", c.symbol, q, None, "rebalance", price, {
                "quantity": q, "price": price, "value": (q * price).quantize(Decimal("0.01")),
                "wash_window": {"from": window, "to": ctx.as_of, "group": group(c.symbol),
                                "accounts_checked": [a.account for a in ctx.household],
                                "rule": "not on the household's restricted list, not sold at a loss today in the "
                                        "household, no pending sell"}}))
        trades = [*harvest, *sells, *out_buys]
        if not sells and not out_buys:
            info["note"] = "nothing to trade"
            changes["rebalance"] = info
            return draft
        # tracking error after, recomputed on the proposal's whole-share trades
        after_values = self._values(ctx, lots)
        spent = ZERO
        for t in sells:
            after_values[t.symbol] -= float(t.notional)
        for t in out_buys:
            after_values[t.symbol] = after_values.get(t.symbol, 0.0) + float(t.notional)
            spent += t.notional
        te_after = self._te(after_values, float(available - spent), bench)
        tax_cost = round(sum(float(t.evidence.get("estimated_tax", 0.0)) for t in sells), 2)
        realized = sum((_unrealized(t) for t in sells), ZERO)
        info.update({"tracking_error_after": te_after, "tax_cost": tax_cost, "realized_gain": realized,
                     "sells": len(sells), "buys": len(out_buys), "cash_invested": cash,
                     "solver_status": result.status, "alerts": [a.message for a in result.alerts]})
        if dropped:
            info["loss_sales_dropped"] = dropped
        if len(harvest) < len(draft.trades):
            info["replaces_harvest_replacements"] = len(draft.trades) - len(harvest)
        changes["rebalance"] = info
        te_evidence = {"tracking_error_before": te_now, "tracking_error_after": te_after}
        trades = [replace(t, evidence={**t.evidence, **te_evidence}) if t.reason == "rebalance" else t
                  for t in trades]
        summary = dict(draft.summary)
        summary["rebalance"] = info
        if te_now is not None:
            summary["tracking_error_before"] = te_now
        if te_after is not None:
            summary["tracking_error_after"] = te_after
        summary["realized_gain"] = Decimal(str(summary.get("realized_gain", 0) or 0)) + sum(
            (max(ZERO, _unrealized(t)) for t in sells), ZERO)
        summary["notional"] = sum((t.notional for t in trades), ZERO)
        summary.setdefault("account_value", value_of(ctx))
        restricted = list(draft.restricted)
        have = {r.symbol for r in restricted}
        for t in sells:
            g = group(t.symbol)
            if _unrealized(t) < 0 and ctx.account.taxable and g not in have:
                restricted.append(Restricted(ctx.account.household, g, ctx.as_of,
                                             ctx.as_of + timedelta(days=WASH_DAYS + 1)))
                have.add(g)
        return ProposalDraft(tuple(trades), draft.blocked, tuple(restricted), summary)


def lots_per_name(view: BookView) -> int:
    """The most open lots any account of the book holds in one name (at least 1)."""
    most = 1
    for lots in view.lots_by_account.values():
        if len(lots) <= most:
            continue
        counts: dict[str, int] = {}
        for lot in lots:
            counts[lot.symbol] = counts.get(lot.symbol, 0) + 1
        most = max(most, *counts.values())
    return most


def value_of(ctx: ProposalContext) -> Decimal:
    return sum((lot.quantity * ctx.prices.get(lot.symbol, ZERO) for lot in ctx.lots), ZERO)


def stored_trades(rows: Sequence[Mapping[str, Any]]) -> tuple[Trade, ...]:
    """A stored proposal's trades (``proposals.trades`` JSON) as records, for the household's day."""
    out = []
    for r in rows:
        out.append(Trade(str(r["account"]), str(r["side"]), str(r["symbol"]), Decimal(str(r["quantity"])),
                         r.get("lot"), str(r.get("reason", "")),
                         None if r.get("price") is None else Decimal(str(r["price"])), dict(r.get("evidence") or {})))
    return tuple(out)

