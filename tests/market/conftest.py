from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / "../shared/data").resolve()


def shared_data() -> Path:
    """The real data folder next to the repo, or skip: the product never depends on it."""
    if not (SHARED / "prices.parquet").exists():
        pytest.skip(f"real data folder {SHARED} is absent")
    return SHARED
