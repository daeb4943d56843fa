"""``directindex serve``: the JSON API over a book directory or the stored book."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from directindex.cli._app import app


@app.command("serve")
def serve_command(
    book_dir: Annotated[Path | None, typer.Argument(help="book directory (accounts.csv, transactions.csv)")] = None,
    db: Annotated[str | None, typer.Option("--db", envvar="DIRECTINDEX_DB", help="stored book URL")] = None,
    prices: Annotated[Path | None, typer.Option("--prices", help="prices file for harvest proposals")] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Serve the JSON API (OpenAPI docs at /docs) on HOST:PORT."""
    import uvicorn

    from directindex.api import ApiSettings, create_app

    if (book_dir is None) == (db is None):
        raise typer.BadParameter("give a BOOK_DIR or --db URL (one of them)")
    uvicorn.run(create_app(ApiSettings(book_dir=book_dir, db_url=None if book_dir else db, prices=prices)),
                host=host, port=port)
