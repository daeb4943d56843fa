"""One harvest pass, as of a date: records in, a proposal out. Nothing is printed, written or executed.

``plan_harvest`` books the history with the exact ledger, scans every open lot of every account on the
vectorized view (:mod:`directindex.harvest.scan`), values each surviving loss for its household
(:mod:`directindex.harvest.value`), picks replacements through a ``Replacer``
(:mod:`directindex.harvest.replace`) and returns a ``HarvestProposal``.

The guard's policy, in full (see also ``docs/harvest.md``):

* Scope: every account of the household (both spouses, IRAs, Roth IRAs, 401(k)s), every symbol of the
  sold symbol's identical group.
* A loss sale on the pass date D is blocked when a lot of the group acquired on D-30..D (purchase or
  dividend reinvestment) is still open in any household account, other than the lot being sold, or when
  a pending buy of the group exists in the household. Exception: when there is exactly one such recent
  lot, it sits in a taxable account, every open part of it is itself a harvest candidate and there is no
  pending buy, that lot is sold too and first (trades execute in the proposal's order), so it is no
  longer held when the older lots are sold.
* Restricted list: a group sold at a loss in a taxable household account on S (booked, or proposed now)
  may not be bought in any household account through S+30; the entry's ``expires`` = S+31 is the first
  day a purchase is safe. Replacements and swap-backs are never restricted, never in a sold group,
  never excluded. Groups with a pending sell in the household are not bought either (that sale may be a
  loss inside the window).
* A pending buy of a restricted group cannot be stopped by the pass: it gets a ``pending_restricted``
  warning (cancel or delay the order).
* Dividend reinvestment: a warning for each household account with ``drip`` on for a harvested group
  that holds the group (a reinvested dividend within 30 days would wash the loss).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from directindex.errors import InputError
from directindex.harvest.policy import AccountPolicy, HarvestPolicy
from directindex.harvest.records import (
    Blocked,
    Evidence,
    HarvestProposal,
    HarvestSummary,
    HarvestTrade,
    Reason,
    RestrictedEntry,
    Side,
    Warning,
    WashCheck,
)
from directindex.harvest.replace import ReplacementRequest, Replacer, replacer_for
from directindex.harvest.scan import WINDOW_DAYS, ScanResult, Thresholds, lot_root, root_index, scan
from directindex.harvest.value import HouseholdTax
from directindex.ledger import Account, Action, LedgerResult, Lot, Security, Term, Transaction, book
from directindex.ledger.view import LotTable, lot_table
from directindex.market.risk import FactorRiskModel

ZERO = Decimal(0)
SAFE_AFTER = timedelta(days=WINDOW_DAYS + 1)
WINDOW = timedelta(days=WINDOW_DAYS)
SWAP_BACK_LOOKBACK = timedelta(days=90)


def _money(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"))


def _sold_lots(trades: Sequence[HarvestTrade]) -> set[tuple[str, str | None]]:
    return {(t.account, t.lot) for t in trades if t.side is Side.SELL}


@dataclass
class _Context:
    """Working state of one pass (internal).

    The indexes below are built once per pass: a heavy day harvests hundreds of groups per account,
    and looking each group's symbols or each account's lots up by rescanning the securities or the
    ledger grew with groups x symbols.
    """

    as_of: date
    accounts: Mapping[str, Account]
    securities: Mapping[str, Security]
    policy: HarvestPolicy
    prices: dict[str, Decimal]
    table: LotTable
    ledger: LedgerResult
    household_accounts: dict[str, list[str]]
    _groups: dict[str, str] = field(default_factory=dict, repr=False)
    _symbols_of: dict[str, tuple[str, ...]] | None = field(default=None, repr=False)
    _lots_of: dict[str, tuple[Lot, ...]] | None = field(default=None, repr=False)

    def group(self, symbol: str) -> str:
        g = self._groups.get(symbol)
        if g is None:
            sec = self.securities.get(symbol)
            g = self._groups[symbol] = sec.group if sec else symbol
        return g

    def group_symbols(self, group: str) -> tuple[str, ...]:
        """Every symbol of the identical group: in the security master or among the open lots."""
        if self._symbols_of is None:
            members: dict[str, set[str]] = defaultdict(set)
            for s, sec in self.securities.items():
                members[sec.group].add(s)
            for s in self.table.symbols:
                members[self.group(s)].add(s)
            self._symbols_of = {g: tuple(sorted(v)) for g, v in members.items()}
        return self._symbols_of.get(group, ())

    def lots_of(self, account: str) -> tuple[Lot, ...]:
        """The account's open lots, in ledger order."""
        if self._lots_of is None:
            by: dict[str, list[Lot]] = defaultdict(list)
            for x in self.ledger.lots:
                by[x.account].append(x)
            self._lots_of = {a: tuple(v) for a, v in by.items()}
        return self._lots_of.get(account, ())

    def term(self, lot: Lot) -> Term:
        return Term.LONG if self.as_of >= lot.long_term_on else Term.SHORT


def plan_harvest(
    accounts: Mapping[str, Account],
    securities: Mapping[str, Security],
    transactions: Sequence[Transaction],
    prices: Mapping[str, Decimal | float],
    as_of: date,
    policy: HarvestPolicy | None = None,
    *,
    risk_model: FactorRiskModel | None = None,
    replacer: Replacer | None = None,
    ledger: LedgerResult | None = None,
) -> HarvestProposal:
    """Plan one harvest pass over every account of the book, as of ``as_of``.

    ``prices`` are the prices trades are proposed at (symbol -> price; lots without a price are skipped).
    ``risk_model`` prices tracking error and ranks peers; ``replacer`` overrides every account's
    ``replacement`` setting; ``ledger`` is the booked history when the caller already has it.
    """
    policy = policy or HarvestPolicy()
    ledger = ledger or book(transactions, accounts, securities, as_of=as_of).raise_errors()
    px: dict[str, Decimal] = {}
    for s, p in prices.items():
        d = p if isinstance(p, Decimal) else Decimal(repr(float(p)))
        if d.is_finite() and d > 0:
            px[s] = d
    symbols = sorted({lot.symbol for lot in ledger.lots} | set(px))
    table = lot_table(ledger.lots, accounts, securities, symbols)
    households: dict[str, list[str]] = defaultdict(list)
    for a in sorted(accounts):
        households[accounts[a].household].append(a)
    ctx = _Context(as_of, accounts, securities, policy, px, table, ledger, dict(households))
    result = _scan(ctx)
    return _Planner(ctx, result, risk_model, replacer, transactions).run()


def _scan(ctx: _Context) -> ScanResult:
    t = ctx.table
    n_acct = len(t.accounts)
    thr = np.empty(n_acct)
    min_loss = np.empty(n_acct)
    min_days = np.empty(n_acct, dtype=np.int64)
    for i, a in enumerate(t.accounts):
        h = ctx.policy.account(a).harvest
        thr[i] = h.loss_threshold if h.enabled else np.inf
        min_loss[i] = float(h.min_loss)
        min_days[i] = h.min_days
    price_vec = np.array([float(ctx.prices[s]) if s in ctx.prices else np.nan for s in t.symbols])
    g_ix = {g: i for i, g in enumerate(t.groups)}
    h_ix = {h: i for i, h in enumerate(t.households)}
    pending_hg = []
    for o in ctx.policy.pending:
        if o.account not in ctx.accounts:
            raise InputError.single("policy.toml / pending.csv", None, "account",
                                    f"pending order {o.id}: unknown account '{o.account}'")
        g = g_ix.get(ctx.group(o.symbol))
        if o.side == "buy" and g is not None:
            pending_hg.append(h_ix[ctx.accounts[o.account].household] * len(t.groups) + g)
    sale_hg, sale_day = [], []
    for r in ctx.ledger.reliefs:
        g = g_ix.get(ctx.group(r.symbol))
        if r.taxable and not r.donated and r.proceeds < r.cost_basis and g is not None:
            sale_hg.append(h_ix[ctx.accounts[r.account].household] * len(t.groups) + g)
            sale_day.append(r.date_sold.toordinal())
    return scan(
        t, price_vec, ctx.as_of.toordinal(),
        Thresholds(thr[t.account_idx], min_loss[t.account_idx], min_days[t.account_idx]),
        root_index(t),
        pending_hg=np.array(pending_hg, dtype=np.int64),
        loss_sale_hg=np.array(sale_hg, dtype=np.int64), loss_sale_day=np.array(sale_day, dtype=np.int64),
        threads=1,
    )


class _Planner:
    def __init__(self, ctx: _Context, result: ScanResult, risk_model: FactorRiskModel | None,
                 replacer: Replacer | None, transactions: Sequence[Transaction]):
        self.ctx = ctx
        self.r = result
        self.risk_model = risk_model
        self.replacer = replacer
        t = ctx.table
        self.hg = t.household_idx * max(len(t.groups), 1) + t.group_idx
        self.roots = root_index(t)
        recent = np.flatnonzero(t.acquired >= (ctx.as_of - WINDOW).toordinal())
        self.recent_by_hg: dict[int, list[int]] = defaultdict(list)
        for i in recent.tolist():
            self.recent_by_hg[int(self.hg[i])].append(i)
        self.acquisitions: dict[tuple[str, str], Transaction] = {}
        for tx in transactions:
            if tx.action in (Action.BUY, Action.REINVEST, Action.TRANSFER_IN) and tx.date <= ctx.as_of:
                self.acquisitions[(tx.account, tx.lot or tx.id)] = tx
        self.trades: list[HarvestTrade] = []
        self.blocked: list[Blocked] = []
        self.sold_loss: dict[tuple[str, str], date] = {}  # (household, group) -> proposed loss sale date
        self.sold_groups: set[tuple[str, str]] = set()
        self.total_value = 0.0
        self.harvested = {Term.SHORT: ZERO, Term.LONG: ZERO}

    # -- descriptions ----------------------------------------------------------------------------
    def _lot(self, i: int) -> Lot:
        return self.ctx.table.lots[i]

    def describe_acquisition(self, i: int) -> str:
        lot = self._lot(i)
        tx = self.acquisitions.get((lot.account, lot_root(lot.lot, lot.absorbed_loss)))
        if tx is None:
            return f"acquired {lot.quantity} shares of {lot.symbol} in account {lot.account} on {lot.acquired}"
        how = {Action.REINVEST: "dividend reinvestment", Action.BUY: "purchase",
               Action.TRANSFER_IN: "transfer in"}[tx.action]
        verb = "received" if tx.action is Action.TRANSFER_IN else "bought"
        return f"{verb} {tx.quantity} shares of {tx.symbol} in account {tx.account} on {tx.date} ({how})"

    def checks(self, i: int) -> tuple[WashCheck, ...]:
        ctx = self.ctx
        lot = self._lot(i)
        hh = ctx.accounts[lot.account].household
        accts = tuple(ctx.household_accounts[hh])
        g = ctx.group(lot.symbol)
        return (
            WashCheck("recent_purchase", g, ctx.as_of - WINDOW, ctx.as_of, accts,
                      "no other lot of the group acquired in the window is still open"),
            WashCheck("pending_order", g, ctx.as_of, ctx.as_of + WINDOW, accts, "no pending buy of the group"),
            WashCheck("restricted", g, ctx.as_of, ctx.as_of + WINDOW, accts,
                      f"the group goes on the restricted list until {ctx.as_of + SAFE_AFTER}"),
        )

    # -- the pass --------------------------------------------------------------------------------
    def run(self) -> HarvestProposal:
        self.block_scan()
        self.select()
        sells = list(self.trades)
        self.replace(sells)
        self.swap_back()
        traded = sorted({t.account for t in self.trades})
        te_before = self.tracking_errors((), traded)
        te_after = self.tracking_errors(self.trades, traded)
        te = {a: (te_before.get(a), te_after.get(a)) for a in traded}
        trades = [self.with_te(t, te) for t in self.trades]
        summary = HarvestSummary(
            harvested_short_term=_money(self.harvested[Term.SHORT]),
            harvested_long_term=_money(self.harvested[Term.LONG]),
            estimated_tax_value=round(self.total_value, 2),
            tracking_error_before=self.weighted(te, 0),
            tracking_error_after=self.weighted(te, 1),
            candidates=int(self.r.candidate.sum()),
            lots_scanned=len(self.ctx.table.lots),
        )
        return HarvestProposal(self.ctx.as_of, tuple(trades), tuple(self.blocked), self.restricted(),
                               self.drip_warnings() + self.budget_warnings(te), summary, te)

    def budget_warnings(self, te: Mapping[str, tuple[float | None, float | None]]) -> tuple[Warning, ...]:
        """An account whose tracking error after the proposal exceeds its ``te_budget`` from policy.toml."""
        out = []
        for account, (before, after) in sorted(te.items()):
            budget = self.ctx.policy.account(account).te_budget
            if budget is None or after is None or after <= budget + 1e-9:
                continue
            was = "" if before is None else f" (before: {before:.2%})"
            out.append(Warning(
                "tracking_error_over_budget", self.ctx.accounts[account].household, account, "",
                f"after the proposal, account {account}'s ex-ante tracking error is {after:.2%}{was}, above its "
                f"budget of {budget:.2%}: use a larger replacement basket or the optimizer replacer, or accept "
                f"a budget of {after:.2%}"))
        return tuple(out)

    def block_scan(self) -> None:
        ctx, r = self.ctx, self.r
        for i in np.flatnonzero(r.loss_ok & ~r.candidate).tolist():
            lot = self._lot(i)
            days = (ctx.as_of - lot.acquired).days
            need = ctx.policy.account(lot.account).harvest.min_days
            self.block(i, "min_days", f"held {days} days; the policy minimum is {need}")
        for i in np.flatnonzero(r.blocked_pending).tolist():
            lot = self._lot(i)
            hh = ctx.accounts[lot.account].household
            g = ctx.group(lot.symbol)
            orders = [o for o in ctx.policy.pending if o.side == "buy" and ctx.group(o.symbol) == g
                      and ctx.accounts[o.account].household == hh]
            self.block(i, "pending_order", "; ".join(
                f"pending buy order {o.id} of {o.quantity} shares of {o.symbol} in account {o.account} "
                f"for {o.date or ctx.as_of} (pending order: it fills inside the 30-day window)"
                for o in orders))
        for i in np.flatnonzero(r.blocked_recent).tolist():
            others = [j for j in self.recent_by_hg[int(self.hg[i])] if self.roots[j] != self.roots[i]]
            why = "; ".join(dict.fromkeys(self.describe_acquisition(j) for j in others))
            roots = {int(self.roots[j]) for j in others}
            if len(roots) > 1:
                why += f" ({len(roots)} recent lots: selling them too cannot clear the window)"
            else:
                why += " (that lot is not itself harvestable, so it is not sold to clear the window)"
            self.block(i, "recent_purchase", why)

    def block(self, i: int, cause: str, reason: str) -> None:
        lot = self._lot(i)
        loss = _money(Decimal(repr(float(self.r.unrealized[i]))))
        self.blocked.append(Blocked(lot.account, lot.lot, lot.symbol, loss, self.ctx.term(lot), cause, reason))

    def order(self, idx: list[int], tax: HouseholdTax, target_term: Term | None) -> list[int]:
        """Gain/loss matching: the character that offsets this year's gains first, largest loss first."""
        st, lt = tax.net_gains()
        first = target_term or (Term.LONG if lt > 0 and st <= 0 else Term.SHORT)
        return sorted(idx, key=lambda i: (self.ctx.term(self._lot(i)) is not first, self.r.unrealized[i], i))

    def select(self) -> None:
        ctx, r = self.ctx, self.r
        by_household: dict[str, list[int]] = defaultdict(list)
        for i in r.indices().tolist():
            by_household[ctx.accounts[self._lot(i).account].household].append(i)
        clears_by_hg: dict[int, list[int]] = defaultdict(list)
        for i in np.flatnonzero(r.clears_wash).tolist():
            clears_by_hg[int(self.hg[i])].append(i)
        for hh in sorted(by_household):
            hp = ctx.policy.household(hh)
            realized = [x for x in ctx.ledger.realized(ctx.as_of.year)
                        if ctx.accounts[x.account].household == hh and x.date_sold <= ctx.as_of]
            tax = HouseholdTax(hp, realized, ctx.as_of.year)
            done: set[int] = set()
            rejected: set[int] = set()
            total = ZERO
            for i in self.order(by_household[hh], tax, hp.target_term):
                if i in done or i in rejected:
                    continue
                if hp.target is not None and total >= hp.target:
                    self.block(i, "target_met", f"the household's harvest target of ${hp.target} is met")
                    continue
                first = [j for j in clears_by_hg.get(int(self.hg[i]), []) if j != i and j not in done]
                if any(j in rejected for j in first):
                    self.block(i, "recent_purchase", "; ".join(self.describe_acquisition(j) for j in first)
                               + " (selling that lot too is not worth its trading cost)")
                    continue
                unit = [*first, i]
                values = []
                for j in unit:
                    v = self.value(j, tax)
                    if v is None:
                        break
                    values.append(v)
                if len(values) < len(unit):
                    bad = unit[len(values)]
                    rejected.add(bad)
                    self.block(bad, "not_worth_it", "its tax value does not cover the trading cost")
                    if bad != i:
                        self.block(i, "recent_purchase", self.describe_acquisition(bad)
                                   + " (selling that lot too is not worth its trading cost)")
                    continue
                for j, (gross, net) in zip(unit, values, strict=True):
                    self.accept(j, tax, gross, net)
                    done.add(j)
                    total += Decimal(repr(-float(self.r.unrealized[j])))

    def value(self, i: int, tax: HouseholdTax) -> tuple[float, float] | None:
        lot = self._lot(i)
        loss = Decimal(repr(-float(self.r.unrealized[i]))).quantize(Decimal("0.01"))
        ap = self.ctx.policy.account(lot.account)
        gross = float(tax.value(self.ctx.term(lot), loss))
        legs = 1 if ap.replacement == "none" and self.replacer is None else 2
        notional = float(lot.quantity * self.ctx.prices[lot.symbol])
        net = gross - ap.harvest.trading_cost * notional * legs
        return (gross, net) if net > 0 else None

    def accept(self, i: int, tax: HouseholdTax, gross: float, net: float) -> None:
        ctx = self.ctx
        lot = self._lot(i)
        term = ctx.term(lot)
        price = ctx.prices[lot.symbol]
        value = lot.quantity * price
        loss = lot.basis - value
        tax.accept(term, _money(loss))
        self.harvested[term] += loss
        self.total_value += net
        hh = ctx.accounts[lot.account].household
        g = ctx.group(lot.symbol)
        self.sold_loss[(hh, g)] = ctx.as_of
        self.sold_groups.add((hh, g))
        note = f"gross tax value {gross:.2f} less trading cost {gross - net:.2f}"
        if self.r.clears_wash[i]:
            note += "; sold first: it is the group's one recent purchase, selling it clears the window"
        self.trades.append(HarvestTrade(
            lot.account, Side.SELL, lot.symbol, lot.quantity, price, Reason.HARVEST, lot.lot,
            Evidence(lot.lot, lot.acquired, lot.basis, _money(value), _money(value - lot.basis), term, net,
                     self.checks(i), note=note)))

    # -- replacements ----------------------------------------------------------------------------
    def allowed(self, account: str, ap: AccountPolicy) -> tuple[str, ...]:
        ctx = self.ctx
        hh = ctx.accounts[account].household
        restricted = {g for (h, g), _ in self.restricted_groups().items() if h == hh}
        pending_sells = {ctx.group(o.symbol) for o in ctx.policy.pending
                         if o.side == "sell" and ctx.accounts[o.account].household == hh}
        excluded = set(ap.exclusions)
        sectors = {s.casefold() for s in ap.exclude_sectors}
        out = []
        for s in sorted(ctx.prices):
            g = ctx.group(s)
            if g in restricted or g in pending_sells or (hh, g) in self.sold_groups or s in excluded:
                continue
            sec = ctx.securities.get(s)
            if sec is not None and sec.sector.casefold() in sectors:
                continue
            out.append(s)
        return tuple(out)

    def holdings(self, account: str, trades: Sequence[HarvestTrade],
                 sold: set[tuple[str, str | None]] | None = None) -> tuple[dict[str, float], tuple[Lot, ...]]:
        """The account's value by symbol and its open lots after ``trades``; ``sold``: their sold lots, if known."""
        if sold is None:
            sold = _sold_lots(trades)
        lots = tuple(x for x in self.ctx.lots_of(account) if (x.account, x.lot) not in sold)
        value: dict[str, float] = defaultdict(float)
        for x in lots:
            if x.symbol in self.ctx.prices:
                value[x.symbol] += float(x.quantity * self.ctx.prices[x.symbol])
        for t in trades:
            if t.account == account and t.side is Side.BUY:
                value[t.symbol] += float(t.notional)
        return dict(value), lots

    def replace(self, sells: Sequence[HarvestTrade]) -> None:
        ctx = self.ctx
        by_account: dict[str, list[HarvestTrade]] = defaultdict(list)
        for t in sells:
            by_account[t.account].append(t)
        sold_lots = _sold_lots(sells)
        for account in sorted(by_account):
            ap = ctx.policy.account(account)
            replacer = self.replacer or replacer_for(ap.replacement, ap.basket_size)
            if replacer is None:
                continue
            sold: dict[str, float] = defaultdict(float)
            for t in by_account[account]:
                sold[t.symbol] += float(t.notional)
            held, lots = self.holdings(account, sells, sold_lots)
            allowed = self.allowed(account, ap)
            request = ReplacementRequest(
                account, ctx.as_of, dict(sold), held, lots, allowed,
                {s: float(p) for s, p in ctx.prices.items()},
                {s: sec.sector for s, sec in ctx.securities.items()},
                ap.benchmark, self.risk_model, ap.te_budget, ap.basket_size)
            buys = replacer(request)
            budget = sum(sold.values())
            if sum(buys.values()) > budget * (1 + 1e-9):
                raise ValueError(f"replacer {replacer.name} spent more than the proceeds in {account}")
            hh = ctx.accounts[account].household
            replaces = tuple(sorted(sold))
            for sym in sorted(buys):
                if sym not in allowed:
                    raise ValueError(f"replacer {replacer.name} chose {sym}, which may not be bought in {account}")
                price = ctx.prices[sym]
                qty = (Decimal(repr(buys[sym])) / price).to_integral_value(rounding=ROUND_FLOOR)
                if qty <= 0:
                    continue
                g = ctx.group(sym)
                self.trades.append(HarvestTrade(account, Side.BUY, sym, qty, price, Reason.REPLACEMENT, None, Evidence(
                    wash_checks=(WashCheck("restricted", g, ctx.as_of - WINDOW, ctx.as_of,
                                           tuple(ctx.household_accounts[hh]),
                                           "not sold at a loss in the household in the window; not a sold group;"
                                           " not excluded"),),
                    replaces=replaces, note=f"chosen by the {replacer.name} replacer")))

    # -- swap back -------------------------------------------------------------------------------
    def swap_back(self) -> None:
        """After the window: sell a replacement bought with a harvest, buy the harvested name back.

        Only when the replacement is not at a gain (no tax cost), its sale passes the guard, the original
        group is not restricted, and the account's tracking error falls (needs a risk model).
        """
        ctx = self.ctx
        if self.risk_model is None:
            return
        model_syms = set(self.risk_model.symbols)
        for account in sorted(ctx.accounts):
            ap = ctx.policy.account(account)
            if not ap.harvest.swap_back or not ctx.accounts[account].taxable:
                continue
            hh = ctx.accounts[account].household
            restricted = {g for (h, g) in self.restricted_groups() if h == hh}
            held_groups = {ctx.group(x.symbol) for x in ctx.lots_of(account)}
            for sale in ctx.ledger.realized(ctx.as_of.year) + ctx.ledger.realized(ctx.as_of.year - 1):
                if sale.account != account or sale.proceeds >= sale.cost_basis:
                    continue
                if not (ctx.as_of - SWAP_BACK_LOOKBACK <= sale.date_sold <= ctx.as_of - SAFE_AFTER):
                    continue
                g = ctx.group(sale.symbol)
                pending = {ctx.group(o.symbol) for o in ctx.policy.pending
                           if ctx.accounts[o.account].household == hh}
                if g in restricted or (hh, g) in self.sold_groups or g in held_groups or g in pending:
                    continue
                if sale.symbol not in ctx.prices or sale.symbol not in model_syms:
                    continue
                swap = self.swap_lots(account, sale.date_sold, g)
                if swap:
                    self.try_swap(account, sale.symbol, swap)
                    held_groups.add(g)

    def swap_lots(self, account: str, day: date, original_group: str) -> list[int]:
        """Open lots bought in ``account`` on ``day`` (a harvest's replacements), not at a gain, guard-clear."""
        ctx, r = self.ctx, self.r
        out = []
        for i, lot in enumerate(ctx.table.lots):
            if lot.account != account or lot.acquired != day or ctx.group(lot.symbol) == original_group:
                continue
            tx = self.acquisitions.get((lot.account, lot_root(lot.lot, lot.absorbed_loss)))
            if tx is None or tx.action is not Action.BUY or not math.isfinite(r.unrealized[i]):
                continue
            if r.unrealized[i] > 0 or r.blocked_recent[i] or r.blocked_pending[i]:
                continue
            if any(t.lot == lot.lot and t.account == account for t in self.trades):
                continue
            if self.r.guard.recent_roots[int(self.hg[i])] > 0 or self.r.guard.pending_buys[int(self.hg[i])] > 0:
                continue
            out.append(i)
        return out

    def try_swap(self, account: str, original: str, lots: list[int]) -> None:
        ctx = self.ctx
        price = ctx.prices[original]
        proceeds = sum((self._lot(i).quantity * ctx.prices[self._lot(i).symbol] for i in lots), ZERO)
        qty = (proceeds / price).to_integral_value(rounding=ROUND_FLOOR)
        if qty <= 0:
            return
        hh = ctx.accounts[account].household
        sells = [HarvestTrade(account, Side.SELL, self._lot(i).symbol, self._lot(i).quantity,
                              ctx.prices[self._lot(i).symbol], Reason.SWAP_BACK, self._lot(i).lot,
                              Evidence(self._lot(i).lot, self._lot(i).acquired, self._lot(i).basis,
                                       _money(self._lot(i).quantity * ctx.prices[self._lot(i).symbol]),
                                       _money(Decimal(repr(float(self.r.unrealized[i])))), ctx.term(self._lot(i)),
                                       wash_checks=self.checks(i), replaces=(original,)))
                 for i in lots]
        buy = HarvestTrade(account, Side.BUY, original, qty, price, Reason.SWAP_BACK, None, Evidence(
            wash_checks=(WashCheck("restricted", ctx.group(original), ctx.as_of - WINDOW, ctx.as_of,
                                   tuple(ctx.household_accounts[hh]),
                                   "the 31-day window since the harvest has passed"),),
            replaces=tuple(sorted({s.symbol for s in sells})), note="back to the harvested name"))
        before = self.tracking_errors(self.trades, [account]).get(account)
        after = self.tracking_errors([*self.trades, *sells, buy], [account]).get(account)
        if before is None or after is None or after >= before:
            return
        for i, s in zip(lots, sells, strict=True):
            if self.r.unrealized[i] < 0:
                self.sold_loss[(hh, ctx.group(s.symbol))] = ctx.as_of
                self.harvested[ctx.term(self._lot(i))] += -Decimal(repr(float(self.r.unrealized[i])))
            self.sold_groups.add((hh, ctx.group(s.symbol)))
        self.trades.extend([*sells, buy])

    # -- tracking error --------------------------------------------------------------------------
    def tracking_errors(self, trades: Sequence[HarvestTrade], accounts: Sequence[str]) -> dict[str, float]:
        """Ex-ante TE per account after ``trades`` against its benchmark (default: its holdings before)."""
        model = self.risk_model
        if model is None:
            return {}
        idx = model.index()
        out: dict[str, float] = {}
        sold = _sold_lots(trades)
        for account in accounts:
            w = self.weights(account, trades, idx, sold)
            ap = self.ctx.policy.account(account)
            b: np.ndarray | None
            if ap.benchmark is not None:
                b = np.zeros(model.n)
                for s, v in ap.benchmark.items():
                    if s in idx:
                        b[idx[s]] = v
                b = b / b.sum() if b.sum() > 0 else b
            else:
                b = self.weights(account, (), idx)
            if w is None or b is None:
                continue
            out[account] = float(model.tracking_error(w, b)[0])
        return out

    def weights(self, account: str, trades: Sequence[HarvestTrade], idx: Mapping[str, int],
                sold: set[tuple[str, str | None]] | None = None) -> np.ndarray | None:
        held, _ = self.holdings(account, trades, sold)
        cash = sum(float(t.notional) for t in trades if t.account == account and t.side is Side.SELL) - sum(
            float(t.notional) for t in trades if t.account == account and t.side is Side.BUY)
        total = sum(held.values()) + max(cash, 0.0)
        if total <= 0 or any(s not in idx for s, v in held.items() if v > 0):
            return None
        w = np.zeros(len(idx))
        for s, v in held.items():
            w[idx[s]] += v / total
        return w

    def with_te(self, t: HarvestTrade, te: Mapping[str, tuple[float | None, float | None]]) -> HarvestTrade:
        before, after = te.get(t.account, (None, None))
        ev = t.evidence
        return HarvestTrade(t.account, t.side, t.symbol, t.quantity, t.price, t.reason, t.lot, Evidence(
            ev.lot, ev.acquired, ev.basis, ev.market_value, ev.unrealized, ev.term, ev.tax_value, ev.wash_checks,
            before, after, ev.replaces, ev.note))

    def weighted(self, te: Mapping[str, tuple[float | None, float | None]], k: int) -> float | None:
        vals = [(v[k], self.account_value(a)) for a, v in te.items() if v[k] is not None]
        total = sum(w for _, w in vals)
        if not vals or total <= 0:
            return None
        return float(sum(float(x) * w for x, w in vals if x is not None) / total)

    def account_value(self, account: str) -> float:
        return sum(float(x.quantity * self.ctx.prices.get(x.symbol, ZERO)) for x in self.ctx.lots_of(account))

    # -- restricted list and warnings ----------------------------------------------------------
    def restricted_groups(self) -> dict[tuple[str, str], tuple[date, str]]:
        ctx = self.ctx
        out: dict[tuple[str, str], tuple[date, str]] = {}
        for rl in ctx.ledger.reliefs:
            if not rl.taxable or rl.donated or rl.proceeds >= rl.cost_basis:
                continue
            if not ctx.as_of - WINDOW <= rl.date_sold <= ctx.as_of:
                continue
            key = (ctx.accounts[rl.account].household, ctx.group(rl.symbol))
            if key not in out or out[key][0] < rl.date_sold:
                out[key] = (rl.date_sold, "book")
        for key, day in self.sold_loss.items():
            if key not in out or out[key][0] <= day:
                out[key] = (day, "proposal")
        return out

    def restricted(self) -> tuple[RestrictedEntry, ...]:
        entries = [RestrictedEntry(hh, g, self.ctx.group_symbols(g), day, day + SAFE_AFTER, src)
                   for (hh, g), (day, src) in self.restricted_groups().items()]
        return tuple(sorted(entries, key=lambda e: (e.household, e.expires, e.group)))

    def drip_warnings(self) -> tuple[Warning, ...]:
        ctx = self.ctx
        out = []
        restricted = self.restricted_groups()
        for o in ctx.policy.pending:
            hh = ctx.accounts[o.account].household
            hit = restricted.get((hh, ctx.group(o.symbol)))
            if o.side == "buy" and hit is not None:
                out.append(Warning(
                    "pending_restricted", hh, o.account, o.symbol,
                    f"pending buy order {o.id} of {o.quantity} shares of {o.symbol} in account {o.account} is on the "
                    f"restricted list until {hit[0] + SAFE_AFTER}: filled before then it washes the loss sale of "
                    f"{hit[0]}; cancel or delay it"))
        held_by: dict[str, dict[str, set[str]]] = {}  # account -> group -> symbols held
        for hh, g in sorted(self.sold_loss):
            symbols = self.ctx.group_symbols(g)
            for account in ctx.household_accounts[hh]:
                ap = ctx.policy.account(account)
                if account not in held_by:
                    mine: dict[str, set[str]] = defaultdict(set)
                    for x in ctx.lots_of(account):
                        mine[ctx.group(x.symbol)].add(x.symbol)
                    held_by[account] = mine
                held = sorted(held_by[account].get(g, ()))
                for s in held:
                    if ap.drip_on(s):
                        out.append(Warning(
                            "drip", hh, account, s,
                            f"dividend reinvestment is on for {s} in account {account}: a reinvested dividend "
                            f"before {ctx.as_of + SAFE_AFTER} would wash the loss harvested on {ctx.as_of} in "
                            f"{'/'.join(symbols)}; turn it off until then"))
        return tuple(out)
