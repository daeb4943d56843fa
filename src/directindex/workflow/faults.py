"""Injected crash points, so tests can kill a real process at a chosen step of an import or a run.

Set ``DIRECTINDEX_CRASH_AT=<point>`` (for example ``import:before-commit`` or ``run:account:3``) and
the process kills itself with SIGKILL when it reaches that point: no cleanup, no ``finally``.
"""

from __future__ import annotations

import os
import signal

ENV = "DIRECTINDEX_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
