"""The day-by-day simulation of one account, driving the real engine.

Each trading day: corporate actions (splits booked as ledger ``split`` rows, dividends received as cash),
names leaving the tape sold, then on harvest days the harvest pass (``directindex.harvest.scan`` over the
account's lots, with its household wash-sale guard, and ``PeerReplacer`` replacements), and on rebalance
days the tracking-error-budget optimizer (``directindex.construct``) with the restricted list as its
no-buy list. Every trade becomes a ledger ``Transaction`` (trading costs as fees); the ledger books them
at each year end and at the end, and its lots are checked against the fast state the decisions read.

The two engine parts the simulation calls sit behind small protocols (``Constructor``, ``Harvester``) so
either can be swapped (a baseline, a new optimizer) without touching the loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from directindex.backtest.config import BacktestConfig
from directindex.backtest.data import BacktestMarket
from directindex.backtest.lots import LotState, cents, qty_decimal
from directindex.cadence import period
from directindex.construct import (
    Exclusions,
    Holdings,
    Policy,
    SectorBounds,
    SolverConfig,
    TaxRates,
    TrackingErrorOptimizer,
    build_universe,
)
from directindex.harvest.replace import PeerReplacer, PeerTable, ReplacementRequest
from directindex.harvest.scan import NEVER, WINDOW_DAYS, Thresholds, scan
from directindex.ledger import Account, AccountType, Action, LedgerResult, Security, Transaction, book
from directindex.ledger.book import build_transactions
from directindex.ledger.view import LotTable
from directindex.market.risk import FactorRiskModel
from directindex.market.riskmodel import estimate_factor_model
from directindex.memory import collector_paused
from directindex.workflow.fanout import Ahead

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------- context


@dataclass
class DayContext:
    """What the engine parts see on one day (arrays aligned with ``market.symbols``)."""

    t: int
    on: date
    market: BacktestMarket
    config: BacktestConfig
    state: LotState
    cash: float
    prices: FloatArray
    tradable: npt.NDArray[np.bool_]
    benchmark: FloatArray
    restricted: npt.NDArray[np.bool_]  # per symbol: its group was sold at a loss in the last 30 days
    recently_bought: npt.NDArray[np.bool_]  # per symbol: its group was bought in the last 30 days
    excluded: npt.NDArray[np.bool_]
    risk_model: FactorRiskModel | None
    last_loss_day: IntArray  # per group
    group_of: IntArray
    realized_this_year: float = 0.0  # net realized gain in dollars since 1 January (losses negative)


@dataclass(frozen=True)
class Order:
    """A decision handed back to the engine: a sale of one lot row, or a buy of whole shares."""

    side: str
    symbol: int
    quantity: float
    row: int = -1
    reason: str = ""


class Constructor(Protocol):
    """Builds and rebalances the account under its tracking-error budget."""

    def rebalance(self, ctx: DayContext) -> list[Order]: ...


class Harvester(Protocol):
    """One harvest pass: the loss sales (whole lots) and their replacement buys."""

    def harvest(self, ctx: DayContext) -> list[Order]: ...


# ---------------------------------------------------------------------------------------------- the real parts


class OptimizerConstructor:
    """``directindex.construct.TrackingErrorOptimizer`` over the backtest's whole universe.

    Names that are not index members or do not trade that day are excluded (a deleted name is sold at the
    next rebalance, an added one bought); the restricted list is the no-buy list.
    """

    def __init__(self, market: BacktestMarket, risk_model: FactorRiskModel, config: BacktestConfig):
        self.market = market
        self.config = config
        self.universe = build_universe(list(market.symbols), market.securities.reindex(list(market.symbols)))
        # 1e-6 gaps: a backtest re-solves hundreds of times; weights are rounded to whole shares anyway
        self.optimizer = TrackingErrorOptimizer(risk_model, self.universe, Policy(te_budget=config.te_budget),
                                                SolverConfig(tolerance=1e-6, diagnose=False, over_budget="relax",
                                                             min_segments=4, max_segments=4, backend="direct"))
        self.last_result: object | None = None
        self.alerts: list[str] = []

    def set_risk_model(self, model: FactorRiskModel) -> None:
        self.optimizer.set_risk_model(model)

    def rebalance(self, ctx: DayContext) -> list[Order]:
        syms = self.market.symbols
        lots = ctx.state.columns(syms)
        row_of = ctx.state.row_of
        held = ctx.state.shares(len(syms)) > 0
        out_of_index = (~ctx.tradable) | (ctx.benchmark <= 0)
        # Held names with no price cannot be traded; they are left alone (excluding them would force a sale).
        exclude = (out_of_index & ctx.tradable) | (out_of_index & ~held) | ctx.excluded
        policy = Policy(
            te_budget=self.config.te_budget,
            exclusions=Exclusions(symbols=tuple(syms[j] for j in np.flatnonzero(exclude)),
                                  sectors=self.config.exclude_sectors),
            # an excluded sector may fall to zero; the others keep the default band around the benchmark
            sector_bounds=SectorBounds(per_sector=tuple((s, 1.0, 0.0) for s in self.config.exclude_sectors)),
            no_buy=frozenset(syms[j] for j in np.flatnonzero(ctx.restricted)),
            min_trade=self.config.min_trade,
            transaction_cost=self.config.trading_cost,
            rates=TaxRates(self.config.tax.short_term_rate, self.config.tax.long_term_rate),
            loss_credit=False,  # losses are the harvest pass's job, with its guard and replacements
            gain_budget=(None if self.config.gain_budget is None
                         else max(0.0, self.config.gain_budget - ctx.realized_this_year)),
        )
        bench = {syms[j]: float(ctx.benchmark[j]) for j in np.flatnonzero(ctx.benchmark > 0)}
        prices = {syms[j]: float(ctx.prices[j]) for j in np.flatnonzero(np.isfinite(ctx.prices))}
        result = self.optimizer.solve(bench, Holdings(ctx.state.account, lots, ctx.cash, ctx.on),
                                      prices=prices, policy=policy)
        self.last_result = result
        if result.status == "infeasible":
            msg = result.diagnosis.message if result.diagnosis is not None else "infeasible"
            self.alerts.append(f"{ctx.on}: rebalance infeasible: {msg}")
        elif result.status != "optimal":
            self.alerts.append(f"{ctx.on}: rebalance {result.status}")
        index = {s: j for j, s in enumerate(syms)}
        orders: list[Order] = []
        for tr in result.trades:
            j = index[tr.symbol]
            if tr.side == "sell" and tr.lot in row_of:
                orders.append(Order("sell", j, float(tr.quantity), row_of[tr.lot], "rebalance"))
            elif tr.side == "buy":
                orders.append(Order("buy", j, float(tr.quantity), -1, "rebalance"))
        return orders


class ScanHarvester:
    """The harvest pass of ``directindex.harvest``: its array scan and household guard, peer replacements."""

    def __init__(self, config: BacktestConfig, threshold: float | None = None):
        self.config = config
        self.threshold = config.threshold if threshold is None else threshold
        self.replacer = PeerReplacer(config.basket_size)
        self._names: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def _labels(self, symbols: tuple[str, ...], n_groups: int) -> tuple[str, ...]:
        """Group labels, built once per universe (they were rebuilt every day)."""
        if self._names is None or self._names[0] is not symbols or len(self._names[1]) != n_groups:
            self._names = (symbols, tuple(str(g) for g in range(n_groups)))
        return self._names[1]

    def harvest(self, ctx: DayContext) -> list[Order]:
        st, mk = ctx.state, ctx.market
        rows = st.open_rows()
        if rows.size == 0:
            return []
        sym = st.sym[rows]
        grp = ctx.group_of[sym]
        n_groups = int(ctx.group_of.max()) + 1
        labels = self._labels(mk.symbols, n_groups)
        table = LotTable(
            lots=(), accounts=(st.account,), households=(self.config.household,), symbols=mk.symbols,
            groups=labels,
            account_idx=np.zeros(rows.size, np.int64), household_idx=np.zeros(rows.size, np.int64),
            symbol_idx=sym, group_idx=grp, taxable=np.ones(rows.size, np.bool_),
            quantity=st.qty[rows], basis=st.basis[rows], acquired=st.acquired[rows], long_term_on=st.lt_on[rows],
        )
        prices = np.where(ctx.tradable, ctx.prices, np.nan)
        losses = np.flatnonzero(ctx.last_loss_day > NEVER)
        day = ctx.on.toordinal()
        res = scan(table, prices, day,
                   Thresholds(loss_threshold=max(self.threshold, 1e-9), min_loss=self.config.min_loss),
                   None,  # no wash-sale parts: every open row is a lot of its own
                   loss_sale_hg=losses.astype(np.int64), loss_sale_day=ctx.last_loss_day[losses], threads=1)
        pick = res.indices()
        if pick.size == 0:
            return []
        # lots that clear a wash for the rest of their group go first (the scan's rule)
        pick = pick[np.argsort(~res.clears_wash[pick], kind="stable")]
        orders = [Order("sell", int(sym[i]), float(st.qty[rows[i]]), int(rows[i]), "harvest") for i in pick]
        # dollars sold by symbol, added up in sale order as a dict of floats would be
        sold = np.zeros(mk.n)
        np.add.at(sold, sym[pick], st.qty[rows[pick]] * ctx.prices[sym[pick]])
        was_sold = np.zeros(mk.n, dtype=bool)
        was_sold[sym[pick]] = True
        sold_group = np.zeros(n_groups, dtype=bool)
        sold_group[grp[pick]] = True
        allowed_mask = (ctx.tradable & (ctx.benchmark > 0) & ~ctx.restricted & ~ctx.excluded
                        & ~sold_group[ctx.group_of])
        model = ctx.risk_model
        if model is None or tuple(model.symbols) != mk.symbols:  # rows are not symbols: go by name
            return orders + self._by_name(ctx, sold, np.flatnonzero(was_sold), allowed_mask)
        peers = PeerTable.of(model, mk.sector_of)
        # the name API's order: sold names and buys by symbol (a basket's ranking does not depend on it)
        sold_rows = peers.by_name[was_sold[peers.by_name]]
        cands = peers.by_name[allowed_mask[peers.by_name]]
        dollars = peers.baskets(sold_rows, sold[sold_rows], cands, self.replacer.basket_size or self.config.basket_size)
        for p in np.flatnonzero(dollars > 0).tolist():
            j = int(cands[p])
            q = math.floor(dollars[p] / (ctx.prices[j] * (1 + self.config.trading_cost)))
            if q > 0:
                orders.append(Order("buy", j, float(q), -1, "replacement"))
        return orders

    def _by_name(self, ctx: DayContext, sold: FloatArray, sold_rows: IntArray,
                 allowed_mask: npt.NDArray[np.bool_]) -> list[Order]:
        """Replacements through the name API (a risk model over other symbols, or none)."""
        mk = ctx.market
        index = {s: j for j, s in enumerate(mk.symbols)}
        request = ReplacementRequest(
            account=ctx.state.account, as_of=ctx.on, sold={mk.symbols[j]: float(sold[j]) for j in sold_rows},
            holdings={}, lots=(), allowed=tuple(mk.symbols[j] for j in np.flatnonzero(allowed_mask)),
            prices={mk.symbols[j]: float(ctx.prices[j]) for j in np.flatnonzero(allowed_mask)},
            sectors=mk.sector_of, risk_model=ctx.risk_model, te_budget=self.config.te_budget,
            basket_size=self.config.basket_size,
        )
        orders = []
        for s, dollars in sorted(self.replacer(request).items()):
            j = index[s]
            q = math.floor(dollars / (ctx.prices[j] * (1 + self.config.trading_cost)))
            if q > 0:
                orders.append(Order("buy", j, float(q), -1, "replacement"))
        return orders


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class LedgerCheck:
    """The ledger's lots against the fast state on one date."""

    on: date
    lots: int
    quantity_mismatches: int
    max_basis_diff: float
    wash_sales: int

    @property
    def agrees(self) -> bool:
        return self.quantity_mismatches == 0 and self.max_basis_diff <= 0.01 + 1e-9


@dataclass
class RunResult:
    """Everything one strategy run produced; figures are computed from it in ``metrics``."""

    config: BacktestConfig
    dates: pd.DatetimeIndex
    value: FloatArray  # end-of-day account value (positions + cash)
    flows: FloatArray  # external cash in that day
    benchmark_return: FloatArray
    bought: FloatArray  # dollars bought that day (excluding funding)
    sold_value: FloatArray
    funding_bought: FloatArray
    ex_ante_te: FloatArray  # NaN where not computed
    transactions: list[Transaction]
    reasons: dict[str, str]  # transaction id -> harvest | replacement | rebalance | funding | delisting | split
    ledger: LedgerResult
    checks: list[LedgerCheck]
    accounts: dict[str, Account]
    securities: dict[str, Security]
    final_prices: dict[str, float]
    final_cash: float
    alerts: list[str] = field(default_factory=list)


def cadence_days(dates: pd.DatetimeIndex, cadence: str) -> npt.NDArray[np.bool_]:
    """True on the first trading day of each cadence period (every day for ``daily``)."""
    out = np.zeros(len(dates), dtype=bool)
    prev: tuple[int, ...] | None = None
    for i, d in enumerate(dates):
        p = period(d.date(), cadence)
        if p is not None and p != prev:
            out[i] = True
        prev = p
    return out


def estimate_risk(market: BacktestMarket, t: int) -> FactorRiskModel:
    """The factor model from the returns before day ``t`` (the last three years at most)."""
    frame = market.returns_frame.iloc[max(0, t - 756): t]
    sectors = pd.Series(market.sectors(), index=list(market.symbols))
    model = estimate_factor_model(frame, sectors, as_of=None, min_obs=60)
    if tuple(model.symbols) != tuple(market.symbols):
        model = model.restrict(list(market.symbols))
    return model


# A sale within this many dollars of its basis is treated as a loss by the wash-sale guard: the ledger
# books cents and basis shares exactly, so a float "break-even" can land a cent below and be washed.
LOSS_MARGIN = 0.05
_ZERO = Decimal(0)


def _dec_price(p: float) -> Decimal:
    return Decimal(f"{p:.4f}")


def _price4(p: float) -> float:
    """The price a trade books, to four places, as a float: ``float(_dec_price(p))`` without a Decimal.

    ``round`` keeps the same correctly rounded decimal digits that formatting writes, without a string.
    """
    return round(float(p), 4)


class Simulation:
    """One account's run over ``market``; ``run()`` returns a ``RunResult``."""

    def __init__(
        self,
        market: BacktestMarket,
        config: BacktestConfig,
        *,
        constructor: Constructor | None = None,
        harvester: Harvester | None = None,
        progress: Progress | None = None,
        risk_workers: int | None = None,
    ):
        self.market = market
        self.config = config
        self.progress = progress
        # processes for the risk models estimated ahead, this one included (None: every core, or
        # DIRECTINDEX_RUN_WORKERS)
        self.risk_workers = risk_workers
        self.t0 = market.day_index(config.start)
        self.t1 = int(market.dates.searchsorted(pd.Timestamp(config.end), side="right")) - 1
        if self.t1 <= self.t0:
            raise ValueError(f"no trading days between {config.start} and {config.end} in the market data")
        groups = market.groups()
        labels = {g: i for i, g in enumerate(dict.fromkeys(groups))}
        self.group_of = np.array([labels[g] for g in groups], dtype=np.int64)
        self.risk_model = estimate_risk(market, self.t0)
        self.constructor: Constructor = constructor or OptimizerConstructor(market, self.risk_model, config)
        self.harvester: Harvester | None = harvester if harvester is not None else (
            ScanHarvester(config) if config.harvest_cadence != "never" else None)
        self.state = LotState(config.account)
        self.cash = 0.0
        self._transactions: list[Transaction] = []  # see transactions
        self._log: list[tuple[object, ...]] = []  # logged rows not yet made records, Transaction's fields in order
        self._booked: tuple[tuple[date | None, int], LedgerResult] | None = None  # see book()
        self.reasons: dict[str, str] = {}
        self.last_loss = np.full(len(labels), NEVER, dtype=np.int64)
        self.last_buy = np.full(len(labels), NEVER, dtype=np.int64)
        excluded = np.zeros(market.n, dtype=bool)
        for s in config.exclusions:
            if s in market.symbols:
                excluded[market.symbols.index(s)] = True
        self.excluded = excluded
        self.accounts = {config.account: Account(config.account, config.household, "owner", AccountType.TAXABLE)}
        self.securities = {s: Security(s, sector=sec, identical_group=g if g != s else "")
                           for s, sec, g in zip(market.symbols, market.sectors(), groups, strict=True)}
        self.alerts: list[str] = []
        self._seq = 0
        self._today_bought = 0.0
        self._today_sold = 0.0
        self._today_funding = 0.0
        self._realized: dict[int, float] = {}  # net realized gain by calendar year, dollars

    # -- booking --------------------------------------------------------------------------------------

    def _log_row(self, on: date, action: Action, symbol: str, reason: str, *, quantity: Decimal = _ZERO,
                 price: Decimal = _ZERO, fees: Decimal = _ZERO, lot: str | None = None, acquired: date | None = None,
                 basis: Decimal | None = None, ratio: Decimal | None = None) -> str:
        """Log one transaction (its fields in ``Transaction``'s order, made a record when read); returns its id."""
        self._seq += 1
        tid = f"T{self._seq:07d}"
        self._log.append((tid, on, self.config.account, action, symbol, quantity, price, fees,
                          tid if lot is None and action is Action.BUY else lot, acquired, basis, ratio, None))
        self.reasons[tid] = reason
        return tid

    def _tx(self, on: date, action: Action, j: int, qty: float, price: float, fee: float, lot: str | None,
            reason: str) -> str:
        """Log a trade; returns its lot (a buy opens the lot named after the transaction)."""
        tid = self._log_row(on, action, self.market.symbols[j], reason, quantity=qty_decimal(qty),
                            price=_dec_price(price), fees=Decimal(f"{fee:.2f}"), lot=lot)
        return lot or tid

    @property
    def transactions(self) -> list[Transaction]:
        """Every transaction so far, in booking order.

        Trades are logged as field tuples and made ``Transaction`` records here, column by column, when the
        ledger or the caller first reads them (``build_transactions``: the constructor's checks over whole
        columns); the same records either way.
        """
        if self._log:
            self._transactions += build_transactions(list(zip(*self._log, strict=True)))
            self._log.clear()
        return self._transactions

    def _sell(self, on: date, row: int, qty: float, price: float, reason: str,
              sale: tuple[float, float, float] | None = None) -> None:
        """Book a sale of ``qty`` shares of lot ``row`` (``sale``: its ``_sale`` figures, when already made)."""
        j = int(self.state.sym[row])
        px, fee, proceeds = self._sale(qty, price) if sale is None else sale
        lot_id = self.state.ids[row]
        basis = self.state.relieve(row, qty)
        self.cash += proceeds
        if proceeds < basis + LOSS_MARGIN:  # the ledger's cents may make a break-even sale a loss
            self.last_loss[self.group_of[j]] = on.toordinal()
        self._today_sold += qty * px
        self._realized[on.year] = self._realized.get(on.year, 0.0) + proceeds - basis
        self._tx(on, Action.SELL, j, qty, px, fee, lot_id, reason)

    def _sale(self, qty: float, price: float) -> tuple[float, float, float]:
        """What a sale books: the price to four places, the fee and the proceeds to the cent."""
        px = _price4(price)
        fee = cents(qty * px * self.config.trading_cost)
        return px, fee, cents(qty * px - fee)

    def _buy(self, on: date, j: int, qty: float, price: float, reason: str) -> None:
        px = _price4(price)
        fee = cents(qty * px * self.config.trading_cost)
        cost = cents(qty * px + fee)
        self.cash -= cost
        lot = self._tx(on, Action.BUY, j, qty, px, fee, None, reason)
        self.state.add(j, qty, cost, on, lot)
        self.last_buy[self.group_of[j]] = on.toordinal()
        if reason == "funding":
            self._today_funding += qty * px
        else:
            self._today_bought += qty * px

    def _execute(self, on: date, orders: list[Order], prices: FloatArray, tradable: npt.NDArray[np.bool_]) -> None:
        day = on.toordinal()
        for o in orders:
            if o.side != "sell" or not tradable[o.symbol]:
                continue
            g = self.group_of[o.symbol]
            row = o.row
            qty = min(o.quantity, float(self.state.qty[row]))
            if qty <= 0:
                continue
            price = float(prices[o.symbol])
            sale = self._sale(qty, price)
            loss = sale[2] < self.state.basis[row] * qty / self.state.qty[row] + LOSS_MARGIN
            if loss and o.reason != "harvest" and day - self.last_buy[g] <= WINDOW_DAYS:
                continue  # a loss sale with a purchase of the group in the last 30 days would be a wash sale
            self._sell(on, row, qty, price, o.reason, sale)
        buys = [o for o in orders if o.side == "buy" and tradable[o.symbol]
                and self.last_loss[self.group_of[o.symbol]] < day - WINDOW_DAYS]
        need = sum(o.quantity * prices[o.symbol] * (1 + self.config.trading_cost) for o in buys)
        scale = 1.0 if need <= self.cash or need <= 0 else max(self.cash, 0.0) / need
        for o in buys:
            q = math.floor(o.quantity * scale + 1e-9)
            if q > 0:
                self._buy(on, o.symbol, float(q), float(prices[o.symbol]), o.reason)

    # -- checks ---------------------------------------------------------------------------------------

    def book(self, as_of: date | None = None) -> LedgerResult:
        """The real ledger over every transaction so far (the same date and history again is not re-booked)."""
        key = (as_of, self._seq)
        if self._booked is not None and self._booked[0] == key:
            return self._booked[1]
        result = book(self.transactions, self.accounts, self.securities, as_of=as_of).raise_errors()
        self._booked = (key, result)
        return result

    def check(self, on: date) -> LedgerCheck:
        """Book everything so far and compare the ledger's open lots with the fast state."""
        result = self.book(on)
        qty: dict[str, Decimal] = {}
        basis: dict[str, Decimal] = {}
        for lot in result.lots:
            root = lot.lot.split(".")[0]
            qty[root] = qty.get(root, Decimal(0)) + lot.quantity
            basis[root] = basis.get(root, Decimal(0)) + lot.basis
        rows = self.state.open_rows()
        mism = abs(len(qty) - rows.size)
        worst = 0.0
        for r in rows:
            lid = self.state.ids[r]
            if lid not in qty or abs(float(qty[lid]) - self.state.qty[r]) > 1e-6:
                mism += 1
                continue
            worst = max(worst, abs(float(basis[lid]) - self.state.basis[r]))
        return LedgerCheck(on, len(result.lots), mism, worst, len(result.wash_sales))

    # -- the loop -------------------------------------------------------------------------------------

    def _context(self, t: int, on: date, prices: FloatArray, tradable: npt.NDArray[np.bool_]) -> DayContext:
        day = on.toordinal()
        g = self.group_of
        return DayContext(
            t=t, on=on, market=self.market, config=self.config, state=self.state, cash=self.cash, prices=prices,
            tradable=tradable, benchmark=self.market.benchmark_weights(t),
            restricted=self.last_loss[g] >= day - WINDOW_DAYS, recently_bought=self.last_buy[g] >= day - WINDOW_DAYS,
            excluded=self.excluded, risk_model=self.risk_model, last_loss_day=self.last_loss, group_of=g,
            realized_this_year=self._realized.get(on.year, 0.0),
        )

    def _fund(self, t: int, on: date) -> float:
        """Book the day's funding; returns the external flow in dollars (cash plus lots at market)."""
        cfg = self.config
        if cfg.funding == "in_kind":
            arriving = 0.0
            for k, lot in enumerate(cfg.in_kind):
                j = self.market.symbols.index(lot.symbol)
                self._log_row(on, Action.TRANSFER_IN, lot.symbol, "funding", quantity=qty_decimal(lot.quantity),
                              lot=f"INKIND-{k}", acquired=lot.acquired, basis=Decimal(f"{lot.basis:.2f}"))
                self.state.add(j, lot.quantity, lot.basis, lot.acquired, f"INKIND-{k}")
                # the lot's market value is money coming in, not a return earned on the first day
                arriving += lot.quantity * float(np.nan_to_num(self.market.close[t, j], nan=0.0))
            self.cash += cfg.initial
            return cfg.initial + arriving
        amount = cfg.initial / max(1, cfg.stages) if cfg.funding == "staged" else cfg.initial
        self.cash += amount
        return amount

    def run(self) -> RunResult:
        # small matrices on every day: one BLAS thread avoids OpenBLAS spinning against the other core
        # (the baselines run beside this in a worker process). The loop makes hundreds of thousands of small
        # records and almost no reference cycles (38 objects left for the collector after a 10-year run), so
        # the cyclic collector waits until it ends (its passes were 0.6 s of a 14 s run).
        with threadpool_limits(1), collector_paused():
            # the risk models of the quarterly refreshes depend on market data alone: a forked worker
            # estimates them ahead while the loop runs (``DIRECTINDEX_RUN_WORKERS=1``: here, when due); the
            # figures are the same either way
            mk, step = self.market, self.config.risk_refresh_days
            due = list(range(self.t0 + step, self.t1 + 1, step)) if step > 0 else []
            with Ahead(len(due), lambda m: estimate_risk(mk, due[m]), self.risk_workers) as models:
                return self._run(models)

    def _run(self, models: Ahead) -> RunResult:
        mk, cfg = self.market, self.config
        t0, t1 = self.t0, self.t1
        n_days = t1 - t0 + 1
        harvest_days = cadence_days(mk.dates[t0: t1 + 1], cfg.harvest_cadence)
        rebalance_days = cadence_days(mk.dates[t0: t1 + 1], cfg.rebalance_cadence)
        stage_days = cadence_days(mk.dates[t0: t1 + 1], "monthly")
        stages_left = max(0, cfg.stages - 1) if cfg.funding == "staged" else 0
        value = np.zeros(n_days)
        flows = np.zeros(n_days)
        bench_r = np.zeros(n_days)
        bought = np.zeros(n_days)
        sold = np.zeros(n_days)
        funding = np.zeros(n_days)
        te = np.full(n_days, np.nan)
        checks: list[LedgerCheck] = []
        last_refresh = last_rebalance = t0
        days = [d.date() for d in mk.dates[t0: t1 + 2]]  # one more: the day after the last, when there is one
        closes = mk.close[t0: t1 + 1]
        zero_filled = np.nan_to_num(closes, nan=0.0)  # for values and weights: no price counts as zero
        trading = mk.alive[t0: t1 + 1] & np.isfinite(closes)
        for k in range(n_days):
            t = t0 + k
            on = days[k]
            self._today_bought = self._today_sold = self._today_funding = 0.0
            prices, priced, tradable = closes[k], zero_filled[k], trading[k]
            if k > 0:
                b_prev = mk.benchmark_weights(t - 1)
                bench_r[k] = float(b_prev @ mk.returns[t])
                shares = self.state.shares(mk.n)
                for j in np.flatnonzero((mk.split[t] != 1.0) & (shares > 0)):
                    ratio = float(mk.split[t, j])
                    self.state.split(int(j), ratio)
                    self._log_row(on, Action.SPLIT, mk.symbols[j], "split", ratio=Decimal(repr(ratio)))
                self.cash += float(self.state.shares(mk.n) @ mk.dividend[t])
            if t - last_refresh >= cfg.risk_refresh_days:
                self.risk_model = next(models) if cfg.risk_refresh_days > 0 else estimate_risk(mk, t)
                if isinstance(self.constructor, OptimizerConstructor):
                    self.constructor.set_risk_model(self.risk_model)
                last_refresh = t
            # names leaving the tape tomorrow are sold today
            if t + 1 < len(mk.dates):
                leaving = mk.alive[t] & ~mk.alive[t + 1]
                held = self.state.shares(mk.n) > 0
                for j in np.flatnonzero(leaving & held):
                    for r in self.state.open_rows():
                        if self.state.sym[r] == j:
                            self._sell(on, int(r), float(self.state.qty[r]), float(prices[j]), "delisting")
            rebalance = k == 0 or bool(rebalance_days[k])
            if k == 0:
                flows[k] += self._fund(t, on)
            elif stages_left and stage_days[k]:
                flows[k] += self._fund(t, on)
                stages_left -= 1
                rebalance = True
            if k > 0 and self.harvester is not None and harvest_days[k]:
                orders = self.harvester.harvest(self._context(t, on, prices, tradable))
                self._execute(on, orders, prices, tradable)
                if orders and not rebalance:
                    w = self._weights(priced)
                    b = mk.benchmark_weights(t)
                    te[k] = float(self.risk_model.tracking_error(w, b)[0])
                    # a drift past the trigger re-solves early, at most every ten trading days
                    rebalance = te[k] > cfg.te_budget * cfg.te_trigger and t - last_rebalance >= 10
            if rebalance:
                last_rebalance = t
                orders = self.constructor.rebalance(self._context(t, on, prices, tradable))
                if k == 0 or (stages_left >= 0 and cfg.funding == "staged" and flows[k] > 0):
                    orders = [Order(o.side, o.symbol, o.quantity, o.row, "funding" if o.side == "buy" else o.reason)
                              for o in orders]
                self._execute(on, orders, prices, tradable)
                te[k] = float(self.risk_model.tracking_error(self._weights(priced), mk.benchmark_weights(t))[0])
            value[k] = self.cash + float(self.state.shares(mk.n) @ priced)
            bought[k], sold[k], funding[k] = self._today_bought, self._today_sold, self._today_funding
            last_of_year = k == n_days - 1 or days[k + 1].year != on.year
            if last_of_year and (cfg.ledger_check == "yearly" or k == n_days - 1):
                checks.append(self.check(on))
            if self.progress is not None:
                self.progress(k + 1, n_days)
        final = mk.dates[t1].date()
        ledger = self.book(final)
        prices = mk.close[t1]
        return RunResult(
            config=cfg, dates=mk.dates[t0: t1 + 1], value=value, flows=flows, benchmark_return=bench_r,
            bought=bought, sold_value=sold, funding_bought=funding, ex_ante_te=te, transactions=self.transactions,
            reasons=self.reasons, ledger=ledger, checks=checks, accounts=self.accounts, securities=self.securities,
            final_prices={s: float(prices[j]) for j, s in enumerate(mk.symbols) if np.isfinite(prices[j])},
            final_cash=self.cash, alerts=self.alerts + list(getattr(self.constructor, "alerts", [])),
        )

    def _weights(self, priced: FloatArray) -> FloatArray:
        """Weights of account value by symbol at ``priced`` (the day's prices, zero where there is none)."""
        v = self.state.shares(self.market.n) * priced
        total = v.sum() + self.cash
        return v / total if total > 0 else v


def run_strategy(market: BacktestMarket, config: BacktestConfig, progress: Progress | None = None,
                 **parts: Mapping[str, object]) -> RunResult:
    """Run one strategy configuration."""
    return Simulation(market, config, progress=progress, **parts).run()  # type: ignore[arg-type]
