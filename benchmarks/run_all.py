"""Run every benchmark under ``benchmarks/`` in turn and print their figures (``make bench``).

Each benchmark is its own script (``bench_*.py``) printing its measured figures and its peer ratio; they
run one after another in fresh interpreters so one's memory and threads never slow the next.

Run: ``.venv/bin/python benchmarks/run_all.py [ledger market construct harvest backtest book]``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("ledger", "market", "construct", "harvest", "backtest", "book")


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(ORDER)
    unknown = [n for n in names if not (HERE / f"bench_{n}.py").exists()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)} (one of {', '.join(ORDER)})", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== bench_{name} ==", flush=True)
        t = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / f"bench_{name}.py")])
        print(f"== bench_{name}: exit {rc}, {time.perf_counter() - t:.0f} s ==\n", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
