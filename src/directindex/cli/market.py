"""``directindex market``: generate a synthetic market, check a data directory, print calibration figures."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from directindex.cli._app import market_app
from directindex.cli.common import Format, emit_json, emit_rows, handle_errors, stderr, stdout
from directindex.errors import InputError
from directindex.market.checks import check_prices, summarize
from directindex.market.io import load_benchmark, load_data_dir, load_prices, load_security_master, prices_path


class UniverseChoice(StrEnum):
    sp500 = "sp500"
    r3000 = "r3000"
    textbook = "textbook"


class PriceFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@market_app.command("generate")
@handle_errors
def generate(
    out: Path = typer.Option(..., "--out", help="Directory to write (created if needed)."),
    universe: UniverseChoice = typer.Option(UniverseChoice.sp500, "--universe"),
    years: int = typer.Option(10, "--years", min=1, max=60),
    seed: int = typer.Option(0, "--seed"),
    start: str = typer.Option("2011-01-03", "--start", help="First trading day (YYYY-MM-DD)."),
    prices_format: PriceFormat = typer.Option(PriceFormat.parquet, "--prices-format"),
) -> None:
    """Write a seeded synthetic market in the data-directory layout."""
    from directindex.market.synthetic import generate_market, write_market

    try:
        import pandas as pd

        pd.Timestamp(start)
    except ValueError:
        raise InputError.single("--start", None, "start", f"not a date: {start!r}") from None
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=stderr, transient=True
    ) as bar:
        task = bar.add_task("generating", total=1.0)

        def progress(label: str, frac: float) -> None:
            bar.update(task, completed=frac * 0.8, description=label)

        market = generate_market(universe.value, years=years, seed=seed, start=start, progress=progress)
        bar.update(task, completed=0.85, description="writing")
        files = write_market(market, out, prices_format=prices_format.value)
        bar.update(task, completed=1.0)
    stdout.print(
        f"wrote {', '.join(files)} to {out}: {universe.value}, {len(market.securities)} names, "
        f"{market.prices['date'].nunique()} days, seed {seed}"
    )


def _load_for_check(path: Path) -> tuple[object, object, object]:
    if path.is_dir():
        prices = load_prices(prices_path(path))
        sec = load_security_master(path / "securities.csv") if (path / "securities.csv").exists() else None
        bench = load_benchmark(path / "benchmark.csv", sec) if (path / "benchmark.csv").exists() else None
        return prices, sec, bench
    return load_prices(path), None, None


@market_app.command("check")
@handle_errors
def check(
    path: Path = typer.Argument(..., help="A data directory or a prices file (CSV or Parquet)."),
    fmt: Format = typer.Option(Format.table, "--format"),
    detail: bool = typer.Option(False, "--detail", help="List every finding, not just the summary."),
) -> None:
    """Print the data-quality report. Exits 0 even with findings; 2 if the input is malformed."""
    prices, sec, bench = _load_for_check(path)
    findings = check_prices(prices, sec, bench)  # type: ignore[arg-type]
    if fmt is Format.json:
        emit_json({"summary": summarize(findings), "findings": [f.as_dict() for f in findings]})
        return
    cols = ["symbol", "date", "end_date", "check", "severity", "detail"]
    if detail or fmt is Format.csv:
        emit_rows([f.as_dict() for f in findings], cols, fmt, title="data-quality findings")
    if fmt is Format.table:
        emit_rows(summarize(findings), ["check", "severity", "findings", "symbols"], fmt, title="summary")
        stdout.print(f"{len(findings)} finding(s)" + ("" if detail else "; --detail lists them"))


@market_app.command("stats")
@handle_errors
def stats(
    directory: Path = typer.Argument(..., help="A data directory."),
    fmt: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Print the calibration figures: index and stock volatility, dispersion, correlation, concentration."""
    from directindex.market.synthetic import calibration_stats

    data = load_data_dir(directory)
    measured = calibration_stats(data.prices, data.benchmark)
    # A count is an integer, and a figure the data cannot give (no full calendar year for the
    # dispersion) is null: JSON has no NaN.
    figures: dict[str, float | int | None] = {
        k: None if math.isnan(v) else int(v) if k == "n_names" else v for k, v in measured.items()
    }
    if fmt is Format.json:
        emit_json(figures)
        return
    rows = [{"figure": k, "value": "" if v is None else f"{v:.4g}"} for k, v in figures.items()]
    emit_rows(rows, ["figure", "value"], fmt, title="calibration")
