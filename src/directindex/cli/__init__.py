"""Command-line shell over the directindex core. Each module registers its commands on ``app``."""

from __future__ import annotations

import importlib

from directindex.cli._app import app

# Command modules, imported for their registrations. A module that does not exist yet is skipped so
# that work in progress on one concept never breaks the others' commands.
_MODULES = ("ledger", "tax", "market", "construct", "harvest", "backtest", "book", "demo", "serve")
for _name in _MODULES:
    try:
        importlib.import_module(f"directindex.cli.{_name}")
    except ModuleNotFoundError as _e:  # pragma: no cover - only while a module is being written
        if _e.name != f"directindex.cli.{_name}":
            raise


def main() -> None:
    app()


__all__ = ["app", "main"]
