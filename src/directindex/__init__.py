"""directindex: an open-source direct-indexing engine.

Exact tax lots and household-wide wash sales at the core; harvesting, construction under a
tracking-error budget, backtests and a persistent book built on top.
"""

__version__ = "0.1.0"
