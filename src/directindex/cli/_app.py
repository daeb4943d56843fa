"""The Typer application and its command groups; command modules register on these."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="directindex",
    help="Direct indexing: tax lots, wash sales, harvesting, construction, backtests and a persistent book.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tax_app = typer.Typer(help="Schedule D netting and tax rates.", no_args_is_help=True)
market_app = typer.Typer(
    help="Market data: synthetic generation, data checks, calibration figures.", no_args_is_help=True
)
app.add_typer(tax_app, name="tax")
app.add_typer(market_app, name="market")
