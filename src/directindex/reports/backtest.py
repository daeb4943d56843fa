"""The backtest report: one self-contained HTML page (inline SVG charts, no network).

Charts: cumulative harvested losses, tax alpha by year, tracking error, value against the benchmark,
and the baselines side by side; tables: the yearly figures, the totals, the end-of-horizon view.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

from directindex.backtest.engine import RunResult

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}h2{margin-top:1.6em}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1em}"""


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    text = text[text.find("<svg"):]
    a, b = text.find("<metadata>"), text.find("</metadata>")
    return text[:a] + text[b + len("</metadata>"):] if a >= 0 and b > a else text


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _table(rows: list[Mapping[str, Any]], keys: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = []
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k, "")
            if isinstance(v, float) and k not in ("trades", "wash_sales"):
                cells.append(f"<td>{_pct(v)}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def charts(summary: Mapping[str, Any], runs: Mapping[str, RunResult]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    main = runs[summary["strategy"]]
    years = [r["year"] for r in summary["years"]]
    harvested = np.cumsum([r["harvested_short_term_pct"] + r["harvested_long_term_pct"] for r in summary["years"]])
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    ax.plot(years, 100 * harvested, marker="o")
    ax.set_title("Cumulative harvested losses (% of start-of-year value, summed)")
    ax.set_ylabel("%")
    out.append(_svg(fig))

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    names = [summary["strategy"], *summary["baselines"].keys()]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        rows = summary["years"] if i == 0 else summary["baselines"][name]["years"]
        ax.bar(np.arange(len(rows)) + i * width, [100 * r["tax_alpha"] for r in rows], width, label=name)
    ax.set_xticks(np.arange(len(years)) + 0.4 - width / 2, [str(y) for y in years], rotation=45)
    ax.set_title("Tax alpha by year")
    ax.set_ylabel("% of average value")
    ax.legend(fontsize=7)
    out.append(_svg(fig))

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    ax.plot(years, [100 * r["tracking_error"] for r in summary["years"]], marker="o", label="realized")
    te = main.ex_ante_te
    ok = np.isfinite(te)
    ax.plot([d.year + d.day_of_year / 366 for d in main.dates[ok]], 100 * te[ok], ".", ms=2, label="ex-ante at trades")
    ax.axhline(100 * main.config.te_budget, color="k", ls="--", lw=0.8, label="budget")
    ax.set_title("Tracking error")
    ax.set_ylabel("%")
    ax.legend(fontsize=7)
    out.append(_svg(fig))

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for name, run in runs.items():
        ax.plot(run.dates, run.value / 1e6, lw=1, label=name)
    bench = main.flows[0] * np.cumprod(1 + main.benchmark_return) if main.flows[0] > 0 else None
    if bench is not None:
        ax.plot(main.dates, bench / 1e6, "k--", lw=0.8, label="benchmark")
    ax.set_title("Value vs benchmark ($M, pre-tax)")
    ax.legend(fontsize=7)
    out.append(_svg(fig))

    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    tax_alpha = [summary["total"]["tax_alpha"]] + [b["total"]["tax_alpha"] for b in summary["baselines"].values()]
    ax.barh(names, [100 * x for x in tax_alpha])
    ax.set_title("Baselines side by side: average tax alpha per year")
    ax.set_xlabel("%")
    out.append(_svg(fig))
    return out


def render_backtest_html(summary: Mapping[str, Any], runs: Mapping[str, RunResult], title: str = "Backtest") -> str:
    from directindex.backtest.metrics import YEAR_KEYS

    svgs = charts(summary, runs)
    cfg = summary["config"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(str(cfg.get('market')))}, {cfg['start']} to {cfg['end']}; harvest "
             f"{cfg['harvest_cadence']}, rebalance {cfg['rebalance_cadence']}, TE budget {_pct(cfg['te_budget'])}, "
             f"threshold {_pct(cfg['threshold'])}, trading cost {_pct(cfg['trading_cost'])}.</p>",
             "<div class='charts'>" + "".join(f"<div>{s}</div>" for s in svgs) + "</div>",
             "<h2>By year</h2>", _table(summary["years"], YEAR_KEYS),
             "<h2>Total (rates are averages per year)</h2>", _table([summary["total"]], YEAR_KEYS),
             "<h2>Baselines</h2>",
             _table([{"name": k, **v["total"]} for k, v in summary["baselines"].items()], ("name", *YEAR_KEYS[1:])),
             "<h2>Fees</h2>", _table([summary["fees"]], tuple(summary["fees"])),
             "<h2>End of horizon</h2>",
             "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{v:,.2f}</td></tr>"
                                 for k, v in summary["end_of_horizon"].items()) + "</table>",
             "<h2>Ledger checks</h2>", _table(summary["ledger_checks"], ("date", "lots", "quantity_mismatches",
                                                                          "max_basis_diff", "wash_sales", "agrees")),
             "</body></html>"]
    return "\n".join(parts)
