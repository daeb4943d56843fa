"""Policy options for building and rebalancing one account, grouped into frozen config objects.

An account's *policy* is what its owner asked for (exclusions, tilts, budgets); the *solver* config is
how the numbers are found. Both are plain frozen records so that a fleet run can hash, compare and
reuse them, and so that re-solving for another account only changes parameter values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Exclusions:
    """Names the owner will not hold: by symbol, sector, industry, or ``column=value`` predicates.

    A predicate such as ``esg_tobacco=true`` or ``country=CN`` matches a security-master column; booleans
    compare case-insensitively with ``true/false/1/0/yes/no``.
    """

    symbols: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    predicates: tuple[str, ...] = ()

    def rules(self) -> tuple[str, ...]:
        """Every rule as one label (``symbol:XOM``, ``sector:Energy``, ``esg_tobacco=true``)."""
        return (
            tuple(f"symbol:{s}" for s in self.symbols)
            + tuple(f"sector:{s}" for s in self.sectors)
            + tuple(f"industry:{s}" for s in self.industries)
            + tuple(self.predicates)
        )

    def without(self, rule: str) -> Exclusions:
        """The same exclusions with one rule (as labelled by :meth:`rules`) dropped."""
        kind, _, value = rule.partition(":")
        if kind == "symbol" and value in self.symbols:
            return replace(self, symbols=tuple(s for s in self.symbols if s != value))
        if kind == "sector" and value in self.sectors:
            return replace(self, sectors=tuple(s for s in self.sectors if s != value))
        if kind == "industry" and value in self.industries:
            return replace(self, industries=tuple(s for s in self.industries if s != value))
        return replace(self, predicates=tuple(p for p in self.predicates if p != rule))


@dataclass(frozen=True, slots=True)
class SectorBounds:
    """Sector weights within ``benchmark ± band`` (absolute), with per-sector ``(below, above)`` overrides."""

    band: float = 0.05
    per_sector: tuple[tuple[str, float, float], ...] = ()

    def band_for(self, sector: str) -> tuple[float, float]:
        for name, below, above in self.per_sector:
            if name == sector:
                return below, above
        return self.band, self.band


@dataclass(frozen=True, slots=True)
class Tilt:
    """A target range for the portfolio's *active* exposure to a z-scored factor (``lo <= z'(w-b) <= hi``)."""

    factor: str
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if self.lo > self.hi:
            raise ValueError(f"tilt {self.factor}: lower end {self.lo} is above upper end {self.hi}")

    @classmethod
    def parse(cls, text: str) -> Tilt:
        """``value=0.1:0.3`` (a single number ``value=0.2`` means exactly that exposure)."""
        name, sep, rng = text.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"tilt '{text}' is not FACTOR=LO:HI")
        lo, colon, hi = rng.partition(":")
        lo_f = float(lo)
        return cls(name.strip(), lo_f, float(hi) if colon else lo_f)


@dataclass(frozen=True, slots=True)
class TaxRates:
    """The owner's marginal rates on short- and long-term gains (federal + NIIT + state, as one number)."""

    short_term: float = 0.408
    long_term: float = 0.238


@dataclass(frozen=True, slots=True)
class Policy:
    """What one account asks of its portfolio.

    Weights are fractions of the account's total value (cash included). ``min_trade`` is a fraction of
    account value; ``gain_budget`` is the net realized gain, in dollars, still allowed this year (``None``:
    no limit); ``max_turnover`` is one-sided (buys plus sells over two). ``no_buy`` is the wash-sale
    restricted list; ``hold_only`` names may be kept or sold down but not bought.
    """

    te_budget: float = 0.01
    cash_target: float = 0.0
    exclusions: Exclusions = field(default_factory=Exclusions)
    sector_bounds: SectorBounds | None = field(default_factory=SectorBounds)
    tilts: tuple[Tilt, ...] = ()
    no_buy: frozenset[str] = frozenset()
    hold_only: frozenset[str] = frozenset()
    max_names: int | None = None
    max_weight: float = 1.0
    min_position: float = 0.0
    min_trade: float = 0.0
    max_turnover: float | None = None
    gain_budget: float | None = None
    rates: TaxRates = field(default_factory=TaxRates)
    tax_aversion: float = 1.0
    transaction_cost: float = 0.0005
    # False: a rebalance pays for the gains it realizes but takes no credit for losses, which a separate
    # harvest pass (with its wash-sale guard and replacements) books instead; the solver then has no
    # reason to sell a loss lot and buy the name back (a wash sale) inside one rebalance
    loss_credit: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.cash_target < 1.0:
            raise ValueError("cash_target must be in [0, 1)")
        if self.te_budget <= 0:
            raise ValueError("te_budget must be positive")
        if self.max_names is not None and self.max_names < 1:
            raise ValueError("max_names must be at least 1")


@dataclass(frozen=True, slots=True)
class SolverConfig:
    """Which conic solver and how hard to push it; ``tolerance`` is passed as the solver's gap tolerances.

    ``diagnose``: an infeasible policy gets an elastic re-solve and the exclusions to drop.
    ``over_budget``: what a rebalance does when its TE budget cannot be met (``min_te`` or ``relax``, see below).
    ``diagnose_budget``: a portfolio over its TE budget also gets the fewest exclusions whose drop would
    bring it within budget (one re-solve per rule per step, up to ``diagnose_budget_steps`` steps; off by
    default so fleet runs and backtests do not pay for it, on in the CLI).
    """

    solver: str = "CLARABEL"
    tolerance: float = 1e-8
    max_iter: int = 200
    diagnose: bool = True
    diagnose_budget: bool = False
    diagnose_budget_steps: int = 3
    # Rebalancing, when the TE budget cannot be met: ``min_te`` rebalances to the minimum tracking error
    # with the tax cost ignored; ``relax`` finds that minimum, then keeps the tax objective under a budget
    # of ``relax_slack`` above it, so getting back near the benchmark does not realize every gain it can.
    over_budget: str = "min_te"
    # lot segments per name in a rebalance, at least (1, 2, 4 or 8; more lots are merged in sale order)
    min_segments: int = 0
    max_segments: int = 8  # at most (a smaller problem re-solves faster; lots are still relieved exactly)
    relax_slack: float = 0.10
    # ``relax``: which solve comes first. When the account's current weights (idle cash spread like the
    # benchmark) are within ``ordinary_first`` times the budget, the ordinary solve goes first and the floor
    # is solved only if it is infeasible; otherwise the floor first. Which comes first changes the work, not
    # the answer (see TrackingErrorOptimizer.solve); 0 always puts the floor first.
    ordinary_first: float = 1.25
    # ``cvxpy``: every solve through the compiled cvxpy problem. ``direct``: a rebalance (lots held) with
    # Clarabel goes to :class:`~directindex.construct.direct.DirectProblem`, the same problem built as
    # sparse matrices over only the variables that can move (no compile; 3-5x faster per solve on 500
    # names); building from cash and other solvers still use cvxpy.
    backend: str = "cvxpy"
    # Clarabel's KKT factorization: ``faer`` (supernodal) or ``qdldl``; used by the direct backend
    linear_solver: str = "faer"

    def __post_init__(self) -> None:
        if self.backend not in ("cvxpy", "direct"):
            raise ValueError(f"SolverConfig.backend must be 'cvxpy' or 'direct', not {self.backend!r}")
        if self.linear_solver not in ("faer", "qdldl"):
            raise ValueError(f"SolverConfig.linear_solver must be 'faer' or 'qdldl', not {self.linear_solver!r}")
