"""Compute numbered chunks of work on several cores, consume their results here, in order.

The daily run's accounts are independent household by household: a household's proposals are
worked out (harvest pass, rebalance, routing, the encoded evidence) from the derived book alone, and
only writing them touches the database. :func:`ordered` runs that split: forked workers and this
process claim chunks from one shared counter (so a chunk goes to whoever is free, and this process
takes one only when it has nothing to write), and this process consumes every result in chunk order,
whichever process computed it. The outcome is the one-process loop's, in the same order; only the
wall time differs.

Forked workers inherit everything the parent built (the derived book, the risk model, the compiled
optimizer) without pickling; only results travel back, pickled. A worker whose parent is gone stops
at its next chunk. An exception in a worker is raised here, in chunk order, as the one-process loop
would have raised it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import queue
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
WORKERS_ENV = "DIRECTINDEX_RUN_WORKERS"


def available_workers(requested: int | None, chunks: int) -> int:
    """Processes to use: the request, else ``DIRECTINDEX_RUN_WORKERS``, else every available core.

    One when there is one chunk, when ``fork`` is not available, or inside a daemonic process
    (which cannot have children).
    """
    if requested is None:
        env = os.environ.get(WORKERS_ENV, "").strip()
        if env.isdigit():
            requested = int(env)
        else:
            requested = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if chunks <= 1 or requested <= 1 or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        return 1
    return min(requested, chunks)


def _claim(counter: Any, n: int) -> int | None:
    with counter.get_lock():
        k = int(counter.value)
        if k >= n:
            return None
        counter.value = k + 1
        return k


def _work(counter: Any, results: Any, n: int, compute: Callable[[int], Any], parent: int) -> None:
    while os.getppid() == parent:
        k = _claim(counter, n)
        if k is None:
            break
        try:
            results.put((k, True, compute(k)))
        except BaseException as exc:  # sent to the parent, raised there in chunk order
            try:
                pickle.dumps(exc)  # the queue pickles in a thread of its own, where a failure would be lost
                results.put((k, False, exc))
            except Exception:
                results.put((k, False, RuntimeError(f"chunk {k} failed in a worker:\n{traceback.format_exc()}")))
            break
    results.close()
    results.join_thread()


def ordered(n: int, compute: Callable[[int], T], consume: Callable[[int, T], None], workers: int = 1,
            *, poll_seconds: float = 0.5) -> None:
    """``for k in range(n): consume(k, compute(k))``, with ``compute`` spread over ``workers`` processes.

    ``consume`` always runs in this process, in chunk order. ``compute`` must not depend on which
    process runs it or on the chunks computed before it in that process. This process computes a chunk
    itself only when the next one to consume is not ready (see :class:`Ahead`).
    """
    with Ahead(n, compute, workers, poll_seconds=poll_seconds) as results:
        for k in range(n):
            consume(k, next(results))


class Ahead:
    """``compute(0), compute(1), ...`` in order, worked out ahead by forked workers while this process goes on.

    For a loop that needs a sequence of results it can compute up front but uses one at a time (the
    backtest's quarterly risk models, the daily run's chunks): ``next()`` returns result ``k`` once a
    worker has sent it; if it is not there yet, this process computes the next unclaimed one itself rather
    than wait. ``workers`` counts processes, this one included (``None``: :func:`available_workers`); with
    one (or no ``fork``, or inside a daemonic process) each result is computed when asked for. Call
    :meth:`close` when done (or use it in a ``with`` block): the workers are stopped.
    """

    def __init__(self, n: int, compute: Callable[[int], T], workers: int | None = 1, *,
                 poll_seconds: float = 0.5):
        self.n, self.compute, self.poll_seconds = n, compute, poll_seconds
        self.next_k = 0
        self.ready: dict[int, tuple[bool, Any]] = {}
        self.procs: list[Any] = []
        self.counter: Any = None
        self.results: Any = None
        count = available_workers(workers, n)
        if count > 1:
            ctx = mp.get_context("fork")
            self.counter = ctx.Value("i", 0)
            self.results = ctx.Queue()
            me = os.getpid()
            self.procs = [ctx.Process(target=_work, args=(self.counter, self.results, n, compute, me), daemon=True,
                                      name=f"directindex-fanout-{i}") for i in range(count - 1)]
            for p in self.procs:
                p.start()

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drain(self, timeout: float | None) -> None:
        """Move what the workers have sent into ``ready``.

        Waits up to ``timeout`` for the first result (``None``: not at all), then takes whatever else is there.
        """
        try:
            while True:
                k, ok, value = self.results.get(timeout=timeout) if timeout is not None else self.results.get_nowait()
                self.ready[k] = (ok, value)
                timeout = None
        except queue.Empty:
            return

    def __next__(self) -> Any:
        k = self.next_k
        if k >= self.n:
            raise StopIteration
        self.next_k += 1
        if not self.procs:
            return self.compute(k)
        while k not in self.ready:
            self._drain(None)
            if k in self.ready:
                break
            mine = _claim(self.counter, self.n)
            if mine is not None:  # nothing to hand out yet: compute one here
                try:
                    self.ready[mine] = (True, self.compute(mine))
                except Exception as exc:
                    self.ready[mine] = (False, exc)
                continue
            self._drain(self.poll_seconds)
            if k not in self.ready and not any(p.is_alive() for p in self.procs):
                # every result is claimed and the worker computing this one is gone (its last result, sent
                # as it exited, is taken first)
                self._drain(self.poll_seconds)
                if k not in self.ready:
                    codes = ", ".join(str(p.exitcode) for p in self.procs)
                    raise RuntimeError(f"a worker stopped before returning result {k} (exit codes {codes})")
        ok, value = self.ready.pop(k)
        if not ok:
            raise value
        return value

    def __iter__(self) -> Ahead:
        return self

    def close(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join()
        if self.results is not None:
            self.results.close()
            self.results.cancel_join_thread()
        self.procs = []
