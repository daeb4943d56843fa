"""``workflow.fanout``: chunks computed on several processes, consumed here in order (``ordered``, ``Ahead``)."""

from __future__ import annotations

import os
import time

import pytest

from directindex.workflow import fanout


def _slow_square(k: int) -> tuple[int, int]:
    time.sleep(0.01)
    return k * k, os.getpid()


def test_results_come_back_in_chunk_order_from_every_process() -> None:
    seen: list[tuple[int, int]] = []
    pids: set[int] = set()

    def consume(k: int, r: tuple[int, int]) -> None:
        seen.append((k, r[0]))
        pids.add(r[1])

    fanout.ordered(60, _slow_square, consume, workers=2)
    assert seen == [(k, k * k) for k in range(60)]
    assert os.getpid() in pids and len(pids) == 2  # this process and one forked worker both computed chunks


def test_one_worker_is_the_plain_loop() -> None:
    calls: list[str] = []
    fanout.ordered(3, lambda k: calls.append(f"c{k}") or k, lambda k, r: calls.append(f"w{r}"), workers=1)
    assert calls == ["c0", "w0", "c1", "w1", "c2", "w2"]


class Boom(ValueError):
    pass


def test_a_failing_chunk_raises_here_after_the_chunks_before_it_are_consumed() -> None:
    def compute(k: int) -> int:
        time.sleep(0.005)
        if k == 7:
            raise Boom(f"chunk {k} is bad")
        return k

    consumed: list[int] = []
    with pytest.raises(Boom, match="chunk 7 is bad"):
        fanout.ordered(20, compute, lambda k, r: consumed.append(r), workers=2)
    assert consumed == list(range(7))


def test_worker_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fanout.WORKERS_ENV, "3")
    assert fanout.available_workers(None, 10) == 3
    assert fanout.available_workers(None, 2) == 2  # never more processes than chunks
    assert fanout.available_workers(5, 1) == 1
    assert fanout.available_workers(1, 10) == 1
    monkeypatch.setenv(fanout.WORKERS_ENV, "")
    assert fanout.available_workers(None, 100) == min(len(os.sched_getaffinity(0)), 100)


def test_ahead_yields_in_order_while_a_worker_computes_ahead() -> None:
    with fanout.Ahead(40, _slow_square, workers=2) as ahead:
        time.sleep(0.2)  # the worker gets ahead while this process is busy elsewhere
        got = [next(ahead) for _ in range(40)]
        with pytest.raises(StopIteration):
            next(ahead)
    assert [r for r, _ in got] == [k * k for k in range(40)]
    pids = {pid for _, pid in got}
    assert len(pids - {os.getpid()}) == 1  # a forked worker computed some of them


def test_ahead_with_one_process_computes_each_when_asked() -> None:
    calls: list[int] = []
    ahead = fanout.Ahead(3, lambda k: calls.append(k) or k * 10, workers=1)
    assert calls == []
    assert next(ahead) == 0 and calls == [0]
    assert list(ahead) == [10, 20]
    ahead.close()


def test_ahead_raises_a_failure_when_its_result_is_asked_for() -> None:
    def compute(k: int) -> int:
        if k == 3:
            raise Boom(f"result {k} is bad")
        return k

    with fanout.Ahead(6, compute, workers=2) as ahead:
        assert [next(ahead) for _ in range(3)] == [0, 1, 2]
        with pytest.raises(Boom, match="result 3 is bad"):
            next(ahead)
